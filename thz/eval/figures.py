"""Figures written as PNG files (matplotlib, Agg backend): they open offline, in the report and in
`dvc plots show`, unlike vega plots whose page loads its library from the internet."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from thz.data.naming import POSTURES  # noqa: E402
from thz.files import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def embedding_map(probe: np.ndarray, gallery: np.ndarray, identity: np.ndarray, path: Path, title: str) -> None:
    """PCA to 2-D of the test embeddings, coloured by identity; dots concealed probes, crosses their
    unconcealed gallery images (a line joins each probe to its target)."""
    points = PCA(n_components=2, random_state=0).fit_transform(np.concatenate([probe, gallery]))
    p, g = points[: len(probe)], points[len(probe) :]
    fig, ax = plt.subplots(figsize=(5, 5))
    for k, name in enumerate(sorted(set(identity))):
        rows = identity == name
        colour = plt.cm.tab10(k % 10)
        ax.scatter(*p[rows].T, s=14, color=colour, label=f"{name} concealed")
        ax.scatter(*g[rows].T, s=22, marker="x", color=colour, label=f"{name} unconcealed")
        for a, b in zip(p[rows], g[rows], strict=True):
            ax.plot(*np.stack([a, b]).T, color=colour, lw=0.3, alpha=0.5)
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=6, ncol=2)
    _save(fig, path)


def reconstruction_grid(inputs, recon, targets, posture: np.ndarray, path: Path, per_posture: int = 2) -> None:
    """Rows: postures; for each of the first `per_posture` samples: concealed input, reconstruction,
    true unconcealed face. Tensors or arrays (N, 1, H, W) in [0, 1]."""
    inputs, recon, targets = (np.asarray(x)[:, 0] for x in (inputs, recon, targets))
    fig, axes = plt.subplots(len(POSTURES), 3 * per_posture, figsize=(1.3 * 3 * per_posture, 1.4 * len(POSTURES)))
    for row, name in enumerate(POSTURES):
        index = np.flatnonzero(posture == row)[:per_posture]
        for k in range(per_posture):
            for j, (images, label) in enumerate(((inputs, "input"), (recon, "reconstruction"), (targets, "truth"))):
                ax = axes[row, 3 * k + j]
                ax.axis("off")
                if k < len(index):
                    ax.imshow(images[index[k]], cmap="gray", vmin=0, vmax=1)
                if row == 0:
                    ax.set_title(label, fontsize=7)
        axes[row, 0].text(-8, 32, name, rotation=90, va="center", ha="right", fontsize=8)
    _save(fig, path)


def roc_curves(rocs: dict[str, pd.DataFrame], path: Path, title: str = "Test ROC", lowest: float = 1e-3) -> None:
    """One ROC plot of several models (fpr, tpr columns), linear and log FAR side by side (the log
    axis from `lowest`)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for name, roc in rocs.items():
        for ax in axes:
            ax.plot(roc.fpr, roc.tpr, label=name)
    axes[0].plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
    axes[1].set_xscale("log")
    axes[1].set_xlim(lowest, 1)
    for ax in axes:
        ax.set_xlabel("false accept rate")
        ax.set_ylabel("true accept rate")
        ax.legend()
    fig.suptitle(f"{title}: concealed probes against unconcealed gallery")
    _save(fig, path)


def det_curves(dets: dict[str, pd.DataFrame], path: Path, title: str = "Test DET", lowest: float = 1e-4) -> None:
    """One DET plot of several models: false reject against false accept rate, both on normal-deviate
    axes (the tables' probit_fpr and probit_fnr columns, thz.eval.curves), from the rate `lowest`,
    ticks labelled as rates."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, det in dets.items():
        ax.plot(det.probit_fpr, det.probit_fnr, label=name)
    rates = np.array([lowest, *[r for r in (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99) if r > lowest]])
    ticks, labels = norm.ppf(rates), [f"{100 * r:g} %" for r in rates]
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ticks[0], ticks[-1])
    ax.grid(lw=0.3)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("false reject rate")
    ax.legend()
    ax.set_title(f"{title}: concealed probes against unconcealed gallery", fontsize=9)
    _save(fig, path)


def confusion_matrices(confusions: dict[str, np.ndarray], path: Path) -> None:
    """Posture confusion matrices (rows truth, columns predicted), one panel per model."""
    fig, axes = plt.subplots(1, len(confusions), figsize=(3.3 * len(confusions), 3.2), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], confusions.items(), strict=True):
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(POSTURES)), POSTURES, rotation=45, fontsize=7)
        ax.set_yticks(range(len(POSTURES)), POSTURES, fontsize=7)
        ax.set_title(name)
        ax.set_xlabel("predicted")
    axes[0, 0].set_ylabel("true")
    _save(fig, path)


def per_posture_bars(tables: dict[str, pd.DataFrame], column: str, path: Path) -> None:
    """Grouped bars of one per-posture column for several models."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(1, len(tables))
    x = np.arange(len(POSTURES))
    for k, (name, table) in enumerate(tables.items()):
        values = table.set_index("posture").reindex(POSTURES)[column]
        ax.bar(x + k * width, values, width, label=name)
    ax.set_xticks(x + width * (len(tables) - 1) / 2, POSTURES)
    ax.set_ylabel(column)
    ax.legend()
    _save(fig, path)
