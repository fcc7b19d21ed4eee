"""Batch Renormalization with the paper's schedule, built directly and through the normalizer registry."""

from harness.norms import BatchRenormalization, build_normalizer

layer = BatchRenormalization(r_max=3.0, d_max=5.0, warmup_steps=5000, r_max_ramp_end=40000, d_max_ramp_end=25000)
same = build_normalizer({"kind": "batchrenorm", "warmup_steps": 5000, "r_max_ramp_end": 40000,
                         "d_max_ramp_end": 25000}, "brn1")
