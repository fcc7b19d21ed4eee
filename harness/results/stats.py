"""Summaries over seeds: mean with a t confidence interval, paired differences and their tests.

Conventions the report relies on:
- `mean_ci` never returns an interval that cannot be true: with `bounds` the t interval is cut at the
  quantity's range and the cut end is flagged (`lo_clipped` / `hi_clipped`), so the report can mark it.
- When every value is the same (sd = 0) there is no interval (`agree` is True, lo = hi = NaN): a zero-width
  interval would read as certainty that a handful of seeds cannot give, and it is never significant.
- Fewer than `MIN_SEEDS` paired values are too thin to colour a verdict (`thin`).

Tests of a paired difference: the paired t test (`paired_t_p`, SciPy), the exact sign-flip (permutation)
test (`signflip_p`, every one of the 2^n sign patterns), Holm's step-down correction over a family
(`holm`), the power of the paired t test from the noncentral t (`paired_power`, `detectable_effect`,
`seeds_needed`), and a two-level bootstrap over seeds and test examples (`two_level_bootstrap`).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as scipy_stats

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import ArrayLike

# Paired values below this many seeds are reported as too thin to support a verdict.
MIN_SEEDS = 3
# The sign-flip test's smallest p is 2 / 2^n: below 6 pairs it cannot reach 0.05 (n=5 gives 0.0625).
MIN_SIGNFLIP = 6
# Relative tolerance under which a spread counts as zero (float noise of equal values).
_ZERO_SD = 1e-12


def _finite(values: ArrayLike) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[~np.isnan(values)]


def mean_ci(values: ArrayLike, confidence: float = 0.95,
            bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """Mean, standard deviation and a two-sided t interval of `values` (NaNs dropped).

    Parameters
    ----------
    values : array-like of float
    confidence : float
        Coverage of the interval.
    bounds : (float, float) or None
        The range the quantity lives in (e.g. (0, 100) for an accuracy in points, (-100, 100) for a
        difference of two, (0, inf) for a time). The t interval is cut there; `lo_clipped` / `hi_clipped`
        say where it was cut.

    Returns
    -------
    dict with mean, sd, lo, hi, n, agree (all values equal: no interval), thin (n < MIN_SEEDS),
    lo_clipped, hi_clipped. With one value, or all values equal, lo = hi = NaN.
    """
    values = _finite(values)
    n = len(values)
    out = {"mean": math.nan, "sd": math.nan, "lo": math.nan, "hi": math.nan, "n": n, "agree": False,
           "thin": n < MIN_SEEDS, "lo_clipped": False, "hi_clipped": False}
    if n == 0:
        return out
    mean = float(values.mean())
    out["mean"] = mean
    if n == 1:
        return out
    sd = float(values.std(ddof=1))
    if sd <= _ZERO_SD * max(1.0, abs(mean)):
        out.update(sd=0.0, agree=True)
        return out
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        low, high = bounds
        out["lo_clipped"], out["hi_clipped"] = bool(lo < low), bool(hi > high)
        lo, hi = max(lo, low), min(hi, high)
    out.update(sd=sd, lo=lo, hi=hi)
    return out


def paired_difference(a: ArrayLike, b: ArrayLike, confidence: float = 0.95,
                      bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """`mean_ci` of a - b, pairing equal positions (the same seed); pairs with a NaN are dropped."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths. Received: len(a)={a.size}, len(b)={b.size}")
    return mean_ci(a - b, confidence, bounds)


def paired_t_p(differences: ArrayLike) -> float:
    """Two-sided p of the paired t test that the mean difference is zero (`scipy.stats.ttest_1samp`).

    NaN with fewer than two pairs, or when every difference is the same (sd = 0: the t statistic is
    undefined, and a tie of a few seeds is no evidence).
    """
    d = _finite(differences)
    if len(d) < 2 or d.std(ddof=1) <= _ZERO_SD * max(1.0, abs(d.mean())):
        return math.nan
    return float(scipy_stats.ttest_1samp(d, 0.0).pvalue)


EXACT_SIGNFLIP_MAX = 16
"""Up to this many pairs the sign-flip test enumerates all 2^n sign patterns (65,536 at 16); with more it draws
`SIGNFLIP_DRAWS` random patterns (enumerating 2^30 would not fit in memory)."""
SIGNFLIP_DRAWS = 2 ** 16


def signflip_p(differences: ArrayLike, min_n: int = MIN_SIGNFLIP, seed: int = 0) -> float:
    """Two-sided sign-flip (paired permutation) p of a zero mean difference.

    Under the null each paired difference is as likely positive as negative; p is the fraction of the
    2^n sign patterns whose |mean| is at least the observed |mean| (the observed pattern included): exact up to
    `EXACT_SIGNFLIP_MAX` pairs; beyond, estimated from `SIGNFLIP_DRAWS` patterns drawn with `seed` as
    (1 + hits) / (1 + draws), which is never 0 (Phipson & Smyth 2010; standard error at most 0.002).
    NaN below `min_n` pairs (the smallest attainable p is 2 / 2^n) and when every difference is 0.
    """
    d = _finite(differences)
    n = len(d)
    if n < max(min_n, 1) or not np.any(d):
        return math.nan
    observed = abs(d.sum())
    at_least = observed - 1e-9 * max(1.0, observed)
    if n <= EXACT_SIGNFLIP_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float(np.mean(np.abs(signs @ d) >= at_least))
    rng = np.random.default_rng(seed)
    hits, chunk = 0, 8192
    for start in range(0, SIGNFLIP_DRAWS, chunk):
        signs = rng.choice((1.0, -1.0), size=(min(chunk, SIGNFLIP_DRAWS - start), n))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= at_least))
    return (1 + hits) / (1 + SIGNFLIP_DRAWS)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order.

    NaN entries (no test possible) count as members of the family (m includes them, as p = 1) and stay
    NaN in the output: a comparison that could not be tested still costs its share of the error rate.
    """
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    filled = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * filled[index]))
        adjusted[index] = running
    adjusted[np.isnan(p)] = math.nan
    return adjusted


def paired_power(effect: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t test at level `alpha` for a true mean difference `effect`, paired sd `sd`
    and `n` pairs (noncentral t with n - 1 degrees of freedom)."""
    if n < 2 or not sd > 0:
        return math.nan
    df = n - 1
    critical = scipy_stats.t.ppf(1 - alpha / 2, df)
    noncentrality = abs(effect) * math.sqrt(n) / sd
    power = scipy_stats.nct.sf(critical, df, noncentrality) + scipy_stats.nct.cdf(-critical, df, noncentrality)
    if math.isnan(power):  # SciPy's noncentral t returns NaN at some (df=1, nc) values: integrate it directly
        power = _nct_tail(critical, df, noncentrality) + _nct_tail(critical, df, -noncentrality)
    return float(power)


def _nct_tail(critical: float, df: int, noncentrality: float) -> float:
    """P(T > critical) for T = (Z + nc) / sqrt(V / df), Z normal, V chi-square(df): integrated over V."""
    from scipy.integrate import quad

    def integrand(v: float) -> float:
        return scipy_stats.norm.sf(critical * math.sqrt(v / df) - noncentrality) * scipy_stats.chi2.pdf(v, df)

    return quad(integrand, 0, math.inf, limit=200)[0]


def detectable_effect(sd: float, n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest true paired difference the paired t test detects with probability `power` (same units as sd)."""
    if n < 2 or not sd > 0:
        return math.nan
    from scipy.optimize import brentq

    high = sd
    while paired_power(high, sd, n, alpha) < power:
        high *= 2
    return float(brentq(lambda e: paired_power(e, sd, n, alpha) - power, 0.0, high, xtol=1e-10 * sd))


def seeds_needed(effect: float, sd: float, power: float = 0.8, alpha: float = 0.05,
                 max_n: int = 10_000) -> int | float:
    """The fewest pairs (>= 2) at which the paired t test detects `effect` with probability `power`;
    NaN when effect is 0 or sd unknown, `max_n + 1` when even max_n would not do."""
    if not sd > 0 or not abs(effect) > 0 or math.isnan(effect):
        return math.nan
    # normal-approximation start, then walk to the exact noncentral-t answer
    z = scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(power)
    ratio = float(z * sd / abs(effect))
    approx = ratio * ratio if ratio < 1e150 else math.inf  # no float overflow warning for a vanishing effect
    if not approx < max_n:  # a tiny effect against its spread (or an infinite ratio): never below the cap
        if paired_power(effect, sd, max_n, alpha) < power:
            return max_n + 1
        approx = max_n
    n = max(2, int(math.ceil(approx)))
    while n > 2 and paired_power(effect, sd, n - 1, alpha) >= power:
        n -= 1
    while paired_power(effect, sd, n, alpha) < power:
        n += 1
        if n > max_n:
            return max_n + 1
    return n


def _example_weights(n_examples: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """The bootstrap's resampling of the test examples (`n_boot` multinomial draws of `n_examples` counts, the
    first draws of `default_rng(seed)`) and a generator in the state that follows them.

    Every comparison of a run resamples the same test set with the same seed, so the draws (the bootstrap's
    dominant cost, ~0.13 s for 540 examples) are made once per process and shared; the generator returned is
    fresh each call, so results are what drawing anew would give, bit for bit.
    """
    weights, state = _cached_example_weights(n_examples, n_boot, seed)
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return weights, rng


@functools.lru_cache(maxsize=1)
def _cached_example_weights(n_examples: int, n_boot: int, seed: int) -> tuple[np.ndarray, Mapping[str, Any]]:
    rng = np.random.default_rng(seed)
    # counts of at most n_examples: int32 holds them exactly and halves what is kept (2,000 x 10,000 test
    # examples: 80 MB); the products below convert them to float64 as int64 counts would be
    weights = rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_boot).astype(np.int32)
    weights.setflags(write=False)
    return weights, rng.bit_generator.state


def release_shared_draws() -> None:
    """Forget the test-example draws `two_level_bootstrap` shares (`comparisons.compute` calls it when done)."""
    _cached_example_weights.cache_clear()


def two_level_bootstrap(correct_a: ArrayLike, correct_b: ArrayLike, n_boot: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> dict[str, Any]:
    """Percentile interval of mean(acc_a - acc_b) resampling both seeds and test examples.

    correct_a, correct_b: (n_seeds, n_examples) 0/1 arrays, row i of each from the same seed, column j
    the same test example. Each replicate draws the test examples with replacement (one draw shared by
    every seed and both arms: they are scored on the same test set) and the seeds with replacement, and
    takes the mean paired difference of accuracies. The result covers test-set sampling as well as
    seed-to-seed variation. Returns dict(lo, hi, se, n_boot) in the units of the inputs (fractions).
    """
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("correct_a and correct_b need the same (seeds, examples) shape. "
                         f"Received: {a.shape}, {b.shape}")
    n_seeds, n_examples = a.shape
    if n_seeds == 0 or n_examples == 0:
        return {"lo": math.nan, "hi": math.nan, "se": math.nan, "n_boot": 0}
    weights, rng = _example_weights(n_examples, n_boot, seed)
    diff = a - b
    per_seed = weights @ diff.T / n_examples  # (n_boot, n_seeds): each seed's difference on the resampled test set
    picks = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    replicates = np.take_along_axis(per_seed, picks, axis=1).mean(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(replicates, [tail, 1 - tail])
    return {"lo": float(lo), "hi": float(hi), "se": float(replicates.std(ddof=1)), "n_boot": n_boot}
