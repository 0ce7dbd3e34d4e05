"""The shipped models: a registry keyed by name and quality, each hash-checked at load.

A model is a directory (SavedModel + model.json). Shipped ones live in the
project's ``models/`` folder (installed as the ``mnistzip.models`` package
data); ``--model`` takes a registry name or the path of any model directory.
The quality ladder is levels of variable-rate models, one entry per level;
levels that left the ladder stay registered so their files still decode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError, UnknownModel
from .fileio import tree_digest

MODELS_DIR_ENV = "MNISTZIP_MODELS_DIR"
LADDER_FAMILY = "ladder"  # what eval calls the ladder's curve


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model: how to find it and how to know it is intact."""

    name: str
    quality: int | None  # place on the ladder, 1 = smallest files; None: off the ladder, kept to decode old files
    id: str  # the 4-hex-digit id written into .mz files
    description: str
    directory: str = ""  # the model directory's name under models/ (default: the entry's name)
    level: int | None = None  # the quality level inside a variable-rate model

    @property
    def path(self) -> Path:
        return models_dir() / (self.directory or self.name)

    @property
    def sha256(self) -> str:
        """The registered digest of this entry's model directory (one per directory, shared by its levels)."""
        return DIGESTS[self.path.name]

    def card(self) -> dict:
        """This entry's part of model.json: id, λ and test figures (a level of a variable-rate model)."""
        meta = json.loads((self.path / "model.json").read_text())
        return meta["qualities"][self.level - 1] if self.level else meta


# SHA-256 of each shipped model directory's files (see directory_digest): checked at every load
DIGESTS: dict[str, str] = {
    "vr-300-520": "013f98f88598a6b73c338cfeccaff1168904905075f157b4e309666ff7a51de5",
    "cond-500-1400-L16": "8344f2a688419a02d649643ace60ba118160afef8e40a58f6a8647950e8eae25",
    "cond-1000-2000-L24": "b79111a4b23fc0b89f403a0cddb563e6e0ffada134631e9bad73f86c07257966",
    "cond-1400-5600-e150": "baac84d2ceef211bd4790d837e15c41a9035aceda9200968f8552b3f5fdb5b9f",
    "cond-4000-128000": "7565e82854a10853a558b7ebe926253786eae3986febcf006d91cc3980c45a72",
    "vr-150-1000": "a156b62a79d3cdce82b1dd8c9f9f2a1374f04b85b5bcf7e92ef150db3db1c8e5",
    "cond-350-5600": "caac7651bd251c85c621866d291dd6f7465500a416ac9e12ba03f1f1cdfb555a",
    "vr-250-2000": "37748eb26ee626d6d1561608ac2aa53fbf4882ae292bcb9ed4d8c3d3ef06ef95",
    "vr-500-8000": "7e067c22ae98f7a1b1befbb39e4d5e6ff42931457844f4eb6f6ae18c7d7cfd1e",
    "vr-4000-64000": "aaca32a43047f59735160c6622569fc790bb4c7a0c14117b84d5be93302d000a",
    "seed-2000": "810eb2c1b49f244dee3742ad4a84baada3b2abbe11860fd9d41df878b496d791",
}
REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in [
        # The quality ladder: levels of five variable-rate models, the best of them at each rate
        # (benchmarks/rd.py): vr-300-520 (factorized prior) at the low end, then the conditional-prior
        # models cond-500-1400-L16 and cond-1000-2000-L24 (16 and 24 latents, narrower transforms),
        # cond-1400-5600-e150 and cond-4000-128000.
        ModelEntry(
            name="ladder-q1",
            quality=1,
            id="3ee1",
            description="vr-300-520 λ=360",
            directory="vr-300-520",
            level=2,
        ),
        ModelEntry(
            name="ladder-q2",
            quality=2,
            id="fbcc",
            description="vr-300-520 λ=520",
            directory="vr-300-520",
            level=4,
        ),
        ModelEntry(
            name="ladder-q3",
            quality=3,
            id="52ca",
            description="cond-500-1400-L16 λ=500",
            directory="cond-500-1400-L16",
            level=1,
        ),
        ModelEntry(
            name="ladder-q4",
            quality=4,
            id="4464",
            description="cond-500-1400-L16 λ=700",
            directory="cond-500-1400-L16",
            level=2,
        ),
        ModelEntry(
            name="ladder-q5",
            quality=5,
            id="88ad",
            description="cond-500-1400-L16 λ=1000",
            directory="cond-500-1400-L16",
            level=3,
        ),
        ModelEntry(
            name="ladder-q6",
            quality=6,
            id="4640",
            description="cond-500-1400-L16 λ=1400",
            directory="cond-500-1400-L16",
            level=4,
        ),
        ModelEntry(
            name="ladder-q7",
            quality=7,
            id="a080",
            description="cond-1000-2000-L24 λ=1000",
            directory="cond-1000-2000-L24",
            level=1,
        ),
        ModelEntry(
            name="ladder-q8",
            quality=8,
            id="ccdf",
            description="cond-1000-2000-L24 λ=1400",
            directory="cond-1000-2000-L24",
            level=2,
        ),
        ModelEntry(
            name="ladder-q9",
            quality=9,
            id="567a",
            description="cond-1000-2000-L24 λ=2000",
            directory="cond-1000-2000-L24",
            level=3,
        ),
        ModelEntry(
            name="ladder-q10",
            quality=10,
            id="7388",
            description="cond-1400-5600-e150 λ=1400",
            directory="cond-1400-5600-e150",
            level=1,
        ),
        ModelEntry(
            name="ladder-q11",
            quality=11,
            id="1db9",
            description="cond-1400-5600-e150 λ=2800",
            directory="cond-1400-5600-e150",
            level=2,
        ),
        ModelEntry(
            name="ladder-q12",
            quality=12,
            id="482d",
            description="cond-1400-5600-e150 λ=5600",
            directory="cond-1400-5600-e150",
            level=3,
        ),
        ModelEntry(
            name="ladder-q13",
            quality=13,
            id="3129",
            description="cond-4000-128000 λ=4000",
            directory="cond-4000-128000",
            level=1,
        ),
        ModelEntry(
            name="ladder-q14",
            quality=14,
            id="ee64",
            description="cond-4000-128000 λ=8000",
            directory="cond-4000-128000",
            level=2,
        ),
        ModelEntry(
            name="ladder-q15",
            quality=15,
            id="c644",
            description="cond-4000-128000 λ=16000",
            directory="cond-4000-128000",
            level=3,
        ),
        ModelEntry(
            name="ladder-q16",
            quality=16,
            id="39b3",
            description="cond-4000-128000 λ=32000",
            directory="cond-4000-128000",
            level=4,
        ),
        ModelEntry(
            name="ladder-q17",
            quality=17,
            id="17cb",
            description="cond-4000-128000 λ=64000",
            directory="cond-4000-128000",
            level=5,
        ),
        ModelEntry(
            name="ladder-q18",
            quality=18,
            id="c289",
            description="cond-4000-128000 λ=128000",
            directory="cond-4000-128000",
            level=6,
        ),
        # Off the ladder, kept so that the files they made still decode.
        ModelEntry(
            name="vr-150-1000-q2",
            quality=None,
            id="9bb4",
            description="λ=250, was ladder-q1; decode-only",
            directory="vr-150-1000",
            level=2,
        ),
        ModelEntry(
            name="vr-150-1000-q3",
            quality=None,
            id="0fb9",
            description="λ=400, was ladder-q2; decode-only",
            directory="vr-150-1000",
            level=3,
        ),
        ModelEntry(
            name="vr-150-1000-q4",
            quality=None,
            id="2c20",
            description="λ=650, was ladder-q4; decode-only",
            directory="vr-150-1000",
            level=4,
        ),
        ModelEntry(
            name="vr-150-1000-q5",
            quality=None,
            id="ef8b",
            description="λ=1000, was ladder-q5; decode-only",
            directory="vr-150-1000",
            level=5,
        ),
        ModelEntry(
            name="cond-350-5600-q3",
            quality=None,
            id="66dc",
            description="λ=1400, was ladder-q6; decode-only",
            directory="cond-350-5600",
            level=3,
        ),
        ModelEntry(
            name="cond-350-5600-q4",
            quality=None,
            id="3583",
            description="λ=2800, was ladder-q6; decode-only",
            directory="cond-350-5600",
            level=4,
        ),
        ModelEntry(
            name="cond-350-5600-q5",
            quality=None,
            id="5b84",
            description="λ=5600, was ladder-q7 and the default; decode-only",
            directory="cond-350-5600",
            level=5,
        ),
        ModelEntry(
            name="vr-250-2000-q1",
            quality=None,
            id="8b93",
            description="λ=250, was ladder-q1; decode-only",
            directory="vr-250-2000",
            level=1,
        ),
        ModelEntry(
            name="vr-250-2000-q2",
            quality=None,
            id="a566",
            description="λ=500, was ladder-q2; decode-only",
            directory="vr-250-2000",
            level=2,
        ),
        ModelEntry(
            name="vr-250-2000-q3",
            quality=None,
            id="c266",
            description="λ=1000, was ladder-q3; decode-only",
            directory="vr-250-2000",
            level=3,
        ),
        ModelEntry(
            name="vr-250-2000-q4",
            quality=None,
            id="c46c",
            description="λ=2000, was ladder-q4; decode-only",
            directory="vr-250-2000",
            level=4,
        ),
        ModelEntry(
            name="vr-500-8000-q3",
            quality=None,
            id="b211",
            description="λ=2000, was ladder-q5; decode-only",
            directory="vr-500-8000",
            level=3,
        ),
        ModelEntry(
            name="vr-500-8000-q4",
            quality=None,
            id="c93e",
            description="λ=4000, was ladder-q6; decode-only",
            directory="vr-500-8000",
            level=4,
        ),
        ModelEntry(
            name="vr-500-8000-q5",
            quality=None,
            id="c06b",
            description="λ=8000, was ladder-q7; decode-only",
            directory="vr-500-8000",
            level=5,
        ),
        ModelEntry(
            name="vr-4000-64000-q1",
            quality=None,
            id="d35f",
            description="λ=4000, was ladder-q7; decode-only",
            directory="vr-4000-64000",
            level=1,
        ),
        ModelEntry(
            name="vr-4000-64000-q2",
            quality=None,
            id="e114",
            description="λ=8000, was ladder-q8; decode-only",
            directory="vr-4000-64000",
            level=2,
        ),
        ModelEntry(
            name="vr-4000-64000-q3",
            quality=None,
            id="c693",
            description="λ=16000, was ladder-q9; decode-only",
            directory="vr-4000-64000",
            level=3,
        ),
        ModelEntry(
            name="vr-4000-64000-q4",
            quality=None,
            id="e970",
            description="λ=32000, was ladder-q10; decode-only",
            directory="vr-4000-64000",
            level=4,
        ),
        ModelEntry(
            name="vr-4000-64000-q5",
            quality=None,
            id="0b0e",
            description="λ=64000, was ladder-q11; decode-only",
            directory="vr-4000-64000",
            level=5,
        ),
        ModelEntry(
            name="seed-2000",
            quality=None,
            id="ec58",
            description="seed recipe, λ=2000 (first default; decode-only)",
        ),
    ]
}
DEFAULT_MODEL = "ladder-q12"  # the rung nearest 40 bits per digit (37.6)


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


def directory_digest(path: str | os.PathLike) -> str:
    """SHA-256 over a model directory's files (relative names and contents, sorted)."""
    return tree_digest(path)


def ladder() -> list[ModelEntry]:
    """The shipped quality ladder, smallest files first."""
    return sorted((e for e in REGISTRY.values() if e.quality is not None), key=lambda e: e.quality)


def by_quality(quality: int) -> ModelEntry:
    """The shipped model of a quality level."""
    for entry in ladder():
        if entry.quality == quality:
            return entry
    levels = [e.quality for e in ladder()]
    raise ModelError(f"no shipped model of quality {quality}: expected {min(levels)} to {max(levels)}")


def by_id(model_id: str) -> ModelEntry | None:
    """The shipped model whose .mz id is ``model_id``, if any."""
    return next((e for e in REGISTRY.values() if e.id == model_id), None)


def resolve(spec: str | None) -> tuple[Path, ModelEntry | None]:
    """A ``--model`` value (registry name or directory; None for the default) → (directory, entry)."""
    spec = spec or DEFAULT_MODEL
    if spec in REGISTRY:
        return REGISTRY[spec].path, REGISTRY[spec]
    path = Path(spec)
    if path.is_dir():
        return path, None
    raise ModelError(f"unknown model {spec!r}: expected a shipped model (see 'mnistzip models') or a model directory")


def load(spec: str | None = None, verify: bool = True, quality: int | None = None):
    """Load a model by registry name or path; shipped models must match their registered hash.

    ``quality`` picks a rung of the shipped ladder (no ``spec``) or a level of a
    variable-rate model given by path.
    """
    from .codec import Codec

    if quality is not None and spec is None:
        spec = by_quality(quality).name
    elif quality is not None and spec in REGISTRY:
        raise ModelError(f"give a shipped model ({spec}) or a quality ({quality}), not both")
    path, entry = resolve(spec)
    if entry is not None:
        if not path.is_dir():
            raise ModelError(f"shipped model {entry.name} is missing from {path.parent}; reinstall mnistzip")
        if verify:
            found = directory_digest(path)
            if found != entry.sha256:
                raise ModelError(
                    f"model {entry.name} at {path} fails its hash check "
                    f"(expected {entry.sha256[:12]}…, found {found[:12]}…); reinstall mnistzip"
                )
        return Codec.load(path, verify=verify, quality=entry.level).with_quality(entry.level or 1, name=entry.name)
    return Codec.load(path, verify=verify, quality=quality)


def for_file(model_id: str, spec: str | None = None):
    """The model that decodes a file with id ``model_id``: ``spec`` if given, else the shipped one with that id."""
    if spec is not None:
        codec = load(spec)
        return codec.with_id(model_id) or codec  # another level of the same model, or a mismatch decompress reports
    entry = by_id(model_id)
    if entry is None:
        raise UnknownModel(
            f"the file needs model {model_id}, which is not installed ('mnistzip models' lists the shipped ones); "
            "pass --model with the model directory that made it"
        )
    return load(entry.name)
