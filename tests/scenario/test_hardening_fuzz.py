"""Fuzzing `validate` (issue 14): a few hundred malformed scenarios, mutations of the shipped ones (wrong types,
deleted and unknown keys, huge numbers, odd strings, odd YAML), each must be accepted (exit 0) or refused in one
line (exit 2): never a traceback, never over the time and memory budget, nothing created.

Run in this process through harness.commands.cli.main for speed (one subprocess sanity case is in
test_hardening_validate.py). The mutator is seeded: a failure names its case, which reproduces exactly.
"""

import copy
import glob
import os
import random
import time
import tracemalloc

import pytest
import yaml

from tests.conftest import ROOT
from tests.support.hardening import run_cli, snapshot

CASES = 300
SECONDS_PER_CASE = 20  # generous: the machine is shared; a hang or an expansion blow-up takes minutes
PEAK_BYTES = 400_000_000  # Python + NumPy allocations traced during one validation

ODD_VALUES = [None, True, False, 0, -1, 1, 2**31, 10**30, -10**30, 1e308, -1e-308, 0.5, float("nan"), float("inf"),
              "", " ", "x" * 400, "a\0b", "line\nbreak", "../../etc/passwd", "/", "é漢字", "1e3", "null", "~",
              [], [None], [1, [2]], {}, {"k": 1}, {1: 2}, {None: None}, ["a", "a"], list(range(50))]
ODD_KEYS = [None, 1, True, "", "zip", "sweep", "kind", "__", "a.b", "x" * 300, "é", "name\n"]
YAML_SNIPPETS = ["!!python/object/apply:os.system ['true']", "&a [*a]", "*undefined", "{", "]", "'unterminated",
                 "!!binary AAAA", "? complex key\n: v", "<<: {x: 1}", "\t", "%YAML 1.1\n---", "--- \n---", "@"]


def shipped():
    return {os.path.basename(p): yaml.safe_load(open(p, encoding="utf-8"))
            for p in sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.yaml")))}


def paths(tree, prefix=()):
    """Every (path tuple) to a node in a nested dict/list."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += paths(value, prefix + (index,))
    return found


def parent_of(tree, path):
    node = tree
    for key in path[:-1]:
        node = node[key]
    return node


def mutate(raw, rng):
    """One to three structural mutations of a scenario dict."""
    raw = copy.deepcopy(raw)
    for _ in range(rng.randint(1, 3)):
        candidates = [p for p in paths(raw) if p]
        if not candidates:
            break
        path = rng.choice(candidates)
        parent, key = parent_of(raw, path), path[-1]
        action = rng.choice(["delete", "replace", "replace", "replace", "unknown_key", "rename", "wrap"])
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif action == "unknown_key" and isinstance(parent, dict):
            parent[rng.choice(ODD_KEYS)] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif action == "rename" and isinstance(parent, dict):
            parent[rng.choice(ODD_KEYS)] = parent.pop(key)
        elif action == "wrap":
            parent[key] = [parent[key]] if rng.random() < 0.5 else {"value": parent[key]}
    return raw


def dump(raw):
    try:
        return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return yaml.dump(raw, sort_keys=False)


def text_mutation(text, rng):
    """Odd YAML: a line duplicated, removed, truncated, or a snippet of strange YAML inserted."""
    lines = text.splitlines()
    where = rng.randrange(len(lines) + 1)
    action = rng.choice(["duplicate", "drop", "snippet", "snippet", "truncate", "bytes"])
    if action == "duplicate" and lines:
        lines.insert(where, lines[min(where, len(lines) - 1)])
    elif action == "drop" and lines:
        del lines[min(where, len(lines) - 1)]
    elif action == "snippet":
        line = lines[min(where, len(lines) - 1)] if lines else ""
        indent = line[:len(line) - len(line.lstrip())]
        lines.insert(where, f"{indent}{rng.choice(['k', 'data', 'training', 'sweep'])}: {rng.choice(YAML_SNIPPETS)}")
    elif action == "truncate":
        return text[:rng.randrange(len(text) + 1)].encode()
    else:
        return text.encode()[:where * 7] + bytes(rng.randrange(256) for _ in range(5)) + text.encode()[where * 7:]
    return "\n".join(lines).encode()


def cases():
    scenarios = shipped()
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 14)))  # FUZZ_SEED=N explores other cases
    names = sorted(scenarios)
    for index in range(CASES):
        name = names[index % len(names)]
        raw = mutate(scenarios[name], rng)
        text = dump(raw)
        content = text_mutation(text, rng) if rng.random() < 0.3 else text.encode()
        yield f"{index}-{name}", content


def _reports_snapshot():
    """The repository's reports/ folder, without the browser test's artifacts (written by a test that may run
    alongside this one under pytest-xdist)."""
    folder = os.path.join(ROOT, "reports")
    state = snapshot(folder) if os.path.isdir(folder) else {}
    return {path: value for path, value in state.items() if not path.startswith("test-artifacts")}


def test_validate_survives_malformed_scenarios(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    before_repo = _reports_snapshot()
    outcomes = {0: 0, 2: 0}
    slowest = (0.0, None)
    code, _, err = run_cli(["validate", os.path.join(ROOT, "scenarios", "noniid_small.yaml")])  # imports, untimed
    assert code == 0, err
    tracemalloc.start()
    try:
        for case, content in cases():
            path = folder / f"{case}.yaml"
            path.write_bytes(content)
            before = snapshot(folder)
            tracemalloc.reset_peak()
            started = time.perf_counter()
            try:
                code, out, err = run_cli(["validate", path])
            except BaseException as error:  # noqa: BLE001 - anything escaping main() is a traceback for a user
                pytest.fail(f"case {case}: {type(error).__name__}: {error}\n{content[:2000]!r}")
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            slowest = max(slowest, (seconds, case))
            assert code in (0, 2), f"case {case}: exit {code}\n{err}\n{content[:2000]!r}"
            assert "Traceback" not in err, f"case {case}: {err}"
            if code == 2:
                assert len(err.strip().splitlines()) == 1, f"case {case}: {err}"
            assert seconds < SECONDS_PER_CASE, f"case {case}: {seconds:.1f} s"
            assert peak < PEAK_BYTES, f"case {case}: peak {peak / 1e6:.0f} MB"
            assert snapshot(folder) == before, f"case {case} created files"
            outcomes[code] += 1
            path.unlink()
    finally:
        tracemalloc.stop()
    after_repo = _reports_snapshot()
    assert after_repo == before_repo
    assert outcomes[2] > CASES // 2  # the mutations do break most scenarios
    print(f"fuzz: {outcomes[0]} accepted, {outcomes[2]} refused; slowest case {slowest[1]} {slowest[0]:.2f} s")


# -- the command line's options (issue 22): odd values of every numeric option, checked like scenario fields --
OPTION_RANGES = {  # option: (kind, low, high): the reference the harness's answer is checked against
    "--workers": (int, 1, 1024), "--workers-per-gpu": (int, 1, 1024),
    "--gpus-per-trial": (float, 0, 1024), "--max-retries": (int, 0, 100),
}
ODD_OPTION_VALUES = ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1", "0", "1", "2", "3.5", "1e3", "-0",
                     "+4", "1_000", "0x10", "", " ", "x", "1 2", "10" * 40, "\u0661", "0.0", "1e-320", "-1e-9",
                     "1024", "1025", "100", "101", "\u00e9", "--", "-", "9" * 5000]
CLI_CASES = 200


def _acceptable(kind, low, high, text):
    """Whether `text` is a valid value: parses as `kind` (plain Python), is finite and lies in [low, high]."""
    import math

    try:
        value = kind(text)
    except ValueError:
        return False
    return math.isfinite(value) and low <= value <= high


def cli_cases():
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 22)))
    for index in range(CLI_CASES):
        options = rng.sample(sorted(OPTION_RANGES), rng.randint(1, len(OPTION_RANGES)))
        yield index, [(option, rng.choice(ODD_OPTION_VALUES)) for option in options]


def test_cli_options_survive_odd_values(tmp_path):
    """Every numeric option of `run` with odd values: exit 2 and one line naming the first bad option (or, all
    of them valid, the missing scenario): never a traceback, never accepted, nothing created."""
    missing = tmp_path / "missing.yaml"
    before = snapshot(tmp_path)
    for index, chosen in cli_cases():
        argv = ["run", missing, "--out", tmp_path / "out"]
        for option, value in chosen:
            argv += [f"{option}={value}"]  # `=`: a value that starts with '-' stays a value
        try:
            code, out, err = run_cli(argv)
        except BaseException as error:  # noqa: BLE001 - anything escaping main() is a traceback for a user
            pytest.fail(f"case {index} {chosen}: {type(error).__name__}: {error}")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (index, chosen, err)
        bad = [option for option, value in chosen if not _acceptable(*OPTION_RANGES[option], value)]
        if bad:
            assert lines[0].startswith("error: argument --"), (index, chosen, lines[0])
            assert lines[0].split(":")[1].strip().split("/")[0].removeprefix("argument ") in bad, (index, chosen)
        else:
            assert "missing.yaml" in lines[0] and "does not exist" in lines[0], (index, chosen, lines[0])
        assert snapshot(tmp_path) == before, f"case {index} created files"
