"""Open the report in a real headless Chromium: no errors, nothing fetched, every image decodes, every section.

Needs the `playwright` Python package and a system Chromium (Debian: `apt-get install -y chromium`); the
browser is never downloaded by Playwright. Without them this test FAILS with the install steps: a report
nobody checked in a browser is not a passing report.
"""

import shutil
from pathlib import Path

import pytest

from harness.report.render import SECTIONS
from harness.report.screenshot import BROWSER_ARGS, INSTALL_HINT, find_browser
from tests.support import fake_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"  # git-ignored (reports/*)

DECODE_ALL = """
async () => {
  const sources = [...document.querySelectorAll('img')].map(i => i.currentSrc || i.src)
    .concat([...document.querySelectorAll('svg image')].map(i => i.getAttribute('href') ||
      i.getAttribute('xlink:href')));
  const sizes = [];
  for (const src of sources) {
    const im = new Image();
    im.src = src;
    try { await im.decode(); sizes.push([src.slice(0, 30), im.naturalWidth, im.naturalHeight]); }
    catch (e) { sizes.push([src.slice(0, 30), 0, 0]); }
  }
  return sizes;
}
"""


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed, so the report cannot be checked in a browser; {INSTALL_HINT}")
    if find_browser() is None:
        pytest.fail(f"no Chromium browser found for the report's browser test; {INSTALL_HINT}")
    return sync_playwright()


def test_report_in_headless_chromium(tmp_path_factory):
    playwright = _playwright()  # fail fast, before drawing anything, when there is no browser
    report = fake_run.hostile_report(tmp_path_factory)
    url = report.resolve().as_uri()
    requests, failed, console_errors, page_errors = [], [], [], []
    with playwright as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")

            headings = page.locator("h2").all_inner_texts()
            images = page.evaluate("""() => [...document.querySelectorAll('img')].map(
                i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])""")
            svg_sizes = page.evaluate("""() => [...document.querySelectorAll('figure > svg')].map(s => {
                const r = s.getBoundingClientRect(); return [s.closest('figure').id, r.width, r.height]; })""")
            decoded = page.evaluate(DECODE_ALL)
            n_figures = page.locator("figure").count()
            pwned = page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")
            title_text = page.locator("h1").inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = tmp_path_factory.mktemp("screenshots") / "report_full.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, ARTIFACTS / "report_full.png")
            page.emulate_media(media="print")
            nav_in_print = page.evaluate("() => getComputedStyle(document.querySelector('nav.toc')).display")
        finally:
            browser.close()

    assert console_errors == [] and page_errors == []
    assert failed == []
    assert requests and all(u == url or u.startswith("data:") for u in requests), requests
    for number, section in enumerate(SECTIONS, 1):
        assert f"{number}. {section.title}" in headings
    assert n_figures >= 9 and n_figures == len(images) + len(svg_sizes)
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, alt
    for fig_id, width, height in svg_sizes:
        assert width > 100 and height > 50, fig_id
    assert decoded  # at least the rasterized composition heatmap
    for src, width, height in decoded:
        assert width > 0 and height > 0, src
    assert pwned is None and fake_run.HOSTILE in title_text  # shown as text, never run
    assert shot.stat().st_size > 50_000
    assert nav_in_print == "none"


TEXT_SIZES = """
() => [...document.querySelectorAll('figure > svg')].map(s => {
  const scale = s.getBoundingClientRect().width / s.viewBox.baseVal.width;
  const sizes = [...s.querySelectorAll('text')].map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
  return [s.closest('figure').id, Math.min(...sizes)];
})
"""


def test_report_reads_on_a_laptop_and_a_phone(tmp_path_factory):
    """At a 1,400 px window every figure's text renders at 9 px or more; at a 400 px window the page is no wider
    than the window (wide tables scroll inside their own box)."""
    playwright = _playwright()
    report = fake_run.hostile_report(tmp_path_factory)
    with playwright as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(report.resolve().as_uri(), wait_until="load")
            sizes = page.evaluate(TEXT_SIZES)
            page.set_viewport_size({"width": 400, "height": 800})
            page_width = page.evaluate("() => document.documentElement.scrollWidth")
            verdict = page.evaluate("""() => { const t = document.querySelector('table.verdict');
                return [t.scrollWidth, t.clientWidth, getComputedStyle(t).overflowX]; }""")
            shot = tmp_path_factory.mktemp("screenshots") / "report_400px.png"
            page.screenshot(path=str(shot), full_page=False)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, ARTIFACTS / "report_400px.png")
        finally:
            browser.close()
    assert len(sizes) >= 9
    for fig_id, smallest in sizes:
        assert smallest >= 9, (fig_id, smallest)
    assert page_width <= 400, page_width
    scroll_width, client_width, overflow = verdict
    assert overflow == "auto" and client_width <= 400 and scroll_width > client_width  # it scrolls in its box
