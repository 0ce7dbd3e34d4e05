"""Pictures for papers: the rate-distortion plot and the original/reconstruction grid (matplotlib)."""

from __future__ import annotations

import os

import numpy as np

from . import metrics
from .evaluate import rate_of
from .fileio import atomic_output


def _pyplot():
    """matplotlib without a display."""
    from .errors import require

    require("matplotlib", "eval", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rd(rows: list[dict], path: str | os.PathLike, force: bool = False, title: str = "MNIST test") -> None:
    """Rate (bits per digit, log axis) against PSNR of the mean MSE: one curve per family; lossless as lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    families: dict[str, list[dict]] = {}
    for r in rows:
        families.setdefault(r["family"], []).append(r)
    for fam, pts in families.items():
        if pts[0].get("lossless"):
            ax.axvline(rate_of(pts[0]), linestyle=":", color="gray")
            ax.annotate(f"{fam} (lossless)", (rate_of(pts[0]), 0.02), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=7, color="gray", ha="right")
            continue
        pts = sorted(pts, key=rate_of)
        learned = "bits_archive" in pts[0]
        ax.plot([rate_of(p) for p in pts], [p["psnr_of_mean_mse"] for p in pts],
                "o-" if learned else "s--", label=fam + ("" if learned else " (Pillow)"), markersize=4)
    _save_rate_plot(plt, fig, ax, "PSNR of the mean MSE (dB, 255 peak)", title, path, force)


def plot_class_kept(rows: list[dict], ceilings: dict, path: str | os.PathLike, force: bool = False,
                    title: str = "MNIST test") -> None:
    """Rate (bits per digit, log axis) against class kept by the reference classifier (solid) and the second
    one (dotted), one colour per family; each classifier's ceiling (its accuracy on the originals) as a line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    families: dict[str, list[dict]] = {}
    for r in rows:
        if not r.get("lossless") and r.get("class_kept") is not None:
            families.setdefault(r["family"], []).append(r)
    for fam, pts in families.items():
        pts = sorted(pts, key=rate_of)
        rates = [rate_of(p) for p in pts]
        (line,) = ax.plot(rates, [p["class_kept"] for p in pts], "o-", markersize=4, label=fam)
        ax.plot(rates, [p["class_kept_second"] for p in pts], ":", color=line.get_color())
    for role, style in (("reference", "--"), ("second", ":")):
        c = ceilings[role]
        ax.axhline(c["ceiling"], linestyle=style, color="gray", linewidth=0.8)
        ax.annotate(f"{c['name']} on the originals", (0.01, c["ceiling"]), xycoords=("axes fraction", "data"),
                    fontsize=7, color="gray", va="bottom")
    ylabel = f"class kept, % ({ceilings['reference']['name']}; dotted: {ceilings['second']['name']})"
    _save_rate_plot(plt, fig, ax, ylabel, title, path, force)


def _save_rate_plot(plt, fig, ax, ylabel: str, title: str, path, force: bool) -> None:
    """Label a plot against bits per digit (log axis) and write it atomically."""
    ax.set_xscale("log")
    ax.set_xlabel("bits per digit on disk (mnistzip: one archive; Pillow: one file per digit)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(path, force) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_grid(codec, images: np.ndarray, path: str | os.PathLike, force: bool = False, first: int = 0) -> None:
    """16 digits, each original beside its reconstruction, labelled with its bits and PSNR (as the seeds show)."""
    plt = _pyplot()
    digits = images[:16]
    recon = codec.decompress(codec.compress(digits))
    bits = [8 * len(s) for s in codec.encode_each(digits)]
    psnr = metrics.psnr_from_mse(metrics.per_digit_mse(digits, recon))
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.8), dpi=120)
    for i, ax in enumerate(axes.flat):
        k, which = divmod(i, 2)
        ax.axis("off")
        if k >= len(digits):
            continue
        ax.imshow((digits if which == 0 else recon)[k], cmap="gray", vmin=0, vmax=255)
        label = f"#{first + k}" if which == 0 else f"{bits[k]} bits\n{psnr[k]:.1f} dB"
        ax.set_title(label, fontsize=7)
    fig.suptitle(f"{codec.name} ({codec.id}): original | reconstruction (payload bits, PSNR)", fontsize=9)
    fig.tight_layout()
    with atomic_output(path, force) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
