"""The figures the lessons draw (matplotlib, Agg-safe).

Every function returns a ``matplotlib.figure.Figure``; pass it to
``run.figure(name, fig)`` in a lesson. Conventions: one colour per run,
training curves solid, validation curves dashed, axes labelled, a legend.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["learning_curves", "line_plot", "bar_plot", "grouped_bar_plot", "COLORS"]

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]

_LABELS = {"loss": "loss", "accuracy": "accuracy"}


def _as_history(h):
    return h.history if hasattr(h, "history") else h


def learning_curves(histories, *, metrics=("loss", "accuracy"), best_epoch=None, title=None,
                    percent=("accuracy",), ylim=None):
    """Train (solid) and validation (dashed) curves of several runs, one panel per metric.

    Args:
        histories: ``{label: History or history dict}``.
        metrics: panels to draw; ``val_<metric>`` is drawn dashed when present.
        best_epoch: ``{label: epoch index (0-based)}`` marked with a dot on the
            validation curve (e.g. early stopping's restored epoch).
        title: figure title.
        percent: metrics shown in percent.
        ylim: ``{metric: (low, high)}``.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (label, h) in enumerate(histories.items()):
            h = _as_history(h)
            color = COLORS[i % len(COLORS)]
            scale = 100.0 if metric in percent else 1.0
            if metric in h:
                ep = np.arange(1, len(h[metric]) + 1)
                ax.plot(ep, np.asarray(h[metric], float) * scale, color=color, label=f"{label} (train)")
            vkey = f"val_{metric}"
            if vkey in h:
                ep = np.arange(1, len(h[vkey]) + 1)
                ax.plot(ep, np.asarray(h[vkey], float) * scale, color=color, ls="--", label=f"{label} (val)")
                if best_epoch and label in best_epoch and best_epoch[label] is not None:
                    b = int(best_epoch[label])
                    ax.plot([b + 1], [float(h[vkey][b]) * scale], "o", color=color, ms=8, mfc="white",
                            label=f"{label}: best epoch {b + 1}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_LABELS.get(metric, metric) + (" (%)" if metric in percent else ""))
        if ylim and metric in ylim:
            ax.set_ylim(*ylim[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def line_plot(x, ys, *, xlabel, ylabel, title=None, logx=False, logy=False, markers=True, ax=None,
              styles=None):
    """Several named series against one x axis: ``ys = {label: values}``."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    for i, (label, y) in enumerate(ys.items()):
        style = (styles or {}).get(label, {})
        ax.plot(x, y, marker="o" if markers else None, color=style.pop("color", COLORS[i % len(COLORS)]),
                label=label, **style)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if own:
        fig.tight_layout()
    return fig


def bar_plot(values, *, ylabel, title=None, percent=False, errors=None):
    """Bars with their values written on top: ``values = {label: value}``."""
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(values)), 3.8))
    labels = list(values)
    v = np.array([values[k] for k in labels], float) * (100.0 if percent else 1.0)
    err = None if errors is None else np.array([errors[k] for k in labels], float) * (100.0 if percent else 1.0)
    bars = ax.bar(labels, v, yerr=err, color=[COLORS[i % len(COLORS)] for i in range(len(labels))], capsize=4)
    for b, val in zip(bars, v):
        ax.annotate(f"{val:.2f}{'%' if percent else ''}", (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def grouped_bar_plot(groups, *, ylabel, title=None, percent=False, ylim=None):
    """Grouped bars: ``groups = {group label: {series label: value}}`` (same series in every group)."""
    glabels = list(groups)
    series = list(next(iter(groups.values())))
    scale = 100.0 if percent else 1.0
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 * len(glabels)), 3.9))
    x = np.arange(len(glabels))
    for i, s in enumerate(series):
        v = np.array([groups[g][s] for g in glabels], float) * scale
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, v, width, label=s, color=COLORS[i % len(COLORS)])
        for b, val in zip(bars, v):
            ax.annotate(f"{val:.1f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(x, glabels)
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    if ylim:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
