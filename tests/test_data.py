"""kreg.data: lecture datasets from local files, offline fallback, embedded data."""

import gzip
import struct
import time

import numpy as np
import pytest

from kreg import data
from kreg.data import datasets as ds_mod


def _write_idx(path, array, gz=True):
    array = np.asarray(array, np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def _fake_mnist(n_train=200, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), np.arange(n_train) % 10,
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), np.arange(n_test) % 10)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path, monkeypatch, gz):
    xtr, ytr, xte, yte = _fake_mnist()
    sfx = ".gz" if gz else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", xtr, gz)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", ytr, gz)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", xte, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", yte, gz)
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))
    d = data.load("mnist", val_fraction=0.1, seed=3)
    assert d.info.name == "mnist" and not d.info.fell_back
    assert "IDX" in d.info.source
    assert d.x_train.shape == (180, 28, 28, 1) and d.x_val.shape == (20, 28, 28, 1)
    assert d.x_test.shape == (50, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    np.testing.assert_array_equal(d.y_test, yte)
    np.testing.assert_allclose(d.x_test[..., 0], xte / 255.0, atol=1e-7)
    # train + val is a partition of the original training split
    assert sorted(np.concatenate([d.y_train, d.y_val]).tolist()) == sorted(ytr.tolist())


def test_mnist_from_npz_and_subset(tmp_path, monkeypatch):
    xtr, ytr, xte, yte = _fake_mnist(400, 40)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))
    d = data.load("mnist", n_train=100, seed=0)
    assert d.info.source.endswith("mnist.npz")
    assert len(d.x_train) == 100
    counts = np.bincount(d.y_train, minlength=10)  # stratified: each class keeps its share
    assert counts.sum() == 100 and counts.min() >= 9 and counts.max() <= 11


def test_read_idx_rejects_corrupt_file(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(struct.pack(">HBB", 0, 0x08, 1) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says shape"):
        data.read_idx(p)


def test_offline_fallback_is_fast_and_loud(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))  # empty
    monkeypatch.setenv("HOME", str(tmp_path))  # no keras / tfds caches
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="falling back from 'mnist' to 'digits'"):
        d = data.load("mnist", fallback="digits")
    assert time.perf_counter() - t0 < 5
    assert d.info.requested == "mnist" and d.info.name == "digits" and d.info.fell_back
    assert "KREG_OFFLINE" in d.info.fallback_reason
    err = capsys.readouterr().err
    assert "KREG_DATA_DIR" in err and "embedded 'digits'" in err


def test_probe_failure_falls_back_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("KREG_OFFLINE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(ds_mod, "is_online", lambda timeout=ds_mod.PROBE_TIMEOUT: False)
    called = []
    monkeypatch.setattr(ds_mod, "_from_tfds", lambda *a, **k: called.append(1))
    monkeypatch.setattr(ds_mod, "_from_keras", lambda *a, **k: called.append(1))
    with pytest.warns(UserWarning):
        d = data.load("fashion_mnist", fallback="mnist1d", verbose=False)
    assert d.info.name == "mnist1d" and "no connection" in d.info.fallback_reason
    assert not called


def test_no_fallback_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="not available"):
        data.load("mnist", fallback=None)


@pytest.mark.parametrize(
    "name,shape,classes",
    [("digits", (8, 8, 1), 10), ("mnist1d", (40,), 10), ("toy2d", (2,), 2)],
)
def test_embedded(name, shape, classes):
    d = data.load(name)
    assert d.info.input_shape == shape and d.info.num_classes == classes
    assert d.info.fallback_reason is None
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    # the test split does not depend on the seed, the validation split does
    d2 = data.load(name, seed=5)
    np.testing.assert_array_equal(d.x_test, d2.x_test)
    assert not np.array_equal(d.y_val, d2.y_val) or not np.array_equal(d.x_val, d2.x_val)


def test_sine_is_bishops_curve():
    x, t = data.make_sine(2000, noise=0.0)
    np.testing.assert_allclose(t, np.sin(2 * np.pi * x[:, 0]), atol=1e-5)
    d = data.load("sine", val_fraction=0.0)
    assert d.info.task == "regression" and len(d.x_train) == 10


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"name": "cifar"}, r"argument `name`.*'mnist', 'fashion_mnist', 'digits'"),
        ({"name": "digits", "val_fraction": 1.0}, r"argument `val_fraction`.*Received: val_fraction=1.0"),
        ({"name": "digits", "n_train": 0}, r"argument `n_train`"),
        ({"name": "digits", "n_train": 10**6}, r"at most \d+"),
        ({"name": "mnist", "fallback": "imagenet"}, r"argument `fallback`"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load(**kwargs)


def test_corrupt_labels():
    y = np.arange(1000) % 10
    noisy, changed = data.corrupt_labels(y, 0.4, 10, seed=1)
    assert changed.sum() == 400
    np.testing.assert_array_equal(noisy[~changed], y[~changed])
    # re-drawn labels are uniform: about 1/10 keep their value by chance
    kept = np.mean(noisy[changed] == y[changed])
    assert 0.04 < kept < 0.18
    again, _ = data.corrupt_labels(y, 0.4, 10, seed=1)
    np.testing.assert_array_equal(noisy, again)
    with pytest.raises(ValueError, match="fraction"):
        data.corrupt_labels(y, 1.5, 10)


def test_stratified_subset_keeps_proportions():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    idx = data.stratified_subset(y, 100, seed=0)
    assert np.bincount(y[idx]).tolist() == [60, 30, 10]
    assert len(np.unique(idx)) == 100
