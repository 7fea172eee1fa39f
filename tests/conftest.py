"""Shared pytest set-up: one pytest process per Keras backend (see Makefile).

Keras fixes its backend at import, so the backend is chosen by the
``KERAS_BACKEND`` environment variable of the pytest process. Tests never
touch the network: ``KREG_OFFLINE=1`` is forced here.
"""

import os

os.environ["KREG_OFFLINE"] = "1"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ["KERAS_BACKEND"] == "jax":
    # Most of a JAX test's time is XLA compiling tiny programs. The persistent
    # compilation cache makes every later run of the suite on this machine
    # reuse them (results are identical; only compile time is saved).
    os.environ.setdefault(
        "JAX_COMPILATION_CACHE_DIR",
        os.path.join(os.path.expanduser("~"), ".cache", "kreg", "jax-compilation-cache"),
    )
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# Multi-device tests (tests/test_distribution.py): `make test` runs them in their own pytest processes
# with KREG_FAKE_DEVICES=2, which must take effect before the backend starts: XLA's host-platform
# device count for JAX, logical CPU devices for TensorFlow.
_FAKE_DEVICES = int(os.environ.get("KREG_FAKE_DEVICES", "0") or 0)
if _FAKE_DEVICES > 1 and os.environ["KERAS_BACKEND"] == "jax":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={_FAKE_DEVICES}").strip()
elif _FAKE_DEVICES > 1 and os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * _FAKE_DEVICES)

import keras  # noqa: E402  (after the environment is set)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()


def pytest_report_header(config):
    return [f"keras {keras.__version__}, backend: {BACKEND}"]


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same global seeds."""
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_max_steps_per_epoch(None)  # a lesson that failed mid-run must not cap later tests


@pytest.fixture
def backend():
    return BACKEND


@pytest.fixture
def rng():
    return np.random.default_rng(0)
