"""What ``info`` and ``models`` show: the facts of an ``.mz`` file and of the shipped ladder, read without NumPy
(so that both commands answer at once)."""

from __future__ import annotations

from . import catalogue, container


def info(source: str) -> dict:
    """What an ``.mz`` file holds: its header's fields, the model that made it, and where its bytes go."""
    mz = container.read(source)
    installed, retired = catalogue.named(mz.model_id)
    return dict(
        file=source, version=mz.version, model_id=mz.model_id, model=installed, retired=retired,
        digits=mz.count, bytes=mz.size, payload_bytes=len(mz.payload), overhead_bytes=mz.overhead_bytes,
        bits_per_digit=round(8 * mz.size / mz.count, 3),
        layout=[dict(field=f, offset=o, size=s) for f, o, s in container.layout(mz)],
    )


COLUMNS = [  # the table 'models' prints: (title, the row's key, decimals)
    ("q", "quality", None), ("name", "name", None), ("id", "id", None), ("bits", "bits_archive", 1),
    ("PSNR", "psnr_of_mean_mse", 2), ("kept", "class_kept", 1), ("fast", "fast_bits_archive", 1),
    ("model", "model", None), ("λ", "lmbda", None),
]
LEGEND = ("*: the default. q: the quality level (-q). bits: per digit, MNIST's test digits in one .mz file, coded "
          "as compress codes by default (searched). PSNR: of the mean squared error, dB. kept: the % of digits that a "
          "classifier reads as the same digit after coding. fast: bits per digit with compress --fast (rounded, "
          "not searched; its other figures are in --json, as fast_*). model: the model of the level (with --json, "
          "its level), trained for λ.")
MODEL_FIGURES = ("bits_archive", "bits_entropy", "psnr_of_mean_mse", "psnr_mean", "class_kept", "class_kept_second",
                 "compress_digits_per_s", "decompress_digits_per_s")
FAST = "fast_"  # what models calls plain rounding's figures


def figures(level) -> dict:
    """A level's test figures as ``models`` shows them: the default encoder's (``card.Level.figure``), and
    --fast's (rounding's) as ``fast_*``."""
    return {**{k: level.figure(k) for k in MODEL_FIGURES}, **{FAST + k: level.test.get(k) for k in MODEL_FIGURES}}


def models() -> list[dict]:
    """The rungs of the shipped quality ladder, with their figures on MNIST's test split (from their cards)."""
    return [dict(quality=r.number, name=r.name, id=r.id, default=r.default, model=r.card.name,
                 level=r.level.number, lmbda=r.level.lmbda, codes_class=r.card.codes_class, **figures(r.level))
            for r in catalogue.ladder()]


def ladder_table(rows: list[dict]) -> tuple[list[str], list[list[str]], set[int]]:
    """``models``' table of ``rows``: (headers, cells, the columns aligned right); the default rung starred."""
    def cell(r: dict, key: str, places) -> str:
        value = r[key]
        text = "?" if value is None else f"{value:.{places}f}" if places else f"{value:g}" if key == "lmbda" else str(value)
        return text + ("*" if key == "name" and r["default"] else "")

    return ([title for title, _, _ in COLUMNS], [[cell(r, k, p) for _, k, p in COLUMNS] for r in rows],
            {i for i, (_, k, p) in enumerate(COLUMNS) if p or k in ("quality", "lmbda")})
