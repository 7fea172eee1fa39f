"""Layer overhead: kreg's layers vs the Keras built-ins, under one Keras backend.

For a batch of 256 on the STAT 453 MLP (784-75-45-10) and on a small CNN
(Conv16-Conv32 on 28x28x1, GAP, Dense64 head), every variant is a whole
compiled model (SGD 0.1, sparse cross-entropy, accuracy) that differs from
its reference in one layer; train step (``model.train_on_batch``) and
inference (``model.predict_on_batch``) are timed after warm-up, all models of
one architecture interleaved, repeat after repeat; the ratio is the median
of the per-repeat ratios.

Comparisons (A / B, target):

- ``DropConnect(mask="batch")`` / ``Dense`` + ``keras.layers.Dropout``  <= 1.2x
- ``DropConnect(mask="example")`` / ``Dense`` + ``Dropout``: reported (goal
  <= 5x, issue 15), with its mask memory: ``B x in x out x 4`` bytes summed
  over the layers (what whole per-example masks would hold), the chunked
  bound the layer holds instead (``chunk x in x out x 4``, chunk = the
  layer's automatic ``chunk_size``), and the measured peak where the device
  reports one
- ``WeightNoise(Dense|Conv2D)`` / the plain layer                        <= 1.2x
- ``kreg.layers.GroupNorm`` / ``keras.layers.GroupNormalization``        <= 1.0x
- ``kreg.layers.BatchNorm`` / ``keras.layers.BatchNormalization``        <= 1.1x
- ``kreg.layers.Dropout`` / ``keras.layers.Dropout``                     <= 1.05x
- MLP with each hidden activation in its ``Dense`` layer (``kreg.models.mlp``'s
  default) / with an ``Activation`` layer of its own
  (``activation_layers=True``, every other MLP variant here): reported

Under the torch backend, ``GroupNorm`` is also timed at the layer level
(forward + backward, and forward alone) against ``torch.nn.GroupNorm`` on
the same activations (channels-first for torch, as a PyTorch user has them).

Run alone: ``KERAS_BACKEND=jax python benchmarks/layers.py [--quick]``.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the shared helpers)

BATCH = 256
QUICK_BATCH = 16
RATE = 0.5
STDDEV = 0.01

# (A, B, target or None, label)
COMPARISONS = [
    ("dropconnect_batch", "keras_dropout", 1.2, 'DropConnect(mask="batch") / Dense+Dropout'),
    ("dropconnect_example", "keras_dropout", None, 'DropConnect(mask="example") / Dense+Dropout'),
    ("weight_noise", "plain", 1.2, "WeightNoise / plain layer"),
    ("kreg_groupnorm", "keras_groupnorm", 1.0, "GroupNorm / keras GroupNormalization"),
    ("kreg_batchnorm", "keras_batchnorm", 1.1, "BatchNorm / keras BatchNormalization"),
    ("kreg_dropout", "keras_dropout", 1.05, "kreg Dropout / keras Dropout"),
    ("activation_in_dense", "plain", None, "MLP: activation in Dense / own Activation"),
]
GROUPS = {"mlp": 5, "cnn": 4}  # 75 and 45 are divisible by 5; 16 and 32 by 4


def _variant_kwargs(name, arch):
    """The layer factories of one variant (None = the Keras default / nothing)."""
    import keras

    from kreg import layers as kl

    g = GROUPS[arch]

    def dropconnect(mask):
        def make(units, *, name=None, **kw):
            kw.pop("kernel_regularizer", None)
            return kl.DropConnect(units, rate=RATE, mask=mask, name=name, **kw)
        return make

    def noisy_dense(units, *, name=None, **kw):
        return kl.WeightNoise(keras.layers.Dense(units, **kw), stddev=STDDEV, name=name)

    table = {
        "plain": {},
        "activation_in_dense": {},
        "keras_dropout": {"dropout": lambda: keras.layers.Dropout(RATE)},
        "kreg_dropout": {"dropout": lambda: kl.Dropout(RATE)},
        "dropconnect_batch": {"dense": dropconnect("batch")},
        "dropconnect_example": {"dense": dropconnect("example")},
        "weight_noise": {"dense": noisy_dense, "noisy_conv": True},
        "kreg_groupnorm": {"norm": lambda: kl.GroupNorm(g, epsilon=1e-5)},
        "keras_groupnorm": {"norm": lambda: keras.layers.GroupNormalization(g, epsilon=1e-5)},
        "kreg_batchnorm": {"norm": lambda: kl.BatchNorm()},
        "keras_batchnorm": {"norm": lambda: keras.layers.BatchNormalization()},
    }
    return table[name]


def build(name, arch, *, run_eagerly=False):
    """One compiled model: the ``arch`` ("mlp" or "cnn") with variant ``name``.

    ``run_eagerly`` (the ``--quick`` smoke setting under TensorFlow and
    torch) skips compilation, which dominates a tiny run; the timed setting
    always uses Keras's defaults.
    """
    import keras

    from kreg import layers as kl
    from kreg import models

    v = _variant_kwargs(name, arch)
    if arch == "mlp":
        model = models.mlp(
            (28, 28), 10, hidden=models.STAT453_HIDDEN,
            dropout=RATE if "dropout" in v else 0.0,
            dropout_layer=(lambda rate: v["dropout"]()) if "dropout" in v else None,
            dense_layer=v.get("dense"),
            batchnorm=v.get("norm", False),
            activation_layers=name != "activation_in_dense",  # the others compare one layer, not this
            name=f"mlp_{name}",
        )
    else:  # the small CNN of kreg.models.cnn, with a Dense(64) head so that DropConnect has a place
        norm = v.get("norm")
        seq = [keras.Input((28, 28, 1))]
        for i, f in enumerate((16, 32)):
            conv = keras.layers.Conv2D(f, 3, padding="same", use_bias=norm is None, name=f"conv_{i + 1}")
            seq.append(kl.WeightNoise(conv, stddev=STDDEV) if v.get("noisy_conv") else conv)
            if norm is not None:
                seq.append(norm())
            seq += [keras.layers.Activation("relu"), keras.layers.MaxPooling2D(2)]
        seq.append(keras.layers.GlobalAveragePooling2D())
        dense = v.get("dense") or keras.layers.Dense
        seq += [dense(64, name="hidden"), keras.layers.Activation("relu")]
        if "dropout" in v:
            seq.append(v["dropout"]())
        seq.append(keras.layers.Dense(10, name="logits"))
        model = keras.Sequential(seq, name=f"cnn_{name}")
    return models.compile_classifier(model, learning_rate=0.1, run_eagerly=run_eagerly)


def _example_dims(arch):
    return [(784, 75), (75, 45)] if arch == "mlp" else [(32, 64)]


def example_mask_bytes(arch, batch):
    """Analytic memory of whole per-example DropConnect masks: sum over layers of B x in x out x 4."""
    return sum(batch * i * o * 4 for i, o in _example_dims(arch))


def example_chunk_bytes(arch, batch):
    """The bound the layer keeps instead: sum over layers of chunk x in x out x 4 (its automatic chunk_size)."""
    from kreg.layers import drop_connect

    return sum(min(batch, max(1, drop_connect._CHUNK_ELEMENTS // (i * o))) * i * o * 4 for i, o in _example_dims(arch))


# ------------------------------------------------------------------ memory
def _mem_reset(backend):
    """Start a peak-memory measurement; returns a token for :func:`_mem_peak`."""
    dev = bench.backend_device(backend)
    try:
        if backend == "torch" and dev.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return ("torch", torch.cuda.memory_allocated())
        if backend == "tensorflow" and dev.startswith("gpu"):
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats("GPU:0")
            return ("tf", tf.config.experimental.get_memory_info("GPU:0")["current"])
        if backend == "jax" and dev != "cpu":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            return ("jax", stats.get("peak_bytes_in_use"))
    except Exception:
        pass
    return ("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _mem_peak(token):
    """``(bytes, how)``: the peak above the level at :func:`_mem_reset`, and how it was measured."""
    kind, base = token
    try:
        if kind == "torch":
            import torch

            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - base, "torch.cuda.max_memory_allocated - before"
        if kind == "tf":
            import tensorflow as tf

            return tf.config.experimental.get_memory_info("GPU:0")["peak"] - base, "tf GPU peak - before"
        if kind == "jax":
            import jax

            peak = (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
            if peak is not None and base is not None:
                return peak - base, "jax peak_bytes_in_use growth (0 if an earlier peak was higher)"
    except Exception:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return rss - base, "growth of the process's peak RSS (CPU; a lower bound, 0 if memory was reused)"


# ------------------------------------------------------------------ timing
def time_arch(backend, arch, names, *, repeats, quick):
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (28, 28) if arch == "mlp" else (28, 28, 1)
    batch = QUICK_BATCH if quick else BATCH
    x = rng.random((batch,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, batch).astype("int32")
    out = {"train": {}, "infer": {}, "memory": {}}
    models = {}
    eager = quick and backend != "jax"  # eager JAX compiles op by op: slower than one jit
    for name in names:
        if name == "dropconnect_example":
            # measured first in this architecture, while the process's high-water mark is lowest
            token = _mem_reset(backend)
            models[name] = build(name, arch, run_eagerly=eager)
            models[name].train_on_batch(x, y)
            peak, how = _mem_peak(token)
            out["memory"] = {"analytic_mask_bytes": example_mask_bytes(arch, batch),
                             "chunk_mask_bytes": example_chunk_bytes(arch, batch),
                             "measured_peak_bytes": peak, "measured_how": how,
                             "note": "the measured peak includes compilation and the first step's activations"}
        else:
            models[name] = build(name, arch, run_eagerly=eager)
    kw = dict(repeats=repeats, warmup=2, chunk_s=0.15)
    if quick:
        kw.update(warmup=0, steps=1)
    for phase in ("train", "infer"):
        if phase == "train":
            fns = {n: (lambda m=m: m.train_on_batch(x, y)) for n, m in models.items()}
        else:
            fns = {n: (lambda m=m: m.predict_on_batch(x)) for n, m in models.items()}
        t0 = time.perf_counter()
        times, steps = bench.interleaved(fns, **kw)
        out[phase] = {"times_s": times, "steps_per_chunk": steps, "wall_s": round(time.perf_counter() - t0, 2)}
    out["comparisons"] = []
    for a, b, target, label in COMPARISONS:
        if a not in models or b not in models:
            continue
        row = {"a": a, "b": b, "label": label, "target": target}
        for phase in ("train", "infer"):
            t = out[phase]["times_s"]
            r = bench.ratio(t, a, b)
            row[phase] = {"ratio": r, "a_median_s": bench.median(t[a]), "b_median_s": bench.median(t[b]),
                          "pass": None if target is None else bool(r <= target)}
        out["comparisons"].append(row)
    return out


def time_torch_groupnorm(*, repeats, quick):
    """Layer level, torch backend: kreg GroupNorm vs keras GroupNormalization vs torch.nn.GroupNorm."""
    import keras
    import torch

    from kreg import layers as kl

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    out = {}
    b = QUICK_BATCH if quick else BATCH
    for arch, shape in (("mlp", (b, 75)), ("cnn", (b, 28, 28, 16))):
        g, c = GROUPS[arch], shape[-1]
        x_last = torch.randn(*shape, device=dev)
        x_first = x_last.movedim(-1, 1).contiguous()  # (B, C, ...) as torch expects
        ours = kl.GroupNorm(g, epsilon=1e-5)
        theirs = keras.layers.GroupNormalization(g, epsilon=1e-5)
        ours.build(shape)
        theirs.build(shape)
        native = torch.nn.GroupNorm(g, c, eps=1e-5).to(dev)
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

        def fwd_bwd(f, x):
            def step():
                xr = x.detach().requires_grad_(True)
                f(xr).sum().backward()
                sync()
            return step

        def fwd(f, x):
            def step():
                with torch.no_grad():
                    f(x)
                sync()
            return step

        kw = dict(repeats=repeats, warmup=2, chunk_s=0.1)
        if quick:
            kw.update(warmup=0, steps=1)
        res = {}
        for phase, wrap in (("train", fwd_bwd), ("infer", fwd)):
            fns = {"kreg_groupnorm": wrap(lambda t: ours(t, training=phase == "train"), x_last),
                   "keras_groupnorm": wrap(theirs, x_last),
                   "torch_groupnorm": wrap(native, x_first)}
            times, steps = bench.interleaved(fns, **kw)
            res[phase] = {"times_s": times, "steps_per_chunk": steps,
                          "kreg_vs_torch": bench.ratio(times, "kreg_groupnorm", "torch_groupnorm"),
                          "keras_vs_torch": bench.ratio(times, "keras_groupnorm", "torch_groupnorm"),
                          "kreg_vs_keras": bench.ratio(times, "kreg_groupnorm", "keras_groupnorm")}
        out[arch] = {"shape": list(shape), "groups": g, **res}
    return out


def main(argv=None):
    p = bench.common_parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    backend = bench.select_backend(args.backend)
    import keras

    repeats = args.repeats or (1 if args.quick else 5)
    keras.utils.set_random_seed(0)
    all_names = ["dropconnect_example", "plain", "keras_dropout", "kreg_dropout", "dropconnect_batch",
                 "weight_noise", "kreg_groupnorm", "keras_groupnorm", "kreg_batchnorm", "keras_batchnorm"]
    mlp_names = all_names + ["activation_in_dense"]  # the MLP-only variant
    archs = {"mlp": mlp_names, "cnn": all_names}
    if args.quick:  # every layer once on the MLP (eagerly, batch 16), GroupNorm on the CNN
        archs = {"mlp": mlp_names, "cnn": ["kreg_groupnorm", "keras_groupnorm"]}
    result = {"benchmark": "layers", "backend": backend, "device": bench.backend_device(backend),
              "versions": bench.versions(backend), "loadavg_start": bench.loadavg(),
              "settings": {"batch": QUICK_BATCH if args.quick else BATCH, "quick": args.quick, "repeats": repeats, "rate": RATE,
                           "weight_noise_stddev": STDDEV, "groups": GROUPS,
                           "train": "model.train_on_batch", "infer": "model.predict_on_batch",
                           "jit_compile": "auto (Keras default)"},
              "archs": {}}
    t0 = time.perf_counter()
    for arch, names in archs.items():
        result["archs"][arch] = time_arch(backend, arch, names, repeats=repeats, quick=args.quick)
    if backend == "torch":
        result["torch_groupnorm"] = time_torch_groupnorm(repeats=repeats, quick=args.quick)
    result["loadavg_end"] = bench.loadavg()
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return bench.emit(args, result, table)


def table(result):
    """Console table of one backend's results."""
    lines = [f"  [{result['backend']} on {result['device']}, load {result['loadavg_start']} -> "
             f"{result['loadavg_end']}]  ratio kreg/reference (median A / median B); target"]
    head = f"  {'arch':4} {'comparison':45} {'train step':>26}  {'inference':>26}  target  verdict"
    lines.append(head)
    for arch, res in result["archs"].items():
        for row in res["comparisons"]:
            cells = []
            for phase in ("train", "infer"):
                c = row[phase]
                cells.append(f"{bench.fmt_ratio(c['ratio']):>7} ({bench.fmt_time(c['a_median_s'])}/"
                             f"{bench.fmt_time(c['b_median_s'])})")
            if row["target"] is None:
                verdict, target = "(reported)", "-"
            else:
                ok = [row[ph]["pass"] for ph in ("train", "infer")]
                verdict = "PASS" if all(ok) else ("MISS" if not any(ok) else
                                                  "MISS (" + ("train" if not ok[0] else "infer") + ")")
                target = f"<={row['target']:g}x"
            lines.append(f"  {arch:4} {row['label']:45} {cells[0]:>26}  {cells[1]:>26}  {target:>6}  {verdict}")
        mem = res.get("memory")
        if mem:
            chunk = (f", chunked {mem['chunk_mask_bytes'] / 2**20:.1f} MiB (chunk x in x out x 4)"
                     if "chunk_mask_bytes" in mem else "")
            lines.append(f"  {arch:4}   example masks: {mem['analytic_mask_bytes'] / 2**20:.1f} MiB whole "
                         f"(B x in x out x 4){chunk}, measured peak {mem['measured_peak_bytes'] / 2**20:.1f} MiB "
                         f"({mem['measured_how'].split(' (')[0]})")
    tg = result.get("torch_groupnorm")
    if tg:
        for arch, r in tg.items():
            lines.append(f"  {arch:4} GroupNorm layer {tuple(r['shape'])}: kreg/torch.nn.GroupNorm "
                         f"train {bench.fmt_ratio(r['train']['kreg_vs_torch'])}, "
                         f"infer {bench.fmt_ratio(r['infer']['kreg_vs_torch'])}; keras/torch "
                         f"train {bench.fmt_ratio(r['train']['keras_vs_torch'])}, "
                         f"infer {bench.fmt_ratio(r['infer']['keras_vs_torch'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
