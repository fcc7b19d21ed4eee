"""The table of README's "How many PreciseBN examples" from the JSON lines of measure_precise_examples.py.

    python docs/summarize_precise_examples.py precise.jsonl

Per doubling of the sample and per estimator: the largest change of a reported cell (the mean over a
scenario's seeds of one sampler x normalizer, what summary.md and the report show) and, over single trials,
the largest and the mean absolute change, in accuracy points.
"""

import json
import sys

import pandas as pd

frame = pd.DataFrame([json.loads(line) for line in open(sys.argv[1])])
sizes = sorted({int(c.split("_")[1]) for c in frame.columns if c.startswith("own_")})
print("| doubling | estimator | largest cell change (cell) | largest trial change | mean trial change |")
print("| --- | --- | --- | --- | --- |")
for a, b in zip(sizes, sizes[1:], strict=False):
    for estimator in ("iid", "own"):
        change = (frame[f"{estimator}_{b}"] - frame[f"{estimator}_{a}"]) * 100
        cells = frame.assign(change=change).groupby(["scenario", "sampler", "normalizer"])["change"].mean()
        worst = "/".join(cells.abs().idxmax())
        print(f"| {a:,} -> {b:,} | `acc_precise_{estimator}` | {cells.abs().max():.2f} ({worst}) | "
              f"{change.abs().max():.2f} | {change.abs().mean():.2f} |")
