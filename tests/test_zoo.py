"""The shipped models: the ladder read from data, files that keep decoding, retired ids, integrity at load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnistzip import catalogue, container, metrics, mnist, zoo
from mnistzip.errors import ModelError, RetiredModel, UnknownModel, UsageError

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


def test_the_ladder_is_every_shipped_model_and_nothing_else():
    """Before 1.0 no model is kept without a rung: one would only take room."""
    assert "kept" not in json.loads((catalogue.models_dir() / catalogue.LADDER_FILE).read_text())
    rungs = catalogue.ladder()
    assert [r.number for r in rungs] == list(range(1, len(rungs) + 1))
    bits = [r.level.bits for r in rungs]
    assert bits == sorted(bits)
    from mnistzip import classify
    from mnistzip.card import CARD_FILE

    folders = {p.name for p in catalogue.models_dir().iterdir() if p.is_dir()}
    shipped = {name for name in folders if (catalogue.models_dir() / name / CARD_FILE).is_file()}
    assert {r.card.name for r in rungs} == shipped  # a model no rung uses would only take room
    assert folders - shipped == {classify.FOLDER}  # beside the models: only the classifiers and digit sets


def test_retired_ids_are_not_shipped_ones():
    shipped = {lv.id for r in catalogue.ladder() for lv in r.card.levels}
    table = json.loads((catalogue.models_dir() / catalogue.RETIRED_FILE).read_text())["models"]
    assert len(table) == 29 and not shipped & set(table)


@pytest.mark.parametrize("rung", range(3, 19))
def test_files_made_before_the_redesign_decode_to_the_same_digits(rung):
    """Golden files: three test digits compressed with each rung at commit ab07ca4, and their decoded pixels
    (q1 and q2 were vr-300-520's, since retired)."""
    mz = container.read(GOLDEN / f"ladder-q{rung}.mz")
    codec = zoo.for_file(mz.model_id)
    assert codec.name == f"ladder-q{rung}"
    np.testing.assert_array_equal(codec.decompress(mz), np.load(GOLDEN / "ladder-pixels.npz")[codec.name])
    digits = mnist.images("test")[[0, 7, 1234]]
    assert codec.compress(digits) == mz  # and the same digits still give the same bits


@pytest.mark.parametrize("name", ["class-300-520-level1", "class-300-520-level4"])
def test_files_of_the_class_coding_rungs_decode_to_the_same_digits(name):
    mz = container.read(GOLDEN / f"{name}.mz")
    codec = zoo.for_file(mz.model_id)
    assert codec.card.name == "class-300-520" and codec.card.codes_class
    np.testing.assert_array_equal(codec.decompress(mz), np.load(GOLDEN / "ladder-pixels.npz")[name])
    assert codec.compress(mnist.images("test")[:3]) == mz


@pytest.mark.parametrize("model_id, named, commit", [("9bb4", "vr-150-1000 level 2", "ab07ca4"),
                                                     ("3ee1", "vr-300-520 level 2", "c92f0e4")])
def test_a_retired_id_is_named(model_id, named, commit):
    with pytest.raises(RetiredModel, match=rf"^the file needs model {model_id}, which is not installed: {named} had "
                                           rf"that id and was retired before 1\.0 \(mnistzip at commit {commit} decodes"):
        zoo.for_file(model_id)


def test_default_rung_reaches_20_db_on_100_test_digits():
    codec = zoo.load()
    assert codec.name == catalogue.default_rung().name
    digits = mnist.images("test")[:100]
    assert metrics.psnr_of_mean_mse(digits, codec.decompress(codec.compress(digits))) >= 20.0


def test_a_rung_by_number_by_rate_and_by_name():
    rungs = catalogue.ladder()
    assert [catalogue.by_rung(r.number) for r in rungs] == rungs
    for r in rungs:
        assert catalogue.by_bits(r.level.bits) == r and catalogue.by_bits(r.level.bits + 0.01) == r
    assert catalogue.by_bits(1e9) == rungs[-1]
    with pytest.raises(UsageError, match=f"^--quality must be 1 to {len(rungs)}, not 99$"):
        catalogue.by_rung(99)
    codec = zoo.load(rung=1)
    assert codec.name == rungs[0].name and codec.id == rungs[0].id
    assert zoo.load("ladder-q2").id == rungs[1].id


def test_a_shipped_model_by_directory_name_gives_its_levels_and_their_files_decode():
    """class-300-520 level 2 is no rung, but its files decode without --model: every installed level is found by id."""
    rung = catalogue.by_rung(3)
    codec = zoo.load(rung.card.name, level=rung.level.number)
    assert codec.id == rung.id and codec.name == f"{rung.card.name} level {rung.level.number}"
    off_ladder = zoo.load("class-300-520", level=2)
    assert off_ladder.id not in {r.id for r in catalogue.ladder()}
    digits = mnist.images("test")[:3]
    mz = off_ladder.compress(digits)
    np.testing.assert_array_equal(zoo.for_file(mz.model_id).decompress(mz), off_ladder.decompress(mz))
    assert catalogue.named(mz.model_id) == ("class-300-520 level 2", None)  # what info shows
    assert catalogue.named(rung.id) == ("ladder-q3", None) and catalogue.named("ec58") == (None, "seed-2000 level 1")
    assert catalogue.named("0000") == (None, None)


def test_a_kept_model_is_installed_without_a_rung(tmp_path, monkeypatch):
    """From 1.0, a model whose rungs all move stays for its files: listed under "kept" in ladder.json."""
    copy = _copy_models(tmp_path, monkeypatch)
    manifest = json.loads((copy / catalogue.LADDER_FILE).read_text())
    manifest["rungs"] = [r for r in manifest["rungs"] if r["model"] != "class-300-520"]
    manifest["kept"] = ["class-300-520"]
    (copy / catalogue.LADDER_FILE).write_text(json.dumps(manifest))
    golden = container.read(GOLDEN / "class-300-520-level1.mz")
    assert catalogue.by_id(golden.model_id) is None and catalogue.ladder()[0].card.name == "cond-500-1400-L16"
    codec = zoo.for_file(golden.model_id)
    assert codec.name == "class-300-520 level 1"
    np.testing.assert_array_equal(codec.decompress(golden), np.load(GOLDEN / "ladder-pixels.npz")["class-300-520-level1"])


def _copy_models(tmp_path, monkeypatch) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(catalogue.models_dir(), copy)
    monkeypatch.setenv(catalogue.MODELS_DIR_ENV, str(copy))
    return copy


def test_altered_shipped_model_is_refused(tmp_path, monkeypatch):
    copy = _copy_models(tmp_path, monkeypatch)
    name = catalogue.default_rung().card.name
    weights = copy / name / "weights.npz"
    blob = bytearray(weights.read_bytes())
    blob[1000] ^= 1
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match=f"^{catalogue.default_rung().name}: .*weights.npz does not match its digest .*"
                                         "; reinstall mnistzip$"):
        zoo.load()


def test_a_card_whose_ids_were_edited_is_refused(tmp_path, monkeypatch):
    copy = _copy_models(tmp_path, monkeypatch)
    card_path = copy / catalogue.default_rung().card.name / "model.json"
    card = json.loads(card_path.read_text())
    card["levels"][0]["id"] = "beef"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="the levels' ids do not derive from weights_sha256"):
        catalogue.ladder()


def test_missing_models_and_ladder(tmp_path, monkeypatch):
    copy = _copy_models(tmp_path, monkeypatch)
    shutil.rmtree(copy / catalogue.default_rung().card.name)
    with pytest.raises(ModelError, match="not a mnistzip model"):
        zoo.load()
    (copy / catalogue.LADDER_FILE).unlink()
    with pytest.raises(ModelError, match=f"{catalogue.LADDER_FILE} is missing; reinstall mnistzip$"):
        zoo.load()


@pytest.mark.parametrize("rungs, message", [
    ('[{"model": "class-300-520", "level": 9, "default": true}]', "class-300-520 has levels 1 to 4, not 9"),
    ('[{"model": "class-300-520", "level": 1}]', "needs exactly one default rung and distinct ids"),
    ('[{"model": "class-300-520", "level": 1, "default": true}, {"model": "class-300-520", "level": 1}]',
     "needs exactly one default rung and distinct ids"),
    ('[{"level": 1, "default": true}]', "malformed (KeyError: 'model')"),
    ('[{"model": "class-300-520", "level": 2, "default": true}], "kept": 5', "malformed (TypeError: "),
    ('[{"model": "class-300-520", "level": 2, "default": true}], "kept": [7]', "malformed (TypeError: "),
    ('[{"model": "class-300-520", "level": "x", "default": true}]', "malformed (ValueError: "),
])
def test_a_broken_ladder_file_is_refused(tmp_path, monkeypatch, rungs, message):
    copy = _copy_models(tmp_path, monkeypatch)
    (copy / catalogue.LADDER_FILE).write_text(f'{{"rungs": {rungs}}}')
    with pytest.raises(ModelError, match=re_escape(message)):
        catalogue.ladder()
    with pytest.raises(ModelError, match=re_escape(message)):
        zoo.for_file("0000")  # decompress and info read it too


@pytest.mark.parametrize("content", ['[]', '{"models": []}', '{"last_decoded_by": "x", "models": {"0000": 3}}',
                                     '{"models": {"0000": {"model": "m", "level": 1}}}'])
def test_a_broken_retired_table_is_one_model_error(tmp_path, monkeypatch, content):
    """A damaged retired.json was 'internal error: AttributeError' for info and decompress of unknown ids."""
    copy = _copy_models(tmp_path, monkeypatch)
    (copy / catalogue.RETIRED_FILE).write_text(content)
    with pytest.raises(ModelError, match=f"{catalogue.RETIRED_FILE}: malformed"):
        catalogue.named("0000")


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_adding_a_rung_is_one_line_of_data(tmp_path, monkeypatch):
    """A level of a shipped model that no rung uses becomes a rung by naming it in ladder.json."""
    copy = _copy_models(tmp_path, monkeypatch)
    manifest = json.loads((copy / catalogue.LADDER_FILE).read_text())
    manifest["rungs"].insert(1, {"model": "class-300-520", "level": 3})
    (copy / catalogue.LADDER_FILE).write_text(json.dumps(manifest))
    rungs = catalogue.ladder()
    assert rungs[1].description == "class-300-520 λ=430" and rungs[1].name == "ladder-q2"
    assert zoo.load(rung=2).id == rungs[1].id and rungs[2].level.lmbda == 520


def test_file_needing_an_unknown_model():
    with pytest.raises(UnknownModel, match="the file needs model 0000, which is not installed"):
        zoo.for_file("0000")


def test_the_cards_figures_are_what_the_runtime_measures():
    """`mnistzip models` and `--bits` print each rung's card: its bits per digit (the whole test split in one file)
    and PSNR were measured at export, on TensorFlow. Measured again on the runtime, on the same 10,000 digits,
    they agree within a hundredth of a bit and a few thousandths of a dB (a latent on a rounding edge, a pixel a
    grey level off)."""
    digits = mnist.images("test")
    rungs = catalogue.ladder()
    for rung, codec in zip(rungs, zoo.rung_codecs(rungs)):
        mz = codec.compress(digits)
        bits, psnr = 8 * mz.size / len(digits), metrics.psnr_of_mean_mse(digits, codec.decompress(mz))
        assert bits == pytest.approx(rung.level.test["bits_archive"], abs=0.01), rung.name
        assert psnr == pytest.approx(rung.level.test["psnr_of_mean_mse"], abs=0.005), rung.name
