"""`python -m harness profile --merge DIR [DIR ...]`: finished profiles (other users, other days) in one ranked
table. Profiles merge only when they ran the same battery (name and content: conditions, seeds, steps,
scenario, references) with the same software (harness, TensorFlow, Keras, NumPy versions); otherwise the
command says which differs and merges nothing. A reference normalizer is listed once (from the first
profile); a profiled name found in two folders is shown as `name@folder`."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd
import yaml

from harness.errors import UsageError
from harness.results import rundir

VERSIONS = ("harness", "tensorflow", "keras", "numpy")
BATTERY_KEYS = ("name", "quick", "scenario", "seeds", "references", "reference_condition", "conditions")
COLUMNS = ["rank", "normalizer", "kind", "index", "ci_low", "ci_high", "worst", "worst_drop", "profile"]


def _read(folder: str) -> list[Any]:
    """(profile.json, battery.yaml, provenance.json) of a profile folder; UsageError naming what is missing."""
    found: list[Any] = []
    for name, reader in (("profile.json", json.load), ("battery.yaml", yaml.safe_load),
                         (rundir.PROVENANCE, json.load)):
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as handle:
                found.append(reader(handle))
        except OSError:
            raise UsageError(f"--merge: {folder!r} is not a finished profile folder (no {name})") from None
        except (ValueError, yaml.YAMLError):
            raise UsageError(f"--merge: {path!r} is damaged (not readable as {name.rsplit('.', 1)[1]})") from None
    if not isinstance(found[0], dict) or "normalizers" not in found[0] or not isinstance(found[1], dict):
        raise UsageError(f"--merge: {folder!r} is not a finished profile folder (profile.json has no normalizers)")
    return found


def _versions(provenance: dict | None) -> dict[str, Any]:
    versions = (provenance or {}).get("versions") or {}
    return {k: versions.get(k) for k in VERSIONS}


def check_compatible(folders: list[str], read: list) -> None:
    """UsageError (one line) when two profiles ran different batteries or different software versions."""
    first_folder, (_, first_battery, first_prov) = folders[0], read[0]
    for folder, (_, battery, prov) in zip(folders[1:], read[1:], strict=False):
        for key in BATTERY_KEYS:
            if battery.get(key) != first_battery.get(key):
                raise UsageError(f"--merge: {folder!r} ran another battery than {first_folder!r} (battery "
                                 f"{battery.get('name')!r}: its {key} differs); profiles of different batteries "
                                 "do not merge")
        for key, value in _versions(prov).items():
            if value != _versions(first_prov)[key]:
                raise UsageError(f"--merge: {folder!r} ran {key} {value}, {first_folder!r} ran "
                                 f"{_versions(first_prov)[key]}; profiles of different software versions do not merge")


def merged_table(folders: list[str], read: list) -> pd.DataFrame:
    """The ranked table of every normalizer of every profile (references once)."""
    rows: list[dict[str, Any]] = []
    seen: dict[str, bool] = {}
    references = set(read[0][0].get("references") or [])
    names = [n for _, (p, _, _) in zip(folders, read, strict=False) for n in p["normalizers"]]
    for folder, (profile, _, _) in zip(folders, read, strict=False):
        labels = {c["name"]: c["label"] for c in profile["conditions"]}
        for name, entry in profile["normalizers"].items():
            if name in references and name in seen:
                continue
            shown = (name if name in references or names.count(name) == 1
                     else f"{name}@{os.path.basename(os.path.normpath(folder))}")
            seen[name] = True
            ci = entry.get("ci") or [None, None]
            rows.append({"normalizer": shown, "kind": entry.get("kind"), "index": entry.get("index"),
                         "ci_low": ci[0], "ci_high": ci[1],
                         "worst": labels.get(entry.get("worst"), entry.get("worst")),
                         "worst_drop": entry.get("worst_drop"), "profile": folder})
    frame = pd.DataFrame(rows)
    frame = frame.sort_values("index", na_position="last", kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame[COLUMNS]


def merge_main(folders: list[str], out_dir: str | None = None, as_json: bool = False) -> int:
    """Check, merge, print the ranked table (or JSON); with `out_dir`, merged.csv there. Returns 0."""
    read = [_read(folder) for folder in folders]
    check_compatible(folders, read)
    frame = merged_table(folders, read)
    if out_dir:
        from harness.run.out_guard import claim
        from harness.runtime import atomic

        claim(out_dir)
        atomic.write_csv(os.path.join(out_dir, "merged.csv"), frame)
    if as_json:
        print(json.dumps({"battery": read[0][1].get("name"), "profiles": list(folders),
                          "normalizers": {r["normalizer"]: {"index": r["index"], "ci": [r["ci_low"], r["ci_high"]],
                                                            "worst": r["worst"], "rank": int(r["rank"])}
                                          for _, r in frame.iterrows()}}, indent=1, default=str))
        return 0
    print(f"battery {read[0][1].get('name')}: {len(folders)} profiles merged")
    for _, r in frame.iterrows():
        ci = "" if r["ci_low"] is None or pd.isna(r["ci_low"]) else f" [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
        index = "n/a" if r["index"] is None or pd.isna(r["index"]) else f"{r['index']:.1f}"
        print(f"{int(r['rank']):>3}. {r['normalizer']:<24} {index:>6}{ci}  worst: {r['worst']}")
    return 0
