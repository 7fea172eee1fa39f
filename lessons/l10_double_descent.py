"""L10 — Double descent (decks 003 "Deep Double Descent", 004 "Double descent").

Deck 004: test error against model size first follows the classical U
(under- then over-fitting), peaks "where the effective model complexity
equals the number of data points in the training set" (the interpolation
threshold, where the model first fits its training set), then falls again
as capacity grows past it. Deck 003 shows it for neural networks (Belkin
et al. 2019; Nakkiran et al. 2019, "Deep Double Descent") and reads the
second descent as implicit regularization: among the many interpolating
solutions, larger models find "simpler" ones.

The experiment (Nakkiran et al.'s model-wise double descent, as in
Greydanus's MNIST-1D and the Understanding Deep Learning notebook 8.3, cut
down to a few CPU minutes):

* MNIST-1D (40 features, 10 classes), a training subset of ``--n-train``
  examples (default 1000) with ``--label-noise`` (default 20%) of the
  labels replaced by random classes (``kreg.data.corrupt_labels``); the
  test labels are clean.
* One-hidden-layer MLPs 40-h-10 (ReLU) over a log-spaced grid of widths
  h = 2 ... 1024 (about 100 to 52,000 parameters), trained without any
  regularization by Adam (lr 0.01, batch 100) for ``--epochs`` (300): long
  enough for the wide nets to fit the noisy labels exactly.
* All widths are trained side by side in one Keras model
  (``kreg.models.width_sweep_mlp``: independent members, block-diagonal
  output layer) -- the same as training them one by one on the same
  mini-batches, for the price of one model. Repeated over ``--seeds``
  initializations and averaged.

Claims, from the measured curves:

1. **Test error peaks near the interpolation threshold, then falls again.**
   The threshold is the smallest width whose training error (on the noisy
   labels) is <= 1%. The peak is the largest test error at or above the
   classical minimum (the best width below the threshold). The claim holds
   when the peak lies within a factor 2 of the threshold, rises above the
   classical minimum, and the widest net's test error is below the peak.
2. **Test loss (cross-entropy) peaks there too**, and far more sharply: the
   just-interpolating nets are confidently wrong on the test points that
   resemble the memorized noisy labels.

Run:  KERAS_BACKEND=jax python lessons/l10_double_descent.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson, bad_flag

DEFAULT_WIDTHS = (2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 512, 1024)
QUICK_WIDTHS = (2, 8, 32, 128)


def _args(p):
    p.add_argument("--n-train", type=int, default=1000, help="training examples (stratified subset)")
    p.add_argument("--label-noise", type=float, default=0.2,
                   help="fraction of training labels replaced by random classes")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"hidden widths (default {' '.join(map(str, DEFAULT_WIDTHS))})")
    p.add_argument("--learning-rate", type=float, default=0.01, help="Adam learning rate")
    p.add_argument("--batch-size", type=int, default=100, help="mini-batch size")
    p.add_argument("--fit-tol", type=float, default=0.01,
                   help="train error at or below which a width counts as interpolating")


LESSON = Lesson(
    "l10_double_descent",
    title="Double descent: test error vs width around the interpolation threshold",
    decks="003, 004",
    dataset="mnist1d",
    fallback="mnist1d",
    epochs=300,
    quick_train=200,
    seeds=3,  # initializations averaged per width (the harness's --seeds)
    quick_seeds=1,
    reference="Nakkiran et al. 2019 (model-wise double descent with label noise); MNIST-1D as in "
    "Greydanus's mnist1d and Understanding Deep Learning notebook 8.3",
    add_arguments=_args,
)


def _check(args):
    if args.n_train < 20:
        raise bad_flag("n-train", args.n_train, "an integer >= 20")
    if not 0.0 <= args.label_noise < 1.0:
        raise bad_flag("label-noise", args.label_noise, "a float in [0, 1)")
    if args.widths is not None and (len(args.widths) < 3 or min(args.widths) < 1):
        raise bad_flag("widths", args.widths, "at least 3 positive integers")
    if not args.learning_rate > 0:
        raise bad_flag("learning-rate", args.learning_rate, "a positive float")
    if args.batch_size < 1:
        raise bad_flag("batch-size", args.batch_size, "a positive integer")
    if not 0.0 <= args.fit_tol < 1.0:
        raise bad_flag("fit-tol", args.fit_tol, "a float in [0, 1)")


def main(argv=None):
    run = LESSON.start(argv)
    args = run.args
    _check(args)
    import keras
    import numpy as np

    from kreg import models, plots
    from kreg.data import corrupt_labels

    widths = sorted(set(args.widths or run.pick(DEFAULT_WIDTHS, QUICK_WIDTHS)))
    seeds = run.n_seeds
    data = run.load_data(n_train=run.pick(args.n_train, LESSON.quick_train), val_fraction=0.0)
    k, shape = data.info.num_classes, data.info.input_shape
    n_in = int(np.prod(shape))
    y_noisy, changed = corrupt_labels(data.y_train, args.label_noise, k, seed=run.seed)
    params = [(n_in + 1) * w + (w + 1) * k for w in widths]
    run.config(n_train=len(data.x_train), label_noise=args.label_noise, widths=widths, seeds=seeds,
               optimizer="Adam", learning_rate=args.learning_rate, batch_size=args.batch_size,
               fit_tol=args.fit_tol, parameters=params,
               labels_changed=float(changed.mean()), labels_wrong=float(np.mean(y_noisy != data.y_train)))
    run.total_runs = seeds
    m = len(widths)

    def errors_and_loss(logits, y):
        """Per-width error and mean cross-entropy; logits (n, m, k), y (n,)."""
        z = logits - logits.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        err = (logits.argmax(-1) != y[:, None]).mean(0)
        nll = -np.take_along_axis(logp, np.repeat(y[:, None, None], m, 1), -1)[..., 0].mean(0)
        return err, nll

    train_err, train_err_clean, test_err, test_nll = [], [], [], []
    for s in range(seeds):
        run.reseed(s)  # a fresh initialization per seed; data and noisy labels stay fixed
        model = models.width_sweep_mlp(shape, k, widths=widths)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        run.fit(f"seed {s}: {m} widths side by side", model, x=data.x_train,
                y=np.repeat(y_noisy[:, None], m, 1), batch_size=args.batch_size)
        # a direct call rather than predict(): no predict function to compile per input size
        tr = keras.ops.convert_to_numpy(model(data.x_train, training=False))
        te = keras.ops.convert_to_numpy(model(data.x_test, training=False))
        e, _ = errors_and_loss(tr, y_noisy)
        train_err.append(e)
        train_err_clean.append(errors_and_loss(tr, data.y_train)[0])
        e, nll = errors_and_loss(te, data.y_test)
        test_err.append(e)
        test_nll.append(nll)
    train_err, test_err, test_nll = (np.array(a) for a in (train_err, test_err, test_nll))
    tr_mean, te_mean, nll_mean = train_err.mean(0), test_err.mean(0), test_nll.mean(0)
    te_sd = test_err.std(0)
    clean = np.mean(train_err_clean, 0)
    per_width = {w: {"parameters": params[i], "train_error_noisy_labels": float(tr_mean[i]),
                     "train_error_clean_labels": float(clean[i]), "test_error": float(te_mean[i]),
                     "test_error_sd_over_seeds": float(te_sd[i]), "test_loss": float(nll_mean[i])}
                 for i, w in enumerate(widths)}
    run.metric("per_width", per_width)

    # interpolation threshold, classical minimum, peak
    fits = np.flatnonzero(tr_mean <= args.fit_tol)
    i_thr = int(fits[0]) if len(fits) else None
    if i_thr is not None and i_thr > 0:
        i_min = int(np.argmin(te_mean[:i_thr]))
    else:
        i_min = 0
    i_peak = i_min + int(np.argmax(te_mean[i_min:]))
    i_nll = int(np.argmax(nll_mean))
    thr = widths[i_thr] if i_thr is not None else None
    run.metric("interpolation_threshold_width", thr)
    run.metric("classical_minimum_width", widths[i_min])
    run.metric("test_error_peak_width", widths[i_peak])
    run.metric("test_loss_peak_width", widths[i_nll])
    near = thr is not None and thr / 2 <= widths[i_peak] <= 2 * thr
    rises = te_mean[i_peak] > te_mean[i_min]
    falls = te_mean[-1] < te_mean[i_peak]
    if thr is None:
        why = (f"no width fits the training set to {args.fit_tol:.0%} (min train error {tr_mean.min():.1%}): "
               "train longer")
    else:
        why = (f"threshold h={thr} ({params[i_thr]} params, n={len(data.x_train)}); test error "
               f"{te_mean[i_min]:.1%} at h={widths[i_min]} (classical min) -> {te_mean[i_peak]:.1%} at "
               f"h={widths[i_peak]} (peak) -> {te_mean[-1]:.1%} at h={widths[-1]}")
    run.claim(
        "test error peaks near the width where the model first fits the training set, then falls again",
        holds=near and rises and falls,
        evidence=why,
        threshold_width=thr, peak_width=widths[i_peak], classical_min_width=widths[i_min],
        test_error_classical_min=float(te_mean[i_min]), test_error_peak=float(te_mean[i_peak]),
        test_error_widest=float(te_mean[-1]),
    )
    run.claim(
        "test loss (cross-entropy) peaks at the interpolation threshold too",
        holds=thr is not None and thr / 2 <= widths[i_nll] <= 2 * thr and nll_mean[-1] < nll_mean[i_nll],
        evidence=f"test loss {nll_mean[0]:.2f} at h={widths[0]}, {nll_mean[i_nll]:.2f} at h={widths[i_nll]} "
        f"(peak), {nll_mean[-1]:.2f} at h={widths[-1]}; threshold h={thr}",
        peak_width=widths[i_nll], threshold_width=thr, test_loss_peak=float(nll_mean[i_nll]),
        test_loss_widest=float(nll_mean[-1]),
    )

    # figure: error vs width (train on noisy labels, test) and test loss vs width
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.2))
    title = f"MLP {n_in}-h-{k} on {data.info.name}, n={len(data.x_train)}, {args.label_noise:.0%} label noise"
    plots.line_plot(widths, {"train error (noisy labels)": 100 * tr_mean, "test error": 100 * te_mean},
                    xlabel="hidden units h (log scale)", ylabel="error (%)", logx=True, ax=ax1, title=title)
    ax1.axhline(100 * np.mean(y_noisy != data.y_train), color="grey", ls=":", lw=1,
                label="training labels that are wrong")
    # zoom on the test error: the classical U, the peak, the second descent
    orange = {"color": plots.COLORS[1]}
    plots.line_plot(widths, {"test error (mean over seeds)": 100 * te_mean}, ax=ax2,
                    xlabel="hidden units h (log scale)", ylabel="test error (%)", logx=True,
                    styles={"test error (mean over seeds)": dict(orange)},  # line_plot pops the colour
                    title="test error, zoomed")
    ax2.fill_between(widths, 100 * (te_mean - te_sd), 100 * (te_mean + te_sd), alpha=0.2, **orange,
                     label=f"± 1 sd over {seeds} seed{'s' if seeds > 1 else ''}")
    ax2.plot([widths[i_min]], [100 * te_mean[i_min]], "v", color="green", ms=9,
             label=f"classical minimum h={widths[i_min]}")
    ax2.plot([widths[i_peak]], [100 * te_mean[i_peak]], "^", color="red", ms=9,
             label=f"peak h={widths[i_peak]}")
    plots.line_plot(widths, {"test loss": nll_mean}, xlabel="hidden units h (log scale)",
                    ylabel="test cross-entropy", logx=True, ax=ax3, styles={"test loss": dict(orange)},
                    title="test loss vs width")
    for ax in (ax1, ax2, ax3):
        if thr is not None:
            ax.axvline(thr, color="black", ls="--", lw=1,
                       label=f"interpolation threshold h={thr} (train err ≤ {args.fit_tol:.0%})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    run.figure("double_descent", fig)
    return run.finish()


if __name__ == "__main__":
    main()
