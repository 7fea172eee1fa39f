"""The lesson harness: command line, seeding, replicates, caching, claims, results.

A lesson is a jupytext "percent" script that reads like its slide::

    # %% [markdown]
    # # Dropout ... (the slide's statement and formulas)

    # %%
    from kreg.lesson import Lesson

    LESSON = Lesson("l10_dropout", title="Dropout", decks="000 §5, 004",
                    epochs=50, seeds=5, margins={"gap": 0.005})
    run = LESSON.start()                  # parses flags (argv or $KREG_ARGS), THEN imports keras
    data = run.load_data()

    # %%
    model = build()                       # built once per arm, reset for every replicate
    arm = run.replicates("dropout 0.5", model, data, measure=scores, batch_size=256)

    # %%
    gap = run.estimate(lambda m: ..., {("dropout", "val"): arm["val_correct"], ...})
    run.claim("dropout narrows the train-val gap", gap, direction="greater", margin="gap", unit="pp")
    results = run.finish()                # writes results.json + PNGs, prints the verdicts

**Replicates.** ``--seeds K`` trains every arm under seeds ``seed, seed+1,
..., seed+K-1``. Replicate ``i`` of every arm starts from the same draw of
initial weights where the shapes allow (each layer's initializer is re-drawn
with a seed made from ``seed + i`` and the layer's position among the
layers with weights, so adding a Dropout layer does not shift the draws),
its dropout masks come from ``seed + i``, and it sees the same data order
(the global seeds are reset to ``seed + i`` before ``fit``). The data
splits never depend on the seed. One model per arm is built and compiled
once, then reset (weights, optimizer state, mask seeds) for each
replicate: under JAX a new model would compile its train step again.

**Cache.** Each finished replicate is written atomically to
``<out>/cache/``, keyed by lesson, arm, seed, backend, the run's and arm's
configuration, the dataset, and a hash of the lesson's and kreg's source.
A rerun with more seeds reuses the finished ones; an interrupted run
resumes; any change of code or configuration ignores the old entries.
``--no-cache`` retrains everything.

**Several devices.** ``--devices N|all`` splits every ``fit``'s batch over
``N`` devices (``--spread batch``, :mod:`kreg.distribution`), or, with
``--spread seeds``, trains the replicate seeds side by side, one process a
device, handing finished replicates over through the cache
(:mod:`kreg._spread`). Either way the verdicts are computed as on one device.

**Claims.** :meth:`Run.claim` decides a lecture's claim from an
:class:`kreg.stats.Estimate` with a direction and a margin (see
:mod:`kreg.stats` for the interval and the three outcomes). ``--quick``
never decides an empirical claim: it prints ``inconclusive (quick
setting)`` with the numbers. :meth:`Run.exact` checks a deterministic
identity against a printed float tolerance, :meth:`Run.demonstrate` prints
numbers that are certain by mathematics (no verdict), and
:meth:`Run.reference` sets a STAT 453 number beside the measured one.

Flags common to every lesson: ``--backend --dataset --epochs --seeds --quick
--seed --margin --devices --spread --out --no-cache --verbose``. They are parsed *before* Keras
is imported, so ``--backend`` can still set ``KERAS_BACKEND``. In a notebook
the flags take their defaults, or the values in ``$KREG_ARGS``
(``KREG_ARGS="--seeds 3 --backend jax"``); on the command line
``$KREG_ARGS`` comes first and the command line's flags win.

Nothing half-written is left behind: results.json, the PNGs and every cache
entry go through a temporary file and ``os.replace``.

Lessons written before this harness (``def main(argv)`` with
``run.fit``/``run.claim(holds=...)``) keep working: their boolean claims are
printed as before, except that ``--quick`` never decides them either.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["Lesson", "Run", "Replicates", "write_json_atomic", "bad_flag", "shuffled_batches", "validation_batches",
           "BACKENDS", "SPLIT_SEED"]

BACKENDS = ("tensorflow", "jax", "torch")
_BACKEND_DIST = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: Seed of every data split (validation split, --quick subset): fixed, so the
#: test and validation sets never depend on ``--seed`` or the replicate.
SPLIT_SEED = 0
#: Arrays up to this many numbers are copied into results.json; larger ones
#: (per-example arrays) are kept in the cache and summarized by their mean.
_MAX_JSON_ARRAY = 256
_WEIGHT_KEY = "__weight_"
#: Steps per call of the compiled train function in the harness's fits under TensorFlow
#: (:meth:`Run._steps_per_execution`); 32 as in ``benchmarks/lesson_cost.py``.
TF_STEPS_PER_EXECUTION = 32


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
        fallback: the embedded dataset used offline (real MNIST digits,
            ``"mnist5k"``, for the MNIST lessons).
        epochs: default number of epochs.
        seeds: default number of replicate seeds ``K`` (fixed in the lesson,
            before looking at any verdict).
        margins: ``{name: margin}``, each claim's margin in the units of its
            effect, fixed in the lesson before looking at any verdict;
            ``--margin name=value`` overrides one (for exploring, not for
            the recorded verdicts).
        quick_epochs: epochs under ``--quick``.
        quick_seeds: replicate seeds under ``--quick``.
        quick_train: training examples kept under ``--quick`` (stratified).
        quick_steps: ``keras.config.set_max_steps_per_epoch`` under ``--quick``.
        reference: what the default run reproduces (e.g. the STAT 453 numbers).
        add_arguments: optional ``f(parser)`` adding lesson-specific flags.
        check_args: optional ``f(args)`` that raises ``ValueError`` on bad
            lesson-specific values; it runs before Keras is imported, so bad
            input is rejected before any training starts.
        source: the lesson's file, hashed into the replicate cache's key
            (default: the file that constructs the ``Lesson``).
    """

    def __init__(
        self,
        name,
        *,
        title,
        decks,
        dataset="mnist",
        fallback="mnist5k",
        epochs=10,
        seeds=1,
        margins=None,
        quick_epochs=2,
        quick_seeds=2,
        quick_train=256,
        quick_steps=4,
        reference=None,
        add_arguments=None,
        check_args=None,
        source=None,
    ):
        self.name = name
        self.title = title
        self.decks = decks
        self.dataset = dataset
        self.fallback = fallback
        self.epochs = epochs
        self.seeds = _check_count("seeds", seeds)
        self.margins = dict(margins or {})
        for key, value in self.margins.items():
            _check_margin(key, value)
        self.quick_epochs = quick_epochs
        self.quick_seeds = _check_count("quick_seeds", quick_seeds)
        self.quick_train = quick_train
        self.quick_steps = quick_steps
        self.reference = reference
        self.add_arguments = add_arguments
        self.check_args = check_args
        if source is None:
            source = sys._getframe(1).f_globals.get("__file__")
        self.source = source

    def parser(self):
        from kreg.data.datasets import DATASETS

        p = _Parser(
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
        p.add_argument("--seeds", type=int, default=None,
                       help=f"replicate seeds K per compared configuration (default {self.seeds}, "
                       f"{self.quick_seeds} with --quick); replicate i uses seed + i")
        p.add_argument("--quick", action="store_true",
                       help="tiny setting for smoke tests: few epochs, a small subset, few steps; "
                       "never decides a claim")
        p.add_argument("--seed", type=_nonneg_int, default=123, help="base random seed (STAT 453 uses 123)")
        p.add_argument("--margin", action="append", default=[], metavar="NAME=VALUE",
                       help="override a claim's margin (declared: "
                       + (", ".join(f"{k}={v:g}" for k, v in self.margins.items()) or "none") + ")")
        p.add_argument("--devices", type=_devices_flag, default=1, metavar="N|all",
                       help="data parallelism over N devices (or all): keras.distribution.DataParallel on JAX, "
                       "tf.distribute.MirroredStrategy on TensorFlow; PyTorch stays on one device (Keras 3.15). "
                       "Batch sizes stay global")
        p.add_argument("--spread", choices=("batch", "seeds"), default="batch",
                       help="with --devices N > 1: 'batch' splits every fit's batch over the devices (data "
                       "parallel); 'seeds' trains whole replicate seeds side by side, one process a device "
                       "(any backend; needs the replicate cache)")
        p.add_argument("--group-seeds", action="store_true",
                       help="train an arm's replicate seeds as one Keras model with a branch per seed (one train "
                       "step per batch for all of them: x0.75-0.92 of the training time on a 2-core CPU, "
                       "benchmarks/group_seeds.py). Every seed then sees "
                       "the same data order, the base seed's; arms that fit with callbacks or a `work` function "
                       "still train one seed at a time")
        p.add_argument("--out", type=Path, default=None, help="output folder (default runs/<lesson>/<backend>)")
        p.add_argument("--no-cache", action="store_true",
                       help="retrain every replicate instead of reusing finished ones from <out>/cache")
        p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0: claims only, 1: one line per trained model, 2: also one per epoch and Keras's output")
        if self.add_arguments is not None:
            self.add_arguments(p)
        return p

    def parse(self, argv=None):
        """Parse and check the flags (nothing is imported or trained); returns the namespace.

        With ``argv=None`` the flags come from ``$KREG_ARGS`` followed by the
        command line, or from ``$KREG_ARGS`` alone inside a notebook kernel.
        """
        env = os.environ.get("KREG_ARGS", "")
        try:
            env_argv = shlex.split(env)
        except ValueError as e:
            raise ValueError(f"Invalid value received for argument `KREG_ARGS`. Expected flags as on the command "
                             f"line ({e}). Received: KREG_ARGS={env!r}") from None
        if argv is None:
            argv = env_argv + ([] if _in_notebook() else sys.argv[1:])
        argv = [str(a) for a in argv]
        parser = self.parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            flag = next((u for u in unknown if u.startswith("-")), unknown[0])
            where = " (from $KREG_ARGS)" if any(u in env_argv for u in unknown) else ""
            known = sorted({o for a in parser._actions for o in a.option_strings if o.startswith("--")})
            raise ValueError(f"Invalid value received for argument `{flag}`{where}: unknown flag or stray value. "
                             f"Expected one of {', '.join(known)}. Received: {' '.join(unknown)!r}")
        if args.seeds is not None and args.seeds < 1:
            raise bad_flag("seeds", args.seeds, "a positive integer (replicate seeds)")
        margins = dict(self.margins)
        for item in args.margin:
            name, sep, value = item.partition("=")
            if not sep or name not in self.margins:
                raise bad_flag("margin", item, f"NAME=VALUE with NAME one of {sorted(self.margins)}")
            try:
                margin = float(value)
            except ValueError:
                raise bad_flag("margin", item, "NAME=VALUE with VALUE a number >= 0") from None
            if not math.isfinite(margin) or margin < 0:
                raise bad_flag("margin", item, "NAME=VALUE with VALUE a number >= 0")
            margins[name] = margin
        args.margins = margins
        if args.spread == "seeds" and args.no_cache:
            raise bad_flag("spread", "seeds", "--spread batch with --no-cache: the processes of --spread seeds "
                           "hand finished replicates to each other through the replicate cache")
        if args.group_seeds and (args.spread == "seeds" or args.devices != 1):
            raise bad_flag("group-seeds", True, "one device: drop --group-seeds, or --devices/--spread (it groups "
                           f"seeds inside one model on one device; received --devices {args.devices} --spread "
                           f"{args.spread})")
        args._argv = list(argv)
        if self.check_args is not None:
            self.check_args(args)
        return args

    def start(self, argv=None):
        """Parse and check the flags, choose the backend, import Keras, seed, and return a :class:`Run`."""
        args = self.parse(argv)
        _select_backend(args.backend)
        return Run(self, args)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad value raises a Keras-style ``ValueError`` naming the flag (no ``SystemExit``)."""

    def error(self, message):
        import re

        m = re.match(r"argument (\S+?)(?:/\S+)?: (.*)", message)
        if m:
            flag, why = m.groups()
            raise ValueError(f"Invalid value received for argument `{flag}`: {why}.")
        raise ValueError(f"Invalid lesson flags: {message}.")


def _in_notebook():
    """True inside a Jupyter/IPython kernel, whose ``sys.argv`` are the kernel's own, not the lesson's."""
    return "ipykernel" in sys.modules or os.path.basename(sys.argv[0] if sys.argv else "").startswith("ipykernel")


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid value received for argument `{name}`. Expected a positive integer. "
                         f"Received: {name}={value!r}")
    return value


def _check_margin(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid value received for argument `margins`. Expected a number >= 0 for "
                         f"margin {name!r}. Received: margins[{name!r}]={value!r}")


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


def _devices_flag(text):
    if text == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer or "all", got {text!r}')
    return value


def _nonneg_int(text):
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, received {text!r}")
    return v


def _quiet_tensorflow_logs():
    """Keep TensorFlow's C++/absl start-up lines (oneDNN, CUDA stubs, cpu features) out of the console."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def _select_backend(backend):
    _quiet_tensorflow_logs()
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


def _code_hash(source):
    """sha256 of the lesson's source and of every module of kreg: a change of code invalidates the cache."""
    h = hashlib.sha256()
    files = sorted(Path(__file__).resolve().parent.rglob("*.py"))
    if source and Path(source).is_file():
        files.append(Path(source))
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _slug(text):
    import re

    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "arm"


class Replicates:
    """What one arm measured under each replicate seed (returned by :meth:`Run.replicates`).

    ``reps["val_correct"]`` stacks the replicates' values of a measured key
    along a first axis of size ``K``; ``reps.histories[i]`` is replicate
    ``i``'s ``History.history`` dict (empty when the work did not fit);
    ``reps.seeds`` the seeds used.
    """

    def __init__(self, arm, seeds, records, histories):
        self.arm = arm
        self.seeds = list(seeds)
        self.records = list(records)
        self.histories = list(histories)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, key):
        try:
            return np.stack([np.asarray(r[key], dtype=np.float64) for r in self.records])
        except KeyError:
            raise KeyError(f"{key!r} was not measured for arm {self.arm!r}; "
                           f"measured: {sorted(self.records[0]) if self.records else []}") from None

    def keys(self):
        return [k for k in self.records[0] if not k.startswith(_WEIGHT_KEY)] if self.records else []

    def load_weights(self, model, i):
        """Set ``model``'s weights to replicate ``i``'s trained ones (``replicates(..., keep_weights=True)``)."""
        record = self.records[i]
        n = sum(k.startswith(_WEIGHT_KEY) for k in record)
        if n == 0:
            raise ValueError(f"arm {self.arm!r} kept no weights: pass keep_weights=True to Run.replicates")
        model.set_weights([np.asarray(record[f"{_WEIGHT_KEY}{j}"]) for j in range(n)])

    def mean(self, key):
        """Mean over replicates (and over examples, for per-example arrays)."""
        return float(np.mean(self[key]))

    def history(self, key):
        """``(K, epochs)`` array of one history key (replicates with fewer epochs padded with NaN)."""
        rows = [np.asarray(h.get(key, []), dtype=np.float64) for h in self.histories]
        width = max((len(r) for r in rows), default=0)
        return np.stack([np.pad(r, (0, width - len(r)), constant_values=np.nan) for r in rows])


class Run:
    """One execution of a lesson: data, replicates, metrics, claims, figures, results."""

    def __init__(self, lesson, args):
        import contextlib

        from kreg.data.datasets import _quiet_tensorflow

        # Keras's set_random_seed imports TensorFlow (for tf.data's seed) whenever it is installed, and
        # TensorFlow 2.21 prints absl/oneDNN/CUDA-stub lines from C++ at import that no environment
        # variable silences: under JAX or PyTorch, keep them out of the lesson's console.
        quiet = _quiet_tensorflow() if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" \
            else contextlib.nullcontext()
        with quiet:
            import keras

            keras.utils.set_random_seed(args.seed)
        self.lesson = lesson
        self.args = args
        self.keras = keras
        self.backend = keras.backend.backend()
        self.quick = bool(args.quick)
        self.epochs = args.epochs or (lesson.quick_epochs if self.quick else lesson.epochs)
        self.n_seeds = args.seeds or (lesson.quick_seeds if self.quick else lesson.seeds)
        self.seed = args.seed
        self.seeds = [self.seed + i for i in range(self.n_seeds)]
        self.margins = dict(getattr(args, "margins", lesson.margins))
        self.verbose = args.verbose
        self.out = Path(args.out) if args.out else Path("runs") / lesson.name / self.backend
        self.use_cache = not getattr(args, "no_cache", False)
        self._code = None
        self._t0 = time.perf_counter()
        self._started = _dt.datetime.now(_dt.timezone.utc)
        self._figures = {}
        self._run_count = 0
        self._snapshots = {}
        self._built = set()
        self._spe_models = set()
        self._spe_functions = {}  # id(model) -> (compile token, {steps_per_execution: compiled functions})
        self._groups = {}
        self.group_seeds = bool(getattr(args, "group_seeds", False))
        self.total_runs = None
        self._prev_max_steps = keras.config.max_steps_per_epoch()
        if self.quick:
            import warnings

            keras.config.set_max_steps_per_epoch(lesson.quick_steps)
            warnings.filterwarnings("ignore", message="Limiting steps_per_epoch")
            warnings.filterwarnings("ignore", message="Your input ran out of data")
        keras.utils.set_random_seed(self.seed)
        # data parallelism for every model built and fitted from here on (kreg.distribution); the block is
        # closed in finish()
        from kreg import distribution

        from kreg import _spread

        requested = getattr(args, "devices", 1)
        spread = getattr(args, "spread", "batch")
        self.cache_dir = self.out / "cache"
        self._shard = (0, 1)  # (this process's share k, processes N): replicate i is trained where i % N == k
        self._parent_pid = None
        self._workers = None
        worker = _spread.shard_from_env()
        if worker is not None:  # a copy started by --spread seeds: train a share, read the rest from the cache
            k, n, self.cache_dir, self._parent_pid = worker
            self._shard = (k, n)
        spread_over = 1
        if spread == "seeds":
            available = _spread.count_devices(self.backend)
            if requested == "all":
                spread_over = available
            elif requested > available:
                raise bad_flag("devices", requested, f"at most the {available} device(s) {self.backend} sees "
                               "(--spread seeds)")
            else:
                spread_over = requested
            spread_over = min(spread_over, self.n_seeds)
            self._distribution = distribution.data_parallel(1)
        else:
            self._distribution = distribution.data_parallel(requested)
        self.devices = self._distribution.__enter__()
        config = {k: v for k, v in vars(args).items() if k not in ("margin", "margins") and not k.startswith("_")}
        self.results = {
            "lesson": lesson.name,
            "title": lesson.title,
            "decks": lesson.decks,
            "reference": lesson.reference,
            "config": config | {"epochs": self.epochs, "seeds": self.n_seeds, "margins": self.margins},
            "backend": self.backend,
            "versions": self._versions(),
            "device": _device(self.backend),
            "devices": {"requested": requested, "used": max(self.devices, spread_over), "spread": spread,
                        "engine": ("one process a device, replicate seeds side by side (kreg._spread)"
                                   if spread_over > 1 else None) if spread == "seeds" else
                        None if self.devices == 1 else
                        {"jax": "keras.distribution.DataParallel",
                         "tensorflow": "tf.distribute.MirroredStrategy"}[self.backend]},
            "dataset": {},
            "runs": {},
            "replicates": {},
            "metrics": {},
            "claims": [],
            "demonstrations": [],
            "references": [],
            "figures": [],
        }
        self.say(f"== {lesson.name}: {lesson.title}  [decks {lesson.decks}]")
        if self.devices > 1:
            self.say(f"   data parallel over {self.devices} devices ({self.results['devices']['engine']}); "
                     "batch sizes are global")
        elif spread_over > 1:
            self.say(f"   replicate seeds spread over {spread_over} devices, one process each (--spread seeds): "
                     f"seed i is trained by process i mod {spread_over}; every fit runs on one device")
        elif spread == "seeds" and requested != 1:
            self.say("   --spread seeds: one device here, nothing to spread")
        elif requested != 1 and self.backend == "torch":
            self.say("   --devices: Keras 3.15 has no data parallelism for PyTorch; running on one device")
        self.say(f"   backend {self.backend} ({self.results['device']}), seeds {self.seeds[0]}"
                 f"{'..' + str(self.seeds[-1]) if self.n_seeds > 1 else ''} ({self.n_seeds} replicate"
                 f"{'s' if self.n_seeds != 1 else ''}), epochs {self.epochs}"
                 f"{', QUICK mode (claims are not decided)' if self.quick else ''}")
        if self.group_seeds:
            self.say("   --group-seeds: an arm's seeds train as one model, a branch per seed, all on the base "
                     "seed's data order")
        if spread_over > 1 and worker is None:
            self._workers = _spread.Workers(lesson.source, getattr(args, "_argv", []), spread_over, self.cache_dir,
                                            self.out, _spread.device_slots(self.backend, spread_over))
            self._shard = (0, spread_over)

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
        """Record lesson-specific settings in ``results["config"]`` (they also key the replicate cache)."""
        self.results["config"].update(entries)

    def margin(self, name):
        """The margin declared as ``name`` (after any ``--margin`` override)."""
        try:
            return self.margins[name]
        except KeyError:
            raise KeyError(f"margin {name!r} is not declared in Lesson(margins=...): "
                           f"declared {sorted(self.margins)}") from None

    # --------------------------------------------------------------------- data
    def load_data(self, name=None, *, fallback=None, n_train=None, val_fraction=0.1, **kwargs):
        """``kreg.data.load`` with the lesson's defaults, recorded in results.json.

        The splits never depend on ``--seed``: the validation split and the
        ``--quick`` subset are drawn with the fixed :data:`SPLIT_SEED`.
        Under ``--quick`` the training set is cut to ``quick_train`` examples
        (stratified) unless ``n_train`` is given. ``n_train`` may also be a
        dict keyed by the dataset actually used (``{"mnist": 1000, "mnist5k":
        1000}``), so a lesson can size its subset for the lecture data and
        for the offline fallback while loading the data once; a missing key
        keeps the whole training split.
        """
        from kreg.data import load

        name = name or self.args.dataset
        if n_train is None and self.quick:
            n_train = self.lesson.quick_train
        fallback = fallback or self.lesson.fallback
        import warnings

        with warnings.catch_warnings():  # the loud banner is printed and the reason recorded below
            warnings.filterwarnings("ignore", message="kreg: falling back")
            ds = load(name, fallback=fallback, val_fraction=val_fraction, seed=SPLIT_SEED, verbose=True, **kwargs)
        if isinstance(n_train, dict):
            n_train = n_train.get(ds.info.name)
        if n_train is not None and n_train < len(ds.x_train):
            from kreg.data import stratified_subset

            idx = stratified_subset(ds.y_train if ds.info.task == "classification" else None, n_train,
                                    seed=SPLIT_SEED, n=len(ds.x_train))
            ds.x_train, ds.y_train = ds.x_train[idx], ds.y_train[idx]
        entry = ds.info.to_dict() | {"sizes": ds.sizes()}
        self.results["dataset"][name] = entry
        used = ds.info.name if not ds.info.fell_back else f"{ds.info.name} (FALLBACK from {name})"
        self.say(f"   data: {used}, {ds.sizes()}, source: {ds.info.source}")
        return ds

    # --------------------------------------------------------------- replicates
    def reset(self, model, seed):
        """Put ``model`` in the state a freshly built and compiled copy would have under ``seed``.

        - every initializer-backed weight (kernels, biases, BN's gamma/beta and
          moving statistics, ...) is re-drawn with a seed made from ``seed``
          and its layer's position among the layers with weights, so two arms
          whose layers have the same shapes start from the same weights;
        - any other weight returns to its value when the model was first reset;
        - the optimizer's variables (step count, momenta, learning rate) return
          to their initial values;
        - every ``keras.random.SeedGenerator`` (dropout masks, noise) restarts
          from ``seed``;
        - Python's, NumPy's and the backend's global seeds are set to ``seed``,
          which fixes the data order of the next ``fit``.
        """
        keras = self.keras
        key = id(model)
        if key not in self._snapshots:
            opt = getattr(model, "optimizer", None)
            if opt is not None and not opt.built:
                opt.build(model.trainable_variables)
            self._snapshots[key] = (model, [v.numpy() if hasattr(v, "numpy") else keras.ops.convert_to_numpy(v)
                                            for v in model.weights],
                                    [keras.ops.convert_to_numpy(v) for v in (opt.variables if opt else [])])
        _, weights, opt_values = self._snapshots[key]
        model.set_weights(weights)
        if getattr(model, "optimizer", None) is not None:
            for v, value in zip(model.optimizer.variables, opt_values):
                v.assign(value)
        ordinal = 0
        generators = 0
        for layer in _walk_layers(model):
            drawn = False
            for attr_i, attr in enumerate(_INIT_ATTRS):
                var = getattr(layer, attr, None)
                init = getattr(layer, f"{attr}_initializer", None)
                if var is None or init is None or not hasattr(var, "assign"):
                    continue
                init = keras.initializers.get(init)
                cfg = init.get_config()
                if "seed" in cfg:
                    init = init.__class__.from_config(cfg | {"seed": _mix(seed, ordinal, attr_i)})
                var.assign(keras.ops.cast(init(tuple(var.shape), dtype=var.dtype), var.dtype))
                drawn = True
            ordinal += drawn
            for value in list(vars(layer).values()):
                if isinstance(value, keras.random.SeedGenerator):
                    state = value.state
                    value.state.assign(np.array([_mix(seed, 10_000 + generators, 0), 0],
                                                dtype=keras.backend.standardize_dtype(state.dtype)))
                    generators += 1
        keras.utils.set_random_seed(seed)

    def replicates(self, arm, model=None, data=None, *, measure=None, work=None, config=None,
                   epochs=None, batch_size=256, callbacks=(), keep_weights=False, **fit_kwargs):
        """Train (or reuse from the cache) one arm under every replicate seed; return :class:`Replicates`.

        The common form fits ``model`` on ``data`` for each seed and then
        calls ``measure(model)``, which returns a dict of numbers and arrays
        (per-example arrays included) computed from the trained model::

            arm = run.replicates("dropout 0.5", model, data, measure=scores, batch_size=256)

        ``model`` is built and compiled once by the lesson; the harness
        resets it (:meth:`reset`) before each replicate. For anything else
        than one ``fit`` pass ``work(rep)``: it gets a :class:`_Replicate`
        (``rep.seed``, ``rep.index``, ``rep.reset(model)``, ``rep.fit(model,
        data, ...)``) and returns the dict of measurements.

        ``config`` (a dict) describes the arm; together with the run's
        configuration, the dataset, the backend and the code it keys the
        cache. Everything measured goes to results.json (arrays over
        256 numbers as their mean; the arrays stay in the cache).

        Under ``--group-seeds`` the common form trains the seeds still to be
        trained as one model with a branch per seed (:meth:`_group_model`):
        each branch is the model alone, but **all branches see the base
        seed's data order**. ``measure`` then gets the lesson's ``model``
        holding each branch's trained weights in turn (its optimizer state is
        not the branch's). An arm with ``callbacks``, per-model ``fit``
        arguments, or a model Keras cannot rebuild from its config trains one
        seed at a time, and says why.

        ``keep_weights=True`` also keeps each replicate's trained weights (in
        the cache, not in results.json), so a later cell can study the
        trained nets without training them again:
        ``reps.load_weights(model, i)``.
        """
        if (work is None) == (model is None and measure is None):
            raise ValueError("Run.replicates needs either `model` and `measure` (one fit per seed) or `work`. "
                             f"Received: model={model!r}, measure={measure!r}, work={work!r}")
        if work is None:
            if model is None or measure is None:
                raise ValueError("Run.replicates: pass both `model` and `measure`. "
                                 f"Received: model={model!r}, measure={measure!r}")

            def work(rep):
                rep.fit(model, data, epochs=epochs, batch_size=batch_size, callbacks=callbacks, **fit_kwargs)
                out = dict(measure(model))
                if keep_weights:
                    out.update({f"{_WEIGHT_KEY}{j}": w for j, w in enumerate(model.get_weights())})
                return out

        arm_config = {"arm": arm, "config": config or {}, "epochs": epochs or self.epochs,
                      "batch_size": batch_size, "fit": {k: _fingerprint(v) for k, v in sorted(fit_kwargs.items())}}
        records, histories, entries = [], [], []
        share, processes = self._shard
        grouped = {}
        paths = [self._cache_path(arm, seed, arm_config) for seed in self.seeds]
        found = [self._cache_read(path) if self.use_cache else None for path in paths]
        if self.group_seeds and model is not None:
            why = _why_not_grouped(model, callbacks, fit_kwargs, self.keras)
            todo = [i for i in range(self.n_seeds) if found[i] is None]
            if why is None and todo:
                grouped = self._train_group(arm, model, data, todo, measure=measure, keep_weights=keep_weights,
                                            epochs=epochs, batch_size=batch_size, **fit_kwargs)
            elif why is not None:
                self.say(f"   [{arm}] --group-seeds: trained one seed at a time ({why})")
        for i, seed in enumerate(self.seeds):
            path = paths[i]
            cached = grouped.get(i) or found[i]
            if i in grouped and self.use_cache:
                self._cache_write(path, *cached)
            if cached is None and processes > 1 and i % processes != share:
                cached = self._await_replicate(path)
                self.say(f"   [{arm}, seed {i + 1}/{self.n_seeds}] trained by the process on device "
                         f"{i % processes} (--spread seeds)")
            elif cached is not None and i not in grouped:
                self.say(f"   [{arm}, seed {i + 1}/{self.n_seeds}] reused from the cache ({path.name})")
            if cached is not None:
                record, history, wall = cached
            else:
                rep = _Replicate(self, arm, i, seed)
                t0 = time.perf_counter()
                try:
                    record = work(rep)
                except BaseException:
                    if self._workers is not None:  # the copies would wait for this replicate forever
                        self._workers.stop()
                    raise
                wall = time.perf_counter() - t0
                if not isinstance(record, dict):
                    raise TypeError(f"the measurements of arm {arm!r} must be a dict. Received: {type(record)}")
                record = {k: _plain(v) for k, v in record.items()}
                history = rep.history
                if not history:  # work that trained nothing printed no line of its own
                    self.say(f"   [{arm}, seed {i + 1}/{self.n_seeds}] measured ({wall:.1f}s)")
                if self.use_cache:
                    self._cache_write(path, record, history, wall)
            records.append(record)
            histories.append(history)
            entries.append({"seed": seed, "wall_s": round(wall, 3), "history": history,
                            "numbers": {k: _summary(v) for k, v in record.items()
                                        if not k.startswith(_WEIGHT_KEY)}})
        self.results["replicates"][arm] = {"config": arm_config, "seeds": list(self.seeds), "per_seed": entries,
                                           "grouped": sorted(grouped)}
        return Replicates(arm, self.seeds, records, histories)

    def _group_model(self, model, k, x, y):
        """The ``k``-branch model that trains ``k`` seeds of ``model`` at once (built once per model and ``k``).

        Why branches and not weights stacked along a new axis (as
        :class:`kreg.models.ParallelMLPs` does): a branch is a copy of the
        lesson's own model rebuilt from its config, so every layer kreg or
        Keras has (batch norm, DropConnect, group norm, regularizers,
        custom initializers) works unchanged, and a branch computes exactly
        what the model alone computes. The loss is the sum of the branches'
        losses, and a branch's weights receive only its own loss's gradient,
        so each branch follows its own optimizer trajectory. Returns
        ``(group, branches)``, or ``(None, reason)`` when ``model`` cannot be
        rebuilt so.
        """
        key = (id(model), k)
        if key in self._groups:
            return self._groups[key]
        keras = self.keras
        try:
            # every layer gets a name of its own: the weights' paths must differ between branches (under
            # PyTorch a layer tracks its parameters by path, and a repeated path would hide a branch's weights
            # from zero_grad, so its gradients would pile up across steps)
            branches = [keras.models.clone_model(
                model, recursive=True, clone_function=lambda layer, j=j: layer.__class__.from_config(
                    layer.get_config() | {"name": f"{layer.name}_seed{j}"})) for j in range(k)]
            for j, b in enumerate(branches):
                b.name = f"{model.name}_seed{j}"
            inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)
            outputs = [keras.layers.Identity(name=f"seed{j}")(b(inputs)) for j, b in enumerate(branches)]
            group = keras.Model(inputs, outputs, name=f"{model.name}_x{k}")
            fresh = [keras.saving.deserialize_keras_object(model.get_compile_config()) for _ in range(k)]
            group.compile(optimizer=fresh[0]["optimizer"],
                          loss=[_branch_loss(keras, c["loss"], b) for c, b in zip(fresh, branches)],
                          metrics=[c.get("metrics") or [] for c in fresh],
                          jit_compile=fresh[0].get("jit_compile", "auto"))

            def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
                # each branch's loss already holds its own penalties (_branch_loss): Keras's compute_loss
                # would add every branch's penalties once more
                return group._compile_loss(y, y_pred, sample_weight)

            group.compute_loss = compute_loss
            if id(model) not in self._snapshots:  # the lesson's model as built: the branches start from it
                self.reset(model, self.seeds[0])
            for b in branches:
                b.set_weights(self._snapshots[id(model)][1])
            group.test_on_batch(x[:2], [y[:2]] * k)  # build the metrics without drawing a data order
            self._built.add(id(group))
        except Exception as e:  # a model Keras cannot rebuild from its config (an unregistered custom layer)
            self._groups[key] = (None, f"{type(e).__name__}: {str(e).split('. ')[0].splitlines()[0][:160]}")
        else:
            self._groups[key] = (group, branches)
        return self._groups[key]

    def _train_group(self, arm, model, data, todo, *, measure, keep_weights, epochs, batch_size, **fit_kwargs):
        """Train the seeds ``todo`` of one arm as one model (``--group-seeds``); return ``{i: (record, history,
        wall)}``, or ``{}`` when the model cannot be grouped (the seeds then train one at a time)."""
        fit_kwargs = dict(fit_kwargs)
        x, y = fit_kwargs.pop("x", None), fit_kwargs.pop("y", None)
        validation = fit_kwargs.pop("validation_data", None)
        x, y, validation = _fit_inputs(data, x, y, validation)
        k = len(todo)
        group, branches = self._group_model(model, k, x, y)
        if group is None:
            self.say(f"   [{arm}] --group-seeds: trained one seed at a time (the model could not be rebuilt "
                     f"from its config: {branches})")
            return {}
        self.reset(group, self.seeds[0])  # the optimizer's state (the branches are re-drawn next)
        for j, i in enumerate(todo):
            self.reset(branches[j], self.seeds[i])  # the weights and masks replicate i would start from alone
        self.keras.utils.set_random_seed(self.seeds[0])  # one data order for every branch: the base seed's
        if validation is not None:
            validation = (validation[0], [validation[1]] * k)
        seeds = f"seed{'s' if k > 1 else ''} {', '.join(str(i + 1) for i in todo)}/{self.n_seeds}"
        history, wall = self._fit(f"{arm}, {seeds} as one model", group, x=x, y=[y] * k,
                                  validation_data=validation, epochs=epochs, batch_size=batch_size,
                                  callbacks=[_branch_means(k)], **fit_kwargs)
        out = {}
        for j, i in enumerate(todo):
            t0 = time.perf_counter()
            model.set_weights(branches[j].get_weights())
            record = measure(model)
            if not isinstance(record, dict):
                raise TypeError(f"the measurements of arm {arm!r} must be a dict. Received: {type(record)}")
            record = dict(record)
            if keep_weights:
                record.update({f"{_WEIGHT_KEY}{n}": w for n, w in enumerate(model.get_weights())})
            record = {key: _plain(v) for key, v in record.items()}
            branch_history = {}
            for key, values in history.history.items():
                for prefix, to in ((f"seed{j}_", ""), (f"val_seed{j}_", "val_")):
                    if key.startswith(prefix):
                        branch_history[to + key[len(prefix):]] = [float(v) for v in values]
            out[i] = (record, branch_history, wall / k + time.perf_counter() - t0)
        return out

    def _await_replicate(self, path):
        """Wait for another process of ``--spread seeds`` to write the replicate at ``path``; return it."""
        from kreg import _spread

        while True:
            if path.is_file():
                cached = self._cache_read(path)
                if cached is not None:
                    return cached
            if self._workers is not None:
                self._workers.check()
            elif not _spread.parent_alive(self._parent_pid):
                raise SystemExit("kreg: the lesson process of --spread seeds has stopped; this copy stops too")
            time.sleep(0.1)

    def _cache_path(self, arm, seed, arm_config):
        if self._code is None:
            self._code = _code_hash(self.lesson.source)
        # --devices and --spread enter the key as the devices one fit runs on: a replicate trained alone on
        # one device (--spread seeds) is the same as under --devices 1; data parallelism changes the masks
        run_config = {k: v for k, v in self.results["config"].items()
                      if k not in ("seeds", "seed", "out", "verbose", "no_cache", "backend", "margins", "devices",
                                   "spread")} | {"fit_devices": self.devices}
        key = {"lesson": self.lesson.name, "arm": arm_config, "seed": seed, "backend": self.backend,
               "run": run_config, "data": {k: v.get("sizes") | {"name": v.get("name")}
                                           for k, v in self.results["dataset"].items()},
               "versions": self.results["versions"], "code": self._code}
        digest = hashlib.sha256(json.dumps(_jsonable(key), sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / _slug(arm) / f"seed{seed}-{digest}.npz"

    def _cache_read(self, path):
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["__meta__"]))
                record = {}
                for k in meta["keys"]:
                    record[k] = z[f"a:{k}"] if f"a:{k}" in z.files else meta["scalars"][k]
            return record, meta["history"], meta["wall_s"]
        except Exception as e:  # a damaged entry is retrained, loudly
            self.say(f"   cache entry {path} unreadable ({type(e).__name__}: {e}); retraining")
            return None

    def _cache_write(self, path, record, history, wall):
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays, scalars = {}, {}
        for k, v in record.items():
            if isinstance(v, np.ndarray):
                arrays[f"a:{k}"] = v
            else:
                scalars[k] = v
        meta = {"keys": list(record), "scalars": scalars, "history": history, "wall_s": wall}
        buf = io.BytesIO()
        np.savez_compressed(buf, __meta__=np.array(json.dumps(_jsonable(meta))), **arrays)
        _write_bytes_atomic(path, buf.getvalue())
        for stale in path.parent.glob(f"seed{path.name.split('-')[0][4:]}-*.npz"):
            if stale != path:  # the same arm and seed under older code or configuration
                stale.unlink(missing_ok=True)

    # --------------------------------------------------------------- training
    def fit(self, label, model, data=None, *, x=None, y=None, validation_data=None, epochs=None,
            batch_size=256, callbacks=(), **fit_kwargs):
        """``model.fit`` with a progress line; the history is recorded under ``label``.

        Pass either ``data`` (a :class:`kreg.data.Dataset`: its train split is
        fitted and its validation split monitored) or ``x``/``y`` and
        ``validation_data``. Returns the ``History``. (Lessons on replicate
        seeds fit through :meth:`replicates` instead.)
        """
        history, wall = self._fit(label, model, data, x=x, y=y, validation_data=validation_data, epochs=epochs,
                                  batch_size=batch_size, callbacks=callbacks, **fit_kwargs)
        self.results["runs"][label] = {"history": dict(history.history), "epochs": len(history.epoch),
                                       "batch_size": batch_size, "wall_s": round(wall, 3)}
        return history

    def _build_for_fit(self, model, x, y):
        """Build the compiled loss and metrics once, on two examples, before the first replicate.

        Keras's ``fit`` on an unbuilt model (JAX, PyTorch) first draws one
        shuffled batch to build them, which consumes one permutation of the
        data order: the first replicate would then see another order than a
        later replicate with the same seed. ``test_on_batch`` builds them
        without shuffling anything.
        """
        if id(model) in self._built or x is None or y is None:
            return
        try:
            model.test_on_batch(x[:2], y[:2])
        except Exception:  # inputs that cannot be sliced so: fit builds as usual
            pass
        self._built.add(id(model))

    def _fit(self, label, model, data=None, *, x=None, y=None, validation_data=None, epochs=None,
             batch_size=256, callbacks=(), **fit_kwargs):
        x, y, validation_data = _fit_inputs(data, x, y, validation_data)
        epochs = epochs or self.epochs
        self._run_count += 1
        if self.backend == "tensorflow":
            self._steps_per_execution(model, callbacks)
        progress = _progress(self, label, self._run_count, self.total_runs, epochs)
        t0 = time.perf_counter()
        if isinstance(y, list) and all(isinstance(v, np.ndarray) for v in y):  # one label array per branch
            y = tuple(y)
        if self.backend == "tensorflow" and validation_data is not None:
            validation_data, converted = validation_batches(
                validation_data, fit_kwargs.get("validation_batch_size") or batch_size or 32)
            if converted:
                fit_kwargs.pop("validation_batch_size", None)  # the pipeline batches; Keras takes no size with it
        if self.backend == "tensorflow" and fit_kwargs.get("shuffle", True) is True and isinstance(x, np.ndarray) \
                and (isinstance(y, np.ndarray) or isinstance(y, tuple) and all(isinstance(v, np.ndarray) for v in y)):
            x, y, batch_size = shuffled_batches(x, y, batch_size), None, None
            fit_kwargs["shuffle"] = False  # the pipeline shuffles; tell Keras so it does not warn
        history = model.fit(x, y, validation_data=validation_data, epochs=epochs, batch_size=batch_size,
                            callbacks=[*callbacks, progress], verbose=2 if self.verbose >= 2 else 0,
                            **fit_kwargs)
        return history, time.perf_counter() - t0

    def _steps_per_execution(self, model, callbacks):
        """Under TensorFlow, run ``TF_STEPS_PER_EXECUTION`` steps per call of the compiled train function.

        Keras's TensorFlow trainer returns to Python after every step unless
        the model is compiled with ``steps_per_execution``; on the lessons'
        small models that round trip is most of an epoch
        (``benchmarks/lesson_cost.py``). The same steps run in the same
        order, so the trained weights are the same to float rounding
        (``tests/test_lesson.py`` checks it). Callbacks then see one batch
        call per chunk: a fit with a callback that overrides a per-batch
        hook (``kreg.callbacks.BatchLosses``, ``WeightAveraging``, Keras's
        ``TerminateOnNaN``, ...) runs one step per call. Switching a model
        between the two keeps the compiled functions of each setting (per
        model, until it is compiled again) instead of tracing them anew: a
        lesson that fits one model with and without such a callback
        (``l10_ensembles``: member 0 keeps an EMA, the others do not)
        otherwise paid a TensorFlow trace and XLA compile at every switch.
        A model the lesson compiled with its own ``steps_per_execution`` is
        left alone, and
        under ``--devices N > 1`` (``tf.distribute.MirroredStrategy``) every
        fit runs one step per call: Keras 3.15's multi-step loop fails there
        with TensorFlow 2.21 ("You must feed a value for placeholder tensor
        ... while/cond/Placeholder", seen with 2 logical CPU devices).
        """
        import keras

        base = keras.callbacks.Callback
        hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
                 "on_test_batch_begin", "on_test_batch_end")
        every_step = any(getattr(type(cb), h, None) is not getattr(base, h) for cb in callbacks for h in hooks)
        want = 1 if every_step or self.devices > 1 else TF_STEPS_PER_EXECUTION
        current = getattr(model, "steps_per_execution", 1)
        owned = id(model) in self._spe_models
        if current == want or (current != 1 and not owned):
            return
        # the compiled functions are specialized to one steps_per_execution: keep this setting's, reuse the other's
        token = _compiled_token(model)
        kept = self._spe_functions.get(id(model))
        if kept is None or kept[0] != token:  # compiled again since: nothing kept is valid
            kept = self._spe_functions[id(model)] = (token, {})
        kept[1][current] = (model.train_function, model.test_function, model.predict_function)
        model.steps_per_execution = want
        model.train_function, model.test_function, model.predict_function = kept[1].get(want, (None, None, None))
        self._spe_models.add(id(model))

    def evaluate(self, model, x, y, *, batch_size=1024):
        """``model.evaluate`` as a dict of floats."""
        out = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {k: float(v) for k, v in out.items()}

    def per_example(self, model, x, y, *, batch_size=1024):
        """Per-example correctness (0/1) and cross-entropy of a classifier with logit or softmax outputs.

        Inference mode (``training=False``), as the STAT 453 notebooks'
        ``model.eval()``. Returns ``{"correct": (n,), "loss": (n,)}`` as
        float arrays, the raw material of :meth:`estimate`'s bootstrap over
        examples.
        """
        from kreg._predict import predict_arrays  # imports keras: not at module level

        out = np.asarray(predict_arrays(model, x, batch_size), dtype=np.float64)
        if np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
            logp = np.log(np.clip(out, 1e-12, 1.0))
        else:
            z = out - out.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        y = np.asarray(y).astype(int).reshape(-1)
        return {"correct": (logp.argmax(axis=-1) == y).astype(np.float64),
                "loss": -logp[np.arange(len(y)), y]}

    def metric(self, key, value):
        """Record a final number in ``results["metrics"]``; returns it."""
        self.results["metrics"][key] = value
        return value

    # ----------------------------------------------------------------- claims
    def estimate(self, effect, samples, **kwargs):
        """:func:`kreg.stats.estimate`: the effect with its 95% interval over seeds and examples."""
        from kreg import stats

        return stats.estimate(effect, samples, **kwargs)

    def claim(self, text, estimate=None, *, direction=None, margin=None, unit="", compare=None,
              effect_name="difference", holds=None, evidence=None, **numbers):
        """Decide one of the lecture's claims and record it.

        Args:
            text: the claim, in the lecture's words.
            estimate: a :class:`kreg.stats.Estimate` of the effect.
            direction: ``"greater"`` (the lecture asserts effect > margin),
                ``"less"`` (effect < -margin) or ``"agree"`` (|effect| < margin).
            margin: a name declared in ``Lesson(margins=...)`` or a number
                >= 0: the smallest effect the lecture's sentence means.
            unit: ``"pp"`` (fractions shown as percentage points), ``"ratio"``
                (the effect is a log ratio, shown as a factor ×e^effect) or
                ``""`` (shown as is).
            compare: optional ``(before, after)`` numbers printed as
                ``before -> after`` ahead of the effect.
            effect_name: what the effect is called in the printed line.

        Returns the outcome: ``"holds"``, ``"does not hold"`` or
        ``"inconclusive"`` (always inconclusive under ``--quick``).

        The legacy form ``claim(text, holds=<bool>, evidence=<str>)`` of the
        lessons not yet on replicate seeds still records a boolean verdict.
        """
        from kreg import stats

        if estimate is None:
            if holds is None or evidence is None:
                raise TypeError("Run.claim needs an `estimate` (with `direction` and `margin`), or the legacy "
                                "`holds=` and `evidence=`.")
            holds = bool(holds)
            outcome = stats.INCONCLUSIVE if self.quick else (stats.HOLDS if holds else stats.DOES_NOT_HOLD)
            self.results["claims"].append({"claim": text, "kind": "legacy", "outcome": outcome,
                                           "quick": self.quick, "holds": holds and not self.quick,
                                           "evidence": evidence, "numbers": numbers})
            return outcome
        if isinstance(margin, str):
            margin_name, margin = margin, self.margin(margin)
        else:
            margin_name = None
        outcome = stats.decide(estimate.low, estimate.high, direction=direction, margin=margin,
                               seeds=estimate.seeds)
        decided = not self.quick and estimate.seeds >= 2
        if not decided:
            outcome = stats.INCONCLUSIVE
        fmt = _formatter(unit)
        parts = []
        if compare is not None:
            plain = _formatter("") if unit == "ratio" else fmt
            parts.append(f"{plain(compare[0])} -> {plain(compare[1], unit=True)}, ")
        parts.append(f"{effect_name} {fmt(estimate.value, unit=True)} [{estimate.level:.0%} CI "
                     f"{fmt(estimate.low)}, {fmt(estimate.high)}], {estimate.seeds} seed"
                     f"{'s' if estimate.seeds != 1 else ''}")
        rule = {"greater": f"> {fmt(margin, unit=True)}", "less": f"< -{fmt(margin, unit=True)}",
                "agree": f"within ±{fmt(margin, unit=True)}"}[direction]
        if unit == "ratio":
            rule = {"greater": f"> ×{math.exp(margin):.3g}", "less": f"< ×{math.exp(-margin):.3g}",
                    "agree": f"within ×{math.exp(-margin):.3g}..×{math.exp(margin):.3g}"}[direction]
        parts.append(f"; asserted {rule}")
        evidence_text = "".join(parts) + (f" ({evidence})" if evidence else "")
        note = " (quick setting)" if self.quick else (" (1 seed: no interval over seeds)" if not decided else "")
        self.results["claims"].append({
            "claim": text, "kind": "empirical", "outcome": outcome, "quick": self.quick,
            "holds": outcome == stats.HOLDS, "note": note.strip(" ()"),
            "direction": direction, "margin": margin, "margin_name": margin_name, "unit": unit,
            "effect": estimate.value, "low": estimate.low, "high": estimate.high, "level": estimate.level,
            "seeds": estimate.seeds, "per_seed": list(estimate.per_seed), "se_seeds": estimate.se_seeds,
            "se_examples": estimate.se_examples,
            "compare": list(compare) if compare is not None else None,
            "evidence": evidence_text, "numbers": numbers})
        return outcome

    def exact(self, text, discrepancy, *, tolerance, evidence=None, **numbers):
        """Check an exact identity: ``holds`` when ``|discrepancy| <= tolerance`` (printed with it).

        Deterministic, so it is checked under ``--quick`` too.
        """
        from kreg import stats

        outcome = stats.decide_exact(discrepancy, tolerance)
        ev = f"max |difference| {float(discrepancy):.2e}, tolerance {tolerance:.0e}" + (f"; {evidence}" if evidence else "")
        self.results["claims"].append({"claim": text, "kind": "exact", "outcome": outcome, "quick": self.quick,
                                       "holds": outcome == stats.HOLDS, "discrepancy": float(discrepancy),
                                       "tolerance": tolerance, "evidence": ev, "numbers": numbers})
        return outcome

    def demonstrate(self, text, evidence, **numbers):
        """Show numbers that are certain by mathematics or advice without a verdict (no outcome)."""
        self.results["demonstrations"].append({"text": text, "evidence": evidence, "numbers": numbers})

    def reference(self, text, estimate, reference, *, applies, why_not=None, updates=None, reference_updates=None,
                  tolerance=0.005):
        """Set a STAT 453 reference number beside the measured mean and interval.

        With ``applies`` (the lecture's data and setting: full MNIST, the
        notebook's batch size, epochs and initialization) the outcome is
        :func:`kreg.stats.decide_reference`: ``reproduces`` within
        ``tolerance`` (0.5 pp), ``does not reproduce``, or ``inconclusive``.
        Otherwise it is ``not comparable``, with ``why_not`` and the number
        of updates beside the reference's.
        """
        from kreg import stats

        if applies and not self.quick and estimate.seeds >= 2:
            outcome = stats.decide_reference(estimate.low, estimate.high, reference, tolerance=tolerance)
        elif applies:
            outcome = stats.INCONCLUSIVE
        else:
            outcome = "not comparable"
        ev = (f"measured {estimate.value:.2%} [{estimate.level:.0%} CI {estimate.low:.2%}, {estimate.high:.2%}], "
              f"{estimate.seeds} seeds; STAT 453 {reference:.2%}")
        if updates is not None and reference_updates is not None:
            ev += f"; {updates:,} updates vs the notebook's {reference_updates:,}"
        if not applies and why_not:
            ev += f" ({why_not})"
        self.results["references"].append({"text": text, "outcome": outcome, "reference": reference,
                                           "measured": estimate.value, "low": estimate.low, "high": estimate.high,
                                           "seeds": estimate.seeds, "updates": updates,
                                           "reference_updates": reference_updates, "tolerance": tolerance,
                                           "evidence": ev})
        return outcome

    def figure(self, name, fig):
        """Render a matplotlib figure to PNG in memory (written by :meth:`finish`) and close it.

        In a notebook the PNG is also shown as the output of the cell that
        drew it, beside its code (the figure is closed, so matplotlib's
        inline backend does not show it a second time).
        """
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        self._figures[f"{name}.png"] = buf.getvalue()
        if _in_notebook():
            from IPython.display import Image, display

            display(Image(data=self._figures[f"{name}.png"], format="png"))

    # ----------------------------------------------------------------- finish
    def finish(self):
        """Write the PNGs and results.json atomically, print the verdicts, return the results dict."""
        self.keras.config.set_max_steps_per_epoch(self._prev_max_steps)
        if self._workers is not None:  # every replicate is in the cache: the copies only repeat our work
            from kreg import _spread

            self._workers.stop()
            _spread.remove_partial_writes(self.cache_dir)
        if self._distribution is not None:
            self._distribution.__exit__(None, None, None)
            self._distribution = None
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
        for d in self.results["demonstrations"]:
            print(f"SHOWN: {d['text']}: {d['evidence']}")
        for r in self.results["references"]:
            print(f"REFERENCE {r['outcome']}: {r['text']}: {r['evidence']}")
        for c in self.results["claims"]:
            outcome = c["outcome"]
            if c["kind"] == "legacy" and outcome == "does not hold":
                outcome = "DOES NOT HOLD"
            label = "EXACT" if c["kind"] == "exact" else "CLAIM"
            if c.get("quick") and c["kind"] != "exact":
                outcome = "inconclusive (quick setting)"
            elif c.get("note"):
                outcome = f"{outcome} ({c['note']})"
            sep = ": " if c["kind"] != "legacy" else " ("
            end = "" if c["kind"] != "legacy" else ")"
            print(f"{label} {outcome}: {c['claim']}{sep}{c['evidence']}{end}")
        return self.results


def shuffled_batches(x, y, batch_size, seed=None):
    """A ``tf.data`` pipeline over ``(x, y)`` reshuffled every epoch, for ``fit`` under TensorFlow.

    Why not ``model.fit(x, y, shuffle=True)``: under the TensorFlow backend,
    once a global seed is set (``keras.utils.set_random_seed``, which every
    replicate does), Keras's own array pipeline draws its permutation inside
    a ``tf.data`` map whose seed is fixed, so every epoch sees the *same*
    batch order -- while JAX and PyTorch (a NumPy permutation per epoch) see
    a new one each epoch. Here ``Dataset.shuffle(reshuffle_each_iteration=
    True)`` gives a new order every epoch, reproducible from ``seed``
    (default: drawn from NumPy's global generator, which the replicate's
    seed fixes, so the arms of one replicate see the same orders).
    """
    import tensorflow as tf

    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    n = len(x)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    return ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def validation_batches(validation_data, batch_size):
    """NumPy validation arrays ``(x, y[, sample_weight])`` as a batched ``tf.data`` pipeline for TensorFlow's ``fit``.

    Why: Keras's TensorFlow trainer keeps the validation iterator of a
    ``fit``, but for arrays it rebuilds the array adapter's ``tf.data``
    pipeline (index dataset, slicing map, prefetch) at every epoch's
    evaluation. On the lessons' small models that costs more than the
    training epoch itself: the STAT 453 MLP on 3,600 digits, 32 steps per
    call, took about 100 ms an epoch with 400 validation digits as arrays
    and 35 ms with this pipeline (TensorFlow 2.21, Keras 3.15, the idle
    2-core Xeon; ``README.md``, benchmarks). The batches
    are the same rows in the same order (no shuffling), and Keras's loss and
    metric means weight each batch by its size, so the validation numbers
    agree with the array path's to float rounding (``tests/test_lesson.py``).

    Returns ``(data, converted)``: anything other than a tuple or list of two
    or three NumPy arrays (or of tuples of arrays, one label array per
    branch) with one length is returned unchanged with ``converted=False``,
    for Keras to handle or reject.
    """
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        return validation_data, False
    parts = tuple(tuple(v) if isinstance(v, list) else v for v in validation_data)
    leaves = [a for v in parts for a in (v if isinstance(v, tuple) else (v,))]
    if not leaves or not all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in leaves) \
            or len({len(a) for a in leaves}) != 1:
        return validation_data, False
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(parts).batch(batch_size), True


class _Replicate:
    """One replicate of one arm, handed to a ``work`` function by :meth:`Run.replicates`."""

    def __init__(self, run, arm, index, seed):
        self.run = run
        self.arm = arm
        self.index = index
        self.seed = seed
        self.history = {}

    def reset(self, model):
        """:meth:`Run.reset` with this replicate's seed."""
        self.run.reset(model, self.seed)

    def fit(self, model, data=None, *, reset=True, label=None, **kwargs):
        """Reset ``model`` for this seed (unless ``reset=False``), fit it, and keep its history."""
        x = data.x_train if data is not None else kwargs.get("x")
        y = data.y_train if data is not None else kwargs.get("y")
        self.run._build_for_fit(model, x, y)
        if reset:
            self.reset(model)
        label = label or f"{self.arm}, seed {self.index + 1}/{self.run.n_seeds}"
        history, _ = self.run._fit(label, model, data, **kwargs)
        for k, v in history.history.items():
            self.history[k] = self.history.get(k, []) + [float(x) for x in v]
        return history


#: Weight attributes re-drawn by :meth:`Run.reset` from their ``<attr>_initializer``.
_INIT_ATTRS = ("kernel", "bias", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel", "embeddings",
               "gamma", "beta", "moving_mean", "moving_variance")


def _compiled_token(model):
    """What a model's compiled functions were traced for: its optimizer, loss and metrics objects.

    ``model.compile`` makes new ones (a new ``CompileLoss`` every time), so a
    model compiled again gets a new token and no function traced before.
    """
    return tuple(id(getattr(model, name, None)) for name in ("optimizer", "_compile_loss", "_compile_metrics"))


def _fit_inputs(data, x, y, validation_data):
    """``(x, y, validation_data)`` of a fit: a Dataset's train split and (unless given) its validation split."""
    if data is not None:
        x, y = data.x_train, data.y_train
        if validation_data is None and len(data.x_val):
            validation_data = (data.x_val, data.y_val)
    return x, y, validation_data


def _why_not_grouped(model, callbacks, fit_kwargs, keras):
    """Why ``--group-seeds`` cannot train this arm's seeds as one model (``None`` when it can)."""
    if callbacks:
        return "the arm fits with callbacks, which act on one model's logs"
    extra = sorted(set(fit_kwargs) - {"x", "y", "validation_data", "shuffle", "validation_freq"})
    if extra:
        return f"fit arguments {extra} are per model"
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        return "the model is not compiled"
    if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
        return "the model has not exactly one input and one output"
    opt = model.optimizer
    if getattr(opt, "global_clipnorm", None) or isinstance(opt, keras.optimizers.LossScaleOptimizer):
        return "the optimizer couples the branches (global_clipnorm or loss scaling)"
    config = model.get_compile_config() or {}
    if config.get("loss_weights") is not None or config.get("weighted_metrics") is not None:
        return "the model is compiled with loss_weights or weighted_metrics"
    return None


def _branch_loss(keras, loss, branch):
    """``loss`` of one branch of a ``--group-seeds`` model, plus the branch's own penalties.

    Alone, a model's logged and minimized loss is its compiled loss plus
    ``model.losses`` (weight and activity regularizers). In the grouped
    model each branch's compiled loss carries its own penalties, so the
    logged ``seed<j>_loss`` is exactly the loss the model logs alone, and
    the gradient reaching a branch is the gradient it gets alone. The
    penalty is added to every example's loss, which the mean over the
    batch (``sum_over_batch_size``, Keras's default) turns into adding it
    once.
    """
    base = keras.losses.get(loss)
    reduction = getattr(base, "reduction", "sum_over_batch_size")
    if reduction != "sum_over_batch_size":
        raise ValueError(f"--group-seeds needs losses reduced by their mean over the batch; received "
                         f"reduction={reduction!r}")
    per_example = base.call if isinstance(base, keras.losses.Loss) else base

    class BranchLoss(keras.losses.Loss):
        def __init__(self):
            super().__init__(name=getattr(base, "name", None) or getattr(base, "__name__", "loss"),
                             dtype=getattr(base, "dtype", None))

        def call(self, y_true, y_pred):
            values = per_example(y_true, y_pred)
            penalties = [keras.ops.sum(keras.ops.cast(p, values.dtype)) for p in branch.losses]
            return values + keras.ops.sum(keras.ops.stack(penalties)) if penalties else values

    return BranchLoss()


def _branch_means(k):
    """A callback that adds the mean over the ``k`` branches of each metric to an epoch's logs, for the
    progress line (``loss`` of the grouped model is otherwise the branches' sum)."""
    import keras

    class BranchMeans(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            sums = {}
            for key, value in list(logs.items()):
                for j in range(k):
                    for prefix, to in ((f"seed{j}_", ""), (f"val_seed{j}_", "val_")):
                        if key.startswith(prefix):
                            name = to + key[len(prefix):]
                            sums[name] = sums.get(name, 0.0) + float(value)
            logs.update({name: total / k for name, total in sums.items()})

    return BranchMeans()


def _mix(seed, a, b):
    """A deterministic 31-bit seed from ``(seed, a, b)`` (independent streams for layers and attributes)."""
    h = hashlib.sha256(f"{seed}/{a}/{b}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def _walk_layers(layer):
    """``layer`` and every layer inside it (models, wrappers), depth first, each once."""
    seen = set()
    stack = [layer]
    order = []
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        order.append(cur)
        children = list(getattr(cur, "layers", []) or [])
        inner = getattr(cur, "layer", None)
        if inner is not None and hasattr(inner, "weights"):
            children.append(inner)
        stack.extend(reversed(children))
    return order


def _fingerprint(value):
    """A cache-key form of a ``fit`` argument: arrays by a hash of their contents (their repr is cut short)."""
    if isinstance(value, (list, tuple)):
        return [_fingerprint(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _fingerprint(v) for k, v in sorted(value.items())}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        arr = np.ascontiguousarray(np.asarray(value))
        return f"array{arr.shape}:{arr.dtype}:{hashlib.sha256(arr.tobytes()).hexdigest()[:16]}"
    return repr(value)


def _plain(value):
    """A measurement as a float, a list of plain values, or a numpy array (cacheable)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr.item()
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    return value


def _summary(value):
    if isinstance(value, np.ndarray) and value.size > _MAX_JSON_ARRAY:
        return {"mean": float(np.mean(value)), "shape": list(value.shape), "stored": "cache"}
    return value


def _formatter(unit_name):
    """How a claim's numbers print: ``"pp"`` as percentage points, ``"ratio"`` (a log ratio) as ×factor."""
    def fmt(v, unit=False):
        if unit_name == "pp":
            return f"{v * 100:.2f}" + (" pp" if unit else "")
        if unit_name == "ratio":
            return f"×{math.exp(v):.3f}"
        return f"{v:.4g}"

    return fmt


def _progress(run, label, k, total, epochs):
    """A callback printing ``[run k/N label] epoch E/E  loss .. accuracy ..  (time)`` when a fit ends.

    One line per trained model at ``--verbose 1`` (with replicate seeds a
    line per epoch would bury the verdicts); at ``--verbose 2`` Keras prints
    its own line per epoch instead. Built inside a function because Keras is
    imported only after the flags are parsed.
    """
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._t = time.perf_counter()
            self._last = (None, {})

        def on_epoch_end(self, epoch, logs=None):
            self._last = (epoch, dict(logs or {}))

        def on_train_end(self, logs=None):
            if run.verbose != 1:
                return
            epoch, logs = self._last
            parts = []
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if key in logs:
                    v = float(logs[key])
                    parts.append(f"{key} {v:.2%}" if "accuracy" in key else f"{key} {v:.4f}")
            of = f"/{total}" if total else ""
            done = f"epoch {epoch + 1}/{epochs}" if epoch is not None else "no epoch"
            print(f"   [run {k}{of} {label}] {done}  " + "  ".join(parts)
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
