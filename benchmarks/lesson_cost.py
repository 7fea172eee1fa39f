"""Lesson cost: one epoch of the l10_dropout setting under one Keras backend vs hand-written PyTorch.

The setting of ``lessons/l10_dropout.py`` (its "dropout 0.5" net): the
STAT 453 MLP 784-75-45-10 with ReLU and ``kreg.layers.Dropout(0.5)`` after
each hidden layer, SGD lr 0.1, batch 256, sparse cross-entropy on logits and
accuracy, on MNIST (54,000 train / 6,000 validation examples) if it is on
disk (``$KREG_DATA_DIR``), else synthetic MNIST-shaped float32 data of the
same size (the cost of an epoch does not depend on the pixel values).

Timed in one process, interleaved epoch by epoch, after one warm-up epoch
each; the figure is the median over repeats of one epoch (one ``fit(...,
epochs=1)`` call, or one pass of the loop):

- ``torch_loop``: what a STAT 453 student writes: ``torch.nn.Sequential``,
  a shuffled ``randperm`` over an in-memory tensor in slices of 256,
  ``F.cross_entropy``, ``optimizer.zero_grad(); loss.backward();
  optimizer.step()``; ``torch_loop_val`` adds the per-epoch validation pass
  (``model.eval()``, ``torch.no_grad()``, accuracy), ``torch_dataloader``
  uses ``DataLoader(TensorDataset(...), shuffle=True)`` instead of slices;
- ``fit``: plain ``model.fit(x, y, epochs=1, batch_size=256, verbose=0)``;
- ``fit_val``: the same with ``validation_data`` (per-epoch validation);
- ``harness``: ``kreg.lesson``'s ``Run.fit`` as the lesson calls it
  (validation every epoch, the progress callback; under TensorFlow 32
  steps per call, ``kreg.lesson.TF_STEPS_PER_EXECUTION``);
- ``harness_stepwise``: the same with a no-op per-batch callback, which
  makes the harness run one step per call: the harness as it was before it
  used ``steps_per_execution``, measured side by side;
- options, each changing one thing from ``fit``: ``no_metrics`` (compile
  without the accuracy metric), ``spe`` (``steps_per_execution=N``; not on
  torch, where Keras requires 1), ``no_jit`` (``jit_compile=False``),
  ``tensors`` (inputs already converted to backend tensors).

Ratios: every Keras variant over ``torch_loop`` (train-only variants) or
``torch_loop_val`` (variants that validate), measured in the same process.

Each of those times one ``fit(..., epochs=1)`` call, so a Keras epoch
carries what a ``fit`` call sets up once (the input pipeline over the
54,000 examples, the validation iterator, the callbacks), which the PyTorch
loop does not. A lesson fits for tens of epochs per call, so the benchmark
also times the **steady-state epoch**: ``harness_epoch`` is one
``Run.fit(..., epochs=1 + EPOCHS_IN_FIT)`` per repeat, every epoch but the
first timed from ``on_epoch_begin`` to ``on_epoch_end`` (training and the
validation pass; the callback has no per-batch hook, so TensorFlow keeps
its 32 steps per call), and ``torch_loop_val_epoch`` the same number of
``epoch_val`` passes right after it; the figure is the median epoch, and
the ratio the median over repeats of the two medians' ratio. The target
line reports both ratios.

Run alone: ``KERAS_BACKEND=jax python benchmarks/lesson_cost.py [--quick]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the shared helpers)

BATCH = 256
RATE = 0.5
LR = 0.1
N_TRAIN, N_VAL = 54_000, 6_000
QUICK_TRAIN, QUICK_VAL = 256, 64
SPE = 32
EPOCHS_IN_FIT = 3  # timed epochs of the steady-state measurement (after one untimed epoch)


def load_data(quick, seed=123):
    """``(x_train, y_train, x_val, y_val, source)``: MNIST from disk, else MNIST-shaped synthetic data."""
    import numpy as np

    source = None
    if not quick:
        try:
            from kreg.data import load

            ds = load("mnist", fallback=None, offline=True, seed=seed, verbose=False)
            x, y, xv, yv = ds.x_train, ds.y_train, ds.x_val, ds.y_val
            x = x.reshape(len(x), 28, 28).astype("float32")
            xv = xv.reshape(len(xv), 28, 28).astype("float32")
            source = f"mnist ({ds.info.source})"
        except Exception:
            source = None
    if source is None:
        n, nv = (QUICK_TRAIN, QUICK_VAL) if quick else (N_TRAIN, N_VAL)
        rng = np.random.default_rng(seed)
        x = rng.random((n, 28, 28), dtype=np.float32)
        xv = rng.random((nv, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, n).astype("int32")
        yv = rng.integers(0, 10, nv).astype("int32")
        source = "synthetic MNIST-shaped (MNIST not on disk)"
    return x, y.astype("int32"), xv, yv.astype("int32"), source


# ------------------------------------------------------------------ hand-written PyTorch
def torch_student(x, y, xv, yv, seed=123):
    """The STAT 453-style PyTorch loop. Returns ``{name: callable running one epoch}``."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, 75), torch.nn.ReLU(), torch.nn.Dropout(RATE),
        torch.nn.Linear(75, 45), torch.nn.ReLU(), torch.nn.Dropout(RATE),
        torch.nn.Linear(45, 10),
    ).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).long().to(dev)
    xvt, yvt = torch.from_numpy(xv).to(dev), torch.from_numpy(yv).long().to(dev)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xt, yt), batch_size=BATCH, shuffle=True)

    def step(xb, yb):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    def sync(loss):
        loss.item()  # the student's loss logging; also waits for a GPU

    def epoch():
        model.train()
        perm = torch.randperm(len(xt), device=dev)
        loss = None
        for i in range(0, len(xt), BATCH):
            idx = perm[i: i + BATCH]
            loss = step(xt[idx], yt[idx])
        sync(loss)

    def validate():
        model.eval()
        with torch.no_grad():
            correct = 0
            for i in range(0, len(xvt), BATCH):
                correct += (model(xvt[i: i + BATCH]).argmax(1) == yvt[i: i + BATCH]).sum()
            return float(correct) / len(xvt)

    def epoch_val():
        epoch()
        validate()

    def epoch_loader():
        model.train()
        loss = None
        for xb, yb in loader:
            loss = step(xb, yb)
        sync(loss)

    return {"torch_loop": epoch, "torch_loop_val": epoch_val, "torch_dataloader": epoch_loader}


# ------------------------------------------------------------------ Keras variants
def keras_variants(backend, x, y, xv, yv, quick, seed=123):
    """``{name: callable running one epoch}`` for the Keras paths, and their descriptions."""
    import keras

    from kreg import layers, models
    from kreg.lesson import Lesson

    def build(**compile_kwargs):
        if quick and backend != "jax":  # the smoke setting skips tracing (eager JAX compiles op by op)
            compile_kwargs["run_eagerly"] = True
        keras.utils.set_random_seed(seed)
        model = models.mlp((28, 28), 10, hidden=models.STAT453_HIDDEN, dropout=RATE,
                           dropout_layer=lambda r: layers.Dropout(r))
        if compile_kwargs.pop("no_metrics", False):
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **compile_kwargs)
            return model
        return models.compile_classifier(model, learning_rate=LR, **compile_kwargs)

    def fit(model, xx=x, yy=y, **kw):
        return lambda: model.fit(xx, yy, epochs=1, batch_size=BATCH, verbose=0, **kw)

    base = build()
    run = Lesson("bench_lesson_cost", title="benchmark", decks="-").start(["--verbose", "0", "--seed", str(seed)])
    harness_model = build()

    def harness():
        run.fit("bench", harness_model, x=x, y=y, validation_data=(xv, yv), epochs=1, batch_size=BATCH)

    class EveryStep(keras.callbacks.Callback):
        """A per-batch hook: the harness then runs one step per call (its TensorFlow fits otherwise run 32)."""

        def on_train_batch_end(self, batch, logs=None):
            pass

    stepwise_model = build()

    def harness_stepwise():
        run.fit("bench", stepwise_model, x=x, y=y, validation_data=(xv, yv), epochs=1, batch_size=BATCH,
                callbacks=[EveryStep()])

    fns = {
        "fit": fit(base),
        "fit_val": fit(build(), validation_data=(xv, yv)),
        "harness": harness,
        "harness_stepwise": harness_stepwise,
        "no_metrics": fit(build(no_metrics=True)),
    }
    desc = {
        "fit": "model.fit(x, y, epochs=1, batch_size=256, verbose=0)",
        "fit_val": "fit + validation_data (6,000 examples, every epoch)",
        "harness": "kreg.lesson Run.fit: validation every epoch + progress callback (TensorFlow: "
                   "32 steps per call)",
        "harness_stepwise": "Run.fit with a per-batch callback: one step per call on every backend "
                            "(the harness before its TensorFlow steps_per_execution)",
        "no_metrics": "fit, compiled without the accuracy metric",
    }
    if backend != "torch":  # Keras: "steps_per_execution must be 1 with the PyTorch backend"
        fns["spe"] = fit(build(steps_per_execution=SPE))
        desc["spe"] = f"fit, compiled with steps_per_execution={SPE}"
    fns["no_jit"] = fit(build(jit_compile=False))
    desc["no_jit"] = "fit, compiled with jit_compile=False" + (" (torch: already the default)" if backend == "torch"
                                                                else "")
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    fns["tensors"] = fit(build(), xt, yt)
    desc["tensors"] = "fit on inputs already converted to backend tensors"

    class EpochTimes(keras.callbacks.Callback):
        """Seconds of every epoch, training and validation (no per-batch hook: TensorFlow keeps 32 steps a call)."""

        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    steady_model = build()

    def harness_epochs(epochs):
        timer = EpochTimes()
        run.fit("bench", steady_model, x=x, y=y, validation_data=(xv, yv), epochs=1 + epochs, batch_size=BATCH,
                callbacks=[timer])
        return timer.times[1:]

    return fns, desc, run, harness_epochs


VAL_VARIANTS = ("fit_val", "harness", "harness_stepwise")


def main(argv=None):
    p = bench.common_parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    backend = bench.select_backend(args.backend)
    import keras

    repeats = args.repeats or (1 if args.quick else 3)
    x, y, xv, yv, source = load_data(args.quick)
    torch_fns = torch_student(x, y, xv, yv)
    keras_fns, desc, run, harness_epochs = keras_variants(backend, x, y, xv, yv, args.quick)
    fns = {**torch_fns, **keras_fns}
    t0 = time.perf_counter()
    load0 = bench.loadavg()
    times, _ = bench.interleaved(fns, repeats=repeats, warmup=0 if args.quick else 1, steps=1)
    epochs = 1 if args.quick else EPOCHS_IN_FIT
    steady = {"harness_epoch": [], "torch_loop_val_epoch": []}
    for _ in range(repeats):  # the steady-state epoch: a multi-epoch fit, then as many PyTorch epochs
        steady["harness_epoch"].append(bench.median(harness_epochs(epochs)))
        loop = []
        for _ in range(epochs):
            t1 = time.perf_counter()
            torch_fns["torch_loop_val"]()
            loop.append(time.perf_counter() - t1)
        steady["torch_loop_val_epoch"].append(bench.median(loop))
    times.update(steady)
    rows = {}
    for name in fns:
        ref = "torch_loop_val" if name in VAL_VARIANTS else "torch_loop"
        rows[name] = {"median_s": bench.median(times[name]), "vs": ref,
                      "ratio_vs_torch": None if name == ref else bench.ratio(times, name, ref),
                      "ratio_vs_fit": None if name.startswith("torch") or name == "fit" else
                      bench.ratio(times, name, "fit"),
                      "description": desc.get(name, "hand-written PyTorch (see module docstring)")}
    rows["torch_loop_val_epoch"] = {"median_s": bench.median(steady["torch_loop_val_epoch"]), "vs": None,
                                    "ratio_vs_torch": None, "ratio_vs_fit": None,
                                    "description": f"torch_loop_val, median of {epochs} epochs after the "
                                                   "harness's fit (steady state)"}
    rows["harness_epoch"] = {"median_s": bench.median(steady["harness_epoch"]), "vs": "torch_loop_val_epoch",
                             "ratio_vs_torch": bench.ratio(steady, "harness_epoch", "torch_loop_val_epoch"),
                             "ratio_vs_fit": None,
                             "description": f"Run.fit(epochs=1+{epochs}): median epoch after the first, "
                                            "training + validation (steady state, no per-fit set-up)"}
    result = {
        "benchmark": "lesson_cost", "backend": backend, "device": bench.backend_device(backend),
        "versions": bench.versions(backend), "loadavg_start": load0, "loadavg_end": bench.loadavg(),
        "settings": {"data": source, "n_train": len(x), "n_val": len(xv), "batch": BATCH, "lr": LR,
                     "model": "784-75-45-10 ReLU, Dropout(0.5) after each hidden layer (kreg.layers.Dropout)",
                     "repeats": repeats, "warmup_epochs": 0 if args.quick else 1, "quick": args.quick,
                     "steps_per_execution_tried": SPE, "keras_jit_compile": "auto unless stated",
                     "epochs_in_fit": epochs,
                     "torch_threads": _torch_threads()},
        "times_s": times, "rows": rows, "wall_s": round(time.perf_counter() - t0, 1),
    }
    return bench.emit(args, result, table)


def _torch_threads():
    import torch

    return torch.get_num_threads()


def table(result):
    lines = [f"  [{result['backend']} on {result['device']}, load {result['loadavg_start']} -> "
             f"{result['loadavg_end']}; {result['settings']['data']}, {result['settings']['n_train']} examples]"]
    lines.append(f"  {'variant':18} {'epoch (median)':>15} {'/ PyTorch loop':>15} {'/ fit':>7}  what")
    for name, r in result["rows"].items():
        vs = "" if r["ratio_vs_torch"] is None else (
            f"{bench.fmt_ratio(r['ratio_vs_torch'])}" + (" (val)" if r["vs"] == "torch_loop_val" else ""))
        lines.append(f"  {name:18} {bench.fmt_time(r['median_s']):>15} {vs:>15} "
                     f"{bench.fmt_ratio(r['ratio_vs_fit']):>7}  {r['description']}")
    for name, what in (("harness", "a one-epoch fit"), ("harness_epoch", "an epoch within a fit")):
        if name not in result["rows"]:  # results written before the steady-state rows existed
            continue
        harness = result["rows"][name]["ratio_vs_torch"]
        verdict = "PASS" if harness <= 1.5 else "MISS"
        extra = ""
        if result["backend"] == "jax":
            extra = f"; JAX faster than PyTorch: {'PASS' if harness < 1.0 else 'MISS'}"
        lines.append(f"  target harness / PyTorch loop with validation <= 1.5x, {what}: {verdict} "
                     f"({bench.fmt_ratio(harness)}){extra}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
