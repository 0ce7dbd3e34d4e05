"""A model card (``model.json``): what a model is, read and checked in one place (no TensorFlow here).

Every model has the same shape: one or more *levels*, each a λ the model was
trained for, with the 4-hex-digit id it writes into ``.mz`` files, the digest of
its range-coding tables and its figures on the MNIST test split. A model
trained for one λ is a model with one level. Levels are numbered from 1 for
people; the exported model's functions take ``Level.index`` (from 0).

A *rung* (see ``zoo``) is a place on the shipped quality ladder: one level of
one shipped model.

    {
      "name": "cond-1400-5600-e150",
      "command": "mnistzip train --lmbda 1400 ...",    how to make it again
      "recipe": {...},                                 every training choice (recipe.TrainConfig)
      "weights_sha256": "...",                         the weights, gains and tables (ids derive from it)
      "files_sha256": "...",                           every file but model.json and history.json
      "portable_sha256": "...",                        weights.npz, the runtime's copy of weights and tables
      "weights_dtype": "float16",
      "default_level": 3,
      "levels": [{"level": 1, "lmbda": 1400.0, "id": "7388", "tables_sha256": "...", "test": {...}}, ...]
    }

A level's ``test`` figures are those of plain rounding (``compress --fast``)
and, under ``SEARCHED`` + the same names, those of the default encoder (the
search's), both measured at export (``train``); ``benchmarks/rd.py --cards``
measures the shipped models' default figures again on the whole test split.

The per-epoch training history is kept beside the card (``history.json``),
not in it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .fileio import tree_digest, write_atomic
from .recipe import OPTIONAL_CHOICES, SEED_RECIPE

CARD_FILE = "model.json"
HISTORY_FILE = "history.json"
UNDIGESTED = (CARD_FILE, HISTORY_FILE)  # what files_sha256 leaves out: the card itself, and a log of no consequence
ID_HEX_DIGITS = 4  # what a .mz header holds: 16 bits
SEARCHED = "search_"  # a level's test figures as compress codes by default (searched), beside plain rounding's
SEARCHED_FIGURES = ("bits_archive", "bits_entropy", "bits_single_file", "psnr_of_mean_mse", "psnr_mean", "mae", "ssim",
                    "class_kept", "class_kept_second", "compress_digits_per_s", "decompress_digits_per_s")


@dataclass(frozen=True)
class Level:
    """One λ of a model: the id its files carry, its tables' digest, its test-split figures."""

    number: int  # 1 = the smallest λ (the fewest bits)
    lmbda: float
    id: str
    tables_sha256: str
    test: dict

    @property
    def index(self) -> int:
        """The level as the exported model's functions take it (0-based)."""
        return self.number - 1

    @property
    def bits(self) -> float | None:
        """Bits per digit on disk, the whole MNIST test split in one archive, as compress codes by default (the
        search's figures, ``search_*``, where measured; else plain rounding's; None if not measured)."""
        return self.figure("bits_archive")

    def figure(self, name: str):
        """One of the test figures (``"psnr_of_mean_mse"``) as compress codes by default: the search's where
        measured, else plain rounding's; None if neither was."""
        return self.test.get(SEARCHED + name, self.test.get(name))


@dataclass(frozen=True)
class Card:
    """A model's ``model.json``, validated: the one shape every model has."""

    path: Path  # the model directory
    name: str
    levels: tuple[Level, ...]
    default_level: int
    recipe: dict
    raw: dict  # the card as read, for what only a report needs (command, training time, ...)

    @classmethod
    def read(cls, directory: str | os.PathLike) -> "Card":
        """Read and check ``directory/model.json``; a missing or malformed card is a ModelError."""
        path = Path(directory)
        card_path = path / CARD_FILE
        if not card_path.is_file():
            raise ModelError(f"{path}: not a mnistzip model (no {CARD_FILE})")
        try:
            raw = json.loads(card_path.read_text())
            levels = tuple(
                Level(int(lv["level"]), float(lv["lmbda"]), str(lv["id"]), str(lv["tables_sha256"]), lv.get("test") or {})
                for lv in raw["levels"]
            )
            recipe = {**{k: SEED_RECIPE[k] for k in OPTIONAL_CHOICES}, **raw["recipe"]}
            card = cls(path, raw.get("name") or path.name, levels, int(raw["default_level"]), recipe, raw)
            missing = [k for k in SEED_RECIPE if k not in card.recipe]
            if missing:
                raise KeyError(f"recipe lacks {', '.join(missing)}")
        except OSError as e:
            raise ModelError(f"{card_path}: cannot read it ({e.strerror or type(e).__name__})") from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelError(f"{card_path}: malformed model card ({type(e).__name__}: {e})") from None
        if [lv.number for lv in levels] != list(range(1, len(levels) + 1)) or not levels:
            raise ModelError(f"{card_path}: malformed model card (levels must be numbered 1 to N)")
        if not 1 <= card.default_level <= len(levels):
            raise ModelError(f"{card_path}: malformed model card (default_level {card.default_level} is not a level)")
        if level_ids(str(raw.get("weights_sha256")), len(levels)) != [lv.id for lv in levels]:
            raise ModelError(f"{card_path}: the levels' ids do not derive from weights_sha256 (the card was altered)")
        return card

    def level(self, number: int | None = None) -> Level:
        """Level ``number`` (1-based; None: the default level)."""
        number = self.default_level if number is None else number
        if not 1 <= number <= len(self.levels):
            raise ModelError(f"{self.name} has levels 1 to {len(self.levels)}, not {number}")
        return self.levels[number - 1]

    def by_id(self, model_id: str) -> Level | None:
        """The level whose files carry ``model_id``, if any."""
        return next((lv for lv in self.levels if lv.id == model_id), None)

    @property
    def latent_dims(self) -> int:
        return int(self.recipe["latent_dims"])

    @property
    def prior(self) -> str:
        return str(self.recipe["prior"])

    @property
    def codes_class(self) -> bool:
        """Whether the model sends each digit's class first and decodes given it (``coding``): its latents are then
        ``coded_dims`` wide, the class first."""
        return bool(self.recipe["code_class"])

    @property
    def conditional(self) -> bool:
        """Whether each latent dimension is coded given the ones before it (decoded one dimension at a time)."""
        return self.prior == "conditional"

    @property
    def dimension_major(self) -> bool:
        """Whether the stream holds every digit's first symbol, then every digit's second, ... (conditional and
        class-coding models: each symbol's table depends on earlier ones), rather than digit after digit."""
        return self.conditional or self.codes_class

    @property
    def coded_dims(self) -> int:
        """Columns of the latents the model's codecs exchange: the latent dimensions, after the class if it codes one."""
        return self.latent_dims + self.codes_class

    @property
    def files_sha256(self) -> str | None:
        return self.raw.get("files_sha256")

    @property
    def portable_sha256(self) -> str | None:
        """The digest of ``weights.npz``, the runtime's copy of the weights and tables (None: exported before it)."""
        return self.raw.get("portable_sha256")


def add_test_figures(directory: str | os.PathLike, figures: dict[int, dict]) -> Card:
    """Add ``figures`` (by level number) to the levels' ``test`` figures in ``directory/model.json``, atomically.

    For figures measured after export, such as class kept by classifiers that
    came later. The card is outside ``files_sha256`` and the ids derive from
    the weights, so the model stays the same model.
    """
    card = Card.read(directory)
    raw = json.loads(json.dumps(card.raw))
    for level in raw["levels"]:
        level.setdefault("test", {}).update(figures.get(level["level"], {}))
    write_atomic(card.path / CARD_FILE, (json.dumps(raw, indent=2) + "\n").encode(), force=True)
    return Card.read(directory)


def written_by_mnistzip(root: str | os.PathLike) -> bool:
    """Whether every file in the folder ``root`` is one mnistzip wrote: a model directory whose card records
    the digest of its other files (``files_sha256``; see ``card``), with no hidden file or link beside them."""
    root = Path(root)
    try:
        expected = json.loads((root / CARD_FILE).read_text()).get("files_sha256")
        for folder, dirs, files in os.walk(root):
            for name in [*files, *dirs]:
                entry = Path(folder, name)
                if name.startswith(".") or name == "__pycache__" or entry.is_symlink():
                    return False
        return bool(expected) and tree_digest(root, exclude=UNDIGESTED) == expected
    except (OSError, ValueError, AttributeError):
        return False


def level_ids(weights_digest: str, count: int) -> list[str]:
    """The 4-hex-digit id each level of a model writes into .mz files (docs/format.md, "Model id").

    A one-level model takes its weights digest's first 4 hex digits; the
    levels of a model with several hash the digest with their number. Distinct
    within a model by construction (a salt is added until they are).
    """
    if count == 1:
        return [weights_digest[:ID_HEX_DIGITS]]
    for salt in range(1000):
        ids = [hashlib.sha256(f"{weights_digest}:{q}:{salt or ''}".encode()).hexdigest()[:ID_HEX_DIGITS]
               for q in range(1, count + 1)]
        if len(set(ids)) == count:
            return ids
    raise RuntimeError("cannot find distinct level ids")  # pragma: no cover (odds ~1e-3000)
