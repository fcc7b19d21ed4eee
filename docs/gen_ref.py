"""MkDocs hook: the reference tables, generated from the code when the site is built, so they cannot drift.

A page asks for a table with a marker line ``<!-- gen: NAME -->``; `on_page_markdown` replaces it with the
Markdown `GENERATORS[NAME]` returns. Every table is read from the definitions the harness itself uses:

- ``scenario_fields``: the JSON Schema of `harness.scenario.schema` (built from the `Field` tables validation
  checks with);
- ``builtins``: the built-in data sources, models, normalizers and samplers with their parameters (the same
  schema's variants, described by their registries);
- ``metrics``: `harness.analysis.metrics.METRICS`;
- ``run_directory``: the file names and columns of `harness.results.rundir` (and `harness.results.comparisons`);
- ``cli``: the argparse parsers of `harness.commands.cli`, every command and option;
- ``exit_codes``: `harness.errors.EXIT_CODES`, each error class with its exit code;
- ``report_sections``: `harness.report.render.SECTIONS`;
- ``api``: mkdocstrings directives for the public names `harness.__all__` lists (`harness.__version__` when
  there is no `__all__`).

A marker ``<!-- include-if-exists: PATH [LANG] -->`` (PATH relative to the repository root) becomes a fenced
block holding that file, or a note that it is not in this checkout: for files another part of the project ships.
A marker ``<!-- include-tree-if-exists: FOLDER -->`` includes every source file under FOLDER that way.
A marker ``<!-- link-if-exists: PATH TEXT -->`` becomes a link to PATH (relative to the page) when it exists.

Run as ``mkdocs build --strict`` (mkdocs.yml: ``hooks: [docs/gen_ref.py]``). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MARKER = re.compile(r"^<!-- gen: (\w+) -->$", re.MULTILINE)
INCLUDE = re.compile(r"^<!-- include-if-exists: (\S+)(?: (\w+))? -->$", re.MULTILINE)
LINK = re.compile(r"<!-- link-if-exists: (\S+) (.+?) -->")
TREE = re.compile(r"^<!-- include-tree-if-exists: (\S+) -->$", re.MULTILINE)
LANGUAGES = {".py": "python", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".cfg": "ini", ".md": "markdown"}


def _cell(value) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _code(value) -> str:
    return f"`{value}`" if value not in ("", None) else ""


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ scenario fields
def _type_of(schema: dict) -> str:
    if "const" in schema:
        return f"`{schema['const']!r}`"
    if "anyOf" in schema:
        return " or ".join(_type_of(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    return kind or ("string" if "pattern" in schema else "any")


def _range_of(schema: dict) -> str:
    parts = []
    for sub in schema.get("anyOf", []):
        text = _range_of(sub)
        if text:
            parts.append(text)
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    low = [(f">= {schema['minimum']}") if "minimum" in schema else None,
           (f"> {schema['exclusiveMinimum']}") if "exclusiveMinimum" in schema else None,
           (f"<= {schema['maximum']}") if "maximum" in schema else None,
           (f"< {schema['exclusiveMaximum']}") if "exclusiveMaximum" in schema else None]
    parts += [p for p in low if p]
    if schema.get("type") == "array":
        item = _range_of(schema.get("items", {}))
        if item:
            parts.append(f"each {item}")
        if schema.get("minItems"):
            parts.append(f"at least {schema['minItems']} item(s)")
    if "pattern" in schema:
        parts.append(f"matches `{schema['pattern']}`")
    return "; ".join(parts)


def _default_of(schema: dict) -> str:
    if "default" not in schema:
        return ""
    value = schema["default"]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    import json

    return f"`{json.dumps(value)}`"


def _field_rows(schema: dict, prefix: str, required: list | None = None) -> list[list]:
    """Rows (field, type, default, range, description) of an object's properties, nested objects flattened."""
    rows = []
    required = required if required is not None else schema.get("required", [])
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        if "const" in sub:
            continue  # a variant's discriminator: named in the section title
        default = _default_of(sub) or ("required" if key in required else "")
        rows.append([f"`{path}`", _type_of(sub), default, _range_of(sub), sub.get("description", "")])
        if sub.get("properties"):
            rows += _field_rows(sub, path)
    return rows


def _variants(schema: dict) -> list[tuple[str, str, dict]]:
    """(key, name, branch schema) of a discriminated object (`harness.scenario.schema._discriminated`)."""
    out = []
    for branch in schema.get("allOf", []):
        cond = branch.get("if", {}).get("properties", {})
        if len(cond) == 1:
            key, const = next(iter(cond.items()))
            out.append((key, const["const"], branch.get("then", {})))
    return out


FIELD_HEADER = ["field", "type", "default", "range", "description"]


def _section_of(title: str, schema: dict, prefix: str) -> list[str]:
    parts = [f"### `{title}`\n"]
    if schema.get("description"):
        parts.append(schema["description"] + "\n")
    variants = _variants(schema)
    if variants:
        key = variants[0][0]
        parts.append(f"`{prefix}.{key}` picks one of: " + ", ".join(f"`{n}`" for _, n, _ in variants)
                     + (" (or a plugin, `module.path:attribute` or an entry-point name)"
                        if "anyOf" in schema.get("properties", {}).get(key, {}) else "") + ".\n")
        for key, name, branch in variants:
            parts.append(f"#### `{prefix}.{key}: {name}`\n")
            rows = _field_rows(branch, prefix)
            parts.append(_table(FIELD_HEADER, rows) if rows else "No parameters.\n")
            if branch.get("additionalProperties") is True:
                parts.append("Also takes any other keyword its function accepts.\n")
    else:
        rows = _field_rows(schema, prefix)
        parts.append(_table(FIELD_HEADER, rows))
    return parts


def scenario_fields() -> str:
    """Every field of the scenario format, from the built-ins-only JSON Schema validation is tested against."""
    from harness.scenario.schema import scenario_schema

    schema = scenario_schema(plugins=False)
    top = schema["properties"]
    required = schema.get("required", [])
    parts = ["### Top level\n"]
    rows = []
    for key, sub in top.items():
        kind = _type_of(sub)
        if "additionalProperties" in sub and isinstance(sub["additionalProperties"], dict) and "propertyNames" in sub:
            kind = "mapping of names to objects"
        rows.append([f"`{key}`", kind, _default_of(sub) or ("required" if key in required else ""),
                     _range_of(sub), sub.get("description", "")])
    parts.append(_table(FIELD_HEADER, rows))
    for key, sub in top.items():
        entry = sub.get("additionalProperties")
        if isinstance(entry, dict) and "propertyNames" in sub:  # normalizers.<name>, samplers.<name>
            parts += _section_of(f"{key}.<name>", entry, f"{key}.<name>")
        elif sub.get("properties") or sub.get("allOf"):
            if key == "sweep":
                continue  # free-form: dotted paths to lists (see the Sweeps how-to)
            parts += _section_of(key, sub, key)
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------ built-ins
def _describe(registry_name: str, name: str) -> str:
    """The registry's one-line description of a built-in (`samplers`, or a `harness.*` module's `get`); a
    model's family and whether it takes tabular input follow its description."""
    if registry_name == "samplers":
        import samplers

        return samplers.get(name).description()
    entry = importlib.import_module(registry_name).get(name)
    text = entry.description or ""
    if registry_name == "harness.models.kinds":
        traits = [f"family `{entry.family}`" if entry.family else "no family (XLA off under `auto`)"]
        if entry.tabular:
            traits.append("takes tabular input")
        text += " (" + "; ".join(traits) + ")"
    return text


def builtins() -> str:
    """The built-in data sources, models, normalizers and samplers with their parameters."""
    from harness.scenario.schema import scenario_schema

    top = scenario_schema(plugins=False)["properties"]
    groups = [("Data sources (`data.name`)", top["data"], "harness.data.sources"),
              ("Models (`model.name`)", top["model"], "harness.models.kinds"),
              ("Normalizers (`normalizers.<name>.kind`)", top["normalizers"]["additionalProperties"],
               "harness.norms.kinds"),
              ("Samplers (`samplers.<name>.kind`)", top["samplers"]["additionalProperties"], "samplers")]
    parts = []
    for title, schema, registry in groups:
        parts.append(f"## {title}\n")
        rows = []
        for _, name, branch in _variants(schema):
            params = []
            for key, sub in branch.get("properties", {}).items():
                if "const" in sub:
                    continue
                default = _default_of(sub)
                params.append(f"`{key}`" + (f" = {default}" if default else ""))
            description = _describe(registry, name) if registry else ""
            rows.append([f"`{name}`", ", ".join(params) or "—", description])
        parts.append(_table(["name", "parameters (defaults)", "description"], rows))
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------ metrics
def metrics() -> str:
    """`harness.analysis.metrics.METRICS`: every metric a run's tables hold."""
    from harness.analysis import metrics as m

    where = {"curve": "curves.csv", "final": "summary.csv", "layer": "layers.csv"}
    rows = []
    for name, metric in m.METRICS.items():
        produced = getattr(metric, "produced", ())
        low, high = getattr(metric, "low", None), getattr(metric, "high", None)
        better = getattr(metric, "higher_is_better", None)
        rows.append([f"`{name}`", getattr(metric, "label", ""), getattr(metric, "unit", ""),
                     ", ".join(where.get(p, p) for p in produced),
                     f"[{low}, {high}]" if low is not None else "",
                     {True: "higher", False: "lower", None: "—"}.get(better, str(better))])
    return _table(["metric", "what it is", "unit", "table", "range", "better"], rows)


# ------------------------------------------------------------------------------------------ run directory
COLUMN_DOCS = {
    "sampler": "the sampler's name in the scenario", "normalizer": "the normalizer's name in the scenario",
    "seed": "the trial's seed", "status": "`ok`, `diverged` or `failed`",
    "diverged_step": "the step where the loss became NaN or inf (diverged trials)",
    "error": "the error a failed trial raised", "seconds": "the trial's wall time",
    "failed_metrics": "the metrics that failed in the trial (non-finite), each with its reason "
                      "(`metric: reason; ...`): they have no number in any table, the trial's other metrics do",
    "init_fingerprint": "hash of the initial non-normalization weights: equal within a seed (pairing)",
    "metric": "a metric name (see the metrics table)", "value": "the metric's value",
    "step": "the training step of the evaluation", "layer": "normalization layer, depth from 1",
    "batch": "index of the sampler's batch", "label": "class label", "count": "examples of that label in the batch",
    "comparison": "what is compared: the drop from the i.i.d. control, the difference from the reference, or a "
                  "declared `pair`",
    "reference": "what the normalizer is compared against", "n": "seeds paired",
    "mean_diff": "mean paired difference", "sd_diff": "standard deviation of the paired differences",
    "ci_low": "unadjusted 95% t interval, low end", "ci_high": "unadjusted 95% t interval, high end",
    "p_t": "paired t test p", "p_signflip": "exact sign-flip p over all 2^n sign patterns (empty below 6 seeds)",
    "p_holm": "Holm-adjusted p over every row of the table (from `p_t`)",
    "boot_low": "two-level bootstrap interval over seeds and test examples, low end",
    "boot_high": "two-level bootstrap interval over seeds and test examples, high end",
    "detectable_80": "smallest difference these seeds detect with 80% power (paired t)",
    "seeds_for_observed": "seeds the observed difference would need for 80% power",
}


def run_directory() -> str:
    """Every file of a run directory and every column of its tables, from `harness.results.rundir`."""
    from harness.results import rundir

    doc = (rundir.__doc__ or "")
    files = re.findall(r"^\s+<out>/(\S+)\s+(.+)$", doc, re.MULTILINE)
    parts = [_table(["file", "what it holds"], [[f"`{name}`", text] for name, text in files])]
    parts.append("### Tables\n")
    parts.append("Every table is tidy (one value per row). Identifying columns come first, then one column per "
                 "swept field (sweeps only), then the value columns.\n")
    rows = []
    for name, columns in rundir.TABLES.items():
        for column in columns:
            rows.append([f"`{rundir.table_file(name)}`", f"`{column}`", COLUMN_DOCS.get(column, "")])
    comparisons = _comparison_columns()
    name = rundir.COMPARISONS
    for column in comparisons:
        rows.append([f"`{rundir.table_file(name)}`", f"`{column}`", COLUMN_DOCS.get(column, "")])
    parts.append(_table(["file", "column", "meaning"], rows))
    parts.append("Trial statuses: " + ", ".join(f"`{s}`" for s in rundir.STATUSES) + ".\n")
    return "\n".join(parts)


def _comparison_columns() -> list[str]:
    """The columns of comparisons.csv as `harness.results.comparisons` defines them (without the sweep columns)."""
    from harness.results import comparisons

    return list(comparisons.BASE_COLUMNS) + list(comparisons.VALUE_COLUMNS)


# ------------------------------------------------------------------------------------------ CLI
def _option_rows(parser: argparse.ArgumentParser) -> list[list]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            names += " {" + ", ".join(str(c) for c in action.choices) + "}"
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) or action.option_strings == [] else f"`{default}`"
        rows.append([names, shown, (action.help or "").replace("%(default)s", str(default))])
    return rows


def _subparsers(parser: argparse.ArgumentParser) -> dict:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _command_section(name: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    parts = [f"{'#' * level} `{name}`\n"]
    if parser.description:
        parts.append(parser.description + "\n")
    parts.append("```text\n" + parser.format_usage().replace("usage: ", "").strip() + "\n```\n")
    rows = _option_rows(parser)
    if rows:
        parts.append(_table(["argument", "default", "meaning"], rows))
    for sub_name, sub in _subparsers(parser).items():
        parts += _command_section(f"{name} {sub_name}", sub, level + 1)
    return parts


def cli() -> str:
    """Every command of `python -m harness` with its options, from the parsers the CLI runs."""
    from harness.commands import cli as cli_module

    parts = []
    for command in cli_module.COMMANDS:
        parser = cli_module.build_parser(command)
        parts += _command_section(f"python -m harness {command}", _subparsers(parser)[command], 3)
    return "\n".join(parts)


def _first_line(obj: object) -> str:
    return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]


def exit_codes() -> str:
    """The exit codes, from `harness.errors.EXIT_CODES` (error class -> exit code): each class with its
    subclasses in `harness.errors`, which exit with the same code."""
    from harness import errors

    rows = []
    for error, code in errors.EXIT_CODES.items():
        subclasses = [c.__name__ for c in vars(errors).values()
                      if isinstance(c, type) and c is not error and issubclass(c, error)]
        meaning = _first_line(error) + (" Raised as " + ", ".join(f"`{s}`" for s in subclasses) + "."
                                        if subclasses else "")
        rows.append([f"`{error.__name__}`", f"`{code}`", meaning])
    return _table(["error", "exit code", "meaning"], rows)


# ------------------------------------------------------------------------------------------ report
def report_sections() -> str:
    """The report's sections, in page order, from `harness.report.render.SECTIONS`."""
    from harness.report import render

    rows = [[str(i), f"`{s.id}`", s.title,
             "the headline sweep point" if getattr(s, "at_point", False) else "every point",
             f"`harness/report/templates/{s.template}`" if getattr(s, "html", None) is None
             else "inline (its `Section.html`)"] for i, s in enumerate(render.SECTIONS, 1)]
    return _table(["#", "id", "title", "shows (sweeps)", "template"], rows)


# ------------------------------------------------------------------------------------------ API
def _defined_in(name: str) -> str | None:
    """The module of the package (`harness` or one of its modules it re-exports from) whose source defines
    `name`, found statically: a lazy `__getattr__` export is documented where it is defined."""
    candidates = ["harness/__init__.py", "harness/api.py"]
    text = open(os.path.join(ROOT, "harness", "__init__.py"), encoding="utf-8").read()
    candidates += [m.replace(".", "/") + ".py" for m in re.findall(r"from (harness\.[\w.]+) import", text)]
    pattern = re.compile(rf"^(?:class|def) {name}\b|^{name}\s*[:=]", re.MULTILINE)
    for path in candidates:
        full = os.path.join(ROOT, path)
        if os.path.isfile(full) and pattern.search(open(full, encoding="utf-8").read()):
            return path[:-3].replace("/", ".").removesuffix(".__init__")
    return None


def api() -> str:
    """mkdocstrings directives for the public names of `harness` (its `__all__`), read statically by griffe;
    a name whose definition is not found is listed, not rendered, so the page builds whatever the package holds."""
    text = open(os.path.join(ROOT, "harness", "__init__.py"), encoding="utf-8").read()
    match = re.search(r"__all__\s*=\s*[\[(](.*?)[\])]", text, re.DOTALL)
    names = re.findall(r"['\"](\w+)['\"]", match.group(1)) if match else []
    parts = ["::: harness\n    options:\n      show_root_heading: true\n      members: false\n"]
    missing = []
    for name in names:
        if name.startswith("__"):
            continue
        module = _defined_in(name)
        if module is None:
            missing.append(name)
            continue
        parts.append(f"::: {module}.{name}\n    options:\n      show_root_heading: true\n")
    if missing:
        parts.append("Also exported: " + ", ".join(f"`harness.{n}`" for n in missing) + ".\n")
    return "\n".join(parts)


GENERATORS = {"scenario_fields": scenario_fields, "builtins": builtins, "metrics": metrics,
              "run_directory": run_directory, "cli": cli, "exit_codes": exit_codes,
              "report_sections": report_sections, "api": api}


def _include(match: re.Match) -> str:
    path, lang = match.group(1), match.group(2) or ""
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        return f"*(`{path}` is not in this checkout.)*"
    body = open(full, encoding="utf-8").read().rstrip("\n")
    return f"```{lang} title=\"{path}\"\n{body}\n```"


def _include_tree(match: re.Match) -> str:
    folder = match.group(1)
    full = os.path.join(ROOT, folder)
    if not os.path.isdir(full):
        return f"*(`{folder}` is not in this checkout.)*"
    blocks = []
    for here, dirs, names in sorted(os.walk(full)):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and not d.endswith(".egg-info"))
        for name in sorted(names):
            language = LANGUAGES.get(os.path.splitext(name)[1])
            if language:
                path = os.path.relpath(os.path.join(here, name), ROOT)
                blocks.append(_include(re.match(r"<!-- include-if-exists: (\S+)(?: (\w+))? -->",
                                                f"<!-- include-if-exists: {path} {language} -->")))
    return "\n\n".join(blocks)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the markers of a page with the generated tables and the included files."""
    markdown = MARKER.sub(lambda m: GENERATORS[m.group(1)]().rstrip("\n") + "\n", markdown)
    markdown = INCLUDE.sub(_include, markdown)
    markdown = TREE.sub(_include_tree, markdown)

    def link(match: re.Match) -> str:
        target, text = match.group(1), match.group(2)
        here = os.path.dirname(page.file.abs_src_path)
        return f"[{text}]({target})" if os.path.exists(os.path.join(here, target)) else f"{text} (not in this checkout)"

    return LINK.sub(link, markdown)
