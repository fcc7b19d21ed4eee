"""`python -m harness profile`: how much a normalizer depends on its minibatch, measured over a battery.

- `battery`: the battery file (scenarios/profile/*.yaml): the shared scenario, the seeds, the reference
  normalizers, the conditions and their reference condition; validated without TensorFlow.
- `arguments`: NORMALIZER arguments (a kind, a plugin, or `name=kind,param=value`).
- `driver`: one validated scenario per condition, all trials through one executor, one run directory each.
- `compute`: profile.csv, the minibatch-dependence index with its bootstrap interval, Holm over the family.
- `page`: the self-contained HTML page; `merge`: several profiles into one ranked table.
"""
