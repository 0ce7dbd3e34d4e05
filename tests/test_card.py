"""Model cards: the one shape every model has, refused in one line when it is not that shape."""

from __future__ import annotations

import json
import shutil

import pytest

from mnistzip.card import Card, level_ids, written_by_mnistzip
from mnistzip.fileio import tree_digest
from mnistzip.errors import ModelError


def test_a_one_level_model_is_a_model_with_one_level(tiny_model):
    card = Card.read(tiny_model)
    assert len(card.levels) == 1 and card.level() is card.levels[0] and card.level(1).index == 0
    assert card.by_id(card.levels[0].id) is card.levels[0] and card.by_id("zzzz") is None


def test_level_ids_derive_from_the_weights_digest():
    digest = "ab12" + "0" * 60
    assert level_ids(digest, 1) == ["ab12"]
    ids = level_ids(digest, 6)
    assert len(set(ids)) == 6 and all(len(i) == 4 for i in ids) and ids == level_ids(digest, 6)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("levels"), "malformed model card (KeyError: 'levels')"),
    (lambda c: c["levels"][0].update(level=2), "malformed model card (levels must be numbered 1 to N)"),
    (lambda c: c.update(default_level=7), "malformed model card (default_level 7 is not a level)"),
    (lambda c: c["recipe"].pop("prior"), "malformed model card (KeyError: 'recipe lacks prior')"),
    (lambda c: [c["recipe"].pop(k) for k in ("width", "half")], "malformed model card (KeyError: 'recipe lacks width, half')"),
    (lambda c: c["levels"][0].update(id="0000"), "the levels' ids do not derive from weights_sha256 (the card was altered)"),
])
def test_a_malformed_card_is_one_line(tiny_model, tmp_path, edit, message):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    card = json.loads((copy / "model.json").read_text())
    edit(card)
    (copy / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError) as e:
        Card.read(copy)
    assert str(e.value) == f"{copy / 'model.json'}: {message}"


def test_not_json(tmp_path):
    (tmp_path / "model.json").write_text("{")
    with pytest.raises(ModelError, match=r"model.json: malformed model card \(JSONDecodeError: "):
        Card.read(tmp_path)


def test_an_unreadable_card_is_one_line(tiny_model, monkeypatch):
    """A card that exists but cannot be read (EIO, EACCES) was 'internal error: OSError'."""
    import errno
    from pathlib import Path

    def failing(self, *args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "read_text", failing)
    with pytest.raises(ModelError) as e:
        Card.read(tiny_model)
    assert str(e.value) == f"{tiny_model / 'model.json'}: cannot read it (Input/output error)"


def test_figures_added_after_export_leave_the_model_the_same_model(vr_model, tmp_path):
    """Class kept, measured by classifiers that came after a model, joins its levels' figures; the ids, the
    files' digest and every other figure stay, so the model still verifies and its files still decode."""
    from mnistzip import codec as codec_module
    from mnistzip.card import add_test_figures

    copy = tmp_path / "vr"
    shutil.copytree(vr_model, copy)
    before = Card.read(copy)
    after = add_test_figures(copy, {2: {"class_kept": 91.25}})
    assert after.level(2).test == {**before.level(2).test, "class_kept": 91.25}
    assert after.level(1).test == before.level(1).test
    assert [lv.id for lv in after.levels] == [lv.id for lv in before.levels]
    assert after.files_sha256 == before.files_sha256
    codec_module.Codec.load(copy)  # verifies the files against the card


def test_a_card_from_before_class_coding_reads_as_a_model_without_it(tiny_model, tmp_path):
    """Cards written before --code-class existed have no code_class: they were trained without it."""
    copy = tmp_path / "older"
    shutil.copytree(tiny_model, copy)
    raw = json.loads((copy / "model.json").read_text())
    assert raw["recipe"].pop("code_class") is False
    (copy / "model.json").write_text(json.dumps(raw))
    card = Card.read(copy)
    assert card.codes_class is False and card.recipe["code_class"] is False


def test_a_class_coding_model_says_so(class_model):
    card = Card.read(class_model)
    assert card.codes_class and card.recipe["prior"] == "deep"


def test_written_by_mnistzip_needs_every_file_covered_by_the_card(tmp_path):
    import json

    model = tmp_path / "m"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "v.index").write_bytes(b"weights")
    card = {"files_sha256": tree_digest(model)}
    (model / "model.json").write_text(json.dumps(card))
    assert written_by_mnistzip(model)
    (model / ".notes").write_text("mine")  # a file the digest does not cover
    assert not written_by_mnistzip(model)
    (model / ".notes").unlink()
    (model / "extra.txt").write_text("mine")
    assert not written_by_mnistzip(model)
    assert not written_by_mnistzip(tmp_path)  # no card at all
