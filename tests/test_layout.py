"""The package's shape: no import circle between harness modules (module-level or inside functions; imports
under `if TYPE_CHECKING:` never run and do not count). The layers themselves are lint-imports' contracts
(pyproject.toml), run by .ci/run. And the tests' shape: their folders mirror the package's."""

import ast
import os

from tests.conftest import ROOT


def _import_graph():
    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "harness")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                modules[dotted] = path
    graph = {}
    for dotted, path in modules.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        deps = set()
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                       for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("harness"):
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    deps.add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name.startswith("harness"))
        # importing a.b.c runs a and a.b first: a package's own modules do not count as a circle through it
        graph[dotted] = {d for d in deps if d in modules and d != dotted and not dotted.startswith(d + ".")}
    return graph


def _cycle(graph):
    """One import circle as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circle_in_harness():
    graph = _import_graph()
    assert {"harness.scenario", "harness.run.runner", "harness.train.trial"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


# tests at tests/ that exercise the repository rather than one part of the package
REPOSITORY_WIDE = {"test_docs.py", "test_notebook.py", "test_layout.py"}
TOP_PACKAGES = ("samplers",)  # top-level packages besides harness, with a test folder of their own
SUPPORT = "support"  # the shared helpers (no tests)


def _misplaced(tests, root):
    """Every way the test tree under `tests` breaks the mirror of the package under `root`, one line each."""
    def is_package(*parts):
        return os.path.isfile(os.path.join(root, *parts, "__init__.py"))

    problems = []
    for folder, dirs, files in os.walk(tests):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        parts = os.path.relpath(folder, tests).split(os.sep)
        parts = [] if parts == ["."] else parts
        where = "/".join(["tests", *parts])
        modules = sorted(f for f in files if f.endswith(".py"))
        if modules and "__init__.py" not in files:
            problems.append(f"{where}/ has no __init__.py (test modules of one name in two folders would clash)")
        for name in modules:
            if not name.startswith("test_"):
                if name not in ("__init__.py", "conftest.py") and parts != [SUPPORT]:
                    problems.append(f"{where}/{name}: a helper module belongs in tests/{SUPPORT}/")
                continue
            if not parts:
                if name not in REPOSITORY_WIDE and not os.path.isfile(os.path.join(root, "harness", name[5:])):
                    problems.append(f"{where}/{name}: no harness/{name[5:]}; a test of harness/<part>/ belongs in "
                                    "tests/<part>/")
            elif parts == [SUPPORT]:
                problems.append(f"{where}/{name}: tests/{SUPPORT}/ holds helpers, not tests")
            elif not (is_package("harness", *parts) or (parts[0] in TOP_PACKAGES and is_package(*parts))):
                problems.append(f"{where}/{name}: {'/'.join(parts)} is not a folder of harness/ or a top-level "
                                "package")
    return problems


def test_test_folders_mirror_the_package():
    """The tests of harness/<part>/ are in tests/<part>/ (samplers/ in tests/samplers/), of a top-level module
    harness/<m>.py at tests/test_<m>.py, the repository-wide ones at tests/; helpers in tests/support/;
    every folder of tests a package (docs/dev/tests_relayout.py made this layout)."""
    tests = os.path.join(ROOT, "tests")
    assert os.path.isfile(os.path.join(tests, "scenario", "test_scenario.py"))
    assert _misplaced(tests, ROOT) == []


def test_the_mirror_check_names_each_misplaced_file(tmp_path):
    for path in ["__init__.py", "conftest.py", "test_api.py", "test_docs.py", "test_train.py", "helper.py",
                 "scenario/__init__.py", "scenario/test_ok.py", "samplers/__init__.py", "samplers/test_ok.py",
                 "nowhere/__init__.py", "nowhere/test_x.py", "run/test_no_init.py",
                 "support/__init__.py", "support/fake.py", "support/test_y.py"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    assert _misplaced(str(tmp_path), ROOT) == [
        "tests/helper.py: a helper module belongs in tests/support/",
        "tests/test_train.py: no harness/train.py; a test of harness/<part>/ belongs in tests/<part>/",
        "tests/nowhere/test_x.py: nowhere is not a folder of harness/ or a top-level package",
        "tests/run/ has no __init__.py (test modules of one name in two folders would clash)",
        "tests/support/test_y.py: tests/support/ holds helpers, not tests",
    ]
