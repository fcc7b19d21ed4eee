"""Samplers: protocol, composition properties, bad input, plugins, metrics, heatmap, commands."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import samplers
from samplers import SamplerParameterError
from samplers import metrics as M

PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BUILTINS = list(samplers.registry.BUILTINS)
EPOCHWISE = ["iid", "label_sorted", "continuous"]  # promise full coverage each epoch


def blobs(labels, seed=0):
    """Features with one well-separated blob per label."""
    rng = np.random.default_rng(seed)
    return labels[:, None] * 100.0 + rng.normal(size=(labels.size, 3))


def make(name, labels, batch_size, seed=0, **params):
    if name == "cluster":
        params.setdefault("features", blobs(labels))
        params.setdefault("n_clusters", np.unique(labels).size)
    return samplers.get(name)(labels, batch_size, seed=seed, **params)


@st.composite
def labelled(draw, min_per_class=1):
    """(labels, batch_size): 1-8 classes with arbitrary (non-contiguous) label values."""
    counts = draw(st.lists(st.integers(min_per_class, 40), min_size=1, max_size=8))
    values = draw(st.lists(st.integers(-50, 1000), min_size=len(counts), max_size=len(counts),
                           unique=True))
    labels = np.repeat(np.array(values, dtype=np.int64), counts)
    labels = np.random.default_rng(draw(st.integers(0, 2 ** 16))).permutation(labels)
    batch_size = draw(st.integers(1, min(labels.size, 24)))
    return labels, batch_size


# ------------------------------------------------------------------ import weight
def test_import_pulls_no_framework():
    code = ("import sys, samplers, samplers.metrics\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'matplotlib', 'seaborn') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------- shared properties
@PROPS
@given(data=labelled(), name=st.sampled_from([n for n in BUILTINS if n != "cluster"]),
       seed=st.integers(0, 2 ** 32), n=st.integers(0, 12))
def test_batches_are_valid_deterministic_and_continue_the_stream(data, name, seed, n):
    labels, batch_size = data
    params = {"classes_per_batch": 1} if name in ("class_correlated", "sticky") else {}
    if (name in ("class_correlated", "sticky")
            and np.bincount(np.unique(labels, return_inverse=True)[1]).min() < batch_size):
        params["replace"] = False
        with pytest.raises(SamplerParameterError):
            make(name, labels, batch_size, seed, **params)
        return
    a = make(name, labels, batch_size, seed, **params)
    out = a.batches(n)
    assert out.shape == (n, batch_size) and out.dtype == np.int64
    assert ((out >= 0) & (out < labels.size)).all()
    b = make(name, labels, batch_size, seed, **params)
    split = n // 2
    np.testing.assert_array_equal(np.concatenate([b.batches(split), b.batches(n - split)]), out)
    assert len(a) == labels.size // batch_size
    # metrics stay in their ranges on any stream
    if n:
        tv, hel = M.tv_distance(out, labels), M.hellinger_distance(out, labels)
        eff = M.effective_classes(out, labels)
        assert ((tv >= 0) & (tv <= 1 + 1e-12)).all() and ((hel >= 0) & (hel <= 1 + 1e-12)).all()
        assert ((eff >= 1 - 1e-9) & (eff <= min(batch_size, np.unique(labels).size) + 1e-9)).all()
        rep = M.within_batch_repeats(out)
        assert ((rep >= 0) & (rep < 1)).all()


@pytest.mark.parametrize("name", BUILTINS)
def test_different_seeds_give_different_streams(name):
    labels = np.repeat(np.arange(10), 60)
    assert not np.array_equal(make(name, labels, 20, seed=1).batches(20),
                              make(name, labels, 20, seed=2).batches(20))


@PROPS
@given(data=labelled(), name=st.sampled_from(EPOCHWISE), seed=st.integers(0, 1000),
       strictness=st.floats(0, 1))
def test_epochwise_samplers_cover_each_epoch_without_replacement(data, name, seed, strictness):
    labels, batch_size = data
    params = {"strictness": strictness} if name == "continuous" else {}
    s = make(name, labels, batch_size, seed, **params)
    per = len(s)
    out = s.batches(3 * per)
    for epoch in out.reshape(3, per * batch_size):
        assert np.unique(epoch).size == epoch.size  # no example twice in an epoch
    assert M.epoch_coverage(out, labels.size) == 1.0


# --------------------------------------------------------------- class_correlated
@PROPS
@given(n_classes=st.integers(1, 8), m=st.integers(1, 4), extra=st.integers(0, 5),
       seed=st.integers(0, 2 ** 31), data=st.data())
def test_class_correlated_exactly_k_classes_equal_counts(n_classes, m, extra, seed, data):
    k = data.draw(st.integers(1, n_classes))
    counts = data.draw(st.lists(st.integers(m, m + extra), min_size=n_classes, max_size=n_classes))
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(n_classes) * 3 + 7, counts))
    s = samplers.get("class_correlated")(labels, k * m, seed=seed, classes_per_batch=k)
    out = np.concatenate([s.batches(1), s.batches(9), s.batches(0), s.batches(5)])
    comp = M.composition(out, labels)  # (classes, batches)
    assert ((comp > 0).sum(axis=0) == k).all()
    assert set(np.unique(comp)) <= {0, m}
    assert (M.within_batch_repeats(out) == 0).all()
    # slots are contiguous: each run of m holds one class (microbatch = batch_size / k)
    slots = labels[out].reshape(out.shape[0], k, m)
    assert (slots == slots[:, :, :1]).all()
    np.testing.assert_allclose(M.effective_classes(out, labels), k)


@pytest.mark.parametrize("loop_min", [4096, 6])  # 6: classes of >= 6 take the per-class shuffle path
def test_class_streams_reshuffle_per_epoch_and_never_repeat_within_one(loop_min, monkeypatch):
    """Each class's draws, in order, are successive epochs of distinct examples."""
    import samplers._streams

    monkeypatch.setattr(samplers._streams, "LOOP_MIN", loop_min)
    labels = np.repeat(np.arange(5), [4, 5, 6, 7, 9])
    s = samplers.get("class_correlated")(labels, 6, seed=3, classes_per_batch=3)
    out = np.concatenate([s.batches(n) for n in (1, 2, 7, 1, 30, 3)])
    for c in range(5):
        drawn = out.reshape(-1)[labels[out.reshape(-1)] == c]
        epoch = (labels == c).sum() // 2 * 2  # epoch length, whole slots of 2
        blocks = drawn[: drawn.size // epoch * epoch].reshape(-1, epoch)
        assert all(np.unique(b).size == epoch for b in blocks)
        assert len({tuple(b) for b in blocks}) > 1  # reshuffled between epochs
    twin = samplers.get("class_correlated")(labels, 6, seed=3, classes_per_batch=3)
    np.testing.assert_array_equal(twin.batches(out.shape[0]), out)  # chunking does not matter


def test_class_correlated_with_replacement_the_paper_setting():
    labels = np.repeat(np.arange(100), 30)
    s = samplers.get("class_correlated")(labels, 32, seed=0, classes_per_batch=16, replace=True)
    out = s.batches(400)
    comp = M.composition(out, labels)
    assert (comp % 2 == 0).all() and (comp.sum(axis=0) == 32).all()
    repeats_of_a_class = ((comp > 0).sum(axis=0) < 16).mean()
    # P(16 draws from 100 classes not all distinct) = 1 - prod(1 - i/100) = 0.72
    assert 0.6 < repeats_of_a_class < 0.85
    eff = M.effective_classes(out, labels).mean()
    assert 13 < eff < 16


# ------------------------------------------------------------ other built-ins
def test_sticky_keeps_class_sets_with_probability_p():
    labels = np.repeat(np.arange(20), 10)
    for p in (0.0, 0.5, 0.9):
        s = samplers.get("sticky")(labels, 8, seed=4, p=p, classes_per_batch=2)
        out = np.concatenate([s.batches(500), s.batches(1), s.batches(499)])
        sets = [frozenset(np.unique(labels[b])) for b in out]
        same = np.mean([a == b for a, b in zip(sets, sets[1:], strict=False)])
        chance = 1 / 190  # a fresh pair equal to the previous one
        assert abs(same - (p + (1 - p) * chance)) < 0.06
    stuck = samplers.get("sticky")(labels, 8, seed=4, p=1.0, classes_per_batch=2)
    out = np.concatenate([stuck.batches(3), stuck.batches(3)])
    assert len({frozenset(np.unique(labels[b])) for b in out}) == 1


def test_dirichlet_moves_from_one_class_to_iid():
    labels = np.repeat(np.arange(10), 200)
    tiny = make("dirichlet", labels, 32, alpha=1e-3).batches(200)
    assert M.effective_classes(tiny, labels).mean() < 1.2
    huge = make("dirichlet", labels, 32, alpha=float("inf")).batches(300)
    iid = make("iid", labels, 32).batches(300)
    assert abs(M.tv_distance(huge, labels).mean() - M.tv_distance(iid, labels).mean()) < 0.03
    mid = M.tv_distance(make("dirichlet", labels, 32, alpha=1.0).batches(300), labels).mean()
    assert M.tv_distance(iid, labels).mean() + 0.1 < mid < M.tv_distance(tiny, labels).mean() - 0.1


def test_dirichlet_class_streams_cover_each_class_before_repeating():
    labels = np.repeat(np.arange(4), [3, 10, 20, 50])
    out = make("dirichlet", labels, 16, alpha=0.5).batches(60).reshape(-1)
    for c in range(4):
        drawn = out[labels[out] == c]
        size = (labels == c).sum()
        blocks = drawn[: drawn.size // size * size].reshape(-1, size)
        assert all(np.array_equal(np.sort(b), np.flatnonzero(labels == c)) for b in blocks)


def test_continuous_is_monotone_from_iid_to_sorted():
    labels = np.repeat(np.arange(10), 320)
    tvs = [M.tv_distance(make("continuous", labels, 32, strictness=s).batches(100), labels).mean()
           for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(tvs, tvs[1:], strict=False))
    iid_tv = M.tv_distance(make("iid", labels, 32).batches(100), labels).mean()
    assert abs(tvs[0] - iid_tv) < 0.03
    assert tvs[-1] == pytest.approx(0.9)  # 320 per class = 10 whole batches: one class each
    sorted_out = make("label_sorted", labels, 32).batches(100)
    assert (M.effective_classes(sorted_out, labels) == 1).all()


def test_label_sorted_in_order_walks_through_classes():
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(4), 8))
    s = make("label_sorted", labels, 4, shuffle_batches=False)
    first = labels[s.batches(8)]
    np.testing.assert_array_equal(first[:, 0], [0, 0, 1, 1, 2, 2, 3, 3])


def test_cluster_batches_follow_the_feature_clusters_not_labels():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 50)  # hidden structure in the features
    labels = rng.integers(0, 10, groups.size)  # labels unrelated to it
    features = blobs(groups).reshape(-1, 3, 1)  # (N, ...) is flattened per example
    s = samplers.get("cluster")(labels, 10, seed=0, features=features, n_clusters=4,
                                clusters_per_batch=1)
    out = s.batches(50)
    assert all(np.unique(groups[b]).size == 1 for b in out)
    assert np.unique(np.stack([groups, s.cluster_labels_]), axis=1).shape[1] == 4  # a bijection
    assert s.features is features  # stored as given
    # more than 32 dimensions: clustered in principal components, same structure found
    wide = np.concatenate([blobs(groups), rng.normal(size=(groups.size, 61))], axis=1)
    s = samplers.get("cluster")(labels, 10, seed=0, features=wide, n_clusters=4)
    assert np.unique(np.stack([groups, s.cluster_labels_]), axis=1).shape[1] == 4


def test_constructor_stores_arguments_as_given():
    labels = [0, 1, 0, 1, 2, 2]
    s = samplers.get("class_correlated")(labels, 2, seed=5, classes_per_batch=1, replace=True)
    assert s.labels is labels and s.batch_size == 2 and s.seed == 5 and s.features is None
    assert s.classes_per_batch == 1 and s.replace is True
    assert samplers.get("class_correlated").parameters() == {"classes_per_batch": 2, "replace": False}
    assert samplers.get("dirichlet").description().startswith("Each batch's class proportions")


# ---------------------------------------------------------------------- bad input
BAD = [
    ("iid", {"batch_size": 0}, "batch_size", "must be >= 1"),
    ("iid", {"batch_size": 2.0}, "batch_size", "must be an integer"),
    ("iid", {"batch_size": 41}, "batch_size", "exceeds the 40 examples"),
    ("iid", {"labels": np.zeros(40)}, "labels", "1-D array of integers"),
    ("iid", {"labels": np.zeros((40, 1), dtype=int)}, "labels", "1-D array of integers"),
    ("iid", {"labels": [True, False] * 20}, "labels", "1-D array of integers"),
    ("iid", {"labels": np.array([], dtype=int), "batch_size": 1}, "labels", "must not be empty"),
    ("iid", {"features": np.zeros((39, 2))}, "features", "does not match the 40 labels"),
    ("iid", {"seed": None}, "seed", "non-negative integer"),
    ("iid", {"seed": -1}, "seed", "non-negative integer"),
    ("class_correlated", {"classes_per_batch": 5}, "classes_per_batch", "exceeds the 4 classes"),
    ("class_correlated", {"classes_per_batch": 3}, "classes_per_batch", "does not divide batch_size 8"),
    ("class_correlated", {"classes_per_batch": 0}, "classes_per_batch", "must be >= 1"),
    ("class_correlated", {"labels": np.repeat(np.arange(4), [10, 10, 17, 3]), "classes_per_batch": 2},
     "classes_per_batch", "class 3 has 3"),
    ("class_correlated", {"replace": "yes"}, "replace", "true or false"),
    ("dirichlet", {"alpha": 0}, "alpha", "must be > 0"),
    ("dirichlet", {"alpha": -1.0}, "alpha", "must be > 0"),
    ("dirichlet", {"alpha": float("nan")}, "alpha", "finite"),
    ("continuous", {"strictness": 1.5}, "strictness", "must be <= 1.0"),
    ("continuous", {"strictness": -0.1}, "strictness", "must be >= 0.0"),
    ("sticky", {"p": 1.1}, "p", "must be <= 1.0"),
    ("cluster", {"features": None}, "features", "is required"),
    ("cluster", {"n_clusters": 41}, "n_clusters", "must be <= 40"),
    ("cluster", {"n_clusters": 4, "clusters_per_batch": 5}, "clusters_per_batch", "exceeds the 4 clusters"),
    ("label_sorted", {"shuffle_batches": 1}, "shuffle_batches", "true or false"),
]


@pytest.mark.parametrize("name,override,param,fragment", BAD)
def test_infeasible_parameters_fail_at_construction(name, override, param, fragment):
    args = {"labels": np.repeat(np.arange(4), 10), "batch_size": 8, "seed": 0}
    if name == "cluster":
        args["features"] = blobs(args["labels"])
    args.update(override)
    with pytest.raises(ValueError) as info:
        samplers.get(name)(args.pop("labels"), args.pop("batch_size"), **args)
    error = info.value
    assert isinstance(error, SamplerParameterError)
    assert error.param == param and fragment in str(error)
    assert str(error).startswith(f"{param}: ") and "\n" not in str(error)


def test_error_message_format():
    error = SamplerParameterError("classes_per_batch", 12, "exceeds the 10 classes in the labels")
    assert str(error) == "classes_per_batch: 12 exceeds the 10 classes in the labels"
    assert (error.param, error.value, error.reason) == ("classes_per_batch", 12,
                                                        "exceeds the 10 classes in the labels")


# ------------------------------------------------------------------------ plugins
PLUGIN = '''
import numpy as np
import samplers

class Alternating(samplers.Sampler):
    """Batches alternate between even and odd examples."""

    def __init__(self, labels, batch_size, *, seed, features=None, stride=1):
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.stride = stride
        self._step = 0

    def batches(self, n):
        parity = (self._step + np.arange(n)) % 2
        self._step += n
        pool = self.rng.integers(0, self.n_examples_ // 2, size=(n, self.batch_size))
        return (2 * pool + parity[:, None]).astype(np.int64)

class NotASampler:
    pass
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    module = f"plug_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path, module
    sys.modules.pop(module, None)


def test_plugin_through_a_real_entry_point(plugin_dir):
    import importlib.metadata

    path, module = plugin_dir
    dist = path / "myplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[harness.samplers]\nalternating = {module}:Alternating\nbroken = {module}:Missing\n")
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="harness.samplers")}
    assert eps["alternating"].value == f"{module}:Alternating"
    assert {"alternating", "broken"} <= set(samplers.available())
    cls = samplers.get("alternating")
    assert cls.parameters() == {"stride": 1}
    s = cls(np.arange(20) % 3, 4, seed=0)
    out = s.batches(4)
    np.testing.assert_array_equal(out % 2, [[0] * 4, [1] * 4, [0] * 4, [1] * 4])
    with pytest.raises(SamplerParameterError, match="could not be loaded"):
        samplers.get("broken")
    # the listing command shows the plugin and survives the broken one
    text = run_command("harness.commands.samplers", [])
    assert "alternating" in text and "Batches alternate between even and odd" in text
    assert "stride = 1" in text and "broken" in text


def test_plugin_through_a_module_path(plugin_dir):
    _, module = plugin_dir
    cls = samplers.get(f"{module}:Alternating")
    assert cls.__name__ == "Alternating"
    with pytest.raises(SamplerParameterError, match="not a subclass of samplers.Sampler"):
        samplers.get(f"{module}:NotASampler")
    with pytest.raises(SamplerParameterError, match="has no attribute 'Nope'"):
        samplers.get(f"{module}:Nope")


def test_unresolvable_names_list_what_is_available():
    with pytest.raises(SamplerParameterError) as info:
        samplers.get("iidd")
    assert info.value.param == "kind"
    assert f"is not one of {', '.join(samplers.available())} (did you mean 'iid'?)" in str(info.value)
    with pytest.raises(SamplerParameterError) as info:
        samplers.get("no_such_pkg.mod:MySampler")
    assert "ModuleNotFoundError: No module named 'no_such_pkg'" in str(info.value)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------ consumer protocols
def test_pytorch_style_batch_sampler_protocol():
    """What DataLoader(batch_sampler=s) does: len(s), then iterate lists of int indices per epoch."""
    labels = np.repeat(np.arange(5), 21)
    dataset = [("x", int(y)) for y in labels]
    for name in BUILTINS:
        s = make(name, labels, 10)
        assert len(s) == 10
        epochs = []
        for _ in range(2):
            batches = list(iter(s))
            assert len(batches) == len(s)
            assert all(type(i) is int for b in batches for i in b)
            epochs.append([[dataset[i] for i in b] for b in batches])
            assert all(len(b) == 10 for b in epochs[-1])
        assert epochs[0] != epochs[1]  # each epoch continues the stream
        twin = make(name, labels, 10)
        np.testing.assert_array_equal(twin.batches(20)[:10], np.array(list(make(name, labels, 10))))


# ---------------------------------------------------------------------- metrics
def test_metrics_against_hand_computed_values():
    labels = np.repeat(np.arange(10), 5)  # uniform over 10 classes
    one_class = np.array([[0, 1, 2, 3]])  # all label 0
    assert M.tv_distance(one_class, labels) == pytest.approx([0.9])
    assert M.hellinger_distance(one_class, labels) == pytest.approx([np.sqrt(1 - np.sqrt(0.1))])
    assert M.effective_classes(one_class, labels) == pytest.approx([1.0])
    k_equal = np.array([[0, 5, 10, 15], [0, 1, 5, 6], [0, 5, 10, 12]])  # 4, 2 classes; 3 of 1/4,1/4,1/2
    assert M.effective_classes(k_equal, labels) == pytest.approx([4, 2, np.exp(1.5 * np.log(2))])
    assert M.tv_distance(k_equal, labels) == pytest.approx([0.6, 0.8, 0.7])
    every = np.arange(50).reshape(5, 10) * 0 + np.arange(0, 50, 5)  # one of each class
    assert M.tv_distance(every, labels) == pytest.approx(np.zeros(5))
    assert M.hellinger_distance(every, labels) == pytest.approx(np.zeros(5), abs=1e-7)
    assert M.within_batch_repeats([[1, 1, 1, 2], [1, 2, 3, 4]]) == pytest.approx([0.5, 0.0])
    assert M.epoch_coverage([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], 10) == 1.0
    assert M.epoch_coverage([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]], 10) == 0.5
    assert M.epoch_coverage([[0, 1], [0, 1], [2, 3], [4, 5]], 4) == pytest.approx((0.5 + 1.0) / 2)
    comp = M.composition([[0, 5, 6], [49, 48, 0]], labels)
    assert comp.shape == (10, 2)
    assert comp[:, 0].tolist() == [1, 2] + [0] * 8 and comp[:, 1].tolist() == [1] + [0] * 8 + [2]
    # num_classes: rows for classes absent from the data too
    assert M.composition([[0, 1]], np.array([0, 2]), num_classes=4)[:, 0].tolist() == [1, 0, 1, 0]
    s = M.summarize(k_equal, labels)
    assert set(s) == {"tv_distance", "hellinger_distance", "effective_classes", "coverage", "repeat_rate"}
    assert s["tv_distance"] == pytest.approx(0.7) and s["repeat_rate"] == 0.0


def test_iid_tv_matches_the_finite_batch_expectation():
    """TV of a finite i.i.d. batch is not 0: compare with multinomial batches drawn directly."""
    labels = np.repeat(np.arange(10), 1000)
    out = make("iid", labels, 32, seed=7).batches(2000)
    ours = M.tv_distance(out, labels).mean()
    counts = np.random.default_rng(0).multinomial(32, np.full(10, 0.1), size=20000)
    reference = 0.5 * np.abs(counts / 32 - 0.1).sum(axis=1).mean()
    assert abs(ours - reference) < 0.01
    assert ours < 0.25  # and far from class_correlated with 2 classes (TV 0.8)
    assert M.tv_distance(make("class_correlated", labels, 32).batches(10), labels) == pytest.approx(0.8)


def test_composition_heatmap_shape():
    from samplers.plots import composition_heatmap

    labels = np.repeat(np.arange(7), 20)
    out = make("class_correlated", labels, 8, classes_per_batch=2).batches(50)
    fig = composition_heatmap(out, labels, n_batches=12)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    assert np.asarray(mesh.get_array()).reshape(7, 12).tolist() == M.composition(out[:12], labels).tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in range(7)]
    assert fig.__class__.__name__ == "Figure"


# ------------------------------------------------------------------------- commands
def run_command(module_name, argv):
    import contextlib
    import importlib
    import io

    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert module.main(parser.parse_args(argv)) == 0
    return buffer.getvalue()


def test_samplers_command_lists_every_sampler_with_parameters():
    text = run_command("harness.commands.samplers", [])
    for name in BUILTINS:
        assert f"\n{name}  (" in "\n" + text
    assert "classes_per_batch = 2" in text and "strictness = 0.5" in text and "alpha = 1.0" in text
    entries = json.loads(run_command("harness.commands.samplers", ["--json"]))
    by_name = {e["name"]: e for e in entries}
    assert by_name["sticky"]["parameters"] == {"p": 0.9, "classes_per_batch": 2, "replace": False}
    from harness.errors import UsageError

    with pytest.raises(UsageError, match=f"is not one of {', '.join(BUILTINS)}"):
        run_command("harness.commands.samplers", ["nope"])


def test_bench_command_runs_and_reports_every_builtin():
    out = json.loads(run_command("harness.bench.samplers",
                                 ["--json", "--labels", "5000", "--seconds", "0.01", "--chunk", "8"]))
    from harness.bench.samplers import VARIANTS

    # every built-in, and again with its variant
    assert [r["sampler"] for r in out["results"]] == [n for name in BUILTINS for n in [name] * (1 + (name in VARIANTS))]
    assert all(r["indices_per_s"] > 0 for r in out["results"])
    text = run_command("harness.bench.samplers", ["--labels", "5000", "--seconds", "0.01"])
    assert "class_correlated" in text and "M indices/s" in text
