"""Digits no MNIST writer drew: printed digits rendered from fonts with Pillow, for ``eval --split fonts``.

    python benchmarks/font_digits.py                    # writes models/identity/font-digits.npz
    python benchmarks/font_digits.py --count 50 --out /tmp/f

Each digit is drawn from one of the machine's TrueType fonts (every
``*.ttf`` under ``--fonts``, the DejaVu family on Debian) or Pillow's own
scalable default, with a random weight (stroke width), slant (shear),
turn and size, then framed as MNIST frames a digit (``images.normalize_digit``:
bounding box in 20 x 20, centre of mass at the centre) and moved by up to
two pixels, as a digit that was not re-centred would be. The same count of
each class, in a fixed random order (seed 0).

The result is shipped as data (``font-digits.npz``: ``images`` uint8 (N, 28,
28), ``labels``, ``font`` (index into ``fonts``), ``fonts``) and recorded in
``identity.json`` under ``digitsets`` with its digest, because rendering
depends on the fonts and the FreeType a machine has: the figures in
docs/results/identity.md are for this file, not for a re-rendering.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnistzip import classify, images  # noqa: E402
from mnistzip.fileio import file_digest, write_atomic  # noqa: E402

NAME = "fonts"
FILE = "font-digits.npz"
COUNT = 1000
CANVAS = 200
DEFAULT_FONT = "Pillow default (Aileron)"


def fonts(folder: Path) -> list[str]:
    """Font files to draw with (sorted, so the same machine gives the same set), and Pillow's own."""
    return sorted(str(p) for p in folder.rglob("*.ttf")) + [DEFAULT_FONT]


def render(digit: int, font_path: str, rng: np.random.Generator) -> np.ndarray:
    """One printed digit, white on black, framed like MNIST's (uint8 28 x 28)."""
    from PIL import Image, ImageDraw, ImageFont

    size = int(rng.integers(90, 130))
    font = ImageFont.load_default(size) if font_path == DEFAULT_FONT else ImageFont.truetype(font_path, size)
    img = Image.new("L", (CANVAS, CANVAS), 0)
    stroke = int(rng.choice([0, 0, 1, 2, 4]))  # weight: thin fonts thickened, bold ones bolder
    ImageDraw.Draw(img).text((CANVAS / 2, CANVAS / 2), str(digit), fill=255, font=font, anchor="mm",
                             stroke_width=stroke, stroke_fill=255)
    slant = float(rng.uniform(-0.15, 0.35))  # handwriting leans right more often than left
    img = img.transform(img.size, Image.AFFINE, (1, slant, -slant * CANVAS / 2, 0, 1, 0), resample=Image.BILINEAR)
    img = img.rotate(float(rng.uniform(-10, 10)), resample=Image.BILINEAR)
    framed = images.normalize_digit(np.asarray(img, dtype=np.float64))
    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    framed = np.roll(framed, (dy, dx), axis=(0, 1))
    return np.clip(np.rint(framed), 0, 255).astype(np.uint8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=COUNT, help="digits in all (a multiple of 10)")
    parser.add_argument("--fonts", type=Path, default=Path("/usr/share/fonts/truetype"))
    parser.add_argument("--out", type=Path, default=ROOT / "models" / classify.FOLDER)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    names = fonts(args.fonts)
    labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), math.ceil(args.count / 10)))[: args.count]
    which = rng.integers(0, len(names), size=len(labels))
    images = np.stack([render(int(d), names[f], rng) for d, f in zip(labels, which)])
    shown = [DEFAULT_FONT if n == DEFAULT_FONT else Path(n).stem for n in names]

    args.out.mkdir(parents=True, exist_ok=True)
    path, tmp = args.out / FILE, args.out / f".{FILE}.tmp"
    with open(tmp, "wb") as f:
        np.savez_compressed(f, images=images, labels=labels, font=which.astype(np.uint8), fonts=np.array(shown))
    tmp.replace(path)
    index_path = args.out / classify.INDEX_FILE
    content = json.loads(index_path.read_text()) if index_path.exists() else dict(roles={}, classifiers=[])
    content.setdefault("digitsets", {})[NAME] = dict(
        file=FILE, sha256=file_digest(path), count=len(labels), fonts=len(names),
        description="printed digits rendered from fonts with Pillow: random weight, slant, turn, size, offset",
        command=("python benchmarks/font_digits.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip())
    write_atomic(index_path, (json.dumps(content, indent=2) + "\n").encode(), force=True)
    print(f"{path}: {len(labels)} digits from {len(names)} fonts, {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
