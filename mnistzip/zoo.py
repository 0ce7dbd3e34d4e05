"""The shipped models: a registry keyed by name and quality, each hash-checked at load.

A model is a directory (SavedModel + model.json). Shipped ones live in the
project's ``models/`` folder (installed as the ``mnistzip.models`` package
data); ``--model`` takes a registry name or the path of any model directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError, UnknownModel
from .fileio import tree_digest

MODELS_DIR_ENV = "MNISTZIP_MODELS_DIR"


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model: how to find it and how to know it is intact."""

    name: str
    quality: int  # 1 is the smallest files
    id: str  # the 4-hex-digit id written into .mz files
    sha256: str  # of the model directory's files (see directory_digest)
    description: str


REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in [
        ModelEntry(
            name="seed-2000",
            quality=1,
            id="ec58",
            sha256="a62e40ffcd390c956e40de89cc40c31728adddb855b6f845a0cfb59e7d8fea90",
            description="seed recipe: latent 50, NoisyLogistic prior, MAE, lambda 2000, 15 epochs",
        ),
    ]
}
DEFAULT_MODEL = "seed-2000"


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


def by_quality(quality: int) -> ModelEntry:
    """The shipped model of a quality level."""
    for entry in REGISTRY.values():
        if entry.quality == quality:
            return entry
    known = ", ".join(str(e.quality) for e in sorted(REGISTRY.values(), key=lambda e: e.quality))
    raise ModelError(f"no shipped model of quality {quality}; available: {known}")


def by_id(model_id: str) -> ModelEntry | None:
    """The shipped model whose .mz id is ``model_id``, if any."""
    return next((e for e in REGISTRY.values() if e.id == model_id), None)


def resolve(spec: str | None) -> tuple[Path, ModelEntry | None]:
    """A ``--model`` value (registry name or directory; None for the default) → (directory, entry)."""
    spec = spec or DEFAULT_MODEL
    if spec in REGISTRY:
        return models_dir() / spec, REGISTRY[spec]
    path = Path(spec)
    if path.is_dir():
        return path, None
    names = ", ".join(REGISTRY)
    raise ModelError(f"unknown model {spec!r}: expected a shipped model ({names}) or a model directory")


def load(spec: str | None = None, verify: bool = True):
    """Load a model by registry name or path; shipped models must match their registered hash."""
    from .codec import Codec

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
    return Codec.load(path, verify=verify)


def for_file(model_id: str, spec: str | None = None):
    """The model that decodes a file with id ``model_id``: ``spec`` if given, else the shipped one with that id."""
    if spec is not None:
        return load(spec)
    entry = by_id(model_id)
    if entry is None:
        installed = ", ".join(f"{e.name} ({e.id})" for e in REGISTRY.values())
        raise UnknownModel(
            f"the file needs model {model_id}, which is not installed (installed: {installed}); "
            "pass --model with the model directory that made it"
        )
    return load(entry.name)
