"""`python -m harness profile`: bad input refused in one line before TensorFlow; the profile's numbers against
NumPy/SciPy computed from the conditions' own tables; the ordering of the built-ins on a reduced digits battery
(GroupNorm's, LayerNorm's and BRN's indices established below BN's); --merge and its refusals."""

import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats

from tests.conftest import ROOT, harness_env

ORDERING = os.path.join(ROOT, "tests", "profile", "ordering.yaml")


def _harness(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness", "profile", *args], env=env or harness_env(),
                          capture_output=True, text=True, cwd=ROOT)


def _in_process(args):
    """Exit code, stderr and whether TensorFlow was imported, for the CLI run in a fresh interpreter."""
    code = ("import sys, json\nfrom harness.commands.cli import main\n"
            "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as exit_:  # an option refused while parsing\n"
            "    rc = exit_.code\nprint(json.dumps([rc, 'tensorflow' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code, "profile", *args], env=harness_env(), capture_output=True,
                          text=True, cwd=ROOT)
    rc, tf = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, done.stderr, tf


@pytest.mark.parametrize("args, expected", [
    (["nosuchnorm", "--battery", ORDERING], "nosuchnorm"),
    (["g=groupnorm,groups=0", "--battery", ORDERING], "groups"),
    (["g=groupnorm,gruops=4", "--battery", ORDERING], "did you mean 'groups'"),
    (["bn=layernorm", "--battery", ORDERING], "reference normalizer"),
    (["layernorm", "--battery", "nosuchbattery"], "neither a file nor a shipped battery"),
    (["layernorm", "--battery", ORDERING, "--seeds", "0"], "--seeds"),
    (["g=groupnorm,groups=5", "--battery", ORDERING], "fits no condition"),
    ([], "at least one normalizer"),
])
def test_bad_input_is_one_line_exit_2_before_tensorflow(args, expected, tmp_path):
    rc, stderr, tf_imported = _in_process([*args, "--out", str(tmp_path / "out")])
    assert rc == 2
    assert len(stderr.strip().splitlines()) == 1 and expected in stderr, stderr
    assert not tf_imported
    assert not (tmp_path / "out").exists()


def test_bad_battery_file_names_the_field(tmp_path):
    raw = yaml.safe_load(open(ORDERING, encoding="utf-8"))
    raw["conditions"]["classes_1"]["axs"] = raw["conditions"]["classes_1"].pop("axis")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    rc, stderr, tf_imported = _in_process(["layernorm", "--battery", str(path)])
    assert rc == 2 and "conditions.classes_1" in stderr and "axs" in stderr and not tf_imported, stderr
    raw = yaml.safe_load(open(ORDERING, encoding="utf-8"))
    raw["reference_condition"] = "iid_61"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    rc, stderr, _ = _in_process(["layernorm", "--battery", str(path)])
    assert rc == 2 and "reference_condition" in stderr and "iid_16" in stderr, stderr


def test_numbers_against_numpy_and_scipy():
    from harness.profile import compute

    rng = np.random.default_rng(3)
    seeds, conditions = [0, 1, 2, 3, 4], ["ref", "a", "b"]
    acc = {("x", c): 90 - rng.uniform(0, 5, 5) * (i + 1) for i, c in enumerate(conditions)}
    acc.update({("y", c): 90 - rng.uniform(0, 1, 5) for c in conditions})
    acc[("y", "b")] = np.r_[acc[("y", "b")][:4], np.nan]  # one failed trial of y at b
    rows = [{"normalizer": n, "condition": c, "seed": s, "metric": "acc_inference", "value": v}
            for (n, c), values in acc.items() for s, v in zip(seeds, values, strict=False) if not math.isnan(v)]
    frame = pd.DataFrame(rows)
    index = compute.indices(frame, ["x", "y"], conditions, "ref")
    drops_x = np.stack([acc[("x", "ref")] - acc[("x", c)] for c in ("a", "b")], axis=1)
    assert index["x"]["index"] == pytest.approx(drops_x.mean())
    assert index["x"]["worst"] == ("a" if drops_x[:, 0].mean() > drops_x[:, 1].mean() else "b")
    per_seed_y = np.nanmean(np.stack([acc[("y", "ref")] - acc[("y", c)] for c in ("a", "b")], axis=1), axis=1)
    assert index["y"]["index"] == pytest.approx(per_seed_y.mean())
    lo, hi = index["x"]["ci"]
    assert lo < drops_x.mean() < hi
    cells = compute.cells(frame, ["x", "y"], conditions, "ref")
    cell = cells[(cells["normalizer"] == "x") & (cells["condition"] == "a")].iloc[0]
    t = scipy_stats.t.ppf(0.975, 4) * np.std(drops_x[:, 0], ddof=1) / math.sqrt(5)
    assert cell["drop"] == pytest.approx(drops_x[:, 0].mean())
    assert (cell["drop_ci_low"], cell["drop_ci_high"]) == pytest.approx((drops_x[:, 0].mean() - t,
                                                                         drops_x[:, 0].mean() + t))
    assert cell["mean"] == pytest.approx(acc[("x", "a")].mean())
    table = compute.family(frame, ["x", "y"], ["y"], conditions, "ref")
    assert len(table) == 1
    # x against y over the conditions both have, on the seeds both have (seed 4 lacks y at b: y's mean over a)
    diff = drops_x.mean(axis=1) - per_seed_y
    assert table.iloc[0]["diff"] == pytest.approx(diff.mean())
    assert table.iloc[0]["p_t"] == pytest.approx(scipy_stats.ttest_1samp(diff, 0).pvalue)


@pytest.fixture(scope="module")
def ordering_profile(tmp_path_factory):
    """The built-ins' profile on the reduced battery: layernorm profiled beside bn, brn and groupnorm."""
    out = tmp_path_factory.mktemp("profile") / "ordering"
    done = _harness("layernorm", "--battery", ORDERING, "--out", str(out), "--quiet", "--json")
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


def test_ordering_of_the_builtins(ordering_profile):
    out, printed = ordering_profile
    assert printed["battery"] == "ordering" and printed["conditions"] == ["iid_4", "iid_16", "classes_1"]
    assert set(printed["normalizers"]) == {"bn", "brn", "groupnorm", "layernorm"}
    family = pd.read_csv(out / "profile_family.csv")
    assert len(family) == 6  # 4 normalizers, 3 references: every unordered pair with a reference once

    def verdict(a, b):
        row = family[(family["normalizer"] == a) & (family["reference"] == b)]
        if len(row):
            return row.iloc[0]["verdict"]
        row = family[(family["normalizer"] == b) & (family["reference"] == a)].iloc[0]
        return {"lower": "higher", "higher": "lower"}.get(row["verdict"], row["verdict"])

    for name in ("groupnorm", "layernorm", "brn"):
        assert verdict(name, "bn") == "lower", family
        assert printed["normalizers"][name]["index"] < printed["normalizers"]["bn"]["index"]
    assert printed["normalizers"]["bn"]["worst"] == "classes_1"


def test_profile_table_matches_the_conditions_own_tables(ordering_profile):
    """profile.csv and the index recomputed from each condition's run directory (summary.csv) with pandas."""
    out, printed = ordering_profile
    profile = pd.read_csv(out / "profile.csv")
    assert list(profile.columns[:9]) == ["normalizer", "condition", "metric", "mean", "ci_low", "ci_high", "drop",
                                         "drop_ci_low", "drop_ci_high"]
    summary = pd.concat([pd.read_csv(out / "conditions" / c / "summary.csv").assign(condition=c)
                         for c in ("iid_4", "iid_16", "classes_1")])
    acc = summary[summary["metric"] == "acc_inference"].pivot_table(index=["normalizer", "seed"], columns="condition",
                                                                    values="value") * 100
    for name, entry in printed["normalizers"].items():
        drops = acc.loc[name][["iid_4", "classes_1"]].rsub(acc.loc[name]["iid_16"], axis=0)
        assert entry["index"] == pytest.approx(drops.mean(axis=1).mean(), abs=1e-3)
        row = profile[(profile["normalizer"] == name) & (profile["condition"] == "classes_1")
                      & (profile["metric"] == "acc_inference")].iloc[0]
        assert row["mean"] == pytest.approx(acc.loc[name]["classes_1"].mean())
        assert row["drop"] == pytest.approx(drops["classes_1"].mean())
    # every normalizer trained on the same initial weights and batches within a condition: pairing as in a run
    trials = pd.read_csv(out / "conditions" / "classes_1" / "trials.csv")
    assert (trials["status"] == "ok").all()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "layernorm loses" in page or "layernorm gains" in page
    assert "<svg" in page and not re.search(r'(src|href)="(https?:)?//', page)  # self-contained: nothing fetched
    for label in ("batch size", "classes per batch"):
        assert label in page


def _copy(src, dst, battery=None, versions=None):
    shutil.copytree(src, dst)
    if battery:
        raw = yaml.safe_load((dst / "battery.yaml").read_text(encoding="utf-8"))
        raw.update(battery)
        (dst / "battery.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    if versions:
        prov = json.loads((dst / "provenance.json").read_text(encoding="utf-8"))
        prov["versions"].update(versions)
        (dst / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    return dst


def test_merge_ranks_and_refuses_different_batteries_or_versions(ordering_profile, tmp_path):
    out, printed = ordering_profile
    other = _copy(out, tmp_path / "other")
    done = _harness("--merge", str(out), str(other), "--json")
    assert done.returncode == 0, done.stderr
    merged = json.loads(done.stdout)
    # references once; the profiled layernorm of each folder apart
    assert sorted(merged["normalizers"]) == sorted(["bn", "brn", "groupnorm", "layernorm@ordering", "layernorm@other"])
    ranks = sorted(merged["normalizers"].values(), key=lambda e: e["rank"])
    assert [e["index"] for e in ranks] == sorted(e["index"] for e in ranks)
    seeds = _copy(out, tmp_path / "seeds", battery={"seeds": [0, 1]})
    done = _harness("--merge", str(out), str(seeds))
    assert done.returncode == 2 and "its seeds differs" in done.stderr and len(done.stderr.splitlines()) == 1
    newer = _copy(out, tmp_path / "newer", versions={"tensorflow": "9.9.9"})
    done = _harness("--merge", str(out), str(newer))
    assert done.returncode == 2 and "tensorflow 9.9.9" in done.stderr, done.stderr
    done = _harness("--merge", str(out), str(tmp_path))
    assert done.returncode == 2 and "not a finished profile folder" in done.stderr


@pytest.mark.parametrize("name", ["digits", "cifar"])
def test_shipped_batteries_are_valid_scenarios(name):
    """Every condition of a shipped battery (and of its --quick variant) is a valid scenario with the references
    and a plugin-free profiled normalizer (data feasibility aside: CIFAR is not on the test machine)."""
    from harness.profile import battery, driver
    from harness.scenario import validate

    loaded = battery.load(name)
    assert loaded.conditions[loaded.reference_condition]["sampler"] == {"kind": "iid"}
    assert max(c["batch_size"] for c in loaded.conditions.values()) == \
        loaded.conditions[loaded.reference_condition]["batch_size"]  # i.i.d. at the largest batch
    for variant in (loaded, loaded.quick_variant()):
        for condition in variant.conditions:
            chosen, _ = driver.condition_normalizers(variant, {**variant.references, "ln": {"kind": "layernorm"}},
                                                     condition)
            scenario = validate(driver.condition_raw(variant, condition, chosen), check_feasibility=False)
            assert scenario.training["batch_size"] == variant.conditions[condition]["batch_size"]
    quick = loaded.quick_variant()
    assert len(quick.seeds) == 2 and quick.steps < loaded.steps
