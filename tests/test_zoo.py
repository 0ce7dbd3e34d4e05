"""The shipped models: registry, hash check at load, and the default model's quality."""

from __future__ import annotations

import shutil

import pytest

from mnistzip import data, metrics, zoo
from mnistzip.errors import ModelError, UnknownModel


def test_registry_entries_match_their_files():
    for entry in zoo.REGISTRY.values():
        path = zoo.models_dir() / entry.name
        assert zoo.directory_digest(path) == entry.sha256, entry.name
        assert (path / "model.json").read_text().count(f'"id": "{entry.id}"') == 1
    assert zoo.DEFAULT_MODEL in zoo.REGISTRY
    assert len({e.id for e in zoo.REGISTRY.values()}) == len(zoo.REGISTRY)


def test_default_model_reaches_17_db_on_100_test_digits():
    codec = zoo.load()
    digits = data.load_mnist("test")[:100]
    recon = codec.decompress(codec.compress(digits))
    assert metrics.psnr_mean(digits, recon) >= 17.0


def test_altered_shipped_model_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / zoo.DEFAULT_MODEL
    shutil.copytree(zoo.models_dir() / zoo.DEFAULT_MODEL, copy)
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
    assert zoo.by_quality(1).name == zoo.DEFAULT_MODEL
    with pytest.raises(ModelError, match="no shipped model of quality 99"):
        zoo.by_quality(99)
