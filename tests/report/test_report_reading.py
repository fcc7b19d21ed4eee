"""The report reads at a glance (issue 25): a short headline with the statistics one click away, figures exported
as SVG/PDF/PNG and legible at a 1,400 px page, tracing shown apart, tables that scroll on narrow screens, and the
terminal's intervals cut at the range exactly as the report's.

The real run is the tiny scenario run once through the Python API (`api_run` in conftest.py)."""

import re
import struct
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pandas as pd

# The report's page at a 1,400 px window: <main> is at most 1,180 px wide with 1.5rem (24 px) of padding on each
# side (style.css.j2), so a figure gets at most 1,132 px before it is scaled down to fit.
CONTENT_PX = 1180 - 2 * 24
VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "source"}


class _Headline(HTMLParser):
    """The words of <section id="headline"> outside tables, <details> and SVG markup; the rows of its verdict
    table (cell texts)."""

    def __init__(self):
        super().__init__()
        self.depth = self.skip = 0
        self.words, self.rows, self.in_verdict = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in VOID:
            return
        if not self.depth:
            self.depth = int(tag == "section" and attrs.get("id") == "headline")
            return
        self.depth += 1
        if tag in ("table", "details", "svg", "style"):
            self.skip += 1
        if tag == "table" and "verdict" in (attrs.get("class") or ""):
            self.in_verdict = True
        if self.in_verdict and tag == "tr":
            self.rows.append([])
        if self.in_verdict and tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag in VOID or not self.depth:
            return
        self.depth -= 1
        if tag in ("table", "details", "svg", "style"):
            self.skip -= 1
        if tag == "table":
            self.in_verdict = False

    def handle_data(self, data):
        if not self.depth:
            return
        if not self.skip:
            self.words += data.split()
        if self.in_verdict and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def _headline(html):
    parser = _Headline()
    parser.feed(html)
    return parser


def _paired(summary, metric, a, b):
    """Mean over seeds of a - b (pairs of (sampler, normalizer)), in points, by NumPy."""
    frame = summary[summary["metric"] == metric].set_index(["sampler", "normalizer", "seed"])["value"].sort_index()
    first, second = frame.loc[a], frame.loc[b]
    common = first.index.intersection(second.index)
    return float(np.mean(100 * (first.loc[common].to_numpy() - second.loc[common].to_numpy())))


def test_headline_is_at_most_150_words_and_says_what_each_sampler_costs(api_run):
    run, _ = api_run
    html = (run.path / "index.html").read_text(encoding="utf-8")
    head = _headline(html)
    assert 20 < len(head.words) <= 150, " ".join(head.words)
    text = " ".join(head.words)
    summary = run.summary
    # the plain sentence, its numbers recomputed from summary.csv: what bn loses against iid, what brn keeps
    loses = _paired(summary, "acc_inference", ("iid", "bn"), ("one_class", "bn"))
    keeps = _paired(summary, "acc_inference", ("one_class", "brn"), ("one_class", "bn"))
    assert (f"On one_class batches bn {'loses' if loses >= 0 else 'gains'} {abs(loses):.1f} points of inference "
            "accuracy against iid batches (not established)") in text  # 2 seeds: nothing is established
    assert f"brn keeps {abs(keeps):.1f} points {'more' if keeps >= 0 else 'less'} than bn (not established)" in text
    # the verdict table names every sampler and normalizer; the statistics are one click away, not on the page
    header = " ".join(" ".join(row) for row in head.rows[:2])
    assert all(name in header for name in ("bn (batchnorm)", "brn (batchrenorm)"))
    assert [row[0].split()[0] for row in head.rows[2:]] == ["iid", "one_class"]
    section = html[html.index('<section id="headline">'):html.index("</section>", html.index('id="headline"'))]
    details = section[section.index("<details"):section.index("</details>")]
    for word in ("unadjusted 95% CI", "80% power", "would need", "Holm's correction", "bootstrap",
                 "did not learn the task"):
        assert word in details and word not in text, word
    assert "<script" not in html.lower()


def test_summary_md_starts_with_the_headline_sentences(api_run):
    run, printed = api_run
    summary_md = (run.path / "summary.md").read_text(encoding="utf-8")
    lines = [line for line in summary_md.splitlines() if line.strip()]
    assert lines[0] == "# tiny"
    assert lines[1].startswith("With 2 seeds per cell nothing can be established")
    assert lines[2].startswith("On one_class batches bn ")
    assert summary_md.index("## Verdict") < summary_md.index("| sampler |") < summary_md.index("## Details")
    assert "## Details" not in printed and lines[2] in printed  # the terminal shows the top, not the details


def _verdict_cells(html):
    """{(sampler, normalizer): (lo, hi, lo_cut, hi_cut)} of acc_inference in the report's verdict table."""
    rows = _headline(html).rows
    normalizers = [cell.split()[0] for cell in rows[0][1:]]
    cells = {}
    for row in rows[2:]:
        sampler, values = row[0].split()[0], row[1:]
        # per normalizer: acc_inference, drop; brn also its difference from bn
        width = {"bn": 2, "brn": 3}
        i = 0
        for norm in normalizers:
            match = re.match(r"\s*[\d.]+ \[([\d.]+)(†?), ([\d.]+)(†?)\]", values[i])
            if match:
                cells[(sampler, norm)] = (float(match[1]), float(match[3]), bool(match[2]), bool(match[4]))
            i += width[norm]
    return cells


def test_terminal_intervals_are_cut_as_the_report_cuts_them(api_run):
    run, printed = api_run
    report = _verdict_cells((run.path / "index.html").read_text(encoding="utf-8"))
    terminal = {}
    for sampler, norm, cell in re.findall(r"^\| (\w+) \| (\w+) \| ([^|]+) \|", printed, re.M):
        match = re.match(r"([\d.]+) \[([\d.]+)(†?), ([\d.]+)(†?)\]", cell.strip())
        if match:
            terminal[(sampler, norm)] = (float(match[2]), float(match[4]), bool(match[3]), bool(match[5]))
    assert report and set(report) == set(terminal)
    for key, (lo, hi, lo_cut, hi_cut) in terminal.items():
        assert 0.0 <= lo <= hi <= 1.0  # an accuracy's interval never leaves its range (was 0.473 ± 1.400)
        r_lo, r_hi, r_lo_cut, r_hi_cut = report[key]
        assert (round(100 * lo, 1), round(100 * hi, 1), lo_cut, hi_cut) == (r_lo, r_hi, r_lo_cut, r_hi_cut), key
    # and the t interval behind them, recomputed by hand for one cell
    from scipy import stats as st

    values = run.summary.query("metric == 'acc_inference' and sampler == 'one_class' and normalizer == 'brn'")
    x = values["value"].to_numpy()
    half = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    assert terminal[("one_class", "brn")][:2] == (round(max(x.mean() - half, 0), 3), round(min(x.mean() + half, 1), 3))


def _svg_min_text_px(svg_text):
    """The smallest rendered text size (px) of an SVG on the 1,400 px page: its font sizes are in user units
    (points), shown at 4/3 px per point unless the figure is wider than the content and scaled down to fit."""
    root = ET.fromstring(svg_text)
    view_width = float(root.get("viewBox").split()[2])
    rendered = min(view_width * 4 / 3, CONTENT_PX)
    sizes = [float(m) for el in root.iter() if el.tag.endswith("text")
             for m in re.findall(r"font-size:\s*([\d.]+)px", el.get("style") or "")]
    assert sizes, "no text in the figure"
    assert min(sizes) >= 9  # 9 points at least, whatever the page (the learning curves' labels were 7)
    return min(sizes) * rendered / view_width


def test_figures_are_exported_and_legible(api_run):
    run, _ = api_run
    html = (run.path / "index.html").read_text(encoding="utf-8")
    figure_ids = re.findall(r'<figure id="fig-([^"]+)">', html)
    exported = sorted(p.name for p in (run.path / "figures").iterdir())
    assert len(figure_ids) >= 9 and len(exported) == 3 * len(figure_ids)
    for svg in re.findall(r"<svg .*?</svg>", html, re.S):
        assert _svg_min_text_px(svg) >= 9
    for stem in {p.rsplit(".", 1)[0] for p in exported}:
        assert stem.split("-")[0] in {"headline", "modes", "curves", "layers", "logits", "composition", "timing"}
        svg = (run.path / "figures" / f"{stem}.svg").read_text(encoding="utf-8")
        assert _svg_min_text_px(svg[svg.index("<svg"):]) >= 9
        assert (run.path / "figures" / f"{stem}.pdf").read_bytes().startswith(b"%PDF-")
        png = (run.path / "figures" / f"{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        phys = png.index(b"pHYs")  # pixels per metre, x and y, unit 1 = metre
        x_ppm, y_ppm, unit = struct.unpack(">IIB", png[phys + 4:phys + 13])
        assert unit == 1 and round(x_ppm * 0.0254) == round(y_ppm * 0.0254) == 200
    for name in ("headline", "modes", "curves", "layers-mismatch", "layers-rd", "logits", "composition", "timing"):
        assert f"{name}.svg" in exported, name


def test_timing_shows_tracing_apart(api_run):
    from harness.report import figures as figs
    from harness.results.loader import load_run

    run, _ = api_run
    timing = figs.trial_timing(load_run(run.path))
    trials = run.trials
    assert len(timing) == (trials["status"] == "ok").sum()
    # tracing + the rest is the trial's wall time (trials.csv), trial by trial
    merged = timing.merge(trials.astype({"seed": str}), on=["sampler", "normalizer", "seed"])
    np.testing.assert_allclose(merged["trace"] + merged["rest"], merged["seconds"], rtol=1e-9)
    assert (timing["trace"] >= 0).all() and timing["trace"].max() > 0
    svg = (run.path / "figures" / "timing.svg").read_text(encoding="utf-8")
    assert "tracing the training step (s)" in svg and "wall time per trial without tracing (s)" in svg


def test_logit_sentence_only_when_the_orders_differ(tmp_path):
    from harness.report import figures as figs
    from harness.results.loader import load_run
    from tests.support.fake_run import write_fake_run

    run = write_fake_run(tmp_path / "run")
    assert figs.logit_order_sentence(load_run(run)) is None  # both grow with severity: the same order
    summary = pd.read_csv(run / "summary.csv")
    kl = (summary["metric"] == "logit_kl") & (summary["normalizer"] == "bn")
    summary.loc[kl & (summary["sampler"] == "iid"), "value"] = 50.0  # iid now has the largest KL for bn
    summary.to_csv(run / "summary.csv", index=False)
    sentence = figs.logit_order_sentence(load_run(run))
    assert sentence and "for bn disagreement ranks them one_class > two_classes > iid but KL iid >" in sentence
    assert "for brn" not in sentence


def test_wide_tables_scroll_inside_their_box(api_run):
    run, _ = api_run
    html = (run.path / "index.html").read_text(encoding="utf-8")
    style = html[html.index("<style>"):html.index("</style>")]
    rules = {selector.strip(): body for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", style)}
    table = " ".join(body for selector, body in rules.items() if selector.split("\n")[-1].strip() == "table")
    assert "overflow-x: auto" in table and "display: block" in table and "max-width: 100%" in table
    assert re.search(r"@media \(max-width: 600px\)", style)
