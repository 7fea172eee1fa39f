"""L11 — Batch normalization (STAT 453 Lecture 11; decks 001, 002, 003).

Reproduces the batch-norm slides in Keras 3 with ``kreg.layers.BatchNorm``
and checks their claims with numbers:

1. **kreg's BatchNorm is Ioffe & Szegedy's Algorithm 1**: on the same batch
   its training-mode output equals ``keras.layers.BatchNormalization``'s
   (max abs difference printed); its running variance accumulates the
   unbiased m/(m-1) sigma_B^2 of Algorithm 2, Keras's the biased one.
   ``kreg.layers.estimate_batchnorm_statistics`` (Algorithm 2, step 10)
   replaces the running averages by population estimates E_B[mu_B],
   m/(m-1) E_B[sigma_B^2]; test accuracy with both is reported.
2. **BN trains at learning rates where the plain net diverges or stalls**
   (deck 002 "BN allows higher learning rates", deck 003 "benefit of batch
   norm disappears at small learning rates", Bjorck et al. 2018): the STAT
   453 MLP 784-75-45-10 with and without BN after each hidden Dense
   (bias-free, as in the STAT 453 notebook: test 97.77%), SGD at learning
   rates 0.01, 0.1 and 1.0.
3. **BN is scale invariant** (deck 002): BN(W u) = BN((a W) u), so the
   trained BN net's outputs do not change when its first hidden kernel is
   multiplied by a, in training mode (batch statistics) and in inference
   after Algorithm 2 re-estimates the statistics; the plain net's do.

Run:  KERAS_BACKEND=jax python lessons/l11_batchnorm.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math
import warnings

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--learning-rates", type=float, nargs="+", default=(0.01, 0.1, 1.0),
                   help="SGD learning rates compared with and without BN")
    p.add_argument("--scales", type=float, nargs="+", default=(0.1, 0.5, 2.0, 10.0, 100.0),
                   help="factors a multiplying the first hidden kernel in the scale-invariance check")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")


LESSON = Lesson(
    "l11_batchnorm",
    title="Batch normalization: Alg. 1 and 2, higher learning rates, scale invariance",
    decks="001, 002, 003",
    dataset="mnist",
    fallback="mnist5k",
    epochs=50,
    reference="STAT 453 L11 batchnorm notebook: MLP 784-75-45-10, BN after each hidden Linear (bias=False), "
    "SGD lr 0.1, batch 256, 50 epochs: test 97.77% (no BN: 97.77%)",
    add_arguments=_args,
)

# torch.nn.BatchNorm1d defaults, as in the STAT 453 notebook: momentum 0.1 (Keras: 0.9), eps 1e-5
MOMENTUM, EPSILON = 0.9, 1e-5


def main(argv=None):
    run = LESSON.start(argv)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import layers, models, plots

    # estimate_batchnorm_statistics calls a sub-model built on `model.inputs` (a list) with one array
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

    args = run.args
    for lr in args.learning_rates:
        if not (math.isfinite(lr) and lr > 0):
            raise bad_flag("learning_rates", list(args.learning_rates), "floats > 0")
    for a in args.scales:
        if not (math.isfinite(a) and a > 0):
            raise bad_flag("scales", list(args.scales), "floats > 0")
    if args.batch_size is not None and args.batch_size < 2:
        raise bad_flag("batch_size", args.batch_size, "an integer >= 2 (batch statistics need two examples)")
    data = run.load_data()
    small_data = len(data.x_train) < 5000
    batch = args.batch_size or (32 if small_data else 256)
    rates = sorted(set(args.learning_rates))
    run.config(batch_size=batch, learning_rates=rates, optimizer="SGD", momentum=MOMENTUM, epsilon=EPSILON,
               scales=list(args.scales))
    shape, k = data.info.input_shape, data.info.num_classes
    run.total_runs = 2 * len(rates)

    # ------------------------------------------------------------ 1: Alg. 1 against Keras
    rng = np.random.default_rng(run.seed)
    checks = {}
    for name, x in (("dense (64, 45)", rng.normal(2.0, 3.0, (64, 45))),
                    ("conv (8, 5, 5, 16)", rng.normal(-1.0, 0.5, (8, 5, 5, 16)))):
        x = x.astype("float32")
        ours = layers.BatchNorm(momentum=MOMENTUM, epsilon=EPSILON)
        ref = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON)
        y_ours = keras.ops.convert_to_numpy(ours(x, training=True))
        y_ref = keras.ops.convert_to_numpy(ref(x, training=True))
        m = x.size // x.shape[-1]
        # moving variance after one step: 0.9 * 1 + 0.1 * v (Keras biased v, kreg unbiased m/(m-1) v)
        v_ours = (keras.ops.convert_to_numpy(ours.moving_variance) - MOMENTUM) / (1 - MOMENTUM)
        v_ref = (keras.ops.convert_to_numpy(ref.moving_variance) - MOMENTUM) / (1 - MOMENTUM)
        checks[name] = {
            "max_abs_diff_training_output": float(np.max(np.abs(y_ours - y_ref))),
            "max_abs_diff_moving_mean": float(np.max(np.abs(keras.ops.convert_to_numpy(ours.moving_mean)
                                                            - keras.ops.convert_to_numpy(ref.moving_mean)))),
            "variance_ratio_kreg_over_keras": float(np.median(v_ours / v_ref)), "m_over_m_minus_1": m / (m - 1),
        }
        run.say(f"   BatchNorm vs keras BatchNormalization, {name}: training output max |diff| "
                 f"{checks[name]['max_abs_diff_training_output']:.1e}, running var ratio "
                 f"{checks[name]['variance_ratio_kreg_over_keras']:.4f} (m/(m-1) = {m / (m - 1):.4f})")
    run.metric("batchnorm_vs_keras", checks)

    # ------------------------------------------------------------ 2: learning-rate sweep
    def build(lr, bn):
        run.reseed()  # same initial weights for every learning rate
        norm = (lambda: layers.BatchNorm(momentum=MOMENTUM, epsilon=EPSILON)) if bn else False
        return models.compile_classifier(models.mlp(shape, k, batchnorm=norm), learning_rate=lr)

    hist, test, nets = {}, {}, {}
    for lr in rates:
        for bn in (False, True):
            label = f"{'BN' if bn else 'no BN'}, lr {lr:g}"
            nets[label] = net = build(lr, bn)
            hist[label] = run.fit(label, net, data, batch_size=batch).history
            loss = np.asarray(hist[label]["loss"], float)
            acc = run.evaluate(net, *data.test)["accuracy"] if np.all(np.isfinite(loss)) else float("nan")
            test[label] = acc
    run.metric("test_accuracy", test)

    def ok(label):  # a run "trains" if its loss stayed finite; accuracy nan otherwise
        return test[label] if math.isfinite(test[label]) else 0.0

    gains = {lr: ok(f"BN, lr {lr:g}") - ok(f"no BN, lr {lr:g}") for lr in rates}
    best = max(ok(label) for label in test)
    helped = [lr for lr in rates if gains[lr] >= 0.05]
    bn_everywhere = all(ok(f"BN, lr {lr:g}") >= best - 0.05 for lr in rates)
    run.metric("bn_gain_per_lr", {f"{lr:g}": g for lr, g in gains.items()})
    desc = "; ".join(f"lr {lr:g}: {ok(f'no BN, lr {lr:g}'):.1%} -> {ok(f'BN, lr {lr:g}'):.1%}"
                     + ("" if math.isfinite(test[f"no BN, lr {lr:g}"]) else " (no BN diverged: NaN loss)")
                     for lr in rates)
    run.claim(
        "BN trains at learning rates where the plain net diverges or stalls",
        holds=bool(helped) and bn_everywhere,
        evidence=f"test acc without -> with BN, {desc}; BN within 5 points of the best run at every lr: "
        f"{bn_everywhere} (STAT 453 MNIST lr 0.1: 97.77% with BN)",
        gains={f"{lr:g}": g for lr, g in gains.items()}, lrs_where_bn_helps_by_5_points=helped,
    )

    # Alg. 2: population statistics instead of running averages, on the lr-0.1-like middle run
    mid = rates[len(rates) // 2]
    bn_net = nets[f"BN, lr {mid:g}"]
    acc_running = run.evaluate(bn_net, *data.test)["accuracy"]
    first_bn = next(layer for layer in bn_net.layers if isinstance(layer, layers.BatchNorm))
    running_mean = keras.ops.convert_to_numpy(first_bn.moving_mean).copy()
    n_updated = layers.estimate_batchnorm_statistics(bn_net, data.x_train, batch_size=batch)
    acc_pop = run.evaluate(bn_net, *data.test)["accuracy"]
    feats = keras.ops.convert_to_numpy(keras.Model(bn_net.inputs[0], first_bn.input)(data.x_train))
    n_full = (len(feats) // batch) * batch or len(feats)
    pop_mean = keras.ops.convert_to_numpy(first_bn.moving_mean)
    mean_err = float(np.max(np.abs(pop_mean - feats[:n_full].mean(0))))
    run.metric("alg2", {"layers_updated": n_updated, "test_acc_running_averages": acc_running,
                        "test_acc_population_statistics": acc_pop,
                        "max_abs_diff_population_mean_vs_data_mean": mean_err,
                        "max_abs_diff_running_vs_population_mean": float(np.max(np.abs(running_mean - pop_mean)))})
    dense_diff = max(c["max_abs_diff_training_output"] for c in checks.values())
    var_ok = all(abs(c["variance_ratio_kreg_over_keras"] - c["m_over_m_minus_1"]) < 1e-3 for c in checks.values())
    run.claim(
        "kreg.layers.BatchNorm computes Algorithm 1 (Keras's training output) and Algorithm 2's statistics",
        holds=dense_diff < 1e-4 and var_ok and mean_err < 1e-4 and abs(acc_pop - acc_running) <= 0.02,
        evidence=f"training output vs keras.layers.BatchNormalization: max |diff| {dense_diff:.1e}; running "
        f"variance ratio = m/(m-1): {var_ok}; Alg. 2 E[x] vs data mean {mean_err:.1e}; test acc with running "
        f"averages {acc_running:.2%} vs Alg. 2 population statistics {acc_pop:.2%}",
        max_abs_diff=dense_diff, test_running=acc_running, test_population=acc_pop,
    )

    # ------------------------------------------------------------ 3: scale invariance BN(Wu) = BN(aWu)
    plain_net = nets[f"no BN, lr {mid:g}"]
    xs = data.x_test[: run.pick(256, 64)]

    def scaled(net, a, bn):
        copy = models.mlp(shape, k, batchnorm=(lambda: layers.BatchNorm(momentum=MOMENTUM, epsilon=EPSILON))
                          if bn else False)
        copy.set_weights(net.get_weights())
        kernel = copy.get_layer("hidden_1").kernel
        kernel.assign(kernel * a)
        return copy

    def logits(net, training):
        return keras.ops.convert_to_numpy(net(xs, training=training)).astype("float64")

    base = {"BN, training mode": logits(bn_net, True), "BN, inference (Alg. 2)": logits(bn_net, False),
            "no BN": logits(plain_net, False)}
    change = {name: [] for name in base}
    scales = sorted(args.scales)
    for a in scales:
        bn_a = scaled(bn_net, a, True)
        layers.estimate_batchnorm_statistics(bn_a, data.x_train, batch_size=batch)
        outs = {"BN, training mode": logits(bn_a, True), "BN, inference (Alg. 2)": logits(bn_a, False),
                "no BN": logits(scaled(plain_net, a, False), False)}
        for name, out in outs.items():
            change[name].append(float(np.max(np.abs(out - base[name])) / np.max(np.abs(base[name]))))
    run.metric("scale_invariance_relative_logit_change", {"scales": scales} | change)
    bn_worst = max(max(change["BN, training mode"]), max(change["BN, inference (Alg. 2)"]))
    big = [a for a in scales if abs(math.log10(a)) >= 1] or scales
    plain_min = min(c for a, c in zip(scales, change["no BN"]) if a in big)
    run.claim(
        "BN's outputs are invariant to the weight scale: BN(Wu) = BN(aWu)",
        holds=bn_worst < 1e-2 and plain_min > 0.1,
        evidence=f"largest relative change of the logits for a in {scales}: BN {bn_worst:.1e} (training mode "
        f"{max(change['BN, training mode']):.1e}, inference {max(change['BN, inference (Alg. 2)']):.1e}; only "
        f"epsilon={EPSILON:g} breaks it at small a) vs no BN >= {plain_min:.2f} for a in {big}",
        bn_worst=bn_worst, plain_min=plain_min,
    )

    # ------------------------------------------------------------ figures
    fig, axes = plt.subplots(1, len(rates) + 1, figsize=(4.2 * (len(rates) + 1), 3.7))
    for ax, lr in zip(axes, rates):
        ys = {}
        for bn in (False, True):
            label = f"{'BN' if bn else 'no BN'}, lr {lr:g}"
            ys[f"{'BN' if bn else 'no BN'} (val)"] = np.asarray(hist[label]["val_accuracy"], float) * 100
        epochs = np.arange(1, len(next(iter(ys.values()))) + 1)
        plots.line_plot(epochs, ys, xlabel="epoch", ylabel="validation accuracy (%)", markers=False, ax=ax,
                        title=f"SGD lr {lr:g}")
        ax.set_ylim(0, 100)
    plots.line_plot(rates, {"no BN": [ok(f"no BN, lr {lr:g}") * 100 for lr in rates],
                            "BN": [ok(f"BN, lr {lr:g}") * 100 for lr in rates]},
                    xlabel="learning rate", ylabel="test accuracy (%) (0 = diverged)", logx=True, ax=axes[-1],
                    title=f"after {run.epochs} epochs")
    fig.suptitle(f"STAT 453 MLP on {data.info.name}, with and without BatchNorm (batch {batch})")
    fig.tight_layout()
    run.figure("learning_rates", fig)
    floor = 1e-9  # log axis: an exact 0 is drawn at 1e-9
    fig = plots.line_plot(scales, {n: np.maximum(v, floor) for n, v in change.items()},
                          xlabel="scale a of the first hidden kernel", ylabel="max |change of logits| / max |logit|",
                          logx=True, logy=True, title=f"BN(Wu) = BN(aWu): only eps = {EPSILON:g} breaks it")
    run.figure("scale_invariance", fig)
    return run.finish()


if __name__ == "__main__":
    main()
