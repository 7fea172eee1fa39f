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
    # --quick never decides, not even a legacy boolean claim
    assert on_disk["claims"][0]["outcome"] == "inconclusive" and on_disk["claims"][0]["holds"] is False
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["claims"] == on_disk["claims"]
    out = capsys.readouterr().out
    assert "CLAIM inconclusive (quick setting): loss is finite (checked)" in out
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
                                  ["--backend", "mxnet"], ["--spread", "gpus"], ["--spread", "seeds", "--no-cache"]])
def test_bad_flags_raise_before_training(argv):
    flag = argv[0]
    with pytest.raises(ValueError, match=f"Invalid value received for argument `{flag}`"):
        _toy_lesson().parse(argv)


def test_spread_seeds_without_cache_names_the_reason():
    with pytest.raises(ValueError, match=r"`--spread`.*through the replicate cache.*Received: spread='seeds'"):
        _toy_lesson().parse(["--spread", "seeds", "--no-cache"])


def test_spread_seeds_on_one_device_trains_in_this_process(tmp_path, capsys):
    """With one device there is nothing to spread: no copy is started and the run says so."""
    run = _toy_lesson().start(["--quick", "--out", str(tmp_path), "--devices", "1", "--spread", "seeds"])
    try:
        assert run._workers is None and run._shard == (0, 1)
        assert run.results["devices"] == {"requested": 1, "used": 1, "spread": "seeds", "engine": None}
    finally:
        run.finish()
    assert not (tmp_path / ".workers").exists()


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


def test_legacy_claim_is_decided_outside_quick(tmp_path, capsys):
    res = _run_toy(["--out", str(tmp_path), "--epochs", "1"])
    assert res["claims"][0]["outcome"] == "holds" and res["claims"][0]["holds"] is True
    assert "CLAIM holds: loss is finite (checked)" in capsys.readouterr().out


# ------------------------------------------------------------- replicate seeds, claims, cache


def _rep_lesson(**kw):
    return Lesson("l98_reps", title="replicates", decks="000", dataset="digits", fallback="digits", epochs=2,
                  seeds=3, margins={"m": 0.01}, quick_epochs=1, quick_seeds=2, quick_train=64, quick_steps=2,
                  **kw)


def _tiny(d, rate=0.0):
    from kreg import layers, models

    drop = (lambda r: layers.Dropout(r)) if rate else None
    return models.compile_classifier(models.mlp(d.info.input_shape, 10, hidden=(8, 6), dropout=rate,
                                                dropout_layer=drop))


def _measure(run, d):
    def measure(model):
        out = run.per_example(model, *d.val)
        return {"val_correct": out["correct"], "val_loss": out["loss"],
                "first_kernel": keras.ops.convert_to_numpy(model.layers[1].kernel).ravel()[:5]}
    return measure


def test_replicates_pair_arms_and_vary_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(lesson_mod, "_MAX_JSON_ARRAY", 100)
    run = _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0", "--epochs", "1"])
    d = run.load_data(n_train=64)
    plain, dropped = _tiny(d), _tiny(d, rate=0.5)
    # paired: seed i of both arms starts from the same weights, though one has Dropout layers in between
    run.reset(plain, 5)
    run.reset(dropped, 5)
    for a, b in zip(plain.get_weights(), dropped.get_weights()):
        np.testing.assert_array_equal(a, b)
    run.reset(dropped, 6)
    assert not np.array_equal(plain.get_weights()[0], dropped.get_weights()[0])
    reps = run.replicates("plain", plain, d, measure=_measure(run, d), batch_size=32)
    assert reps.seeds == [123, 124, 125] and reps["val_correct"].shape == (3, len(d.x_val))
    assert len({tuple(r) for r in reps["first_kernel"]}) == 3  # each seed trains its own net
    assert reps.histories[0]["loss"] and reps.history("loss").shape == (3, 1)
    res = run.finish()
    per_seed = res["replicates"]["plain"]["per_seed"]
    assert [e["seed"] for e in per_seed] == [123, 124, 125]
    assert per_seed[0]["numbers"]["val_loss"]["stored"] == "cache"  # per-example arrays stay in the cache
    assert len(per_seed[0]["numbers"]["first_kernel"]) == 5


def test_reset_restores_optimizer_and_reproduces_a_replicate(tmp_path):
    run = _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0", "--no-cache", "--seeds", "2",
                               "--epochs", "2"])
    d = run.load_data(n_train=64)
    model = _tiny(d, rate=0.3)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    weights = lambda m: {"w": np.concatenate([w.ravel() for w in m.get_weights()])}  # noqa: E731
    first = run.replicates("first", model, d, measure=weights, batch_size=16)
    run.reset(model, 1)
    for v in model.optimizer.variables:
        if "momentum" in v.path:
            assert not np.any(keras.ops.convert_to_numpy(v))  # momenta back to zero
    again = run.replicates("again", model, d, measure=weights, batch_size=16)
    # same seed: same initial weights, masks and data order, so the same trained net (within a backend)
    np.testing.assert_allclose(first["w"], again["w"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(first["w"][0], first["w"][1])
    run.finish()


def _weights(model):
    return {"w": np.concatenate([keras.ops.convert_to_numpy(w).ravel() for w in model.weights])}


@pytest.mark.parametrize("shuffle", [False, True])
def test_group_seeds_branch_equals_the_model_trained_alone(tmp_path, shuffle):
    """--group-seeds: a seed trained as a branch of the grouped model is the net it is alone.

    Without shuffling every seed sees the same data order alone too, so every branch must equal its
    replicate trained alone; with shuffling the branches share the base seed's order, so the first seed's
    branch equals the first replicate alone and the others differ from theirs only through the order.
    The model has no random layer, momentum, an L2 penalty and batch norm (non-trainable state).
    """
    from kreg import models

    def go(extra):
        run = _rep_lesson().start(["--out", str(tmp_path / str(len(extra))), "--verbose", "0", "--seeds", "3",
                                   "--epochs", "2", *extra])
        d = run.load_data(n_train=96)
        net = models.mlp(d.info.input_shape, 10, hidden=(8, 6), batchnorm=True,
                         kernel_regularizer=keras.regularizers.L2(1e-3))
        net.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        reps = run.replicates("arm", net, d, measure=_weights, batch_size=16, shuffle=shuffle)
        res = run.finish()
        return reps, res

    alone, _ = go([])
    grouped, res = go(["--group-seeds"])
    assert res["replicates"]["arm"]["grouped"] == [0, 1, 2]
    assert res["config"]["group_seeds"] is True
    same = range(3) if not shuffle else range(1)
    for i in same:
        np.testing.assert_allclose(grouped["w"][i], alone["w"][i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grouped.history("loss")[i], alone.history("loss")[i], rtol=1e-5)
        np.testing.assert_allclose(grouped.history("val_accuracy")[i], alone.history("val_accuracy")[i])
    assert not np.allclose(grouped["w"][0], grouped["w"][1])  # the branches are different nets
    if shuffle:  # the other seeds saw another data order than alone
        assert not np.allclose(grouped["w"][1], alone["w"][1], rtol=1e-5, atol=1e-6)


def test_group_seeds_branch_draws_the_masks_it_draws_alone(tmp_path):
    """A branch with dropout draws the same masks as the model alone (its SeedGenerators restart from the
    replicate's seed), so without shuffling every branch is again the replicate trained alone."""
    def go(extra):
        run = _rep_lesson().start(["--out", str(tmp_path / str(len(extra))), "--verbose", "0", "--seeds", "2",
                                   "--epochs", "2", *extra])
        d = run.load_data(n_train=96)
        reps = run.replicates("arm", _tiny(d, rate=0.5), d, measure=_weights, batch_size=16, shuffle=False)
        run.finish()
        return reps

    alone, grouped = go([]), go(["--group-seeds"])
    np.testing.assert_allclose(grouped["w"], alone["w"], rtol=1e-5, atol=1e-6)


def test_group_seeds_reuses_the_cache_and_falls_back_with_callbacks(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--seeds", "2", "--epochs", "1", "--group-seeds"]
    run = _rep_lesson().start(argv)
    d = run.load_data(n_train=64)
    first = run.replicates("arm", _tiny(d), d, measure=_weights, batch_size=32)
    stop = keras.callbacks.EarlyStopping(patience=1)
    run.replicates("with callbacks", _tiny(d), d, measure=_weights, batch_size=32, callbacks=[stop])
    out = capsys.readouterr().out
    assert "seeds 1, 2/2 as one model" in out
    assert "trained one seed at a time (the arm fits with callbacks" in out
    run.finish()
    run = _rep_lesson().start([*argv, "--seeds", "3"])
    d = run.load_data(n_train=64)
    more = run.replicates("arm", _tiny(d), d, measure=_weights, batch_size=32)
    out = capsys.readouterr().out
    assert out.count("reused from the cache") == 2 and "seed 3/3 as one model" in out
    np.testing.assert_array_equal(more["w"][:2], first["w"])
    run.finish()


def test_group_seeds_rejects_devices_and_spread(tmp_path):
    with pytest.raises(ValueError, match="`--group-seeds`.*--spread seeds"):
        _rep_lesson().parse(["--group-seeds", "--devices", "2", "--spread", "seeds"])


def test_cache_reuses_resumes_and_invalidates(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--epochs", "1", "--seeds", "2"]

    def go(extra=(), arm_config=None, fail_at=None):
        run = _rep_lesson().start([*argv, *extra])
        d = run.load_data(n_train=64)
        calls = []

        def work(rep):
            if fail_at is not None and rep.index == fail_at:
                raise KeyboardInterrupt
            calls.append(rep.seed)
            rep.fit(_model, d, batch_size=32)
            return {"acc": run.per_example(_model, *d.val)["correct"].mean()}

        _model = _tiny(d)
        reps = run.replicates("arm", work=work, config=arm_config)
        run.finish()
        return calls, reps

    calls, first = go()
    assert calls == [123, 124]
    calls, again = go()
    assert calls == [] and np.array_equal(first["acc"], again["acc"])  # all reused
    assert "reused from the cache" in capsys.readouterr().out
    calls, more = go(["--seeds", "3"])
    assert calls == [125] and np.array_equal(more["acc"][:2], first["acc"])  # only the new seed trains
    calls, _ = go(arm_config={"lr": 0.5})
    assert calls == [123, 124]  # another configuration: nothing reused
    calls, _ = go(["--no-cache"])
    assert calls == [123, 124]
    # an interrupted run keeps its finished replicates, and the next run resumes from them
    with pytest.raises(KeyboardInterrupt):
        go(arm_config={"lr": 0.25}, fail_at=1)
    calls, _ = go(arm_config={"lr": 0.25})
    assert calls == [124]
    assert not list(tmp_path.rglob("*.tmp"))
    entries = list((tmp_path / "cache" / "arm").glob("seed123-*.npz"))
    assert len(entries) == 1  # stale entries of the same arm and seed are removed


def test_cache_ignores_changed_code(tmp_path, monkeypatch):
    run = _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0"])
    run.load_data(n_train=64)
    before = run._cache_path("arm", 1, {})
    run._code = None
    monkeypatch.setattr(lesson_mod, "_code_hash", lambda source: "another version of the code")
    assert run._cache_path("arm", 1, {}) != before
    run.finish()


def test_damaged_cache_entry_is_retrained(tmp_path):
    run = _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0", "--seeds", "2", "--epochs", "1"])
    d = run.load_data(n_train=64)
    m = _tiny(d)
    run.replicates("arm", m, d, measure=lambda model: {"x": 1.0}, batch_size=32)
    entry = next((tmp_path / "cache" / "arm").glob("seed123-*.npz"))
    entry.write_bytes(b"not a zip")
    calls = []
    run.replicates("arm", m, d, measure=lambda model: calls.append(1) or {"x": 2.0}, batch_size=32)
    assert calls == [1]
    run.finish()


def _claim_run(tmp_path, *extra):
    return _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0", *extra])


def test_claim_outcomes_and_console_line(tmp_path, capsys):
    from kreg import stats

    run = _claim_run(tmp_path)
    est = stats.estimate(lambda m: m["a"] - m["b"], {"a": np.array([0.051, 0.049, 0.050]),
                                                      "b": np.array([0.020, 0.021, 0.019])})
    assert run.claim("a beats b", est, direction="greater", margin="m", unit="pp", compare=(0.05, 0.02)) == "holds"
    assert run.claim("a equals b", est, direction="agree", margin=0.01, unit="pp") == "does not hold"
    assert run.claim("a beats b by 5 pp", est, direction="greater", margin=0.03, unit="pp") == "inconclusive"
    assert run.exact("an identity", 3e-7, tolerance=1e-5) == "holds"
    res = run.finish()
    out = capsys.readouterr().out
    assert "CLAIM holds: a beats b: 5.00 -> 2.00 pp, difference 3.00 pp [95% CI" in out
    assert "3 seeds; asserted > 1.00 pp" in out
    assert "CLAIM does not hold: a equals b" in out and "CLAIM inconclusive: a beats b by 5 pp" in out
    assert "EXACT holds: an identity: max |difference| 3.00e-07, tolerance 1e-05" in out
    c = res["claims"][0]
    assert c["kind"] == "empirical" and c["margin"] == 0.01 and c["margin_name"] == "m" and len(c["per_seed"]) == 3


def test_quick_never_decides_but_checks_exact(tmp_path, capsys):
    from kreg import stats

    run = _claim_run(tmp_path, "--quick")
    est = stats.estimate(lambda m: m["a"], {"a": np.array([1.0, 1.1])})
    assert run.claim("big effect", est, direction="greater", margin="m") == "inconclusive"
    assert run.exact("broken identity", 1.0, tolerance=1e-5) == "does not hold"
    run.finish()
    out = capsys.readouterr().out
    assert "CLAIM inconclusive (quick setting): big effect" in out
    assert "EXACT does not hold: broken identity" in out


def test_margin_override_and_bad_margins(tmp_path):
    run = _claim_run(tmp_path, "--margin", "m=0.02")
    assert run.margin("m") == 0.02
    run.finish()
    with pytest.raises(ValueError, match=r"`--margin`.*Received: margin='m=-1'"):
        _rep_lesson().parse(["--margin", "m=-1"])
    with pytest.raises(ValueError, match=r"`--margin`.*one of \['m'\]"):
        _rep_lesson().parse(["--margin", "other=1"])
    with pytest.raises(ValueError, match=r"`margins`.*Received: margins\['m'\]=-0.5"):
        Lesson("l97", title="t", decks="0", margins={"m": -0.5})


def test_seeds_flag(tmp_path):
    with pytest.raises(ValueError, match=r"`--seeds`.*Received: seeds=0"):
        _rep_lesson().parse(["--seeds", "0"])
    assert _rep_lesson().parse(["--seeds", "4"]).seeds == 4
    run = _rep_lesson().start(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    assert run.seeds == [123, 124]  # quick_seeds
    run.finish()


def test_kreg_args_environment(monkeypatch):
    monkeypatch.setenv("KREG_ARGS", "--seeds 4 --seed 9")
    monkeypatch.setattr("sys.argv", ["lesson.py", "--seed", "11"])
    args = _rep_lesson().parse()
    assert args.seeds == 4 and args.seed == 11  # the command line wins over $KREG_ARGS
    monkeypatch.setenv("KREG_ARGS", "--seeds 2 --colour blue")
    with pytest.raises(ValueError, match=r"`--colour` \(from \$KREG_ARGS\).*Received: '--colour blue'"):
        _rep_lesson().parse()
    monkeypatch.setenv("KREG_ARGS", "--seeds '4")
    with pytest.raises(ValueError, match=r"`KREG_ARGS`"):
        _rep_lesson().parse()


def test_notebook_kernel_ignores_its_own_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/x/ipykernel_launcher.py", "-f", "/tmp/kernel.json"])
    monkeypatch.setenv("KREG_ARGS", "--seeds 3")
    assert _rep_lesson().parse().seeds == 3


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="TensorFlow's own logs are expected there")
def test_console_has_no_tensorflow_lines(tmp_path):
    """Under JAX or PyTorch a lesson's start prints no absl/oneDNN/CUDA-stub lines (Keras imports TF to seed it)."""
    import subprocess
    import sys

    code = ("from kreg.lesson import Lesson\n"
            "run = Lesson('l96', title='t', decks='0', dataset='digits', fallback='digits').start("
            f"['--quick', '--out', {str(tmp_path)!r}])\n"
            "import sys; assert 'tensorflow' in sys.modules  # imported, but quietly\n"
            "run.finish()\n")
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    noise = [line for line in (proc.stdout + proc.stderr).splitlines()
             if "absl" in line or "oneDNN" in line or "cuda" in line.lower() or line.startswith(("I0000", "W0000"))]
    assert not noise, noise


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data pipeline is used under TensorFlow only")
def test_tensorflow_batches_are_reshuffled_every_epoch():
    x = np.arange(64, dtype="float32").reshape(-1, 1)
    y = np.arange(64)
    ds = lesson_mod.shuffled_batches(x, y, 64, seed=3)
    epoch1, epoch2 = ([int(v) for v in b[1].numpy()] for b in (next(iter(ds)), next(iter(ds))))
    assert sorted(epoch1) == list(range(64)) and epoch1 != epoch2  # a new order every epoch
    again = lesson_mod.shuffled_batches(x, y, 64, seed=3)
    assert [int(v) for v in next(iter(again))[1].numpy()] == epoch1  # reproducible from the seed


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data pipeline is used under TensorFlow only")
def test_harness_fits_tensorflow_through_the_reshuffled_pipeline(tmp_path):
    """Issue 14 defect 17: Keras's own array pipeline repeats one batch order per epoch once seeded."""
    import tensorflow as tf

    run = _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0", "--epochs", "3", "--no-cache"])
    d = run.load_data(n_train=64)
    model = _tiny(d)
    seen = {}
    real_fit = model.fit

    def spy(x=None, y=None, **kwargs):
        seen["x"], seen["batch_size"] = x, kwargs.get("batch_size")
        return real_fit(x, y, **kwargs)

    model.fit = spy
    run.fit("tiny", model, d, batch_size=16)
    assert isinstance(seen["x"], tf.data.Dataset) and seen["batch_size"] is None
    orders = [[int(v) for v in np.concatenate([b[1].numpy() for b in seen["x"]])] for _ in range(2)]
    assert orders[0] != orders[1]  # a new order for every epoch
    run.finish()


def test_validation_arrays_run_as_a_batched_pipeline_under_tensorflow_with_the_same_numbers(tmp_path):
    """Keras rebuilds an array pipeline at every epoch's validation under TF; the harness hands it tf.data."""
    run = _rep_lesson().start(["--out", str(tmp_path), "--verbose", "0", "--epochs", "2", "--no-cache"])
    d = run.load_data(n_train=64)
    xv, yv = d.x_val[:50], d.y_val[:50]
    sw = np.linspace(0.5, 2.0, len(yv)).astype("float32")
    model = _tiny(d)
    seen = []
    real_fit = model.fit

    def spy(x=None, y=None, **kwargs):
        seen.append((kwargs.get("validation_data"), kwargs.get("validation_batch_size")))
        return real_fit(x, y, **kwargs)

    model.fit = spy
    try:
        for val in ((xv, yv), (xv, yv, sw)):
            h = run.fit("tiny", model, x=d.x_train, y=d.y_train, validation_data=val, batch_size=16,
                        validation_batch_size=8)
            after = model.evaluate(*val[:2], sample_weight=val[2] if len(val) == 3 else None, batch_size=7,
                                   verbose=0, return_dict=True)  # the trained weights, other batches
            np.testing.assert_allclose(h.history["val_loss"][-1], after["loss"], rtol=1e-5)
            np.testing.assert_allclose(h.history["val_accuracy"][-1], after["accuracy"], rtol=1e-6)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            assert all(isinstance(v, tf.data.Dataset) and size is None for v, size in seen)
            batches = [len(b[0]) for b in seen[0][0]]
            assert batches == [8] * 6 + [2]  # validation_batch_size kept, rows in order
            np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in seen[0][0]]), yv)
        else:  # JAX and PyTorch get the arrays as given
            assert all(isinstance(v, tuple) and size == 8 for v, size in seen)
    finally:
        run.finish()
    # what is not a tuple of same-length arrays is left to Keras
    for val in ([d.x_val, d.y_val[:-1]], ({"a": d.x_val}, d.y_val), (d.x_val,), "no"):
        assert lesson_mod.validation_batches(val, 8) == (val, False)


def test_array_fit_arguments_key_the_cache_by_content():
    a = np.zeros((2000, 3))
    b = a.copy()
    b[1000, 1] = 1.0  # same repr (numpy elides the middle), different data
    assert repr(a) == repr(b)
    assert lesson_mod._fingerprint(a) != lesson_mod._fingerprint(b)
    assert lesson_mod._fingerprint((a, {"w": a})) == lesson_mod._fingerprint((a.copy(), {"w": a.copy()}))


def test_tensorflow_fits_run_several_steps_per_call_with_the_same_weights(tmp_path):
    """Under TensorFlow the harness runs 32 steps per call unless a callback needs every batch; same weights."""
    from kreg import callbacks as kc
    from kreg import models

    run = _toy_lesson().start(["--out", str(tmp_path), "--verbose", "0", "--no-cache"])
    d = run.load_data()
    steps = -(-len(d.x_train) // 32)

    def train(cbs, model=None):
        model = model or models.compile_classifier(models.mlp(d.info.input_shape, 10, hidden=(16,)), "sgd",
                                                   learning_rate=0.1)
        run._build_for_fit(model, d.x_train, d.y_train)  # as rep.fit does: building draws no batch later
        run.reset(model, 7)
        run._fit("spe", model, d, epochs=2, batch_size=32, callbacks=cbs)
        return model

    try:
        fast = train([])
        losses = kc.BatchLosses()
        stepwise = train([losses])
        expected = lesson_mod.TF_STEPS_PER_EXECUTION if keras.backend.backend() == "tensorflow" else 1
        assert fast.steps_per_execution == expected and stepwise.steps_per_execution == 1
        assert len(losses.losses) == 2 * steps  # the per-batch callback saw every step
        for a, b in zip(fast.get_weights(), stepwise.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        again = train([kc.BatchLosses()], model=fast)  # the same model, now with a per-batch callback
        assert again.steps_per_execution == 1
        for a, b in zip(again.get_weights(), stepwise.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # switching back and forth reuses each setting's compiled train function (no new trace) ...
        fn_one = again.train_function
        train([], model=again)
        fn_many = again.train_function
        assert again.steps_per_execution == expected
        train([kc.BatchLosses()], model=again)
        assert again.train_function is fn_one and again.steps_per_execution == 1
        train([], model=again)
        assert again.train_function is fn_many
        # ... until the model is compiled again: then nothing traced before is used
        again.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        train([], model=again)
        assert again.train_function is not fn_many and again.steps_per_execution == expected
        own = models.compile_classifier(models.mlp(d.info.input_shape, 10, hidden=(16,)), "sgd")
        if keras.backend.backend() != "torch":  # Keras: "steps_per_execution must be 1 with the PyTorch backend"
            own.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=4)
            run._fit("own", own, d, epochs=1, batch_size=32)
            assert own.steps_per_execution == 4  # a lesson's own setting is left alone
    finally:
        run.finish()


def test_figure_shows_inline_in_a_notebook(tmp_path, monkeypatch):
    """In a notebook kernel Run.figure displays the PNG as the output of the drawing cell (and still writes it)."""
    display = pytest.importorskip("IPython.display", reason="IPython comes with the docs extra")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(display, "display", lambda obj: shown.append(obj))
    run = _toy_lesson().start(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    run.figure("outside", fig)
    assert shown == []  # a script shows nothing
    monkeypatch.setattr(lesson_mod, "_in_notebook", lambda: True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    run.figure("inside", fig)
    assert len(shown) == 1 and shown[0].data == run._figures["inside.png"]
    run.finish()
    assert (tmp_path / "inside.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "outside.png").is_file()
