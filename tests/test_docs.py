"""The documentation site: `mkdocs build --strict` passes (broken links, missing snippet files and pages left out
of the navigation fail it), its generated reference lists what the code defines (every field of the JSON Schema,
every metric, every command option, every run-directory table column), and the README reaches each tutorial in
one click and stays short."""

import html
import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, harness_env


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as `mkdocs build --strict` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", os.path.join(ROOT, "mkdocs.yml"),
                           "-d", str(out)], cwd=ROOT, env={**harness_env(), "NO_MKDOCS_2_WARNING": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _text(site, page):
    """The page's HTML with tags removed and entities decoded (what a reader sees, roughly)."""
    raw = (site / page / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def _has(text, word):
    """`word` appears whole (not as the start of a longer name: `--workers` inside `--workers-per-gpu`)."""
    return re.search(r"(?<![\w.-])" + re.escape(word) + r"(?![\w.-])", text) is not None


def _schema_paths(schema, prefix=""):
    """Every field path of the shipped JSON Schema, walked independently of the docs' generator: properties,
    the variants of `if`/`then` branches, and the entries of named maps as `<name>`."""
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        if "const" in sub:
            continue
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        paths |= _schema_paths(sub, path)
    for branch in schema.get("allOf", []):
        paths |= _schema_paths(branch.get("then", {}), prefix)
    entry = schema.get("additionalProperties")
    if isinstance(entry, dict) and "propertyNames" in schema:
        paths |= _schema_paths(entry, f"{prefix}.<name>")
    return paths


def test_reference_lists_every_field_of_the_json_schema(site):
    schema = json.loads(open(os.path.join(ROOT, "scenarios", "scenario.schema.json"), encoding="utf-8").read())
    paths = _schema_paths(schema)
    assert {"training.batch_size", "data.augment.crop_padding", "normalizers.<name>.r_max",
            "samplers.<name>.classes_per_batch", "analysis.precise_examples"} <= paths  # the walk itself works
    text = _text(site, "reference/scenario")
    # whole paths only: `normalizers.<name>.r_max` must not be found inside `normalizers.<name>.r_max_ramp_end`
    missing = sorted(p for p in paths if p != "sweep.zip" and not _has(text, p))
    assert not missing, missing


def test_reference_lists_every_metric_column_and_command_option(site):
    from harness.analysis.metrics import METRICS
    from harness.commands import cli
    from harness.results import rundir

    metrics = _text(site, "reference/metrics")
    assert [m for m in METRICS if not _has(metrics, m)] == []
    run_dir = _text(site, "reference/run-directory")
    for name, columns in rundir.TABLES.items():
        assert f"{name}.csv" in run_dir
        assert [c for c in columns if not _has(run_dir, c)] == [], name
    for name in (rundir.SCENARIO, rundir.PROVENANCE, rundir.SUMMARY_MD, "comparisons.csv", "p_holm", "boot_low"):
        assert _has(run_dir, name), name
    commands = _text(site, "reference/cli")
    for command in cli.COMMANDS:
        parser = cli.build_parser(command)
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[command]
        assert f"python -m harness {command}" in commands
        options = [s for a in sub._actions for s in a.option_strings if s.startswith("--") and s != "--help"]
        assert [o for o in options if not _has(commands, o)] == [], command


def test_exit_codes_and_model_families_come_from_the_code(site):
    from harness import errors
    from harness.models import kinds

    commands = _text(site, "reference/cli")
    for error, code in errors.EXIT_CODES.items():
        assert re.search(rf"{error.__name__}\s*{code}", commands), error
    builtins = _text(site, "reference/builtins")
    for name in kinds.BUILTINS:
        family = kinds.get(name).family
        assert family is None or f"family {family}" in builtins, name


def test_profile_tutorial_holds_the_measured_table(site):
    text = _text(site, "tutorials/profile-normalizer")
    for word in ("python -m harness profile", "--quick", "--json", "--merge", "scenarios/profile/",
                 "minibatch-dependence index", "drop_ci_low", "Ranked by minibatch-dependence index",
                 "mbn=batchnorm,microbatch_size=4"):
        assert word in text, word


def test_example_code_in_the_tutorials_is_the_installed_packages(site):
    """The tutorials show the files the plugin tests install (included by snippet, not copied)."""
    for page, path in (("tutorials/sampler-plugin", "docs/examples/sampler_plugin/round_robin/__init__.py"),
                       ("tutorials/normalizer-plugin", "docs/examples/normalizer_plugin/mean_only_bn/__init__.py"),
                       ("tutorials/model-plugin", "docs/examples/model_plugin/tiny_models/__init__.py")):
        body = open(os.path.join(ROOT, path), encoding="utf-8").read()
        longest = max(body.splitlines(), key=len).strip()
        assert longest in _text(site, page), (page, longest)


def test_readme_is_short_and_reaches_every_tutorial_in_one_click():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert readme.count("\n") <= 200
    nav = open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8").read()
    tutorials = re.findall(r"(tutorials/[\w-]+\.md)", nav)
    assert len(tutorials) >= 6
    links = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    assert [t for t in tutorials if f"docs/{t}" not in links] == []
    assert "docs/tutorials/first_stress_test.ipynb" in links  # the notebook tutorial, through the Python API
    missing = sorted(link for link in links if not os.path.exists(os.path.join(ROOT, link)))
    assert missing == [], missing
    for command in ("pip install -e . && python -m harness run scenarios/noniid_small.yaml",
                    'pip install -e ".[test]" && bash tests/install_browser.sh && python -m pytest'):
        assert command in readme
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    # CI runs the README's test command (its lint checks run between the install and pytest)
    assert 'pip install -q -e ".[test]" && bash tests/install_browser.sh' in ci
    assert ci.rstrip().splitlines()[-1] == "python -m pytest"
