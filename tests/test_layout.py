"""The package's shape: no import circle between harness modules (module-level or inside functions; imports
under `if TYPE_CHECKING:` never run and do not count). The layers themselves are lint-imports' contracts
(pyproject.toml), run by .ci/run."""

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
