"""The seed reports' experiments, reproduced: one command each, tables and figures into docs/results/.

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/seed_experiments.py lambda
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/seed_experiments.py latent
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/seed_experiments.py prior
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/seed_experiments.py generative

Models are trained with the seed recipe (``mnistzip train --preset seed``) into
``runs/`` (not committed) unless already there; an interrupted run resumes. The
λ=2000, latent-50, logistic-prior point is the seed recipe itself (the first shipped model, retired before 1.0).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import machine  # noqa: E402  (benchmarks/machine.py)
from mnistzip import mnist  # noqa: E402
from mnistzip.codec import Codec  # noqa: E402
from mnistzip.evaluate import measure  # noqa: E402
from mnistzip.recipe import SEED_RECIPE  # noqa: E402
from mnistzip.train import TrainConfig, train  # noqa: E402

RESULTS = ROOT / "docs" / "results"
EXPERIMENTS = {
    "lambda": ("lmbda", [300, 500, 1000, 2000, 4000]),
    "latent": ("latent_dims", [5, 10, 20, 50]),
    "prior": ("prior", ["logistic", "normal", "deep"]),
}
BASE = dict(SEED_RECIPE, lmbda=2000.0)
QUICK = dict(epochs=1, steps_per_epoch=5, train_limit=640, test_limit=100)  # --quick: a smoke run, no figure


def ran_on(codecs: list[Codec]) -> str:
    """A one-line description of where the figures were measured, and the TensorFlow the models' cards name."""
    versions = sorted({codec.card.raw.get("tensorflow", "unknown") for codec in codecs})
    return f"{machine.describe()}; trained with TensorFlow {', '.join(versions)}"


def model_for(runs: Path, key: str, value, quick: bool = False) -> Path:
    """Train (or reuse) the seed-recipe model with one setting changed."""
    settings = dict(BASE, **{key: value}, **(QUICK if quick else {}))
    path = runs / f"seed-{key}-{value}{'-quick' if quick else ''}"  # never mistaken for a real run
    if not path.exists():
        runs.mkdir(parents=True, exist_ok=True)
        print(f"training {path.name} ...", flush=True)
        started = time.perf_counter()
        train(TrainConfig(**settings), path, resume=True,
              command=f"mnistzip train --preset seed --lmbda {settings['lmbda']:g} --latent-dims "
                      f"{settings['latent_dims']} --prior {settings['prior']} -o runs/{path.name}")
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def table(rows: list[dict], key_title: str, key: str) -> str:
    """A markdown table of the measured figures."""
    head = (f"| {key_title} | model id | bits/digit on disk (archive) | bits/digit (one-digit files) | entropy bits "
            "| PSNR of mean MSE (dB) | mean per-digit PSNR (dB) | MAE | training time |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r[key]} | {r['model_id']} | {r['bits_archive']:.2f} | {r['bits_single_file']:.1f} | {r['bits_entropy']:.2f} "
        f"| {r['psnr_of_mean_mse']:.2f} | {r['psnr_mean']:.2f} | {r['mae']:.2f} | {r['training_seconds'] / 60:.1f} min |\n"
        for r in rows
    )
    return head + body


def plot(rows: list[dict], key: str, title: str, path: Path) -> None:
    """Rate (log) against PSNR of the mean MSE, one labelled point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    xs = [r["bits_archive"] for r in rows]
    ys = [r["psnr_of_mean_mse"] for r in rows]
    ax.plot(xs, ys, "o-" if key == "lmbda" else "o")
    for r, x, y in zip(rows, xs, ys):
        ax.annotate(str(r[key]), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("bits per digit on disk (one archive of the test split)")
    ax.set_ylabel("PSNR of the mean MSE (dB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_sweep(name: str, runs: Path, results: Path, limit: int | None = None, quick: bool = False) -> None:
    """Train what is missing, measure every model on the test split, write table and figure."""
    key, values = EXPERIMENTS[name]
    digits = mnist.images("test")[:limit]
    rows, codecs = [], []
    for value in values:
        path = model_for(runs, key, value, quick)
        codec = Codec.load(path)
        codecs.append(codec)
        row = measure(codec, digits, fast=True)  # the seed recipe codes by rounding
        row[key] = value
        row["training_seconds"] = codec.card.raw.get("training_seconds", 0.0)
        rows.append(row)
        print(f"{key}={value}: {row['bits_archive']:.2f} bits/digit, {row['psnr_of_mean_mse']:.2f} dB", flush=True)
    results.mkdir(parents=True, exist_ok=True)
    figure = results / f"seed-{name}.png"
    titles = {"lmbda": "λ sweep", "latent_dims": "latent dimension at λ=2000", "prior": "prior at λ=2000"}
    plot(rows, key, f"Seed recipe: {titles[key]}", figure)
    text = (
        f"# Seed recipe: {titles[key]}\n\n"
        + (f"**A `--quick` smoke run** ({QUICK['steps_per_epoch']} training steps a model): its figures mean "
           "nothing.\n\n" if quick else "")
        + f"Reproduce: `MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/seed_experiments.py {name}`.\n"
        f"Recipe: {BASE['latent_dims']} latents, {BASE['prior']} prior, {BASE['distortion'].upper()} distortion, "
        f"λ={BASE['lmbda']:g}, Adam {BASE['lr']:g}, batch {BASE['batch_size']}, {BASE['epochs']} epochs, "
        f"one setting changed per row. Measured on the {len(digits):,} MNIST test digits; machine: {ran_on(codecs)}.\n\n"
        "Bits on disk are real `.mz` sizes (header and checksum included). PSNR has a 255 peak; "
        "'of mean MSE' is the PSNR of the MSE over all digits, 'mean per-digit' averages each digit's PSNR. "
        "Training times are wall-clock from model.json; some runs shared the two cores with other jobs, "
        "so read them as upper bounds (about 6 minutes alone).\n\n"
        + table(rows, key, key)
        + f"\n![{name}](seed-{name}.png)\n"
    )
    (results / f"seed-{name}.md").write_text(text)
    print(f"wrote {results / f'seed-{name}.md'} and {figure}")


def run_generative(runs: Path, results: Path, quick: bool = False) -> None:
    """Digits from random bytes and from random latents drawn from the prior (the seed recipe at λ=2000)."""
    from PIL import Image

    from mnistzip.output import grid

    codec = Codec.load(model_for(runs, "lmbda", 2000, quick))
    results.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(codec.sample(16, seed=0)), mode="L").resize((224, 224), Image.NEAREST).save(
        results / "generative-bytes.png")
    Image.fromarray(grid(codec.sample_prior(16, seed=0)), mode="L").resize((224, 224), Image.NEAREST).save(
        results / "generative-prior.png")
    (results / "generative.md").write_text(
        "# The decoder as a generative model\n\n"
        "Reproduce: `python benchmarks/seed_experiments.py generative` (the seed recipe at λ=2000, trained into runs/ if missing; seed 0).\n\n"
        "| random bytes through the range decoder (`mnistzip sample`) | random latents drawn from the prior |\n"
        "|---|---|\n"
        "| ![bytes](generative-bytes.png) | ![prior](generative-prior.png) |\n\n"
        "Left: 16 random bytes per digit decoded with the sanity check off, as the seed reports do. "
        "Right: each latent dimension drawn independently from the model's quantised prior (its range-coding "
        f"table). Machine: {ran_on([codec])}.\n"
    )
    print(f"wrote {results / 'generative.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=[*EXPERIMENTS, "generative"])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="where trained models are kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the pages and figures go")
    parser.add_argument("--limit", type=machine.count, help="measure the first N test digits only")
    parser.add_argument("--quick", action="store_true",
                        help=f"train each model for {QUICK['steps_per_epoch']} steps on {QUICK['train_limit']} digits "
                        "(a smoke run: its figures mean nothing)")
    args = parser.parse_args()
    if args.experiment == "generative":
        run_generative(args.runs, args.out, args.quick)
    else:
        run_sweep(args.experiment, args.runs, args.out, args.limit, args.quick)


if __name__ == "__main__":
    main()
