"""Does a digit stay the same digit? Reference classifiers, run with NumPy alone.

PSNR says how far a reconstruction is from its original; it does not say
whether a 4 came back as a 9. ``eval`` reports *class kept*: the share of
digits whose reconstruction a reference classifier reads as the original's
label. A codec can be tuned to please one classifier, so a second one of
another kind (a network that sees pixels without convolutions) reports
beside it; where the two disagree by more than a point, the codec is fooling
one of them rather than keeping digits.

The classifiers are trained by ``benchmarks/classifier.py`` on the MNIST
training split only and shipped in the models folder (``identity/``), so
that ``eval`` works offline:

    identity/identity.json   ``roles``: which classifier reports as reference and as second;
                             ``classifiers``: for each, its layers, weights file and digest,
                             parameters, test accuracy and the command that trained it;
                             ``digitsets``: digits not from MNIST (``fonts``, made by
                             ``benchmarks/font_digits.py``), with their digests
    identity/<name>.npz      layer{i}.kernel / layer{i}.bias, Keras's layouts

A classifier's accuracy on the original digits is the ceiling of its class
kept: a reconstruction cannot keep a class the classifier misreads anyway.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import catalogue
from .container import CLASSES
from .errors import ModelError
from .fileio import file_digest
from .layers import Conv, Dense

FOLDER = "identity"
INDEX_FILE = "identity.json"
ROLES = ("reference", "second")  # what eval reports, in this order
GUARD = "guard"  # the role of the classifier an encoder may consult: never one that reports
BATCH = 256  # digits per call: the widest layer's windows stay ~60 MB
CLASS_EDGE = 1e-4  # scores closer than this are compared again in float64: 13 times float32's batch-to-batch moves


def folder() -> Path:
    """Where the classifiers and digit sets are: ``identity/`` in the models folder."""
    return catalogue.models_dir() / FOLDER


def index(directory: Path | None = None) -> dict:
    """``identity.json``, read (a missing or malformed one is a ModelError)."""
    path = (directory or folder()) / INDEX_FILE
    try:
        content = json.loads(path.read_text())
        content["classifiers"], content["roles"]  # noqa: B018 (checked to exist)
    except FileNotFoundError:
        raise ModelError(f"{path} is missing; reinstall mnistzip") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: cannot read it ({type(e).__name__}: {e}); reinstall mnistzip") from None
    return content


def verified(path: Path, sha256: str) -> Path:
    """``path``, once its digest is the one the index gives (what the tables of a model card do for its weights)."""
    try:
        found = file_digest(path)
    except FileNotFoundError:
        raise ModelError(f"{path} is missing; reinstall mnistzip") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    if found != sha256:
        raise ModelError(f"{path}: altered (its SHA-256 is not the one {INDEX_FILE} gives); reinstall mnistzip")
    return path


def _max_pool(x: np.ndarray) -> np.ndarray:
    """2 x 2 max pooling, stride 2, Keras's "valid" padding (an odd last row and column are dropped)."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


@dataclass(frozen=True)
class Classifier:
    """One reference classifier: digits in (uint8, 28 x 28), a class 0-9 out for each."""

    name: str
    kind: str  # in words, for reports
    test_accuracy: float  # % of the original MNIST test digits it reads correctly: its ceiling
    ops: tuple

    @classmethod
    def from_entry(cls, entry: dict, directory: Path, verify: bool = True) -> "Classifier":
        """A classifier from its entry in ``identity.json`` and its weights file beside it."""
        path = directory / entry["file"]
        if verify:
            verified(path, entry["sha256"])
        try:
            with np.load(path, allow_pickle=False) as f:
                weights = {k: f[k].astype(np.float32) for k in f.files}
            ops = []
            for i, layer in enumerate(entry["layers"]):
                kind = layer["kind"]
                if kind == "maxpool":
                    ops.append((_max_pool, False))
                    continue
                kernel, bias = weights[f"layer{i}.kernel"], weights[f"layer{i}.bias"]
                op = Conv(kernel, bias, int(layer.get("stride", 1))) if kind == "conv" else Dense(kernel, bias)
                ops.append((op, layer.get("activation", "relu") == "relu"))
            classifier = cls(entry["name"], entry["kind"], float(entry["test_accuracy"]), tuple(ops))
            classifier.logits(np.zeros((1, 28, 28), np.uint8))  # weights that do not fit the layers fail here, once
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            raise ModelError(f"{path}: unreadable classifier weights ({type(e).__name__}: {e})") from None
        return classifier

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(N, 10) scores, in batches."""
        images = np.asarray(images)
        out = np.empty((len(images), CLASSES), np.float32)
        for start in range(0, len(images), BATCH):
            x = images[start : start + BATCH, :, :, None].astype(np.float32) / np.float32(255.0)
            for op, relu in self.ops:
                if isinstance(op, Dense) and x.ndim == 4:
                    x = x.reshape(len(x), -1)
                x = op(x)
                if relu:
                    np.maximum(x, 0, out=x)
            out[start : start + BATCH] = x
        return out

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The class (0-9) of each digit."""
        return self.logits(images).argmax(axis=1).astype(np.uint8)

    def steady_classes(self, images: np.ndarray) -> np.ndarray:
        """:meth:`predict`, the same for a digit alone and in any batch, as a class-coding model's encoder needs it
        (``codec.Codec.coding_of``): a digit whose two best scores are within ``CLASS_EDGE`` (float32's sums
        move them by up to ~1e-5 with the digit's place in a batch) is scored again in float64, with sums that
        do not depend on the batch (``layers._product``; never a lone row)."""
        images = np.asarray(images)
        logits = self.logits(images)
        best_two = np.sort(logits, axis=1)[:, -2:]
        near = np.flatnonzero(best_two[:, 1] - best_two[:, 0] < CLASS_EDGE)
        if near.size:
            x = images[near, :, :, None].astype(np.float64) / 255.0
            if len(x) == 1:
                x = np.concatenate([x, np.zeros_like(x)])
            for op, relu in self._ops64:
                if isinstance(op, Dense) and x.ndim == 4:
                    x = x.reshape(len(x), -1)
                x = op(x)
                if relu:
                    np.maximum(x, 0, out=x)
            logits[near] = x[: near.size]
        return logits.argmax(axis=1).astype(np.uint8)

    @functools.cached_property
    def _ops64(self) -> tuple:
        """The layers in float64."""
        widened = []
        for op, relu in self.ops:
            if isinstance(op, (Conv, Dense)):
                op = copy.copy(op)
                op.matrix, op.bias = op.matrix.astype(np.float64), op.bias.astype(np.float64)
            widened.append((op, relu))
        return tuple(widened)


def load(role: str = "reference", directory: Path | None = None) -> Classifier:
    """The classifier ``identity.json`` gives ``role`` (reference or second)."""
    directory = directory or folder()
    content = index(directory)
    name = content["roles"].get(role)
    entry = next((c for c in content["classifiers"] if c["name"] == name), None)
    if entry is None:
        raise ModelError(f"{directory / INDEX_FILE}: no classifier for the {role} role")
    return Classifier.from_entry(entry, directory)


def reporters() -> list[Classifier]:
    """The classifiers eval reports with, reference first."""
    return [load(role) for role in ROLES]


def kept(classifier: Classifier, labels: np.ndarray, reconstructions: np.ndarray) -> float:
    """Class kept (%): the share of reconstructions ``classifier`` reads as their original's label."""
    labels = np.asarray(labels)
    return float(100.0 * (classifier.predict(reconstructions) == labels).mean()) if len(labels) else float("nan")


FIGURES = {"reference": "class_kept", "second": "class_kept_second"}  # a row's keys, by role


class Judge:
    """Class kept by the reporting classifiers, for reconstructions of digits whose labels are known.

    ``judge(reconstructions)`` gives a row's figures (``FIGURES``, in %);
    ``ceilings(originals)`` what each classifier reads correctly of the originals themselves.
    """

    def __init__(self, labels: np.ndarray, classifiers: list[Classifier] | None = None):
        self.labels = np.asarray(labels)
        self.classifiers = dict(zip(ROLES, classifiers or reporters()))

    def __call__(self, reconstructions: np.ndarray) -> dict:
        return {FIGURES[role]: round(kept(c, self.labels, reconstructions), 2) for role, c in self.classifiers.items()}

    def ceilings(self, originals: np.ndarray) -> dict:
        """For each role: the classifier's name, kind and its accuracy (%) on the originals (the ceiling)."""
        return {role: dict(name=c.name, kind=c.kind, ceiling=round(kept(c, self.labels, originals), 2))
                for role, c in self.classifiers.items()}


def digitsets(directory: Path | None = None) -> dict:
    """The digit sets shipped beside the classifiers (``fonts``: printed digits), by name."""
    return index(directory).get("digitsets", {})


def digitset(name: str, directory: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels) of a shipped digit set, once its digest is checked."""
    directory = directory or folder()
    entry = digitsets(directory)[name]
    path = verified(directory / entry["file"], entry["sha256"])
    try:
        with np.load(path, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"{path}: unreadable digit set ({type(e).__name__}: {e})") from None
    return images, labels
