"""L11 — Weight initialization (STAT 453 Lecture 11; decks 001, 002).

Reproduces the initialization slides in Keras 3 and checks their claims with
numbers:

1. **Zero initialization never breaks the symmetry** (deck 002, "All zero
   initialization"): every hidden unit of a layer computes the same output,
   receives the same gradient and the same update, so after training all
   units of a layer still have identical incoming weights. Measured as the
   largest difference between two units' incoming weight vectors (and
   biases) after training the STAT 453 MLP from all-zero weights, with ReLU
   (where ``W = 0`` makes every backpropagated gradient zero, deck 002's
   derivation: the hidden weights never move) and with a sigmoid (units do
   move, but in lock-step). A Glorot-initialized net is the contrast.
2. **Glorot keeps tanh's activation variance, He keeps ReLU's** (decks 001,
   002: Var(W) = 1/fan_avg for tanh, 2/fan_in for ReLU, 1/fan_in LeCun).
   The standard deviation of each hidden layer's activations and of the
   backpropagated gradient dL/dz (z the pre-activation) at initialization,
   through a 10-layer tanh MLP and a 10-layer ReLU MLP, for N(0, 0.01),
   Glorot, He and LeCun (normal) initializers. Verdict from the ratio of the
   last to the first hidden layer's activation std: near 1 for the matched
   initializer, collapsed for N(0, 0.01).
3. **A tiny initialization stalls early training** (STAT 453 L11 notebooks:
   N(0, 0.001) is stuck at ~11% for ~10 epochs, test 96.80%; Kaiming-uniform
   97.63%): the 784-75-45-10 ReLU MLP, SGD lr 0.1, from both initializers,
   zero biases.

Gradients w.r.t. intermediate tensors have no backend-agnostic Keras API, so
``_grad`` below picks the backend's own autodiff (``jax.grad``,
``tf.GradientTape`` or ``torch.autograd.grad``) from
``keras.backend.backend()``; the forward pass is the Keras model's own layers.

Run:  KERAS_BACKEND=jax python lessons/l11_init.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson, bad_flag

INITS = ("N(0, 0.01)", "Glorot", "He", "LeCun")


def _args(p):
    p.add_argument("--depth", type=int, default=10, help="hidden layers of the deep tanh / ReLU MLPs")
    p.add_argument("--width", type=int, default=256, help="units per hidden layer of the deep MLPs")
    p.add_argument("--probe-size", type=int, default=512, help="examples in the batch the std is measured on")
    p.add_argument("--batch-size", type=int, default=None,
                   help="training batch; default 256 (STAT 453) on MNIST-sized data, 32 on the small digits")
    p.add_argument("--stall-epochs", type=int, default=None,
                   help="epochs of the N(0, 0.001) vs Kaiming runs; default 50 (STAT 453) on MNIST-sized data, "
                   "300 on the small digits, whose 8x8 inputs give the tiny init an even weaker signal")
    p.add_argument("--learning-rate", type=float, default=0.1, help="SGD learning rate (STAT 453: 0.1)")


LESSON = Lesson(
    "l11_init",
    title="Weight initialization: zero-init symmetry, activation/gradient std per layer, tiny init stalls",
    decks="001, 002",
    dataset="mnist",
    fallback="mnist5k",
    epochs=50,
    reference="STAT 453 L11 notebooks, MLP 784-75-45-10 ReLU, SGD lr 0.1, batch 256: N(0, 0.001) init "
    "stuck ~11% for ~10 epochs, test 96.80%; Kaiming-uniform init test 97.63%",
    add_arguments=_args,
)


def _grad(fn, tensors):
    """Gradients of the scalar ``fn(tensors)`` w.r.t. each tensor in the list, as numpy arrays.

    Keras 3 has no backend-agnostic ``grad``; this helper dispatches on
    ``keras.backend.backend()`` to ``jax.grad``, ``tf.GradientTape`` or
    ``torch.autograd.grad``. ``fn`` must be written with ``keras.ops`` and
    Keras layers so it traces under every backend.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        grads = jax.grad(fn)([keras.ops.convert_to_tensor(t) for t in tensors])
    elif backend == "tensorflow":
        import tensorflow as tf

        ts = [tf.convert_to_tensor(t) for t in tensors]
        with tf.GradientTape() as tape:
            tape.watch(ts)
            out = fn(ts)
        grads = tape.gradient(out, ts)
    elif backend == "torch":
        import torch

        ts = [keras.ops.convert_to_tensor(t).detach().requires_grad_(True) for t in tensors]
        grads = torch.autograd.grad(fn(ts), ts)
    else:
        raise NotImplementedError(f"no autodiff helper for backend {backend!r}")
    return [keras.ops.convert_to_numpy(g) for g in grads]


def layer_stats(model, x, y):
    """Per hidden layer: std of the activations h_l and of the backpropagated gradient dL/dz_l.

    The forward pass walks the model's own layers; a zero tensor ``e_l`` is
    added to every hidden pre-activation ``z_l``, so dL/de_l = dL/dz_l
    (per example: the loss is summed over the batch, not averaged).
    """
    import keras
    import numpy as np

    hidden = [layer for layer in model.layers if layer.name.startswith("hidden_")]
    x = keras.ops.convert_to_tensor(x)
    acts = []

    def loss(eps):
        h, k = x, 0
        acts.clear()
        for layer in model.layers:
            h = layer(h)
            if layer.name.startswith("hidden_"):
                h = h + eps[k]
                k += 1
            elif isinstance(layer, keras.layers.Activation):
                acts.append(h)
        ce = keras.losses.sparse_categorical_crossentropy(y, h, from_logits=True)
        return keras.ops.sum(ce)

    eps = [np.zeros((len(y), layer.units), "float32") for layer in hidden]
    grads = _grad(loss, eps)
    loss([keras.ops.convert_to_tensor(e) for e in eps])  # eager pass: under jax.grad `acts` held tracers
    act_std = [float(np.std(keras.ops.convert_to_numpy(a))) for a in acts]
    return act_std, [float(np.std(g)) for g in grads]


def unit_spread(model):
    """Largest difference between two hidden units' incoming weights (or biases), over hidden layers."""
    import numpy as np

    spread = 0.0
    for layer in model.layers:
        if layer.name.startswith("hidden_"):
            for w in layer.get_weights():  # kernel (in, units), bias (units,)
                w = w.reshape(-1, w.shape[-1])
                spread = max(spread, float(np.max(w.max(axis=1) - w.min(axis=1))))
    return spread


def main(argv=None):
    run = LESSON.start(argv)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots

    args = run.args
    for name in ("depth", "width", "probe_size", "stall_epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise bad_flag(name, getattr(args, name), "a positive integer")
    if not args.learning_rate > 0:
        raise bad_flag("learning_rate", args.learning_rate, "a float > 0")
    data = run.load_data()
    small_data = len(data.x_train) < 5000
    batch = args.batch_size or (32 if small_data else 256)
    if batch < 1:
        raise bad_flag("batch_size", batch, "a positive integer")
    lr = args.learning_rate
    depth, width = run.pick(args.depth, min(args.depth, 4)), run.pick(args.width, min(args.width, 32))
    shape, k = data.info.input_shape, data.info.num_classes
    run.total_runs = 5
    stall_epochs = run.pick(args.stall_epochs or (300 if small_data else 50), run.epochs)
    run.config(batch_size=batch, learning_rate=lr, optimizer="SGD", depth=depth, width=width,
               probe_size=args.probe_size, stall_epochs=stall_epochs)

    # ---------------------------------------------------------------- 2: std per layer at init
    initializers = {
        "N(0, 0.01)": lambda: keras.initializers.RandomNormal(stddev=0.01),
        "Glorot": lambda: keras.initializers.GlorotNormal(),
        "He": lambda: keras.initializers.HeNormal(),
        "LeCun": lambda: keras.initializers.LecunNormal(),
    }
    n_probe = min(args.probe_size, len(data.x_train))
    xp, yp = data.x_train[:n_probe], data.y_train[:n_probe]
    stats = {}
    for act in ("tanh", "relu"):
        stats[act] = {}
        for name, init in initializers.items():
            run.reseed()
            net = models.mlp(shape, k, hidden=(width,) * depth, activation=act, kernel_initializer=init(),
                             name=f"deep_{act}")
            a_std, g_std = layer_stats(net, xp, yp)
            stats[act][name] = {"activation_std": a_std, "gradient_std": g_std,
                                "activation_ratio": a_std[-1] / a_std[0],
                                "gradient_ratio": g_std[0] / g_std[-1] if g_std[-1] > 0 else float("nan")}
            run.say(f"   {act:4s} {name:10s} activation std layer 1 -> {depth}: {a_std[0]:.3g} -> "
                     f"{a_std[-1]:.3g}   gradient std: {g_std[0]:.3g} -> {g_std[-1]:.3g}")
    run.metric("layer_std", stats)

    layer_idx = list(range(1, depth + 1))
    for act in ("tanh", "relu"):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
        plots.line_plot(layer_idx, {n: s["activation_std"] for n, s in stats[act].items()},
                        xlabel="hidden layer", ylabel="std of activations h", logy=True, ax=ax1,
                        title="forward: activations")
        plots.line_plot(layer_idx, {n: s["gradient_std"] for n, s in stats[act].items()},
                        xlabel="hidden layer", ylabel="std of gradient dL/dz", logy=True, ax=ax2,
                        title="backward: gradients w.r.t. pre-activations")
        fig.suptitle(f"{depth}-layer {act} MLP (width {width}) at initialization, {n_probe} "
                     f"{data.info.name} examples")
        fig.tight_layout()
        run.figure(f"std_per_layer_{act}", fig)

    def ratio(act, name, key="activation_ratio"):
        return stats[act][name][key]

    def near_one(r):
        return 0.5 <= r <= 2.0

    tanh_ok = near_one(ratio("tanh", "Glorot")) and ratio("tanh", "N(0, 0.01)") < 1e-3
    relu_ok = (near_one(ratio("relu", "He")) and ratio("relu", "N(0, 0.01)") < 1e-3
               and ratio("relu", "Glorot") < 0.5 * ratio("relu", "He"))
    run.claim(
        "Glorot keeps the activation std of a deep tanh net; N(0, 0.01) collapses it",
        holds=tanh_ok,
        evidence=f"std(layer {depth}) / std(layer 1): Glorot {ratio('tanh', 'Glorot'):.2f}, "
        f"LeCun {ratio('tanh', 'LeCun'):.2f}, He {ratio('tanh', 'He'):.2f}, "
        f"N(0, 0.01) {ratio('tanh', 'N(0, 0.01)'):.1e}; gradient std layer 1 / layer {depth}: "
        f"Glorot {ratio('tanh', 'Glorot', 'gradient_ratio'):.2f}, "
        f"N(0, 0.01) {ratio('tanh', 'N(0, 0.01)', 'gradient_ratio'):.1e}",
        **{n: s["activation_ratio"] for n, s in stats["tanh"].items()},
    )
    run.claim(
        "He keeps the activation std of a deep ReLU net; Glorot and LeCun halve the variance per layer",
        holds=relu_ok,
        evidence=f"std(layer {depth}) / std(layer 1): He {ratio('relu', 'He'):.2f}, "
        f"Glorot {ratio('relu', 'Glorot'):.3f}, LeCun {ratio('relu', 'LeCun'):.3f} "
        f"(theory 2^-{(depth - 1) / 2:g} = {2 ** (-(depth - 1) / 2):.3f}), "
        f"N(0, 0.01) {ratio('relu', 'N(0, 0.01)'):.1e}; gradient std layer 1 / layer {depth}: "
        f"He {ratio('relu', 'He', 'gradient_ratio'):.2f}, Glorot {ratio('relu', 'Glorot', 'gradient_ratio'):.3f}",
        **{n: s["activation_ratio"] for n, s in stats["relu"].items()},
    )

    # ---------------------------------------------------------------- 1: zero init symmetry
    def build(init, activation="relu"):
        run.reseed()
        net = models.mlp(shape, k, activation=activation, kernel_initializer=init)  # biases start at 0
        return models.compile_classifier(net, learning_rate=lr)

    zero_nets = {"zeros, ReLU": build("zeros"), "zeros, sigmoid": build("zeros", "sigmoid"),
                 "Glorot, sigmoid": build("glorot_uniform", "sigmoid")}
    zero_res = {}
    for label, net in zero_nets.items():
        w0 = [layer.get_weights() for layer in net.layers if layer.name.startswith("hidden_")]
        run.fit(label, net, data, batch_size=batch)
        w1 = [layer.get_weights() for layer in net.layers if layer.name.startswith("hidden_")]
        moved = max(float(np.max(np.abs(a - b))) for l0, l1 in zip(w0, w1) for a, b in zip(l0, l1))
        zero_res[label] = {"unit_spread": unit_spread(net), "hidden_weight_change": moved,
                           "test_accuracy": run.evaluate(net, *data.test)["accuracy"]}
    run.metric("zero_init", zero_res)
    zr, zs, gs = zero_res["zeros, ReLU"], zero_res["zeros, sigmoid"], zero_res["Glorot, sigmoid"]
    run.claim(
        "zero initialization keeps all hidden units of a layer identical (symmetry never broken)",
        holds=zr["unit_spread"] <= 1e-6 and zs["unit_spread"] <= 1e-4 * zs["hidden_weight_change"]
        and zs["hidden_weight_change"] > 1e-3 and gs["unit_spread"] > 0.1,
        evidence=f"max difference between units' incoming weights after training: zeros+ReLU "
        f"{zr['unit_spread']:.1e} (hidden weights moved by {zr['hidden_weight_change']:.1e}: dL/dW = 0), "
        f"zeros+sigmoid {zs['unit_spread']:.1e} while its hidden weights moved by "
        f"{zs['hidden_weight_change']:.2f}, Glorot+sigmoid {gs['unit_spread']:.2f}; test acc "
        f"{zr['test_accuracy']:.1%} / {zs['test_accuracy']:.1%} / {gs['test_accuracy']:.1%}",
        **{f"{lbl}: {key}": v for lbl, r in zero_res.items() for key, v in r.items()},
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, label in zip(axes, ("zeros, sigmoid", "Glorot, sigmoid")):
        w = zero_nets[label].get_layer("hidden_1").get_weights()[0]
        im = ax.imshow(w.T, aspect="auto", cmap="coolwarm")
        ax.set_xlabel("input feature")
        ax.set_ylabel("hidden unit")
        ax.set_title(f"{label} init: hidden_1 weights after training", fontsize=10)
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    run.figure("zero_init_weights", fig)

    # ---------------------------------------------------------------- 3: tiny init vs Kaiming
    tiny = build(keras.initializers.RandomNormal(stddev=0.001))
    kaiming = build(keras.initializers.HeUniform())
    curves, final = {}, {}
    for label, net in (("N(0, 0.001)", tiny), ("Kaiming uniform", kaiming)):
        curves[label] = run.fit(label, net, data, batch_size=batch, epochs=stall_epochs)
        final[label] = run.evaluate(net, *data.test)["accuracy"]
    run.metric("test_accuracy", final)
    chance = 1.5 / k  # "stuck": validation accuracy below 1.5x chance (STAT 453: ~11%)
    stuck = {lbl: int(np.sum(np.asarray(h.history["val_accuracy"]) < chance)) for lbl, h in curves.items()}
    run.metric("epochs_stuck", stuck)
    va = {lbl: np.asarray(h.history["val_accuracy"]) for lbl, h in curves.items()}
    escape = {lbl: (int(np.argmax(v > 0.5)) + 1 if np.any(v > 0.5) else None) for lbl, v in va.items()}
    run.metric("first_epoch_val_acc_over_50pct", escape)
    esc = escape["N(0, 0.001)"]
    run.claim(
        "a tiny initialization N(0, 0.001) stalls early training; Kaiming does not",
        holds=stuck["N(0, 0.001)"] >= 2 and stuck["Kaiming uniform"] == 0,
        evidence=f"epochs with val acc < {chance:.0%}: N(0, 0.001) {stuck['N(0, 0.001)']}, Kaiming "
        f"{stuck['Kaiming uniform']}; val acc first > 50% at epoch "
        f"{esc if esc else f'never (in {stall_epochs})'} vs {escape['Kaiming uniform']}; test acc after "
        f"{stall_epochs} epochs {final['N(0, 0.001)']:.2%} vs {final['Kaiming uniform']:.2%} "
        f"(STAT 453 MNIST: ~10 epochs stuck, 96.80% vs 97.63%)",
        epochs_stuck=stuck, first_epoch_over_50pct=escape, test_accuracy=final,
    )
    run.figure("tiny_vs_kaiming", plots.learning_curves(
        curves, title=f"STAT 453 MLP on {data.info.name}: N(0, 0.001) vs Kaiming-uniform init "
        f"(SGD lr {lr:g}, batch {batch})"))
    return run.finish()


if __name__ == "__main__":
    main()
