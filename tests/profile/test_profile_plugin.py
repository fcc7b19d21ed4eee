"""A normalizer from a package outside the repository, installed with pip, profiled end to end (--quick on the
reduced battery): its cells, its index, the quick mark; and a plugin that fails in one condition fails that
cell only, not the profile."""

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tests.conftest import ROOT, harness_env

ORDERING = os.path.join(ROOT, "tests", "profile", "ordering.yaml")

LAYERS = '''
"""Two normalizers for the profile test: one batch-independent, one that refuses batches of 4."""
import keras


class RowNorm(keras.layers.Layer):
    """Each example standardised over its own features (batch-independent), with a learned scale and offset."""

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

    def call(self, x, training=None):
        mean = keras.ops.mean(x, axis=-1, keepdims=True)
        var = keras.ops.var(x, axis=-1, keepdims=True)
        return (x - mean) / keras.ops.sqrt(var + self.epsilon) * self.gamma + self.beta


class NoSmallBatches(RowNorm):
    """RowNorm that refuses training batches of 4 (a normalizer failing in one condition)."""

    def call(self, x, training=None):
        if training and x.shape[0] == 4:
            raise ValueError("batches of 4 are not supported")
        return super().call(x, training=training)
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "rownorm-pkg"
version = "0.1"

[tool.setuptools]
packages = ["rownorm_pkg"]
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("rownorm")
    (root / "pkg" / "rownorm_pkg").mkdir(parents=True)
    (root / "pkg" / "rownorm_pkg" / "__init__.py").write_text(textwrap.dedent(LAYERS), encoding="utf-8")
    (root / "pkg" / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(root / "site"), str(root / "pkg")], check=True)
    return str(root / "site")


def test_plugin_from_an_installed_package_is_profiled(site, tmp_path):
    env = {**harness_env(), "PYTHONPATH": os.pathsep.join([ROOT, site])}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness", "profile", "rownorm_pkg:RowNorm",
                           "fragile=rownorm_pkg:NoSmallBatches", "--battery", ORDERING, "--quick", "--out", str(out),
                           "--quiet", "--json"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["quick"] is True and "too few seeds" in printed["note"]
    assert {"RowNorm", "fragile", "bn", "brn", "groupnorm"} == set(printed["normalizers"])
    profile = pd.read_csv(out / "profile.csv")
    mine = profile[(profile["normalizer"] == "RowNorm") & (profile["metric"] == "acc_inference")]
    assert sorted(mine["condition"]) == ["classes_1", "iid_16", "iid_4"] and (mine["n"] == 2).all()
    assert printed["normalizers"]["RowNorm"]["index"] is not None
    # the fragile plugin failed at batches of 4: that cell only
    fragile = profile[(profile["normalizer"] == "fragile") & (profile["metric"] == "acc_inference")]
    assert sorted(fragile["condition"]) == ["classes_1", "iid_16"]
    saved = json.loads((out / "profile.json").read_text(encoding="utf-8"))
    failed = [c for c in saved["failed_cells"] if c["normalizer"] == "fragile"]
    assert [c["condition"] for c in failed] == ["iid_4"] and "batches of 4" in failed[0]["reason"]
    assert all(v["verdict"] == "too few seeds" for v in saved["normalizers"]["RowNorm"]["versus"].values())
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "too few seeds for a verdict" in page and "RowNorm" in page
