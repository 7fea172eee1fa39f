r"""Data parallelism through Keras's own engines, one call for every backend (issue 17).

kreg does not implement any parallelism itself. :func:`data_parallel`
enters the engine the Keras ecosystem provides for the backend:

- **JAX**: ``keras.distribution.DataParallel`` over the chosen devices. One
  SPMD program runs on the global batch, sharded along its first axis; the
  variables are replicated. Random draws (dropout masks) are drawn for the
  global batch, so every example gets its own mask, and batch-norm
  statistics are those of the global batch (synchronized).
- **TensorFlow**: ``tf.distribute.MirroredStrategy``: one replica per device
  runs the step on its shard, gradients are summed over replicas. kreg's
  per-example masks fold the replica id into their seed (a Keras
  ``SeedGenerator`` alone gives every replica the same masks); batch-norm
  statistics are per replica, and kreg's ``BatchNorm`` keeps the mean of
  the replicas' moving statistics.
- **PyTorch**: Keras 3.15's ``keras.distribution`` has no data parallelism
  for PyTorch (DDP support arrives after 3.15): the block runs on one device
  and says so.

In every case ``batch_size`` stays the *global* batch: with :math:`D`
devices each computes on ``batch_size / D`` examples, and a step is the
same update as on one device (to float rounding; exactly the same masks
are not drawn). Build, compile and fit inside the block::

    with kreg.distribution.data_parallel("all"):
        model = kreg.models.mlp((28, 28, 1), 10, hidden=(75, 45), dropout=0.5)
        kreg.models.compile_classifier(model, "sgd", learning_rate=0.1)
        model.fit(x, y, batch_size=256, epochs=50)

Fake devices for trying it on a CPU: start Python with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (JAX), or call
``tf.config.set_logical_device_configuration`` on the CPU before TensorFlow
runs anything (``tests/conftest.py`` does, under ``KREG_FAKE_DEVICES=2``).
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from kreg._validation import invalid

__all__ = ["available_devices", "data_parallel", "mirrored_strategy", "resolve_devices"]

_STRATEGY = {}


def _backend():
    import keras

    return keras.backend.backend()


def available_devices():
    """The devices data parallelism can use on this backend: names, accelerators first.

    JAX: ``jax.devices()`` (the default platform). TensorFlow: the logical
    GPUs, or the logical CPUs when there is no GPU. PyTorch: one entry (see
    the module docstring).
    """
    backend = _backend()
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))]
    return ["torch:0"]


def resolve_devices(devices):
    """How many devices ``devices`` (a positive int or ``"all"``) means here; raises on more than there are."""
    available = available_devices()
    if devices == "all":
        return len(available)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise invalid("devices", devices, 'a positive integer or "all"')
    if devices > len(available) and _backend() != "torch":
        raise invalid("devices", devices, f"at most the {len(available)} device(s) {_backend()} sees "
                      f"({', '.join(available)})")
    return devices


def _data_parallel_class():
    """``keras.distribution.DataParallel`` that replicates a batch whose size the devices do not divide.

    Keras 3.15's ``DataParallel`` shards every input batch along its first
    axis, and JAX refuses a batch of, say, 25 examples on 2 devices
    (``IndivisibleError``): an ``evaluate`` or ``predict`` on a small odd-sized
    set fails. This subclass gives such a batch a replicated layout instead
    (every device computes all of it: correct, just not parallel). Keras
    picks the layout of a ``fit``/``evaluate``/``predict`` from its *first*
    batch, so a data set whose first batch divides and whose last does not
    still fails upstream: keep batch sizes and set sizes multiples of the
    device count (every split of the offline data is).
    """
    import keras

    class DataParallel(keras.distribution.DataParallel):
        def get_data_layout(self, data_shape):
            n = int(np.prod(self.device_mesh.shape))
            if data_shape and data_shape[0] is not None and data_shape[0] % n:
                return keras.distribution.TensorLayout([None] * len(data_shape), self.device_mesh)
            return super().get_data_layout(data_shape)

    return DataParallel


def mirrored_strategy(n=None):
    """The process's ``tf.distribute.MirroredStrategy`` over the first ``n`` devices (all by default).

    Cached: TensorFlow 2.21 can abort the all-reduce of a second
    MirroredStrategy made in the same process ("Shape mismatch in the
    collective instance"), so one strategy per device set is made and reused.
    """
    import tensorflow as tf

    names = available_devices()
    names = tuple(names[: n or len(names)])
    if names not in _STRATEGY:
        _STRATEGY[names] = tf.distribute.MirroredStrategy(list(names))
    return _STRATEGY[names]


@contextlib.contextmanager
def data_parallel(devices="all"):
    """Run the ``fit``\\ s of the models built in this block data-parallel over ``devices``.

    Args:
        devices: a positive int (the first ``devices`` devices) or ``"all"``.

    Yields:
        The number of devices actually used (1 under PyTorch, or when only one
        device is available).
    """
    n = resolve_devices(devices)
    backend = _backend()
    if n <= 1 or backend == "torch":
        if backend == "torch" and n > 1:
            print("kreg.distribution: Keras 3.15 has no data parallelism for PyTorch (keras.distribution gains "
                  "DDP after 3.15); running on one device.", file=sys.stderr)
        yield 1
        return
    if backend == "jax":
        import keras

        set_distribution = keras.distribution.set_distribution  # kept: the finally may run at interpreter exit
        previous = keras.distribution.distribution()
        set_distribution(_data_parallel_class()(devices=keras.distribution.list_devices()[:n]))
        try:
            yield n
        finally:
            set_distribution(previous)
        return
    with mirrored_strategy(n).scope():
        yield n
