"""How much acc_precise_iid / acc_precise_own move when their sample of training examples doubles.

    SIZES=6400,12800,25600,51200 python docs/measure_precise_examples.py 0,1 scenarios/noniid_small.yaml \
        scenarios/microbatch.yaml > precise.jsonl

Trains every trial of each scenario for the given seeds (as `harness run` would), then evaluates both
estimators on the trained model at each sample size; one JSON line per trial.
"""

import dataclasses
import json
import os
import sys

from harness import scenario as sc
from harness.run.runner import plan
from harness.train import trial

SIZES = [int(x) for x in os.environ.get("SIZES", "400,800,1600,3200,6400").split(",")]

for path in sys.argv[2:]:
    scen = dataclasses.replace(sc.load(path), seeds=[int(s) for s in sys.argv[1].split(",")])
    for config in plan(scen):
        result = trial.run_trial(config)
        bench = trial._WORKBENCHES[trial.shape_key(config)]
        data = trial.load_dataset(config["data"])
        batch_size, seed = config["training"]["batch_size"], config["seed"]
        features = data.x_train.reshape(len(data.x_train), -1)
        row = {"scenario": scen.name, "sampler": config["sampler"], "normalizer": config["normalizer"], "seed": seed,
               "acc_inference": result["final"]["acc_inference"]}
        for n in SIZES:
            k = -(-n // batch_size)
            iid = sc.build_sampler({"kind": "iid"}, data.y_train, batch_size,
                                   seed + trial.PRECISE_SEED_OFFSET).batches(k)
            own = sc.build_sampler(config["sampler_config"], data.y_train, batch_size, seed + trial.PRECISE_SEED_OFFSET,
                                   features).batches(k)
            row[f"iid_{n}"] = bench.analyzer.acc_precise(iid)
            row[f"own_{n}"] = bench.analyzer.acc_precise_own(own)
        print(json.dumps(row), flush=True)
