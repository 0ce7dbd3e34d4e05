"""Classical codecs through Pillow, on the same digits: the bar a learned codec must clear.

Each digit is stored as its own file (headers included), as a user would store
it. Lossy codecs are swept over a quality ladder; lossless ones are one point.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import metrics
from .errors import UsageError


@dataclass(frozen=True)
class ClassicalCodec:
    """One Pillow format with its options; ``qualities`` empty means lossless."""

    name: str
    format: str
    options: dict = field(default_factory=dict)
    qualities: tuple[int, ...] = ()

    @property
    def lossless(self) -> bool:
        return not self.qualities

    def encode(self, digit: np.ndarray, quality: int | None = None) -> bytes:
        """One 28x28 uint8 digit → the bytes of an image file."""
        from PIL import Image

        buf = io.BytesIO()
        opts = dict(self.options)
        if quality is not None:
            opts["quality"] = quality
        Image.fromarray(digit, mode="L").save(buf, format=self.format, **opts)
        return buf.getvalue()

    @staticmethod
    def decode(blob: bytes) -> np.ndarray:
        """Image file bytes → 28x28 uint8 gray digit."""
        from PIL import Image

        with Image.open(io.BytesIO(blob)) as img:
            return np.asarray(img.convert("L"), dtype=np.uint8)


CODECS: dict[str, ClassicalCodec] = {
    c.name: c
    for c in [
        ClassicalCodec("png", "PNG", dict(optimize=True)),
        ClassicalCodec("webp-lossless", "WEBP", dict(lossless=True, quality=100, method=6)),
        ClassicalCodec("jpeg", "JPEG", dict(optimize=True), (1, 5, 10, 20, 30, 50, 75, 90)),
        ClassicalCodec("webp", "WEBP", dict(method=6), (0, 5, 10, 25, 50, 75, 90)),
        ClassicalCodec("avif", "AVIF", dict(speed=8), (0, 10, 25, 50, 75)),
    ]
}


def parse_codecs(text: str) -> list[ClassicalCodec]:
    """'png,jpeg' → the codecs, with a clear error for unknown names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise UsageError(f"--codecs must name some of {', '.join(CODECS)}, not {unknown[0]!r}")
    return [CODECS[n] for n in names]


def points(codec: ClassicalCodec) -> list[int | None]:
    """The quality settings to measure (None for a lossless codec)."""
    return list(codec.qualities) or [None]


def measure(codec: ClassicalCodec, images: np.ndarray, quality: int | None,
            advance: Callable[[int], None] | None = None, judge=None) -> dict:
    """Bits per digit as stored files, and distortion, for one codec setting (PSNR None when lossless);
    class kept too with ``judge`` (``classify.Judge``)."""
    sizes = np.empty(len(images), dtype=np.int64)
    recon = np.empty_like(images)
    for i, digit in enumerate(images):
        blob = codec.encode(digit, quality)
        sizes[i] = len(blob)
        recon[i] = codec.decode(blob)
        if advance and i % 100 == 99:
            advance(100)
    if advance:
        advance(len(images) % 100)
    return dict(
        model=codec.name if quality is None else f"{codec.name} q{quality}",
        family=codec.name,
        quality=quality,
        digits=len(images),
        bits_single_file=round(float(8 * sizes.mean()), 3),
        psnr_mean=None if codec.lossless else round(metrics.psnr_mean(images, recon), 3),
        psnr_of_mean_mse=None if codec.lossless else round(metrics.psnr_of_mean_mse(images, recon), 3),
        mae=round(metrics.mae(images, recon), 3),
        ssim=round(metrics.ssim(images, recon), 4),
        **(judge(recon) if judge is not None else {}),
        lossless=codec.lossless,
    )
