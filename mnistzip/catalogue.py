"""The catalogue of shipped models: their folder, the quality ladder and the retired ids, read from data.

Nothing here loads a model (``zoo`` does): a lookup reads the small JSON
files and the cards they name.

The project's ``models/`` folder (installed as the ``mnistzip.models``
package data) holds one directory per shipped model and two small files:

- ``ladder.json``: the rungs of the quality ladder, smallest files first.
  Each names a model directory and one of its levels; one is the default.
  A rung's number is its place in that list (``ladder-q1`` is the first).
  Everything else about a rung (id, λ, digests, test figures) is its model's
  card (``card``): nothing here repeats it. ``"kept"`` lists models that no
  rung uses any more, installed so that their files decode.
- ``retired.json``: the ids of levels that were shipped during development
  and retired before 1.0, so that their files get a clear answer: each with
  the commit of mnistzip that last decoded it (``last_decoded_by``, its own
  or the table's).

Compatibility: every rung that ships from 1.0 on stays decodable by later
releases: a model whose rungs all move goes to ``"kept"``. A file names its
model's level by id; every level of every installed model is found by it,
rung or not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .card import CARD_FILE, Card, Level
from .errors import ModelError, UsageError

MODELS_DIR_ENV = "MNISTZIP_MODELS_DIR"
LADDER_FILE = "ladder.json"
RETIRED_FILE = "retired.json"
LADDER_FAMILY = "ladder"  # what eval calls the ladder's curve
RUNG_PREFIX = "ladder-q"


@dataclass(frozen=True)
class Rung:
    """A place on the shipped quality ladder: one level of one shipped model."""

    number: int  # 1 = the smallest files
    card: Card
    level: Level
    default: bool

    @property
    def name(self) -> str:
        return f"{RUNG_PREFIX}{self.number}"

    @property
    def id(self) -> str:
        return self.level.id

    @property
    def description(self) -> str:
        return f"{self.card.name} λ={self.level.lmbda:g}"


def models_dir() -> Path:
    """Where shipped models are: $MNISTZIP_MODELS_DIR, the installed package data, or the checkout's models/."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if candidate.is_dir():
            return candidate
    return here.parent / "models"


def _read_json(name: str) -> dict:
    path = models_dir() / name
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path} is missing; reinstall mnistzip") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot read it ({type(e).__name__}); reinstall mnistzip") from None
    if not isinstance(content, dict):
        raise ModelError(f"{path}: malformed (expected an object); reinstall mnistzip")
    return content


def _installed() -> tuple[list[Rung], list[Card]]:
    """The ladder and every installed model (the rungs' first, then the kept ones), each card read once."""
    manifest = _read_json(LADDER_FILE)
    cards: dict[str, Card] = {}

    def card(name) -> Card:
        if not isinstance(name, str):
            raise TypeError(f"a model name is a string, not {name!r}")
        if name not in cards:
            cards[name] = Card.read(models_dir() / name)
        return cards[name]

    try:
        rungs = [Rung(number, card(entry["model"]), card(entry["model"]).level(int(entry["level"])),
                      bool(entry.get("default"))) for number, entry in enumerate(manifest["rungs"], start=1)]
        for name in manifest.get("kept", []):
            card(name)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{models_dir() / LADDER_FILE}: malformed ({type(e).__name__}: {e})") from None
    if sum(r.default for r in rungs) != 1 or len({r.id for r in rungs}) != len(rungs):
        raise ModelError(f"{models_dir() / LADDER_FILE}: needs exactly one default rung and distinct ids")
    return rungs, list(cards.values())


def ladder() -> list[Rung]:
    """The shipped quality ladder, smallest files first, checked: levels exist, ids distinct, one default."""
    return _installed()[0]


def rung_count() -> int:
    """How many rungs the ladder has, from ``ladder.json`` alone (no card read: the help states it)."""
    return len(_rungs())


def default_number() -> int:
    """The default rung's number, from ``ladder.json`` alone."""
    return next((i for i, entry in enumerate(_rungs(), start=1) if entry.get("default")), 1)


def _rungs() -> list[dict]:
    rungs = _read_json(LADDER_FILE).get("rungs")
    if not isinstance(rungs, list) or not all(isinstance(r, dict) for r in rungs):
        raise ModelError(f"{models_dir() / LADDER_FILE}: malformed (expected a list of rungs); reinstall mnistzip")
    return rungs


def default_rung() -> Rung:
    """The rung ``compress`` uses when told nothing."""
    return next(r for r in ladder() if r.default)


def by_rung(number: int) -> Rung:
    """Rung ``number`` of the ladder (1-based, as ``--quality``)."""
    rungs = ladder()
    if not 1 <= number <= len(rungs):
        raise UsageError(f"--quality must be 1 to {len(rungs)}, not {number}")
    return rungs[number - 1]


def by_bits(bits: float) -> Rung:
    """The rung whose bits per digit on the MNIST test split is nearest ``bits`` without exceeding it."""
    rungs = [r for r in ladder() if r.level.bits is not None]
    within = [r for r in rungs if r.level.bits <= bits]
    if not within:
        smallest = min(r.level.bits for r in rungs)
        raise UsageError(f"--bits must be {smallest:g} or more (what the smallest quality level takes), not {bits:g}")
    return max(within, key=lambda r: r.level.bits)


def by_id(model_id: str) -> Rung | None:
    """The rung whose .mz id is ``model_id``, if any."""
    return next((r for r in ladder() if r.id == model_id), None)


def installed() -> list[Card]:
    """Every installed model: those of the rungs, then those ``ladder.json`` keeps for their files."""
    return _installed()[1]


def find(model_id: str) -> tuple[Card, Level, Rung | None] | None:
    """The installed model and level whose .mz id is ``model_id``, and its rung if it is one, if any."""
    rungs, cards = _installed()
    rung = next((r for r in rungs if r.id == model_id), None)
    if rung is not None:
        return rung.card, rung.level, rung
    for card in cards:
        level = card.by_id(model_id)
        if level is not None:
            return card, level, None
    return None


def named(model_id: str) -> tuple[str | None, str | None]:
    """What an id names: (the installed level: a rung's name or "MODEL level N"; else the retired level)."""
    found = find(model_id)
    if found is not None:
        card, level, rung = found
        return (rung.name if rung else f"{card.name} level {level.number}"), None
    gone = retired(model_id)
    return None, None if gone is None else f"{gone['model']} level {gone['level']}"


def retired(model_id: str) -> dict | None:
    """What ``retired.json`` says of ``model_id`` (model, level, λ), if it names a retired level."""
    table = _read_json(RETIRED_FILE)
    try:
        entry = table["models"].get(model_id)
        return None if entry is None else dict(model=str(entry["model"]), level=int(entry["level"]),
                                                lmbda=entry.get("lmbda"),
                                                last_decoded_by=str(entry.get("last_decoded_by", table["last_decoded_by"])))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{models_dir() / RETIRED_FILE}: malformed ({type(e).__name__}: {e}); reinstall mnistzip") from None


def resolve(spec: str | None) -> tuple[Path, Rung | None]:
    """A ``--model`` value → (model directory, the rung if it names one).

    ``spec`` is a rung name (``ladder-q3``; None for the default rung), the
    name of a shipped model directory (``cond-500-1400-L16``), or the path of
    any model directory.
    """
    if spec is None:
        rung = default_rung()
        return rung.card.path, rung
    if spec.startswith(RUNG_PREFIX) and spec[len(RUNG_PREFIX):].isdigit():
        rung = by_rung(int(spec[len(RUNG_PREFIX):]))
        return rung.card.path, rung
    shipped = models_dir() / spec
    if os.sep not in spec and spec not in (".", "..") and (shipped / CARD_FILE).is_file():
        return shipped, None
    path = Path(spec)
    if path.is_dir():
        return path, None
    raise ModelError(f"unknown model {spec!r}: expected a rung (see 'mnistzip models') or a model directory")
