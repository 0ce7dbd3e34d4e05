"""The shipped models: registry, hash check at load, and the default model's quality."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mnistzip import container, data, metrics, zoo
from mnistzip.errors import ModelError, UnknownModel


DATA = Path(__file__).parent / "data"


def test_registry_entries_match_their_files():
    for entry in zoo.REGISTRY.values():
        assert zoo.directory_digest(entry.path) == entry.sha256, entry.name
        assert entry.card()["id"] == entry.id
    assert zoo.DEFAULT_MODEL in zoo.REGISTRY
    assert len({e.id for e in zoo.REGISTRY.values()}) == len(zoo.REGISTRY)
    shipped = {p.name for p in zoo.models_dir().iterdir() if p.is_dir()}
    assert set(zoo.DIGESTS) == {e.path.name for e in zoo.REGISTRY.values()} == shipped  # no stray digest or folder


@pytest.mark.parametrize("stem, name", [
    ("seed-2000-three", "seed-2000"),  # the first default
    ("vr-500-8000-q4-three", "vr-500-8000-q4"),  # the default (ladder-q6) before the conditional model
    ("vr-250-2000-q2-three", "vr-250-2000-q2"),  # ladder-q2 before vr-150-1000
    ("vr-4000-64000-q5-three", "vr-4000-64000-q5"),  # the top rung before cond-4000-128000
])
def test_files_of_retired_models_still_decode(stem, name):
    """A model that leaves the ladder stays registered, decode-only, its weights in float16: its files give
    the same latents (exactly) and the same digits to within one grey level (what float16 weights move)."""
    mz = container.read(DATA / f"{stem}.mz")
    codec = zoo.for_file(mz.model_id)
    assert codec.name == name
    np.testing.assert_array_equal(codec.decode_latents(mz.payload, mz.count), np.load(DATA / f"{stem}-latents.npy"))
    digits, then = codec.decompress(mz).astype(int), np.load(DATA / f"{stem}.npy").astype(int)  # as decoded in float32
    assert np.abs(digits - then).max() <= 1 and np.mean(digits != then) < 0.02
    with pytest.raises(ModelError, match=f"^{name} only decodes the files it made"):
        codec.compress(data.load_mnist("test")[:1])


@pytest.mark.parametrize("stem, name", [
    ("cond-350-5600-q5-three", "cond-350-5600-q5"),  # ladder-q7 (the default) until the 150-epoch model
    ("vr-150-1000-q2-thirty", "vr-150-1000-q2"),  # ladder-q1 until the 24-latent rungs needed its room
])
def test_files_of_retired_float16_models_decode_exactly(stem, name):
    """Models trained with float16 storage went decode-only with their decoder kept as it was (nothing rounded
    again), so their files decode to exactly the same digits; compressing with them is refused."""
    mz = container.read(DATA / f"{stem}.mz")
    codec = zoo.for_file(mz.model_id)
    assert codec.name == name and zoo.REGISTRY[codec.name].quality is None
    np.testing.assert_array_equal(codec.decompress(mz), np.load(DATA / f"{stem}.npy"))
    with pytest.raises(ModelError, match=f"^{name} only decodes the files it made"):
        codec.compress(data.load_mnist("test")[:1])


def test_default_model_reaches_17_db_on_100_test_digits():
    codec = zoo.load()
    digits = data.load_mnist("test")[:100]
    recon = codec.decompress(codec.compress(digits))
    assert metrics.psnr_mean(digits, recon) >= 17.0


def test_altered_shipped_model_is_refused(tmp_path, monkeypatch):
    entry = zoo.REGISTRY[zoo.DEFAULT_MODEL]
    copy = tmp_path / entry.path.name
    shutil.copytree(entry.path, copy)
    weights = next((copy / "variables").glob("*.data-*"))
    blob = bytearray(weights.read_bytes())
    blob[1000] ^= 1
    weights.write_bytes(bytes(blob))
    monkeypatch.setenv(zoo.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelError, match=f"model {zoo.DEFAULT_MODEL} at .* fails its hash check"):
        zoo.load()


def test_missing_shipped_model(tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelError, match=f"shipped model {zoo.DEFAULT_MODEL} is missing"):
        zoo.load()


def test_file_needing_an_unknown_model():
    with pytest.raises(UnknownModel, match="the file needs model 0000, which is not installed"):
        zoo.for_file("0000")


def test_quality_lookup():
    ladder = zoo.ladder()
    assert [zoo.by_quality(e.quality) for e in ladder] == ladder
    bits = [e.card()["test"]["bits_archive"] for e in ladder]
    assert zoo.REGISTRY[zoo.DEFAULT_MODEL] == ladder[int(np.argmin([abs(b - 40) for b in bits]))]
    with pytest.raises(ModelError, match=f"no shipped model of quality 99: expected 1 to {len(ladder)}"):
        zoo.by_quality(99)
    codec = zoo.load(quality=1)
    assert codec.name == ladder[0].name and codec.id == ladder[0].id


def test_the_first_model_only_decodes():
    with pytest.raises(ModelError, match=r"^seed-2000 only decodes the files it made; compress with the quality ladder"):
        zoo.load("seed-2000").compress(data.load_mnist("test")[:2])
