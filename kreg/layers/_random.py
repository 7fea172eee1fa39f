"""Per-example random draws that differ across ``tf.distribute`` replicas (private).

Why this exists: a Keras ``SeedGenerator`` is one variable shared by all the
replicas of a ``tf.distribute.MirroredStrategy``, so every replica reads the
same seed and draws the *same* numbers for its shard of the global batch
(Keras 3.15, TensorFlow backend: ``keras.layers.Dropout`` puts identical
masks on the examples of different replicas; ``tests/test_distribution.py``
shows it). For a draw with one value per example (a dropout mask, a
per-example DropConnect mask) that is wrong: a single device would draw
independent masks for all the examples of the global batch. Under
TensorFlow with several replicas in sync, :func:`uniform` and
:func:`normal` therefore fold the replica id into the seed
(``tf.random.experimental.stateless_fold_in``) and draw with TensorFlow's
stateless ops, which ``keras.random`` would call anyway; everywhere else
(one device, JAX's ``DataParallel``, which runs one program over the
global batch and so already draws independent numbers per example, and
PyTorch) they are exactly ``keras.random.uniform`` / ``keras.random.normal``
with the layer's ``SeedGenerator``.

Draws with one value per *minibatch* (DropConnect's default ``mask="batch"``,
weight noise) must stay identical across replicas, as one device would draw
one for the whole global batch: they keep using ``keras.random`` directly.
"""

from __future__ import annotations

import keras


def _tf_replica_id():
    """The replica id inside a multi-replica ``tf.distribute`` step, else ``None``."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        return None
    return ctx.replica_id_in_sync_group


def _folded_seed(seed_generator, replica):
    import tensorflow as tf

    seed = tf.cast(seed_generator.next(), "int32")
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, "int32"))


def uniform(shape, seed_generator, dtype="float32"):
    """``keras.random.uniform(shape, dtype=dtype, seed=seed_generator)``, independent across TF replicas."""
    replica = _tf_replica_id()
    if replica is None:
        return keras.random.uniform(shape, dtype=dtype, seed=seed_generator)
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=_folded_seed(seed_generator, replica), dtype=dtype)


def normal(shape, seed_generator, dtype="float32"):
    """``keras.random.normal(shape, dtype=dtype, seed=seed_generator)``, independent across TF replicas."""
    replica = _tf_replica_id()
    if replica is None:
        return keras.random.normal(shape, dtype=dtype, seed=seed_generator)
    import tensorflow as tf

    return tf.random.stateless_normal(shape, seed=_folded_seed(seed_generator, replica), dtype=dtype)


def stateless_seed(seed_generator):
    """TensorFlow only: the next seed of ``seed_generator`` as an int32 ``(2,)`` tensor for ``tf.random.stateless_*``.

    Inside a multi-replica ``tf.distribute`` step the replica id is folded in, as :func:`uniform` does.
    """
    import tensorflow as tf

    replica = _tf_replica_id()
    if replica is not None:
        return _folded_seed(seed_generator, replica)
    return tf.cast(seed_generator.next(), "int32")
