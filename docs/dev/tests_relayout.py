"""Replayable test layout move (issue 21, item 5): the flat `tests/` becomes folders that mirror the package.

Each test module is `git mv`-ed into the folder of the package part it exercises (`tests/scenario/`,
`tests/run/`, ...; `tests/samplers/` for the top-level `samplers` package); tests of a top-level module of
`harness/` and the repository-wide tests stay at `tests/`. The shared helper modules go to `tests/support/`;
`tests/conftest.py` (the fixtures every folder uses) stays. Every test folder is a package (an `__init__.py`),
so pytest's default `prepend` import mode imports each test module by its full dotted name
(`tests.scenario.test_scenario`): two test modules of the same name in two folders never clash, and the
pytest-xdist workers import exactly what a single process imports. `tests/` itself then leaves `sys.path`,
so every import of a helper (or of another test module) is rewritten to its package path (`from conftest
import X` -> `from tests.conftest import X`, `import fake_run` -> `from tests.support import fake_run`,
`from test_hardening_run import f` -> `from tests.run.test_hardening_run import f`), as are the
`module:attribute` plugin specs naming a helper (`"broken_layers:NanLayer"`, `"tests.kind_plugins:blobs"`),
the `tests/<file>.py` paths in code and documentation, and the `__file__`-relative paths of the moved files.

The mapping below is complete: a module in the flat `tests/` that it does not name (a test added since) stops
the script before anything moves, naming the file. Running it twice is a no-op.

Run from the repository root: python docs/dev/tests_relayout.py [--dry-run]
Then check that collection did not change: python -m pytest --collect-only -q -o addopts= | tail -1
"""

import ast
import os
import re
import subprocess
import sys

# test module -> its folder under tests/ ("" = tests/ itself); the folder is named after the package part the
# module exercises. Hardening tests sit next to the part they harden; the ones whose cases cross several parts
# and all go through the command line's front door (one line, exit 2) sit in commands/.
TEST_MOVES = {
    # top level: harness's own top-level modules, and the repository-wide tests (documentation, package shape)
    "test_api": "",  # harness/api.py
    "test_docs": "",  # the documentation site and the README
    "test_notebook": "",  # docs/tutorials/*.ipynb
    "test_layout": "",  # the package's shape, and this mirror
    # scenario: loading, validation, schema, sweeps, recipe, the shipped paper scenarios
    "test_scenario": "scenario",
    "test_schema": "scenario",
    "test_sweep": "scenario",
    "test_recipe": "scenario",  # harness/scenario/recipe.py
    "test_paper_scenarios": "scenario",  # scenarios/paper/ validate and train at --smoke
    "test_hardening_validate": "scenario",  # bad scenarios refused before anything runs (most cases: validation)
    "test_hardening_fuzz": "scenario",  # fuzzing `validate` with mutations of the shipped scenarios
    # data
    "test_data": "data",
    "test_datasets_local": "data",  # harness/data/local.py
    "test_augment": "data",  # harness/data/augment.py
    # models
    "test_cifar_resnets": "models",
    # norms
    "test_norms": "norms",
    "test_norms_factory": "norms",
    # train
    "test_heavy": "runtime",  # harness/runtime/heavy.py: the one way to import TensorFlow, Keras, matplotlib, Ray
    "test_xla": "train",  # harness/train/xla.py and runtime/compile.py's fallback, through a trial
    # analysis
    "test_analysis": "analysis",
    "test_metrics_table": "analysis",  # the metrics table (harness/analysis/metrics.py) as every metric's owner
    # results
    "test_rundir": "results",
    "test_stats": "results",
    "test_comparisons": "results",
    "test_declared": "results",  # declared comparisons: rows of comparisons.csv, Holm
    "test_hardening_results": "results",  # harness/results/finite.py: no broken number reported as a result
    "test_hardening_trialfiles": "results",  # damaged trial files (harness/results/rundir.py)
    # run
    "test_runner": "run",
    "test_executors": "run",
    "test_gpu_assignment": "run",  # harness/run/executors.py
    "test_hardening_run": "run",  # broken plugins, stop signals, full disk, resume
    "test_hardening_process": "run",  # locale, process-executor workers die with the driver
    # report
    "test_report": "report",
    "test_report_browser": "report",
    "test_report_reading": "report",
    "test_hardening_report": "report",
    # profile
    "test_profile": "profile",
    "test_profile_plugin": "profile",
    # commands
    "test_verify": "commands",  # harness/commands/verify.py
    "test_hardening_verify": "commands",
    "test_hardening_guard": "commands",  # paths the command line writes (run, report, screenshots), numeric options
    "test_hardening_debatable": "commands",  # decided cases across validate, run, verify and every command
    # bench
    "test_bench_run_executors": "bench",
    "test_norms_bench": "bench",  # `bench layers`
    # plugins
    "test_plugins": "plugins",
    "test_kinds": "plugins",  # every kind's registry through the one resolver
    # samplers (the top-level package)
    "test_samplers": "samplers",
    "test_samplers_tf": "samplers",
}
# shared helper modules -> tests/support/
SUPPORT = "support"
HELPERS = ["fake_run", "hardening", "hardening_plugins", "bad_plugins", "broken_layers", "broken_sampler",
           "kind_plugins", "nonfinite_layers"]
# what else stays in tests/: the fixtures (conftest.py), the browser set-up the README names, the profile battery
# of tests/profile/ (data, next to the profile tests)
STAYS = {"conftest.py", "__init__.py", "install_browser.sh"}
TOP_PACKAGES = ["samplers"]  # top-level packages besides harness that get a test folder of their own

FOLDER_DOCS = {
    "": "The test suite: one folder per part of the package (harness/<part>/, samplers/), helpers in support/.",
    SUPPORT: "Shared test helpers: a synthetic run directory, the hardening checks, plugins broken on purpose.",
}
TEXT_EXT = {".py", ".md", ".yaml", ".yml", ".cfg", ".toml", ".txt", ".j2", ".html", ".ipynb", ".json", ".sh", ""}
THIS = os.path.join("docs", "dev", "tests_relayout.py")
# exact edits after the rewrite, old text -> new text, in these files: prose that names the flat layout as a
# whole (no single file path), and lines the rewrite made too long
TEXT_EDITS = {
    "CONTRIBUTING.md": [
        ("| `tests/` | tests | the test suite (`python -m pytest`) |",
         "| `tests/` | tests | the test suite (`python -m pytest`), mirroring the package: the tests of "
         "`harness/<part>/` in `tests/<part>/` (`tests/samplers/` for `samplers/`), of a top-level module at "
         "`tests/` (`test_api.py`), the repository-wide ones (`test_docs.py`, `test_notebook.py`, "
         "`test_layout.py`) at `tests/` too; helpers in `tests/support/`, fixtures in `tests/conftest.py`; "
         "`tests/test_layout.py` checks the mirror |"),
        ("(`tests/test_hardening_*.py` for bad input)", "(`tests/*/test_hardening_*.py` for bad input)"),
        ("`python -m pytest -n 0 -q -x tests/test_foo.py`", "`python -m pytest -n 0 -q -x tests/<part>/test_foo.py`"),
    ],
    # lines the longer names pushed past 120 columns (applied after the rewrite; one left over stops the script)
    "tests/commands/test_verify.py": [
        ('"gradient_treats_r_d_as_constants", "--steps", "600")',
         '"gradient_treats_r_d_as_constants",\n              "--steps", "600")'),
    ],
    "tests/plugins/test_plugins.py": [
        ('{"bn": {"kind": "batchnorm"}, "mine": {"kind": "tests.support.bad_plugins:RaisingLayer", "alpha": 1}}},',
         '{"bn": {"kind": "batchnorm"},\n                      '
         '"mine": {"kind": "tests.support.bad_plugins:RaisingLayer", "alpha": 1}}},'),
        ('the shape of its input in training mode: "\n     "(8, 8) -> (8, 7)"),',
         'the shape of its input in training "\n     "mode: (8, 8) -> (8, 7)"),'),
        ('(None, 5), not one output of 4 "\n     "logits"),', '(None, 5), not one output "\n     "of 4 logits"),'),
    ],
    "tests/results/test_hardening_results.py": [
        ('{"bn": {"kind": "batchnorm"}, "mine": {"kind": f"tests.support.nonfinite_layers:{layer}"}})',
         '{"bn": {"kind": "batchnorm"},\n                                '
         '"mine": {"kind": f"tests.support.nonfinite_layers:{layer}"}})'),
        ('{"bn": {"kind": "batchnorm"}, "late": {"kind": "tests.support.nonfinite_layers:LateNaN"}})',
         '{"bn": {"kind": "batchnorm"},\n                                '
         '"late": {"kind": "tests.support.nonfinite_layers:LateNaN"}})'),
    ],
    "tests/support/fake_run.py": [
        ('written by tests/support/fake_run.py (not a real training run).",',
         'written by tests/support/fake_run.py "\n                               "(not a real training run).",'),
    ],
    "tests/support/kind_plugins.py": [
        ('"tests.support.kind_plugins:attribute" (as a user would)."""',
         '"tests.support.kind_plugins:attribute"\n(as a user would)."""'),
    ],
}


def sh(*args):
    subprocess.run(args, check=True)


def test_path(name):
    folder = TEST_MOVES[name]
    return os.path.join("tests", folder, name + ".py") if folder else os.path.join("tests", name + ".py")


def package_folders():
    """Folders a test folder may be named after: harness's subpackages and the top-level packages."""
    names = {d for d in os.listdir("harness") if os.path.isfile(os.path.join("harness", d, "__init__.py"))}
    return names | {p for p in TOP_PACKAGES if os.path.isfile(os.path.join(p, "__init__.py"))}


def check_mapping():
    """Stop, naming the files, when the flat tests/ holds a module the mapping does not place."""
    problems = []
    packages = package_folders()
    for name, folder in TEST_MOVES.items():
        if folder and folder not in packages:
            problems.append(f"TEST_MOVES[{name!r}] = {folder!r} is not a package folder: {sorted(packages)}")
    for entry in sorted(os.listdir("tests")):
        stem, ext = os.path.splitext(entry)
        if os.path.isdir(os.path.join("tests", entry)) or entry in STAYS:
            continue
        if ext == ".py" and stem.startswith("test_") and stem not in TEST_MOVES:
            problems.append(f"tests/{entry} is not in TEST_MOVES: add it with the folder of the part it tests")
        elif ext == ".py" and not stem.startswith("test_") and stem not in HELPERS:
            problems.append(f"tests/{entry} is not in HELPERS: add it (it moves to tests/{SUPPORT}/)")
        elif ext not in (".py", ".pyc"):
            problems.append(f"tests/{entry} is neither a module nor in STAYS: say where it goes")
    for name in [*TEST_MOVES, *HELPERS]:
        old = os.path.join("tests", name + ".py")
        new = test_path(name) if name in TEST_MOVES else os.path.join("tests", SUPPORT, name + ".py")
        if old != new and os.path.exists(old) and os.path.exists(new):
            problems.append(f"both {old} and {new} exist: merge them by hand first")
        elif not os.path.exists(old) and not os.path.exists(new):
            print(f"note: {name} is in the mapping but in neither {old} nor {new} (deleted? drop it from the mapping)")
    if problems:
        sys.exit("tests_relayout: the mapping is incomplete or wrong, nothing moved:\n  " + "\n  ".join(problems))


def moves():
    """(old path, new path) of every module the mapping moves."""
    pairs = [(os.path.join("tests", n + ".py"), test_path(n)) for n in TEST_MOVES if TEST_MOVES[n]]
    pairs += [(os.path.join("tests", n + ".py"), os.path.join("tests", SUPPORT, n + ".py")) for n in HELPERS]
    return pairs


def write_inits(dry):
    """An __init__.py in tests/ and in every folder the mapping fills (a docstring each)."""
    for folder in sorted({"", SUPPORT, *TEST_MOVES.values()}):
        init = os.path.join("tests", folder, "__init__.py")
        if os.path.exists(init):
            continue
        doc = FOLDER_DOCS.get(folder) or (
            f"Tests of the top-level package `{folder}/`." if folder in TOP_PACKAGES
            else f"Tests of `harness/{folder}/`.")
        print(f"create {init}")
        if not dry:
            os.makedirs(os.path.dirname(init), exist_ok=True)
            with open(init, "w", encoding="utf-8") as f:
                f.write(f'"""{doc}"""\n')
            sh("git", "add", init)


def move_files(dry):
    moved = []
    for old, new in moves():
        if not os.path.exists(old):
            continue
        print(f"{old} -> {new}")
        if not dry:
            sh("git", "mv", old, new)
        moved.append(new)
    return moved


# --- rewriting -------------------------------------------------------------------------------------------------

SLASHED = {old: new for old, new in moves() if old != new}
SLASHED_RE = re.compile(r"(?<![\w/.])(" + "|".join(re.escape(p) for p in sorted(SLASHED, key=len, reverse=True))
                        + r")(?!\w)")
# every module that moves -> its dotted name (helpers, and the tests that other tests import helpers from)
MODULE_OF = {**{h: f"tests.{SUPPORT}.{h}" for h in HELPERS},
             **{t: ".".join(["tests", f, t] if f else ["tests", t]) for t, f in TEST_MOVES.items()}}
MOVED_RE = "|".join(sorted((m for m in MODULE_OF if MODULE_OF[m] != f"tests.{m}"), key=len, reverse=True))
DOTTED_RE = re.compile(r"\btests\.(" + MOVED_RE + r")\b")  # tests.kind_plugins -> tests.support.kind_plugins
SPEC_RE = re.compile(r"""(?<=["'])(""" + "|".join(sorted(HELPERS, key=len, reverse=True))
                     + r""")(?=:[A-Za-z_])""")  # "broken_layers:X" (in tests only)
# the bare modules tests/ on sys.path made importable -> their package path
BARE = {"conftest": "tests.conftest", **MODULE_OF}


def rewrite_text(text, in_tests):
    text = SLASHED_RE.sub(lambda m: SLASHED[m.group(1)], text)
    text = DOTTED_RE.sub(lambda m: MODULE_OF[m.group(1)], text)
    if in_tests:
        text = SPEC_RE.sub(lambda m: BARE[m.group(1)], text)
    return text


def rewrite_import(node, lines):
    """New source text for an import of a bare test helper, or None when it imports none."""
    indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return None
        if node.module == "tests" and any(MODULE_OF.get(a.name, "tests.") != f"tests.{a.name}" for a in node.names):
            return indent + ("\n" + indent).join(  # `from tests import fake_run` -> `from tests.support import ...`
                f"from {MODULE_OF[a.name].rpartition('.')[0] if a.name in MODULE_OF else 'tests'} import {a.name}"
                + (f" as {a.asname}" if a.asname else "") for a in node.names)
        if node.module not in BARE:
            return None
        names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
        return f"{indent}from {BARE[node.module]} import {names}"
    if not any(a.name in BARE for a in node.names):
        return None
    out = []
    for alias in node.names:
        if alias.name in BARE:  # `import fake_run` -> `from tests.support import fake_run` (the same local name)
            parent, _, leaf = BARE[alias.name].rpartition(".")
            out.append(f"from {parent} import {leaf}" + (f" as {alias.asname}" if alias.asname else ""))
        else:
            out.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
    return indent + ("\n" + indent).join(out)


def rewrite_imports(text, name):
    tree = ast.parse(text)
    lines = text.split("\n")
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            new = rewrite_import(node, lines)
            if new is not None:
                edits.append((node.lineno, node.end_lineno, node.col_offset, new))
    for start, end, col, new in sorted(edits, reverse=True):
        if lines[start - 1][:col].strip():  # `x; import y` on one line: leave for a human
            MANUAL.append(f"{name}:{start}: {lines[start - 1].strip()}")
            continue
        lines[start - 1:end] = new.split("\n")
    return "\n".join(lines)


# a moved file is one folder deeper: its paths computed from __file__ climb one more level
DEPTH_FIXES = [
    ("os.path.dirname(os.path.dirname(os.path.abspath(__file__)))",
     "os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))"),
    ("Path(__file__).resolve().parents[1]", "Path(__file__).resolve().parents[2]"),
    ("Path(__file__).resolve().parent.parent", "Path(__file__).resolve().parents[2]"),
]
MANUAL = []


def fix_depth(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    new = text
    for old, fixed in DEPTH_FIXES:
        new = new.replace(old, fixed)
    left = new
    for _, fixed in DEPTH_FIXES:
        left = left.replace(fixed, "")
    for number, line in enumerate(left.split("\n"), 1):
        if "__file__" in line:
            MANUAL.append(f"{path}:{number}: a path from __file__, one folder deeper now: {line.strip()}")
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
        print(f"deepened the __file__ paths of {path}")


def text_edits():
    for name, pairs in TEXT_EDITS.items():
        if not os.path.isfile(name):
            continue
        with open(name, encoding="utf-8") as f:
            text = f.read()
        new = text
        for old, replacement in pairs:
            new = new.replace(old, replacement)
        if new != text:
            with open(name, "w", encoding="utf-8") as f:
                f.write(new)
            print(f"edited {name}")


def rewrite_all():
    """Rewrite every tracked or new text file; returns the Python files under tests/ that changed."""
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    files += subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], capture_output=True, text=True,
                            check=True).stdout.split()
    changed = []
    for name in sorted(set(files)):
        if os.path.splitext(name)[1] not in TEXT_EXT or not os.path.isfile(name) or name == THIS:
            continue
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            continue
        in_tests = name.startswith("tests/")
        new = rewrite_text(text, in_tests)
        if in_tests and name.endswith(".py"):
            try:
                new = rewrite_imports(new, name)
            except SyntaxError as e:
                MANUAL.append(f"{name}: cannot parse: {e}")
        if new != text:
            with open(name, "w", encoding="utf-8") as f:
                f.write(new)
            print(f"rewrote {name}")
            if in_tests and name.endswith(".py"):
                changed.append(name)
    return changed


def check_line_length(paths, limit=120):
    """A rewritten line past ruff's limit that TEXT_EDITS did not wrap is left for a human."""
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if len(line.rstrip("\n")) > limit:
                    MANUAL.append(f"{path}:{number}: longer than {limit} columns now: wrap it (add it to TEXT_EDITS)")


def sort_imports(paths):
    """A helper import that became `tests.…` is first-party now: let ruff put it in its block."""
    if not paths:
        return
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "I", "--fix", "--quiet", *paths],
                            capture_output=True, text=True)
    if result.returncode not in (0, 1):
        MANUAL.append(f"ruff could not sort the imports of {len(paths)} files: {result.stderr.strip()}")


def main():
    dry = "--dry-run" in sys.argv
    if not os.path.isdir("harness") or not os.path.isdir("tests"):
        sys.exit("tests_relayout: run from the repository root")
    check_mapping()
    write_inits(dry)
    moved = move_files(dry)
    if dry:
        return
    for path in moved:
        fix_depth(path)
    changed = rewrite_all()
    text_edits()
    sort_imports(changed)
    check_line_length(sorted(set(changed) | {p for p in moved if p.endswith(".py")}))
    if MANUAL:
        sys.exit("tests_relayout: moved and rewrote, but these need a human:\n  " + "\n  ".join(MANUAL))


if __name__ == "__main__":
    main()
