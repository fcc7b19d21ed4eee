"""The in-graph input transform: uint8 -> float32 as NumPy does it, and crops/flips keyed by (seed, step)."""

import numpy as np
import pytest

from harness.data.augment import Transform, make_transform
from harness.data.sources import Dataset, with_preprocessing


def _images(n=6, size=8, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels)).astype(np.uint8)


def _candidates(image, pad):
    """Every crop (after zero padding) of `image`, flipped or not: what a crop-and-flip may give."""
    size = image.shape[0]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    crops = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy:dy + size, dx:dx + size]
            crops += [(dy, dx, False, crop), (dy, dx, True, crop[:, ::-1])]
    return crops


def test_crops_and_flips_are_crops_and_flips_of_the_padded_image():
    images = _images(n=64)
    transform = Transform(1.0, None, None, crop_padding=2, flip=True)
    transform.reset(3)
    out = transform.augment(images, 5).numpy()
    assert out.shape == images.shape and out.dtype == np.uint8
    offsets, flips = set(), set()
    for image, result in zip(images, out, strict=False):
        matches = [(dy, dx, f) for dy, dx, f, crop in _candidates(image, 2) if np.array_equal(crop, result)]
        assert matches, "not a crop of the zero-padded image"
        offsets.add(matches[0][:2])
        flips.add(matches[0][2])
    assert flips == {False, True} and len(offsets) > 5  # 64 images: both flips and many offsets occur


def test_draws_are_keyed_by_seed_and_step_only():
    images = _images(n=32)
    one, two = Transform(1.0, None, None, 4, True), Transform(1.0, None, None, 4, True)
    one.reset(7)
    two.reset(7)
    a = one.augment(images, 11).numpy()
    one.augment(images, 12)  # other calls in between change nothing
    np.testing.assert_array_equal(a, two.augment(images, 11).numpy())
    assert not np.array_equal(a, two.augment(images, 12).numpy())
    two.reset(8)
    assert not np.array_equal(a, two.augment(images, 11).numpy())


def test_in_graph_conversion_equals_numpy():
    images = _images(n=10)
    dataset = Dataset("x", images, np.arange(10) % 2, images[:4], np.arange(4) % 2, 2, scale=255.0)
    standardized = with_preprocessing(dataset, {"standardize": True})
    expected = images.astype(np.float64) / 255
    np.testing.assert_allclose(standardized.mean, expected.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(standardized.std, expected.std(axis=(0, 1, 2)), rtol=1e-6)
    for data in (dataset, standardized):
        transform = make_transform({"augment": {}}, data)
        np.testing.assert_array_equal(transform(images, 0).numpy(), data.to_float(images))
    floats = Dataset("x", images.astype(np.float32), np.arange(10) % 2, images[:4].astype(np.float32),
                     np.arange(4) % 2, 2)
    assert make_transform({"augment": {}}, floats) is None  # float data without options: fed as stored
    assert floats.to_float(floats.x_train) is floats.x_train


@pytest.mark.parametrize("flip", [False, True])
def test_no_padding_flip_only(flip):
    images = _images(n=16)
    transform = Transform(1.0, None, None, 0, flip)
    out = transform.augment(images, 0).numpy()
    flipped = [not np.array_equal(o, i) for o, i in zip(out, images, strict=False)]
    for o, i, f in zip(out, images, flipped, strict=False):
        np.testing.assert_array_equal(o, i[:, ::-1] if f else i)
    assert any(flipped) == flip
