"""kreg.lesson: flags, seeding, results.json schema, atomic writes, claims."""

import json
import os

import keras
import numpy as np
import pytest

from kreg import lesson as lesson_mod
from kreg.lesson import Lesson, write_json_atomic


def _toy_lesson(**kw):
    return Lesson("l99_toy", title="toy", decks="000", dataset="digits", fallback="digits",
                  epochs=3, quick_epochs=1, quick_train=64, quick_steps=2, **kw)


def _run_toy(argv, fail=False):
    from kreg import models

    run = _toy_lesson().start(argv)
    d = run.load_data()
    m = models.compile_classifier(models.mlp(d.info.input_shape, 10, hidden=(8,)))
    h = run.fit("tiny", m, d, batch_size=32)
    run.metric("test", run.evaluate(m, *d.test))
    run.claim("loss is finite", holds=np.isfinite(h.history["loss"][-1]), evidence="checked",
              last=h.history["loss"][-1])
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    run.figure("line", fig)
    if fail:
        raise KeyboardInterrupt
    return run.finish()


def test_results_schema_and_files(tmp_path, capsys):
    res = _run_toy(["--quick", "--out", str(tmp_path), "--seed", "7"])
    on_disk = json.loads((tmp_path / "results.json").read_text())
    for key in ("lesson", "config", "backend", "versions", "dataset", "runs", "metrics", "claims",
                "wall_time_s", "figures", "device"):
        assert key in on_disk, key
    assert on_disk["backend"] == keras.backend.backend()
    assert on_disk["versions"]["keras"] == keras.__version__
    assert on_disk["config"]["seed"] == 7 and on_disk["config"]["quick"] is True
    assert on_disk["dataset"]["digits"]["sizes"]["train"] == 64
    assert on_disk["runs"]["tiny"]["epochs"] == 1
    assert on_disk["claims"][0]["holds"] is True
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["claims"] == on_disk["claims"]
    out = capsys.readouterr().out
    assert "CLAIM holds: loss is finite (checked)" in out
    assert "[run 1 tiny] epoch 1/1" in out
    assert keras.config.max_steps_per_epoch() is None  # quick mode's cap is undone


def test_interrupted_lesson_writes_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run_toy(["--quick", "--out", str(tmp_path)], fail=True)
    assert not (tmp_path / "results.json").exists() and not list(tmp_path.glob("*.png"))
    keras.config.set_max_steps_per_epoch(None)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "results.json"
    write_json_atomic(p, {"a": 1, "x": np.float32(0.5), "nan": float("nan"), "arr": np.arange(3)})
    assert json.loads(p.read_text()) == {"a": 1, "x": 0.5, "nan": "nan", "arr": [0, 1, 2]}
    with pytest.raises(TypeError):
        write_json_atomic(p, {"bad": {1, 2}} if False else {"bad": object.__new__(_Unserializable)})
    assert json.loads(p.read_text())["a"] == 1
    assert [f.name for f in tmp_path.iterdir()] == ["results.json"]  # no temp file left


class _Unserializable:
    def __float__(self):
        raise TypeError("no")

    def __repr__(self):
        raise TypeError("cannot even repr")


def test_backend_flag_conflict_is_an_error():
    other = next(b for b in lesson_mod.BACKENDS if b != keras.backend.backend())
    with pytest.raises(RuntimeError, match="Keras fixes its backend at import"):
        _toy_lesson().start(["--backend", other])


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--seed", "-1"], ["--dataset", "cifar"],
                                  ["--backend", "mxnet"]])
def test_bad_flags_exit_before_training(argv, capsys):
    with pytest.raises(SystemExit):
        _toy_lesson().parser().parse_args(argv)
    assert "argument" in capsys.readouterr().err


def test_seeding_reproduces_initial_weights():
    from kreg import models

    run = _toy_lesson().start(["--quick", "--verbose", "0"])
    run.reseed()
    w1 = models.mlp((4,), 2, hidden=(3,)).get_weights()
    run.reseed()
    w2 = models.mlp((4,), 2, hidden=(3,)).get_weights()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    keras.config.set_max_steps_per_epoch(None)


def test_bad_flag_message():
    err = lesson_mod.bad_flag("mc_samples", 0, "a positive integer")
    assert str(err) == ("Invalid value received for argument `--mc-samples`. Expected a positive integer. "
                        "Received: mc_samples=0")
    assert "`--batch-size`" in str(lesson_mod.bad_flag("batch-size", -1, "x"))


def test_load_data_subset_size_by_dataset_used():
    run = _toy_lesson().start(["--verbose", "0", "--dataset", "mnist"])  # offline: falls back to digits
    d = run.load_data(n_train={"mnist": 1000, "digits": 50})
    assert d.info.name == "digits" and len(d.x_train) == 50
    assert run.results["dataset"]["mnist"]["sizes"]["train"] == 50
    d = run.load_data(n_train={"mnist": 1000})
    assert len(d.x_train) > 1000  # no entry for digits: the whole training split
