"""Summaries over seeds: mean with a t confidence interval, and paired differences."""

import math

import numpy as np
from scipy import stats as scipy_stats


def mean_ci(values, confidence=0.95):
    """Mean, standard deviation and a two-sided t interval of `values` (NaNs dropped).

    With one value the interval is undefined (lo = hi = NaN) rather than zero-width:
    a single seed says nothing about spread.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "sd": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    mean = float(values.mean())
    if n == 1:
        return {"mean": mean, "sd": math.nan, "lo": math.nan, "hi": math.nan, "n": 1}
    sd = float(values.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "lo": mean - half, "hi": mean + half, "n": n}


def paired_difference(a, b, confidence=0.95):
    """`mean_ci` of a - b, pairing equal positions (the same seed); pairs with a NaN are dropped."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths. Received: len(a)={a.size}, len(b)={b.size}")
    return mean_ci(a - b, confidence)
