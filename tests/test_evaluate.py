"""What eval measures: the codecs picked, the rows, the ladder as one curve, BD-rate against a reference."""

from __future__ import annotations

import pytest

from mnistzip import baselines, mnist, zoo
from mnistzip.errors import InputError
from mnistzip.evaluate import bd_report, card_figures, codecs_to_measure, eval_digits, evaluate


def test_nothing_named_is_the_default_rung_and_rungs_are_one_curve(tiny_model):
    [(codec, on_ladder)] = codecs_to_measure()
    assert codec.name == zoo.default_rung().name and on_ladder
    picked = codecs_to_measure([str(tiny_model)], [2, 1])
    assert [(c.name, flag) for c, flag in picked] == [("tiny", False), ("ladder-q2", True), ("ladder-q1", True)]
    digits = mnist.images("test")[:20]
    seen = []
    rows = evaluate(picked, digits, classical=baselines.parse_codecs("png"),
                    track=lambda name, total: lambda done: seen.append((name, done)))
    assert [r["family"] for r in rows] == ["mae/logistic/L50/constant/e1", "ladder", "ladder", "png"]
    assert [name for name, _ in seen] == ["tiny", "ladder-q2", "ladder-q1", "png"] and seen[-1][1] == 20
    assert set(card_figures(rows[0])) == set(rows[0]) - {"model", "family", "model_id"}
    reference, bd = bd_report(rows[:3], "ladder")
    assert reference == "ladder" and set(bd) == {"mae/logistic/L50/constant/e1"}
    with pytest.raises(InputError, match="^--reference 'zzz' is not among the measured families: "):
        bd_report(rows, "zzz")


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
    with pytest.raises(InputError, match="^unknown split 'val': expected test, train or fonts$"):
        eval_digits("val")
