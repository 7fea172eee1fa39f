"""The lesson harness: command line, seeding, progress, recording, claims.

Every script in ``lessons/`` is built on it::

    from kreg.lesson import Lesson

    LESSON = Lesson("l10_dropout", title="Dropout", decks="000 §5, 002, 004",
                    dataset="mnist", fallback="digits", epochs=50)

    def main(argv=None):
        run = LESSON.start(argv)          # parses flags, THEN imports keras
        data = run.load_data()
        history = run.fit("no dropout", model, data, batch_size=256)
        run.claim("dropout narrows the gap", holds=gap1 < gap0,
                  evidence=f"{gap0:.1%} vs {gap1:.1%}")
        run.figure("curves", fig)
        return run.finish()               # writes results.json + PNGs, prints verdicts

Flags common to every lesson: ``--backend --dataset --epochs --quick --seed
--out --verbose``. They are parsed *before* Keras is imported, so
``--backend`` can still set ``KERAS_BACKEND`` (Keras fixes its backend at
import). If Keras was already imported with another backend (e.g. a test
running a lesson in-process) ``--backend`` raises instead of silently
running on the wrong one.

Nothing is written until :meth:`Run.finish`: figures are rendered to memory
and ``results.json`` and the PNGs are written through a temporary file and
``os.replace``, so a lesson interrupted with Ctrl-C (or failing) leaves the
previous complete results, never half-written ones.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

__all__ = ["Lesson", "Run", "write_json_atomic", "bad_flag", "BACKENDS"]

BACKENDS = ("tensorflow", "jax", "torch")
_BACKEND_DIST = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def write_json_atomic(path, obj):
    """Write ``obj`` as JSON to ``path`` via a temp file in the same folder + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_jsonable(obj), indent=2, allow_nan=False)
    _write_bytes_atomic(path, (text + "\n").encode())


def _write_bytes_atomic(path, data):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(obj):
    """Plain-JSON version of ``obj``: numpy scalars/arrays to Python, NaN/inf to strings."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)  # "nan", "inf", "-inf"
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, backend tensors via numpy
        return _jsonable(obj.tolist())
    try:
        return _jsonable(float(obj))
    except (TypeError, ValueError):
        return repr(obj)


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class Lesson:
    """Static description of a lesson; :meth:`start` parses flags and returns a :class:`Run`.

    Args:
        name: script name without ``.py`` (``"l10_dropout"``); default output
            folder is ``runs/<name>/<backend>/``.
        title: one line shown at the top of the output.
        decks: which decks / sections the lesson reproduces.
        dataset: the lecture's dataset (default of ``--dataset``).
        fallback: the embedded dataset used offline.
        epochs: default number of epochs.
        quick_epochs: epochs under ``--quick``.
        quick_train: training examples kept under ``--quick`` (stratified).
        quick_steps: ``keras.config.set_max_steps_per_epoch`` under ``--quick``.
        reference: what the default run reproduces (e.g. the STAT 453 numbers).
        add_arguments: optional ``f(parser)`` adding lesson-specific flags.
        check_args: optional ``f(args)`` that raises ``ValueError`` on bad
            lesson-specific values; it runs before Keras is imported, so bad
            input is rejected before any training starts.
    """

    def __init__(
        self,
        name,
        *,
        title,
        decks,
        dataset="mnist",
        fallback="digits",
        epochs=10,
        quick_epochs=2,
        quick_train=256,
        quick_steps=4,
        reference=None,
        add_arguments=None,
        check_args=None,
    ):
        self.name = name
        self.title = title
        self.decks = decks
        self.dataset = dataset
        self.fallback = fallback
        self.epochs = epochs
        self.quick_epochs = quick_epochs
        self.quick_train = quick_train
        self.quick_steps = quick_steps
        self.reference = reference
        self.add_arguments = add_arguments
        self.check_args = check_args

    def parser(self):
        from kreg.data.datasets import DATASETS

        p = argparse.ArgumentParser(
            prog=f"{self.name}.py",
            description=f"{self.title} (decks {self.decks})",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        p.add_argument("--backend", choices=BACKENDS, default=None,
                       help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
        p.add_argument("--dataset", choices=DATASETS, default=self.dataset,
                       help=f"dataset; offline the lesson falls back to {self.fallback!r}")
        p.add_argument("--epochs", type=_positive_int, default=None,
                       help=f"epochs per run (default {self.epochs}, {self.quick_epochs} with --quick)")
        p.add_argument("--quick", action="store_true",
                       help="tiny setting for smoke tests: few epochs, a small subset, few steps")
        p.add_argument("--seed", type=_nonneg_int, default=123, help="random seed (STAT 453 uses 123)")
        p.add_argument("--out", type=Path, default=None, help="output folder (default runs/<lesson>/<backend>)")
        p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0: claims only, 1: one progress line per epoch, 2: also Keras's own output")
        if self.add_arguments is not None:
            self.add_arguments(p)
        return p

    def start(self, argv=None):
        """Parse ``argv``, choose the backend, import Keras, seed, and return a :class:`Run`."""
        args = self.parser().parse_args(argv)
        if self.check_args is not None:
            self.check_args(args)
        _select_backend(args.backend)
        return Run(self, args)


def bad_flag(name, value, expected):
    """The ``ValueError`` for a bad lesson flag, in Keras's wording.

    ``name`` is the flag's destination (``"mc_samples"``) or its spelling
    without dashes (``"mc-samples"``)::

        Invalid value received for argument `--mc-samples`. Expected a positive
        integer. Received: mc_samples=0
    """
    flag = name.replace("_", "-")
    return ValueError(f"Invalid value received for argument `--{flag}`. Expected {expected}. "
                      f"Received: {flag.replace('-', '_')}={value!r}")


def _positive_int(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return v


def _nonneg_int(text):
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, received {text!r}")
    return v


def _select_backend(backend):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if "keras" in sys.modules:
        import keras

        if backend is not None and keras.backend.backend() != backend:
            raise RuntimeError(
                f"--backend {backend} requested, but Keras is already imported with backend "
                f"{keras.backend.backend()!r} in this process. Keras fixes its backend at import: "
                f"run the lesson in a new process (or set KERAS_BACKEND before importing keras)."
            )
        return
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend


class Run:
    """One execution of a lesson: data, fits, metrics, claims, figures, results."""

    def __init__(self, lesson, args):
        import keras

        self.lesson = lesson
        self.args = args
        self.keras = keras
        self.backend = keras.backend.backend()
        self.quick = bool(args.quick)
        self.epochs = args.epochs or (lesson.quick_epochs if self.quick else lesson.epochs)
        self.seed = args.seed
        self.verbose = args.verbose
        self.out = Path(args.out) if args.out else Path("runs") / lesson.name / self.backend
        self._t0 = time.perf_counter()
        self._started = _dt.datetime.now(_dt.timezone.utc)
        self._figures = {}
        self._run_count = 0
        self.total_runs = None
        self._prev_max_steps = keras.config.max_steps_per_epoch()
        if self.quick:
            import warnings

            keras.config.set_max_steps_per_epoch(lesson.quick_steps)
            warnings.filterwarnings("ignore", message="Limiting steps_per_epoch")
            warnings.filterwarnings("ignore", message="Your input ran out of data")
        keras.utils.set_random_seed(self.seed)
        self.results = {
            "lesson": lesson.name,
            "title": lesson.title,
            "decks": lesson.decks,
            "reference": lesson.reference,
            "config": {k: v for k, v in vars(args).items()} | {"epochs": self.epochs},
            "backend": self.backend,
            "versions": self._versions(),
            "device": _device(self.backend),
            "dataset": {},
            "runs": {},
            "metrics": {},
            "claims": [],
            "figures": [],
        }
        self.say(f"== {lesson.name}: {lesson.title}  [decks {lesson.decks}]")
        self.say(f"   backend {self.backend} ({self.results['device']}), seed {self.seed}, "
                  f"epochs {self.epochs}{', QUICK mode' if self.quick else ''}")

    # ------------------------------------------------------------------ helpers
    def say(self, text, level=1):
        """Print a progress line (shown at ``--verbose`` >= ``level``)."""
        if self.verbose >= level:
            print(text, flush=True)

    def _versions(self):
        v = {"python": platform.python_version(), "keras": _version("keras"), "numpy": _version("numpy"),
             "kreg": _version("kreg")}
        v[self.backend] = _version(_BACKEND_DIST[self.backend])
        return v

    def pick(self, full, quick):
        """``quick`` under ``--quick``, else ``full``."""
        return quick if self.quick else full

    def reseed(self, offset=0):
        """Reset every RNG (Python, numpy, backend) to ``seed + offset``."""
        self.keras.utils.set_random_seed(self.seed + offset)

    def config(self, **entries):
        """Record lesson-specific settings in ``results["config"]``."""
        self.results["config"].update(entries)

    # --------------------------------------------------------------------- data
    def load_data(self, name=None, *, fallback=None, n_train=None, val_fraction=0.1, **kwargs):
        """``kreg.data.load`` with the lesson's defaults, recorded in results.json.

        Under ``--quick`` the training set is cut to ``quick_train`` examples
        (stratified) unless ``n_train`` is given. ``n_train`` may also be a
        dict keyed by the dataset actually used (``{"mnist": 1000, "digits":
        100}``), so a lesson can size its subset for the lecture data and for
        the offline fallback while loading the data once; a missing key keeps
        the whole training split.
        """
        from kreg.data import load

        name = name or self.args.dataset
        if n_train is None and self.quick:
            n_train = self.lesson.quick_train
        fallback = fallback or self.lesson.fallback
        ds = load(name, fallback=fallback, val_fraction=val_fraction, seed=self.seed, verbose=True, **kwargs)
        if isinstance(n_train, dict):
            n_train = n_train.get(ds.info.name)
        if n_train is not None and n_train < len(ds.x_train):
            from kreg.data import stratified_subset

            idx = stratified_subset(ds.y_train if ds.info.task == "classification" else None, n_train,
                                    seed=self.seed, n=len(ds.x_train))
            ds.x_train, ds.y_train = ds.x_train[idx], ds.y_train[idx]
        entry = ds.info.to_dict() | {"sizes": ds.sizes()}
        self.results["dataset"][name] = entry
        used = ds.info.name if not ds.info.fell_back else f"{ds.info.name} (FALLBACK from {name})"
        self.say(f"   data: {used}, {ds.sizes()}, source: {ds.info.source}")
        return ds

    # --------------------------------------------------------------- training
    def fit(self, label, model, data=None, *, x=None, y=None, validation_data=None, epochs=None,
            batch_size=256, callbacks=(), **fit_kwargs):
        """``model.fit`` with a progress line per epoch; the history is recorded under ``label``.

        Pass either ``data`` (a :class:`kreg.data.Dataset`: its train split is
        fitted and its validation split monitored) or ``x``/``y`` and
        ``validation_data``. Returns the ``History``.
        """
        if data is not None:
            x, y = data.x_train, data.y_train
            if validation_data is None and len(data.x_val):
                validation_data = (data.x_val, data.y_val)
        epochs = epochs or self.epochs
        self._run_count += 1
        progress = _progress(self, label, self._run_count, self.total_runs, epochs)
        t0 = time.perf_counter()
        history = model.fit(x, y, validation_data=validation_data, epochs=epochs, batch_size=batch_size,
                            callbacks=[*callbacks, progress], verbose=2 if self.verbose >= 2 else 0,
                            **fit_kwargs)
        wall = time.perf_counter() - t0
        self.results["runs"][label] = {"history": dict(history.history), "epochs": len(history.epoch),
                                       "batch_size": batch_size, "wall_s": round(wall, 3)}
        return history

    def evaluate(self, model, x, y, *, batch_size=1024):
        """``model.evaluate`` as a dict of floats."""
        out = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {k: float(v) for k, v in out.items()}

    def metric(self, key, value):
        """Record a final number in ``results["metrics"]``; returns it."""
        self.results["metrics"][key] = value
        return value

    # ----------------------------------------------------------------- claims
    def claim(self, text, *, holds, evidence, **numbers):
        """Record the verdict on one of the lecture's claims, backed by numbers.

        ``holds`` must come from measured numbers (never a constant);
        ``evidence`` is the short human-readable comparison printed after
        the verdict; ``numbers`` are stored in results.json.
        """
        holds = bool(holds)
        self.results["claims"].append({"claim": text, "holds": holds, "evidence": evidence, "numbers": numbers})
        return holds

    def figure(self, name, fig):
        """Render a matplotlib figure to PNG in memory (written by :meth:`finish`) and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        self._figures[f"{name}.png"] = buf.getvalue()

    # ----------------------------------------------------------------- finish
    def finish(self):
        """Write the PNGs and results.json atomically, print the verdicts, return the results dict."""
        self.keras.config.set_max_steps_per_epoch(self._prev_max_steps)
        wall = time.perf_counter() - self._t0
        self.results["wall_time_s"] = round(wall, 2)
        self.results["started_at"] = self._started.isoformat(timespec="seconds")
        self.results["figures"] = sorted(self._figures)
        self.out.mkdir(parents=True, exist_ok=True)
        for fname, data in self._figures.items():
            _write_bytes_atomic(self.out / fname, data)
        write_json_atomic(self.out / "results.json", self.results)
        fell_back = [d for d in self.results["dataset"].values() if d.get("fallback_reason")]
        print("")
        print(f"== {self.lesson.name} on {self.backend}: {wall:.1f} s; results in {self.out}/results.json"
              f" ({len(self._figures)} figure{'s' if len(self._figures) != 1 else ''})")
        for d in fell_back:
            print(f"   NOTE: ran on the embedded {d['name']!r} data, not {d['requested']!r} "
                  f"({d['fallback_reason']})")
        for c in self.results["claims"]:
            verdict = "holds" if c["holds"] else "DOES NOT HOLD"
            print(f"CLAIM {verdict}: {c['claim']} ({c['evidence']})")
        return self.results


def _progress(run, label, k, total, epochs):
    """A callback printing ``[run k/N label] epoch e/E  loss .. accuracy ..`` once per epoch.

    Built inside a function because Keras is imported only after the flags
    are parsed.
    """
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if run.verbose < 1 or run.verbose >= 2:
                return
            logs = logs or {}
            parts = []
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if key in logs:
                    v = float(logs[key])
                    parts.append(f"{key} {v:.2%}" if "accuracy" in key else f"{key} {v:.4f}")
            of = f"/{total}" if total else ""
            print(f"   [run {k}{of} {label}] epoch {epoch + 1}/{epochs}  " + "  ".join(parts)
                  + f"  ({time.perf_counter() - self._t:.1f}s)", flush=True)

    return Progress()


def _device(backend):
    """Best-effort name of the device the backend computes on."""
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            return f"{d.platform}:{getattr(d, 'device_kind', d.platform)}"
        if backend == "torch":
            import torch

            return f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return f"gpu:{gpus[0].name}" if gpus else "cpu"
    except Exception as e:  # never fail a lesson over a device name
        return f"unknown ({type(e).__name__})"
    return "unknown"
