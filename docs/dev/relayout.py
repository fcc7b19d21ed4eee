"""Replayable layout move: git-mv modules into pipeline folders and rewrite every import and dotted name.

Run from the repository root: python relayout.py [--dry-run]
"""

import ast
import os
import re
import subprocess
import sys

MOVES = {
    # params: the typed fields and resource limits every layer declares its parameters with
    "harness.fields": "harness.params.fields",
    "harness.limits": "harness.params.limits",
    # scenario: load, validate, schema, sweep, the training recipe, checks of plugin layers and models
    "harness.schema": "harness.scenario.schema",
    "harness.recipe": "harness.scenario.recipe",
    "harness.plugin_check": "harness.scenario.plugin_check",
    # data: sources, local datasets, augmentation
    "harness.data": "harness.data.sources",
    "harness.datasets_local": "harness.data.local",
    "harness.augment": "harness.data.augment",
    # models: kinds, builders
    "harness.models": "harness.models.builders",
    "harness.model_kinds": "harness.models.kinds",
    # train: the trial loop, XLA's auto rule, test batches
    "harness.run.trial": "harness.train.trial",
    "harness.xla": "harness.train.xla",
    "harness.coverage": "harness.train.coverage",
    # run: runner, executors, output guard, signals
    "harness.out_guard": "harness.run.out_guard",
    "harness.signals": "harness.run.signals",
    # results: the run-directory format, what counts as a result, tables, comparisons, statistics
    "harness.run.rundir": "harness.results.rundir",
    "harness.finite": "harness.results.finite",
    "harness.analysis.tables": "harness.results.tables",
    "harness.comparisons": "harness.results.comparisons",
    "harness.stats": "harness.results.stats",
    "harness.report.loader": "harness.results.loader",
    "harness.report.headline": "harness.results.headline",
    # plugins: one resolver, checks of what sampler plugins hand back
    "harness.plugins": "harness.plugins.resolve",
    "harness.plugin_output": "harness.plugins.output",
    # runtime: TensorFlow set-up, progress bars, atomic writes
    "harness.tfsetup": "harness.runtime.tfsetup",
    "harness.progress": "harness.runtime.progress",
    "harness.atomic": "harness.runtime.atomic",
}
NEW_PACKAGES = {
    "harness/params": "Declarations every layer reads: the typed `Field` of each parameter, and the resource limits.",
    "harness/data": "Data sources: the source registry, local datasets, npz files and augmentation.",
    "harness/models": "Models: the model kinds (family, tabular input) and their builders.",
    "harness/train": "Training: the trial loop, XLA's `auto` rule and the test batches.",
    "harness/results": "The run directory: its format, what counts as a result, tables, comparisons and statistics.",
    "harness/plugins": "Plugins: one resolver for every kind, and the checks of what sampler plugins hand back.",
    "harness/runtime": "Runtime: TensorFlow set-up, compiled functions, progress bars and atomic writes.",
}
TEXT_EXT = {".py", ".md", ".yaml", ".yml", ".cfg", ".toml", ".txt", ".j2", ".html", ".ipynb", ".json", ".sh"}


def path_of(module):
    return module.replace(".", "/") + ".py"


def sh(*args):
    subprocess.run(args, check=True)


def move_files(dry):
    for pkg in NEW_PACKAGES:
        init = os.path.join(pkg, "__init__.py")
        if not dry and not os.path.exists(init):
            os.makedirs(pkg, exist_ok=True)
    # two passes: files whose new folder clashes with their own name (harness/data.py -> harness/data/) first go aside
    staged = []
    for old, new in MOVES.items():
        src = path_of(old)
        if not os.path.exists(src):
            print(f"skip (missing): {src}")
            continue
        tmp = src + ".moving"
        staged.append((tmp, path_of(new)))
        if not dry:
            sh("git", "mv", src, tmp)
    for tmp, dst in staged:
        print(f"{tmp[:-7]} -> {dst}")
        if not dry:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            sh("git", "mv", tmp, dst)
    for pkg, doc in NEW_PACKAGES.items():
        init = os.path.join(pkg, "__init__.py")
        if not dry and not os.path.exists(init):
            with open(init, "w", encoding="utf-8") as f:
                f.write(f'"""{doc}"""\n')
            sh("git", "add", init)


def rewrite_import(node, lines):
    """New source text for an import statement node, or None when nothing it names moved."""
    indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
    out = []
    changed = False
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module or not node.module.startswith("harness"):
            return None
        module = node.module
        kept = []
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if full in MOVES:  # `from harness import stats` -> `from harness.results import stats`
                parent, _, leaf = MOVES[full].rpartition(".")
                local = alias.asname or alias.name
                out.append(f"from {parent} import {leaf}" + (f" as {local}" if local != leaf else ""))
                changed = True
            else:
                kept.append(alias)
        new_module = MOVES.get(module, module)
        if new_module != module:
            changed = True
        if kept:
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in kept)
            stmt = f"from {new_module} import {names}"
            if len(indent) + len(stmt) > 118:
                stmt = f"from {new_module} import (\n" + "".join(
                    f"{indent}    {a.name}{' as ' + a.asname if a.asname else ''},\n" for a in kept) + f"{indent})"
            out.insert(0, stmt)
    else:
        for alias in node.names:
            new = MOVES.get(alias.name, alias.name)
            if new != alias.name:
                changed = True
                if not alias.asname:  # `import harness.run.trial` used as harness.run.trial.x: bind the new path
                    out.append(f"import {new}")
                    continue
            out.append(f"import {new}" + (f" as {alias.asname}" if alias.asname else ""))
    if not changed:
        return None
    return indent + ("\n" + indent).join(out)


DOTTED = re.compile(r"\b(" + "|".join(re.escape(m) for m in sorted(MOVES, key=len, reverse=True)) + r")\b(?![\w])")
SLASHED = {path_of(o): path_of(n) for o, n in MOVES.items()}
SLASHED_RE = re.compile(r"(?<![\w/])(" + "|".join(re.escape(p) for p in sorted(SLASHED, key=len, reverse=True)) + ")")


def rewrite_python(text):
    tree = ast.parse(text)
    lines = text.split("\n")
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            new = rewrite_import(node, lines)
            if new is not None:
                edits.append((node.lineno, node.end_lineno, node.col_offset, new))
    for start, end, col, new in sorted(edits, reverse=True):
        first = lines[start - 1]
        if first[:col].strip():  # `x; import y` on one line: leave for a human
            print(f"  manual: line {start}: {first.strip()}")
            continue
        lines[start - 1:end] = new.split("\n")
    return "\n".join(lines)


PROTECTED = ['"harness.models"', "'harness.models'"]  # the model plugins' entry point group, not a module


def rewrite_dotted(text):
    for i, literal in enumerate(PROTECTED):
        text = text.replace(literal, f"\x00{i}\x00")
    text = DOTTED.sub(lambda m: MOVES[m.group(1)], text)
    text = SLASHED_RE.sub(lambda m: SLASHED[m.group(1)], text)
    for i, literal in enumerate(PROTECTED):
        text = text.replace(f"\x00{i}\x00", literal)
    return text


def main():
    dry = "--dry-run" in sys.argv
    move_files(dry)
    if dry:
        return
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    files += subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], capture_output=True, text=True,
                            check=True).stdout.split()
    for name in files:
        if os.path.splitext(name)[1] not in TEXT_EXT or not os.path.isfile(name) or name.endswith("relayout.py"):
            continue
        with open(name, encoding="utf-8") as f:
            text = f.read()
        new = rewrite_dotted(text)  # dotted names first (`from harness.models import x` included), then import forms
        if name.endswith(".py"):
            try:
                new = rewrite_python(new)
            except SyntaxError as e:
                print(f"  cannot parse {name}: {e}")
        if new != text:
            with open(name, "w", encoding="utf-8") as f:
                f.write(new)
            print(f"rewrote {name}")


if __name__ == "__main__":
    main()
