"""What eval measures: the codecs picked, the rows, the ladder as one curve, BD-rate against a reference."""

from __future__ import annotations

import pytest

from mnistzip import baselines, catalogue, mnist
from mnistzip.errors import UsageError
from mnistzip.evaluate import (Request, bd_rates, card_figures, codecs_to_measure, eval_digits, evaluate,
                               planned_families, run)


def test_nothing_named_is_the_default_rung_and_rungs_are_one_curve(tiny_model):
    [(codec, on_ladder)] = codecs_to_measure()
    assert codec.name == catalogue.default_rung().name and on_ladder
    picked = codecs_to_measure([str(tiny_model)], [2, 1])
    assert [(c.name, flag) for c, flag in picked] == [("tiny", False), ("ladder-q2", True), ("ladder-q1", True)]
    digits = mnist.images("test")[:20]
    seen = []
    rows = evaluate(picked, digits, classical=baselines.parse_codecs("png"),
                    track=lambda name, total: lambda done: seen.append((name, done)))
    assert [r["family"] for r in rows] == ["mae/logistic/L50/W32/constant/e1", "ladder", "ladder", "png"]
    assert [name for name, _ in seen] == ["tiny", "ladder-q2", "ladder-q1", "png"] and seen[-1][1] == 20
    assert set(card_figures(rows[0])) == set(rows[0]) - {"model", "family", "model_id"}
    assert planned_families(picked, baselines.parse_codecs("png")) == ["mae/logistic/L50/W32/constant/e1", "ladder", "png"]
    assert set(bd_rates(rows[:3], "ladder")) == {"mae/logistic/L50/W32/constant/e1"}


def test_options_are_checked_before_any_digit_is_read_or_measured(monkeypatch):
    from mnistzip import evaluate as module

    monkeypatch.setattr(module, "evaluate", lambda *a, **k: pytest.fail("measured before the options were checked"))
    for request, message in [
        (Request(reference="zzz"), "--reference must be one of the measured families (ladder), not 'zzz'"),
        (Request(split="val"), "--split must be test, train or fonts, not 'val'"),
        (Request(codecs="png,gif"), "--codecs must name some of png, webp-lossless, jpeg, webp, avif, not 'gif'"),
        (Request(level=2), "--level picks a level of the model given with --model"),
        (Request(grid="grid.jpg"), "--grid writes a PNG picture: give a name ending in .png, not grid.jpg"),
    ]:
        with pytest.raises(UsageError) as info:
            run(request)
        assert str(info.value) == message


def test_class_kept_is_measured_beside_psnr_for_learned_and_classical_codecs():
    from mnistzip import classify

    images, labels, _ = eval_digits("test")
    judge = classify.Judge(labels[:40])
    rows = evaluate(codecs_to_measure(rungs=[1]), images[:40], classical=baselines.parse_codecs("png"), judge=judge)
    ceilings = judge.ceilings(images[:40])
    for row in rows:
        assert 0 <= row["class_kept"] <= 100 and 0 <= row["class_kept_second"] <= 100
    png = rows[-1]  # lossless: every class the classifier reads in an original is kept
    assert png["class_kept"] == ceilings["reference"]["ceiling"]


def test_eval_digits_are_mnist_splits_with_their_labels_or_the_printed_digits(mnist_dir):
    images, labels, read = eval_digits("test")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert sorted(p.name for p in read) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    images, labels, read = eval_digits("fonts")
    assert len(images) == len(labels) == 1000 and [p.name for p in read] == ["font-digits.npz"]
