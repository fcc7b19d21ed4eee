"""Each statistic of harness.results.stats against SciPy, enumeration by hand, or simulation."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness.results import stats


def test_mean_ci_matches_scipy_t_interval_and_is_cut_at_bounds():
    values = np.array([60.0, 52.0, 48.5, 99.0])
    lo, hi = scipy_stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values))
    free = stats.mean_ci(values)
    assert free["lo"] == pytest.approx(lo) and free["hi"] == pytest.approx(hi)
    assert hi > 100 and not free["hi_clipped"]
    cut = stats.mean_ci(values, bounds=(0.0, 100.0))
    assert cut["lo"] == pytest.approx(lo) and cut["hi"] == 100.0
    assert cut["hi_clipped"] and not cut["lo_clipped"]


def test_two_chance_seeds_never_leave_the_accuracy_range():
    cut = stats.mean_ci([10.0, 90.0], bounds=(0.0, 100.0))
    assert (cut["lo"], cut["hi"]) == (0.0, 100.0) and cut["thin"]


def test_equal_values_give_no_interval_and_no_test():
    tie = stats.paired_difference([70.0, 71.0, 72.0], [70.2, 71.2, 72.2])
    assert tie["agree"] and math.isnan(tie["lo"]) and math.isnan(tie["hi"])
    assert math.isnan(stats.paired_t_p([-0.2, -0.2, -0.2]))


def test_paired_t_matches_scipy_ttest_rel():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 7), rng.normal(0, 1, 7)
    assert stats.paired_t_p(a - b) == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)


def test_signflip_p_by_enumeration_and_its_minimum():
    d = np.array([1.0, 2.0, -0.5, 3.0, 0.5, 1.5])
    observed = abs(d.sum())
    count = sum(abs(sum(s * x for s, x in zip(signs, d, strict=False))) >= observed - 1e-12
                for signs in itertools.product((1, -1), repeat=len(d)))
    assert stats.signflip_p(d) == pytest.approx(count / 64)
    assert stats.signflip_p(np.ones(6)) == pytest.approx(2 / 64)
    assert math.isnan(stats.signflip_p(np.ones(5)))  # below 6 pairs: left empty
    # SciPy's permutation test with the sign-flip ('samples') permutation type agrees
    ref = scipy_stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                       alternative="two-sided")
    assert stats.signflip_p(d) == pytest.approx(ref.pvalue)


def test_signflip_p_beyond_the_exact_limit_is_a_monte_carlo_estimate_of_the_exact_p():
    # 18 and 30 pairs (a 30-seed run used to crash here): against the exact count by enumeration (18 pairs,
    # in chunks) and SciPy's randomized sign-flip test (30 pairs), within 4 standard errors of the estimate
    rng = np.random.default_rng(3)
    d = rng.normal(0.3, 1.0, size=18)
    observed = abs(d.sum())
    hits = 0
    for high in itertools.product((1.0, -1.0), repeat=6):
        low = np.array(list(itertools.product((1.0, -1.0), repeat=12)))
        hits += int(np.count_nonzero(np.abs(low @ d[6:] + np.dot(high, d[:6])) >= observed - 1e-9))
    exact = hits / 2 ** 18
    p = stats.signflip_p(d)
    se = math.sqrt(exact * (1 - exact) / stats.SIGNFLIP_DRAWS)
    assert abs(p - exact) < 4 * se + 1 / stats.SIGNFLIP_DRAWS and p > 0
    assert stats.signflip_p(d) == p  # seeded: the same p every time
    d30 = rng.normal(0.4, 1.0, size=30)
    ref = scipy_stats.permutation_test((d30,), np.mean, permutation_type="samples", n_resamples=20000,
                                       alternative="two-sided", random_state=0)
    p30 = stats.signflip_p(d30)
    assert 0 < p30 <= 1 and abs(p30 - ref.pvalue) < 4 * math.sqrt(ref.pvalue * (1 - ref.pvalue) / 20000) + 0.002


def test_holm_by_hand():
    # sorted: 0.01*4=0.04, 0.02*3=0.06, 0.03*2=0.06 (monotone), 0.5*1=0.5
    adjusted = stats.holm([0.03, 0.01, 0.5, 0.02])
    assert adjusted == pytest.approx([0.06, 0.04, 0.5, 0.06])
    with_nan = stats.holm([0.01, math.nan, 0.04])  # m = 3 though one could not be tested
    assert with_nan[0] == pytest.approx(0.03) and math.isnan(with_nan[1]) and with_nan[2] == pytest.approx(0.08)


def test_power_and_detectable_effect_match_simulation():
    sd, n = 2.0, 6
    effect = stats.detectable_effect(sd, n)
    assert stats.paired_power(effect, sd, n) == pytest.approx(0.8, abs=1e-6)
    rng = np.random.default_rng(0)
    d = rng.normal(effect, sd, size=(20000, n))
    rejected = scipy_stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.015)


def test_power_with_two_seeds_matches_simulation():
    # n = 2 (df = 1) is where SciPy's noncentral t can return NaN; the direct integral takes over
    effect = stats.detectable_effect(1.0, 2)
    rng = np.random.default_rng(1)
    d = rng.normal(effect, 1.0, size=(40000, 2))
    rejected = scipy_stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.015)


def test_seeds_needed_is_the_first_n_with_enough_power():
    n = stats.seeds_needed(1.0, 2.0)
    assert stats.paired_power(1.0, 2.0, n) >= 0.8 > stats.paired_power(1.0, 2.0, n - 1)
    assert math.isnan(stats.seeds_needed(0.0, 2.0))
    # a difference of one test example against a large spread: beyond the cap, answered without overflow
    assert stats.seeds_needed(1e-12, 5.0, max_n=50) == 51
    assert stats.seeds_needed(1e-300, 5.0) == 10_001


def test_two_level_bootstrap_covers_test_set_noise():
    rng = np.random.default_rng(0)
    n_seeds, n_examples = 8, 400
    a = rng.random((n_seeds, n_examples)) < 0.8
    b = rng.random((n_seeds, n_examples)) < 0.7
    boot = stats.two_level_bootstrap(a, b, n_boot=4000, seed=1)
    diff = a.mean(1) - b.mean(1)
    assert boot["lo"] < diff.mean() < boot["hi"]
    # independent examples: var of the mean difference ~ (pa(1-pa) + pb(1-pb)) / n_examples / n_seeds
    # (test-set part, shared across seeds, plus seed resampling): the bootstrap se is at least the test-set part
    test_only = math.sqrt((0.8 * 0.2 + 0.7 * 0.3) / n_examples)
    assert boot["se"] > 0.5 * test_only


def test_two_level_bootstrap_shares_its_example_draws_without_changing_a_bit():
    # the resampling of the test examples is drawn once per (examples, replicates, seed) and shared by every
    # comparison of a run: each call must still equal drawing anew, as written out here in NumPy
    def drawn_anew(a, b, n_boot, seed):
        rng = np.random.default_rng(seed)
        n_seeds, n_examples = a.shape
        weights = rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_boot)
        per_seed = weights @ (a - b).T / n_examples
        picks = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        replicates = np.take_along_axis(per_seed, picks, axis=1).mean(axis=1)
        tail = (1 - 0.95) / 2
        lo, hi = np.quantile(replicates, [tail, 1 - tail])
        return {"lo": float(lo), "hi": float(hi), "se": float(replicates.std(ddof=1)), "n_boot": n_boot}

    rng = np.random.default_rng(5)
    for seed in (0, 0, 3):  # the repeated seed reuses the shared draws
        a = (rng.random((6, 97)) < 0.9).astype(float)
        b = (rng.random((6, 97)) < 0.8).astype(float)
        assert stats.two_level_bootstrap(a, b, n_boot=300, seed=seed) == drawn_anew(a, b, 300, seed)
