"""The reference classifiers and the printed digits: shipped, checked, and read with NumPy alone."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mnistzip import classify, mnist
from mnistzip.errors import ModelError


@pytest.fixture(scope="module")
def test_split():
    return mnist.images("test"), mnist.labels("test")


def test_the_reference_reads_the_test_split_as_its_index_says(test_split):
    """The ceiling eval prints is the accuracy identity.json records, and it is at least 99%."""
    images, labels = test_split
    entries = {e["name"]: e for e in classify.index()["classifiers"]}
    for role in classify.ROLES:
        c = classify.load(role)
        accuracy = round(100.0 * float((c.predict(images) == labels).mean()), 2)
        assert accuracy == entries[c.name]["test_accuracy"]
    reference = classify.load("reference")
    assert reference.test_accuracy >= 99.0
    assert entries[reference.name]["bytes"] <= 1_000_000


def test_the_reporters_are_of_two_kinds_and_the_guard_is_neither():
    roles = classify.index()["roles"]
    assert len({roles["reference"], roles["second"], roles[classify.GUARD]}) == 3
    layers = {e["name"]: {layer["kind"] for layer in e["layers"]} for e in classify.index()["classifiers"]}
    assert "conv" in layers[roles["reference"]] and "conv" not in layers[roles["second"]]


def test_judge_figures_and_ceilings(test_split):
    images, labels = test_split[0][:500], test_split[1][:500]
    judge = classify.Judge(labels)
    ceilings = judge.ceilings(images)
    assert judge(images) == {classify.FIGURES[r]: ceilings[r]["ceiling"] for r in classify.ROLES}
    assert all(c["ceiling"] > 97 for c in ceilings.values())
    blank = judge(np.zeros_like(images))  # a blank digit is one class: about a tenth of labels
    assert all(v < 20 for v in blank.values())
    shuffled = judge(images[::-1])
    assert all(v < 20 for v in shuffled.values())


def test_printed_digits_are_shipped_balanced_and_readable():
    images, labels = classify.digitset("fonts")
    entry = classify.digitsets()["fonts"]
    assert images.shape == (entry["count"], 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [entry["count"] // 10] * 10
    assert (images.reshape(len(images), -1).max(axis=1) > 200).all()  # every digit has ink
    assert 100.0 * (classify.load("reference").predict(images) == labels).mean() > 90


def test_max_pool_drops_an_odd_edge():
    x = np.arange(2 * 7 * 7 * 3, dtype=np.float32).reshape(2, 7, 7, 3)
    pooled = classify._max_pool(x)
    assert pooled.shape == (2, 3, 3, 3)
    assert pooled[1, 2, 2, 1] == x[1, 4:6, 4:6, 1].max()


@pytest.fixture
def copied(tmp_path):
    folder = tmp_path / "identity"
    shutil.copytree(classify.folder(), folder)
    return folder


def test_an_altered_or_missing_classifier_is_a_model_error(copied):
    name = classify.index(copied)["roles"]["reference"]
    weights = copied / f"{name}.npz"
    blob = bytearray(weights.read_bytes())
    blob[-100] ^= 1
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelError) as e:
        classify.load("reference", copied)
    assert str(e.value) == f"{weights}: altered (its SHA-256 is not the one identity.json gives); reinstall mnistzip"
    weights.unlink()
    with pytest.raises(ModelError, match="is missing; reinstall mnistzip$"):
        classify.load("reference", copied)
    (copied / classify.INDEX_FILE).write_text("{")
    with pytest.raises(ModelError, match=r"identity.json: cannot read it \(JSONDecodeError"):
        classify.load("reference", copied)


def test_weights_that_do_not_fit_the_layers_are_a_model_error(copied):
    content = classify.index(copied)
    entry = next(e for e in content["classifiers"] if e["name"] == content["roles"]["second"])
    entry["layers"].insert(0, dict(kind="conv", units=8, kernel=3))  # a layer the file has no weights for
    (copied / classify.INDEX_FILE).write_text(json.dumps(content))
    with pytest.raises(ModelError, match="unreadable classifier weights"):
        classify.load("second", copied)


@pytest.mark.train
def test_numpy_layers_compute_what_keras_computes():
    """Strided and plain convolutions, pooling of odd sizes, flattening order: random weights, both ways."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import classifier as script

    images = mnist.images("test")[:64]
    for name, spec in script.KINDS.items():
        model = script.keras_model(spec)
        weights = {}
        for i, layer in enumerate(spec["layers"]):
            if layer["kind"] != "maxpool":
                kernel, bias = model.get_layer(f"layer{i}").get_weights()
                bias = np.random.default_rng(i).normal(size=bias.shape).astype(np.float32) * 0.1
                model.get_layer(f"layer{i}").set_weights([kernel, bias])
                weights[f"layer{i}.kernel"], weights[f"layer{i}.bias"] = kernel, bias
        ops = classify.Classifier.from_entry(dict(name=name, kind="", test_accuracy=0, file="w.npz", layers=spec["layers"]),
                                             _saved(weights), verify=False)
        expected = model.predict(images[..., None].astype(np.float32) / 255.0, verbose=0)
        np.testing.assert_allclose(ops.logits(images), expected, rtol=1e-4, atol=1e-4)


def _saved(weights):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    np.savez(folder / "w.npz", **weights)
    return folder
