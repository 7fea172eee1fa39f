r"""Replicate seeds spread over devices, one process a device (``--devices N --spread seeds``).

``--spread batch`` (the default) splits every ``fit``'s batch over the
devices with Keras's own engines (:mod:`kreg.distribution`). That pays off
when a step has enough arithmetic to share; the lessons' models are small
MLPs and CNNs whose steps are dominated by per-step overhead, and cutting a
256-example batch in two adds an all-reduce to every step.

``--spread seeds`` instead trains whole replicates side by side: the lesson
process (device 0) starts ``N - 1`` copies of itself, and copy ``k`` is
pinned to device ``k`` (``CUDA_VISIBLE_DEVICES`` on GPUs; on a CPU, fake
devices only split the same cores). Every process runs the whole lesson;
replicate ``i`` of every arm is trained by process ``i mod N``, and the
others read it from the shared replicate cache (:class:`kreg.lesson.Run`
writes each finished replicate there atomically). A replicate does not
depend on which process trains it: :meth:`kreg.lesson.Run.reset` puts the
model, the optimizer, the mask seeds and the data order in a state that
depends on the seed only. The lesson process alone writes results.json and
the figures; the copies are stopped when it finishes.

Why processes and not threads: Keras keeps global state (the distribution,
the global seed, ``max_steps_per_epoch``) and a backend is initialized per
process; separate processes are the one way that works on all three
backends, PyTorch included, which has no data parallelism in Keras 3.15.

Why this is written here rather than taken from Keras: ``keras.distribution``
parallelizes one model's step, not independent trainings; nothing in Keras
runs replicate seeds side by side.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

#: Environment of a worker: ``"k/N"`` (this process trains the replicates i with i % N == k).
SHARD_ENV = "KREG_SEED_SHARD"
#: Environment of a worker: the lesson process's replicate cache folder.
CACHE_ENV = "KREG_CACHE_DIR"
#: Environment of a worker: the lesson process's pid (a worker whose parent is gone stops).
PARENT_ENV = "KREG_SPREAD_PARENT"


def shard_from_env():
    """``(k, N, cache_dir, parent_pid)`` for a worker process, else ``None``."""
    text = os.environ.get(SHARD_ENV)
    if not text:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
        if not 0 < k < n:
            raise ValueError
    except ValueError:
        raise ValueError(f"Invalid value received for argument `{SHARD_ENV}`. Expected k/N with 0 < k < N "
                         f"(set by kreg for its own worker processes). Received: {SHARD_ENV}={text!r}") from None
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        raise ValueError(f"Invalid value received for argument `{CACHE_ENV}`. Expected the lesson process's "
                         f"cache folder with {SHARD_ENV}. Received: {CACHE_ENV}={cache!r}")
    return k, n, Path(cache), int(os.environ.get(PARENT_ENV, "0") or 0)


def device_slots(backend, n):
    """What to pin each of ``n`` processes to: a list of ``CUDA_VISIBLE_DEVICES`` values, or ``None`` each.

    On GPUs, process ``k`` sees only the ``k``-th visible GPU. On CPUs
    (fake devices included) nothing is pinned: every process computes on
    the host.
    """
    gpus = 0
    if backend == "jax":
        import jax

        gpus = sum(d.platform == "gpu" for d in jax.devices())
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    elif backend == "torch":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not gpus:
        return [None] * n
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    ids = visible if visible else [str(i) for i in range(gpus)]
    return [ids[k] for k in range(n)]


def count_devices(backend):
    """How many devices replicates can be spread over: GPUs, else the (fake) host devices JAX/TF see, else 1."""
    if backend == "torch":
        import torch

        return max(1, torch.cuda.device_count() if torch.cuda.is_available() else 1)
    from kreg.distribution import available_devices

    return len(available_devices())


class Workers:
    """The ``N - 1`` copies of a lesson process that train their share of the replicate seeds."""

    def __init__(self, script, argv, n, cache_dir, out, slots):
        self.n = n
        self.procs = []
        self.logs = []
        self.folder = Path(out) / ".workers"
        self._stopped = False
        if script is None or not Path(script).is_file():
            raise ValueError("Invalid value received for argument `--spread`. `--spread seeds` starts copies of "
                             "the lesson's script, which this run has no file for (a notebook?): run the .py "
                             f"script, or use --spread batch. Received: spread='seeds', script={script!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        for k in range(1, n):
            wdir = self.folder / str(k)
            if wdir.exists():
                shutil.rmtree(wdir, ignore_errors=True)
            wdir.mkdir(parents=True)
            env = dict(os.environ)
            env.pop("KREG_ARGS", None)  # argv below already holds those flags
            env[SHARD_ENV] = f"{k}/{n}"
            env[CACHE_ENV] = str(Path(cache_dir).resolve())
            env[PARENT_ENV] = str(os.getpid())
            if slots[k] is not None:
                env["CUDA_VISIBLE_DEVICES"] = slots[k]
            cmd = [sys.executable, str(script), *argv, "--devices", "1", "--spread", "batch",
                   "--out", str(wdir / "out"), "--verbose", "1"]
            log = open(wdir / "log.txt", "wb")
            self.logs.append(wdir / "log.txt")
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                               start_new_session=True))
            log.close()

    def check(self):
        """Raise if a worker has died (its log's tail in the message)."""
        for k, (p, log) in enumerate(zip(self.procs, self.logs), start=1):
            rc = p.poll()
            if rc is not None and rc != 0:
                tail = ""
                try:
                    tail = log.read_text(errors="replace")[-3000:]
                except OSError:
                    pass
                self.stop()
                raise RuntimeError(f"kreg: the process training replicate seeds on device {k} (of {self.n}) "
                                   f"failed with exit code {rc}; its log {log} ends with:\n{tail}")

    def stop(self):
        """Stop every worker (they only repeat the lesson process's remaining work) and remove their folders."""
        if self._stopped:
            return
        self._stopped = True
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                p.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def parent_alive(pid):
    """False once the lesson process that started this worker is gone."""
    if not pid:
        return True
    if os.getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def remove_partial_writes(cache_dir):
    """Delete temporary files a stopped worker may have left in the cache (never a finished entry)."""
    for tmp in Path(cache_dir).rglob(".*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass
