"""Rate, distortion and speed of a codec on a set of digits."""

from __future__ import annotations

import re
import time

import numpy as np

from . import container, metrics

WARM_UP = 16  # digits coded once before timing: a loaded model's first call sets up its graphs


def measure(codec, images: np.ndarray, refine: float | None = None, progress=None) -> dict:
    """Every figure ``mnistzip eval`` reports, for one codec on ``images``.

    Bits on disk are counted two ways: all digits in one archive (the header
    and checksum shared) and each digit as its own one-digit file. With
    ``refine=λ`` the latents are refined at encode time (see Codec.refine, which
    reports to ``progress``).
    Speeds are of a warm codec: a few digits go through it before the clock starts.
    """
    n = len(images)
    warm = images[:WARM_UP]
    codec.decode(codec.encode(warm)[0], len(warm))  # the speeds leave out one-time start-up
    started = time.perf_counter()
    if refine is None:
        payload, bits = codec.encode(images)
        latents = None
    else:
        latents = codec.refine(images, refine, progress=progress)
        payload = codec.encode_latents(latents)
        bits = codec.latent_bits(latents)
    compress_s = time.perf_counter() - started
    archive = container.MzFile(model_id=codec.id, count=n, payload=payload)
    started = time.perf_counter()
    recon = codec.decode(payload, n)
    decompress_s = time.perf_counter() - started
    single = np.array([len(s) for s in codec.encode_each(images, latents)])
    one_digit_overhead = container.MzFile(model_id=codec.id, count=1, payload=b"").overhead_bytes
    return dict(
        model=codec.name if refine is None else f"{codec.name} --refine",
        family=family_of(codec) + ("" if refine is None else " +refine"),
        model_id=codec.id,
        digits=n,
        archive_bytes=archive.size,
        bits_archive=round(metrics.bits_per_digit(archive.size, n), 3),
        bits_single_file=round(float(8 * (single + one_digit_overhead).mean()), 3),
        bits_entropy=round(float(bits.mean()), 3),
        psnr_mean=round(metrics.psnr_mean(images, recon), 3),
        psnr_of_mean_mse=round(metrics.psnr_of_mean_mse(images, recon), 3),
        mae=round(metrics.mae(images, recon), 3),
        ssim=round(metrics.ssim(images, recon), 4),
        compress_digits_per_s=round(n / max(compress_s, 1e-9), 1),
        decompress_digits_per_s=round(n / max(decompress_s, 1e-9), 1),
    )


def family_of(codec) -> str:
    """A model's family for curves and BD-rate: its recipe without λ (model.json's "family" when recorded)."""
    from .recipe import recipe_family

    if codec.meta.get("family"):
        return codec.meta["family"]
    if "recipe" in codec.meta:
        return recipe_family(codec.meta["recipe"])
    return re.sub(r"-\d+(\.\d+)?$", "", codec.name)


def rate_of(row: dict) -> float:
    """The rate a curve uses: bits on disk inside one archive for mnistzip models, per-file for classical codecs."""
    return row.get("bits_archive") or row["bits_single_file"]


def bd_rates(rows: list[dict], reference: str) -> dict[str, float]:
    """BD-rate (%) of every family against ``reference``, on (rate, PSNR of mean MSE); lossless points excluded.

    None where the two curves share no PSNR range (BD-rate is undefined there).
    """
    curves: dict[str, tuple[list, list]] = {}
    for r in rows:
        if r.get("lossless"):
            continue
        rates, psnrs = curves.setdefault(r["family"], ([], []))
        rates.append(rate_of(r))
        psnrs.append(r["psnr_of_mean_mse"])
    if reference not in curves:
        return {}
    ref = curves[reference]
    out = {}
    for fam, c in curves.items():
        if fam != reference:
            value = metrics.bd_rate(*ref, *c)
            out[fam] = None if np.isnan(value) else round(value, 2)
    return out
