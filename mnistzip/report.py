"""Pictures of what eval measured: the rate-distortion and class-kept plots (matplotlib: ``mnistzip[eval]``),
and digits beside their reconstructions (Pillow alone)."""

from __future__ import annotations

import os

import numpy as np

from . import search
from .container import SIDE
from .fileio import atomic_output
from .metrics import rate_of


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


GRID_SCALE = 3  # each digit pixel a 3 x 3 square: a digit 84 px wide
LABEL_WIDTH = 150  # the row names' column, in pixels


def plot_grid(codecs: list, images: np.ndarray, path: str | os.PathLike, force: bool = False, first: int = 0) -> None:
    """Digits (a row of them, ``images``) above their reconstructions by each codec (a row each), each
    reconstruction labelled with the bits it takes inside an archive, coded as ``mnistzip compress`` codes by
    default (``search``): what a user gets at each quality. Pillow only, no extra."""
    from PIL import Image, ImageDraw, ImageFont

    cell, text = SIDE * GRID_SCALE, 16
    font = ImageFont.load_default(size=13)
    rows = [("original", images, [f"#{first + k}" for k in range(len(images))])]
    for codec in codecs:
        payload, bits = search.encode(codec, images)
        rows.append((f"{codec.name}\n{bits.mean():.1f} bits avg", codec.decode(payload, len(images)),
                     [f"{b:.0f} bits" for b in bits]))
    picture = Image.new("L", (LABEL_WIDTH + len(images) * (cell + 4), len(rows) * (cell + text + 6) + 4), 255)
    draw = ImageDraw.Draw(picture)
    for r, (name, digits, labels) in enumerate(rows):
        top = 4 + r * (cell + text + 6)
        draw.multiline_text((6, top + cell // 3), name, fill=0, font=font, spacing=2)
        for k, (digit, label) in enumerate(zip(digits, labels)):
            left = LABEL_WIDTH + k * (cell + 4)
            picture.paste(Image.fromarray(np.kron(digit, np.ones((GRID_SCALE, GRID_SCALE), np.uint8))), (left, top))
            draw.text((left + cell // 2, top + cell + 2), label, fill=80, font=font, anchor="ma")
    with atomic_output(path, force) as tmp:
        picture.save(tmp, format="PNG")
