"""Local datasets read from `data.path` in the official archives' layout, NumPy only; a missing dataset is one
line naming its files, exit 2, nothing written; `validate` works with TensorFlow and the network blocked."""

import gzip
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import yaml

from harness.data import sources as data
from harness.data.local import expected_files, write_cifar
from tests.conftest import harness_env


def _write_cifar_by_hand(folder, name, per_file, rng):
    """CIFAR pickles as the official archives hold them: {b'data': (n, 3072) uint8 rows, b'labels': [...]}."""
    key = b"labels" if name == "cifar10" else b"fine_labels"
    classes = 10 if name == "cifar10" else 100
    paths = expected_files(name, str(folder))
    os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
    images, labels = [], []
    for path in paths:
        x = rng.integers(0, 256, (per_file, 3, 32, 32)).astype(np.uint8)
        y = rng.integers(0, classes, per_file)
        with open(path, "wb") as handle:
            pickle.dump({b"data": x.reshape(per_file, -1), key: [int(v) for v in y], b"batch_label": b"x"}, handle)
        images.append(x.transpose(0, 2, 3, 1))
        labels.append(y)
    return images, labels


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_from_data_path(name, tmp_path):
    images, labels = _write_cifar_by_hand(tmp_path, name, 5, np.random.default_rng(0))
    archive_folder = os.path.dirname(expected_files(name, str(tmp_path))[0])
    for path in (str(tmp_path), archive_folder):  # the parent folder, or the archive's folder itself
        dataset = data.load({"name": name, "path": path, "train_limit": None})
        assert dataset.x_train.dtype == np.uint8 and dataset.x_train.shape == (5 * (len(images) - 1), 32, 32, 3)
        np.testing.assert_array_equal(dataset.x_train, np.concatenate(images[:-1]))
        np.testing.assert_array_equal(dataset.y_train, np.concatenate(labels[:-1]))
        np.testing.assert_array_equal(dataset.x_test, images[-1])
        np.testing.assert_array_equal(dataset.y_test, labels[-1])
        assert dataset.num_classes == (10 if name == "cifar10" else 100)


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_files_from_data_path(name, compressed, tmp_path):
    rng = np.random.default_rng(1)
    x_train, x_test = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    y_train, y_test = rng.integers(0, 10, 7), rng.integers(0, 10, 3)
    arrays = {"train-images-idx3-ubyte": x_train, "train-labels-idx1-ubyte": y_train,
              "t10k-images-idx3-ubyte": x_test, "t10k-labels-idx1-ubyte": y_test}
    for file, array in arrays.items():
        # idx: two zero bytes, type 0x08 (unsigned byte), the number of dimensions, then each size big-endian
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
        raw = header + array.astype(np.uint8).tobytes()
        if compressed:
            with gzip.open(tmp_path / f"{file}.gz", "wb") as handle:
                handle.write(raw)
        else:
            (tmp_path / file).write_bytes(raw)
    dataset = data.load({"name": name, "path": str(tmp_path), "train_limit": None})
    np.testing.assert_array_equal(dataset.x_train[..., 0], x_train)
    np.testing.assert_array_equal(dataset.x_test[..., 0], x_test)
    np.testing.assert_array_equal(dataset.y_train, y_train)
    np.testing.assert_array_equal(dataset.to_float(dataset.x_train)[..., 0], (x_train / 255).astype(np.float32))


def test_missing_files_are_named(tmp_path):
    with pytest.raises(data.DataError) as error:
        data.load({"name": "cifar10", "path": str(tmp_path), "train_limit": None})
    message = str(error.value)
    assert error.value.field == "path" and "\n" not in message
    assert (f"{tmp_path}/cifar-10-batches-py/{{data_batch_1,data_batch_2,data_batch_3,"
            f"data_batch_4,data_batch_5,test_batch}}") in message
    assert "cifar-10-python.tar.gz | tar xz -C" in message


def _scenario(tmp_path, folder):
    return {
        "name": "cifar_tiny",
        "data": {"name": "cifar10", "path": str(folder), "augment": {"crop_padding": 4, "flip": True}},
        "model": {"name": "resnet20"},
        "normalizers": {"bn": {"kind": "batchnorm"}, "brn": {"kind": "batchrenorm"}},
        "samplers": {"iid": {"kind": "iid"}},
        "training": {"batch_size": 8, "steps": 4, "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
                     "weight_decay": 5e-4, "learning_rate": 0.05, "lr_schedule": {"kind": "cosine", "warmup_steps": 2}},
        "seeds": [0], "analysis": {"eval_every": 2, "probe_batches": 1, "precise_examples": 16},
    }


def _cli(*args, cwd, code=None):
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "harness", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=harness_env())


def test_missing_dataset_is_one_line_exit_2_nothing_written(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_scenario(tmp_path, tmp_path / "nowhere")))
    for command in (("validate", str(path)), ("run", str(path), "--out", str(tmp_path / "out"), "--quiet")):
        result = _cli(*command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith("error: s.yaml: data.path:") and "cifar-10-batches-py/{data_batch_1," in lines[0]
    assert sorted(os.listdir(tmp_path)) == ["s.yaml"]


# Blocks TensorFlow, Keras and any network connection, then runs `python -m harness ...`.
BLOCKED = """
import importlib.abc, runpy, socket, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras'):
            raise ImportError(f'{name} is blocked in this test')
        return None
sys.meta_path.insert(0, Block())
def no_network(*args, **kwargs):
    raise OSError('network blocked in this test')
socket.socket.connect = no_network
socket.create_connection = no_network
sys.argv = ['harness'] + sys.argv[1:]
runpy.run_module('harness', run_name='__main__')
"""


def test_validate_works_without_tensorflow_or_network(tmp_path):
    write_cifar(str(tmp_path / "data"), "cifar10", 20)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_scenario(tmp_path, tmp_path / "data")))
    result = _cli("validate", str(path), cwd=tmp_path, code=BLOCKED)
    assert result.returncode == 0, result.stderr
    assert "ok (2 trials" in result.stdout
    blocked = _cli("-c", "import tensorflow", cwd=tmp_path,
                   code=BLOCKED.replace("runpy.run_module('harness', run_name='__main__')", "exec(sys.argv[2])"))
    assert blocked.returncode != 0 and "blocked in this test" in blocked.stderr  # the block works


def test_tabular_npz_feeds_an_mlp_only(tmp_path, tiny_scenario):
    from harness.scenario import ScenarioError, validate

    rng = np.random.default_rng(0)
    path = tmp_path / "tab.npz"
    np.savez(path, x_train=rng.normal(size=(40, 5)).astype(np.float32), y_train=np.arange(40) % 4,
             x_test=rng.normal(size=(16, 5)).astype(np.float32), y_test=np.arange(16) % 4)
    tiny_scenario["data"] = {"name": "npz", "path": str(path), "divide_by": 1}
    tiny_scenario["training"]["batch_size"] = 4
    scenario = validate(tiny_scenario)
    assert scenario.data["divide_by"] == 1
    dataset = data.load(scenario.data)
    assert dataset.input_shape == (5,)
    np.testing.assert_array_equal(dataset.x_train, np.load(path)["x_train"])  # divide_by 1: as stored
    tiny_scenario["model"] = {"name": "convnet"}
    with pytest.raises(ScenarioError, match="model.name: 'convnet' needs images"):
        validate(tiny_scenario)
    tiny_scenario["data"]["divide_by"] = "min"
    with pytest.raises(ScenarioError, match="data.divide_by: 'min' must be 'max'"):
        validate(tiny_scenario, check_feasibility=False)


def test_npz_uint8_with_explicit_divisor_stays_uint8(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 200, (20, 4, 4, 3)).astype(np.uint8)
    path = tmp_path / "img.npz"
    np.savez(path, x_train=x, y_train=np.arange(20) % 2, x_test=x[:6], y_test=np.arange(6) % 2)
    fixed = data.load({"name": "npz", "path": str(path), "divide_by": 255})
    assert fixed.x_train.dtype == np.uint8 and fixed.scale == 255
    np.testing.assert_array_equal(fixed.to_float(fixed.x_train), x.astype(np.float32) / np.float32(255))
    by_max = data.load({"name": "npz", "path": str(path), "divide_by": "max"})  # the old behaviour
    np.testing.assert_allclose(by_max.x_train, x / x.max(), rtol=1e-6)


def test_replacing_the_files_changes_the_trial_hash(tmp_path, tiny_scenario):
    """Resume reuses a trial only while its data files are the same: generated data swapped for real reruns."""
    from harness.scenario import validate
    from harness.train.trial import make_trial_config

    write_cifar(str(tmp_path), "cifar10", 20, seed=0)
    tiny_scenario["data"] = {"name": "cifar10", "path": str(tmp_path)}
    tiny_scenario["model"] = {"name": "convnet", "widths": [8]}
    scenario = validate(tiny_scenario, check_feasibility=False)
    before = make_trial_config(scenario, "iid", "bn", 0)["hash"]
    assert make_trial_config(scenario, "iid", "bn", 0)["hash"] == before
    write_cifar(str(tmp_path), "cifar10", 30, seed=1)
    assert make_trial_config(scenario, "iid", "bn", 0)["hash"] != before
