"""Every script in benchmarks/ runs: its --help, and small runs of some."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from mnistzip import catalogue

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:")


LIMITED = [p for p in BENCHMARKS if '"--limit"' in p.read_text()]


@pytest.mark.parametrize("script", LIMITED, ids=[p.stem for p in LIMITED])
def test_limit_is_at_least_one(script):
    """``--limit 0`` is refused before any work (it once divided by zero after it), as is a negative one."""
    for limit, why in (("0", "0 is not at least 1"), ("-3", "-3 is not at least 1")):
        r = subprocess.run([sys.executable, str(script), "--limit", limit], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2
        assert r.stderr.splitlines()[-1].endswith(f"argument --limit: {why}")


def test_robustness_small_run(tmp_path):
    """Every part of benchmarks/robustness.py at a small size; the report says what the docs page says."""
    script = next(p for p in BENCHMARKS if p.stem == "robustness")
    out = tmp_path / "robustness.md"
    r = subprocess.run([sys.executable, str(script), "--files", "20", "--cli", "3", "--samples", "3", "--large", "300",
                        "--folder-count", "20", "--out", str(out)], capture_output=True, text=True, timeout=900,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    report = out.read_text()
    assert "uncaught exceptions | 0 |" in report
    assert "| default: 300 digits → .npy | 0 |" in report
    assert "image is 9400x9400 pixels; mnistzip reads at most 50,000,000 pixels" in report
    assert "mine is a folder; mnistzip never replaces a folder" in report


@pytest.mark.train
def test_runtime_parity_small_run(tmp_path):
    """benchmarks/runtime_parity.py on 40 digits of a factorized and a conditional rung: the engines agree."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "runtime_parity")
    out = tmp_path / "parity.json"
    r = subprocess.run([sys.executable, str(script), "--limit", "40", "--rung", "1", "--rung", "3", "--json", str(out)],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "summary over 40 digits" in r.stdout
    result = json.loads(out.read_text())
    rows = {row["rung"]: row for row in result["rows"]}
    assert sorted(rows) == [1, 3] and result["digits"] == 40
    assert not rows[1]["conditional"] and rows[3]["conditional"]
    for row in rows.values():
        assert row["bytes_same"] is True
        assert row["symbols_same"] >= result["targets"]["symbols_same"]  # the claim: a few digits in ten thousand
        assert row["cross_ok"] is True and row["max_pixel"] <= 1
    cond = rows[3]
    assert cond["bins_same"] == 1.0 and cond["mirror_exact"] is True
    assert 0 < cond["min_bin_distance"] <= 0.5
    assert cond["scale_rel"] is not None and cond["scale_rel"] < 1e-12  # summation order alone


def test_cli_speed_small_run(tmp_path):
    """benchmarks/cli_speed.py, one round per case on 50 digits: every case runs and reports its time beside
    Python's start-up with NumPy, the ratio of the two, a peak RSS and the BLAS kernel."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "cli_speed")
    out = tmp_path / "speed.json"
    r = subprocess.run([sys.executable, str(script), "--repeat", "1", "--split", "mnist:test:0-49", "--engines", "numpy",
                        "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset" in r.stdout
    result = json.loads(out.read_text())
    assert [row["case"] for row in result["one_digit"]] == [
        "--help", "models", "compress one digit (mnist:test:7)", "compress one digit --fast",
        "compress one digit (28x28 PNG)",
        "compress one digit (280x280 drawing)", "decompress one digit (PNG)"]
    for row in result["one_digit"]:
        assert row["seconds"] > 0 and row["numpy_s"] > 0 and row["ratio"] > 0 and row["peak_rss_mb"] > 0
    assert [row["case"] for row in result["whole_split"]] == ["compress mnist:test:0-49",
                                                              "compress mnist:test:0-49 --fast",
                                                              "decompress mnist:test:0-49 (.npy)"]
    assert all(row["digits_per_s"] > 0 for row in result["whole_split"]) and result["blas"] != "unknown"


@pytest.mark.eval_extra
def test_identity_small_run(tmp_path):
    """benchmarks/identity.py on 40 digits of two rungs, with the refinement levers: every table and plot."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "identity")
    r = subprocess.run([sys.executable, str(script), "--rung", "1", "--rung", "3", "--limit", "40", "--levers",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "identity.json").read_text())
    assert [row["rung"] for row in report["rungs"]] == [1, 3] and report["digits"] == {"test": 40, "fonts": 40}
    assert [t["bits"] for t in report["targets"]] == [8.0, 16.0, 25.0]
    # each target's rate takes the largest measured rung at or under it (q1 may cost over 8 bits on 40 digits)
    rungs = sorted({max((r for r in report["rungs"] if r["test_bits_archive"] <= t["bits"]),
                        key=lambda r: r["test_bits_archive"])["rung"]
                    for t in report["targets"] if any(r["test_bits_archive"] <= t["bits"] for r in report["rungs"])})
    assert 3 in rungs
    assert [(row["rung"], row["lever"]) for row in report["levers"]] == [
        (n, lever) for n in rungs for lever in ("refine", "refine + guard")]
    page = (tmp_path / "identity.md").read_text()
    first = catalogue.ladder()[0]
    assert f"| q1 | {first.card.name} {first.level.number} |" in page and "## Targets (MNIST test)" in page
    assert (tmp_path / "identity.png").stat().st_size > 0 and (tmp_path / "identity-fonts.png").stat().st_size > 0


def test_machine_names_the_blas_that_ran():
    """benchmarks/machine.py, which every timing script uses, names this interpreter's BLAS and its threads."""
    script = next(p for p in BENCHMARKS if p.stem == "machine")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "thread(s)" in r.stdout or r.stdout.startswith("not OpenBLAS")


@pytest.mark.eval_extra
def test_rd_small_run(tmp_path):
    """benchmarks/rd.py on 30 digits, refining the rungs up to 16 bits: every rung measured searched (the
    default) and --fast, the refined ones a third time, the BD-rates and the page written where --out says
    (docs/results and the model cards are left alone)."""
    import json

    cards = {p: p.read_bytes() for p in Path(catalogue.__file__).parents[1].glob("models/*/model.json")}
    script = next(p for p in BENCHMARKS if p.stem == "rd")
    r = subprocess.run([sys.executable, str(script), "--limit", "30", "--refine", "--refine-up-to", "16", "--out",
                        str(tmp_path), "--cache", str(tmp_path / "cache.json"), "--cards"],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "thread(s)" in r.stdout.splitlines()[0]
    result = json.loads((tmp_path / "ladder.json").read_text())
    rungs = list(range(1, len(catalogue.ladder()) + 1))
    by = {e: [row["quality"] for row in result["rows"] if row["encoder"] == e] for e in ("search", "fast", "refine")}
    assert by["search"] == by["fast"] == rungs
    assert by["refine"] == [n for n, rung in enumerate(catalogue.ladder(), 1) if rung.level.bits <= 16]
    assert all(row["compress_digits_per_s"] > 0 and row["decompress_digits_per_s"] > 0 for row in result["rows"])
    assert {"search", "fast", "refine"} <= set(result["summary"]["bd_rate"])
    cache = json.loads((tmp_path / "cache.json").read_text())  # what a rerun reuses: the refined rows alone
    assert len(cache) == len(by["refine"]) and not any(key.endswith("/None") for key in cache)
    page = (tmp_path / "rd.md").read_text()
    assert "| 1 --refine |" in page and "| 1 --fast |" in page and "| 1 |" in page and "BLAS " in page
    assert (tmp_path / "rd.png").stat().st_size > 0
    assert {p: p.read_bytes() for p in cards} == cards  # --cards records only whole-split figures


def test_format_overhead_small_run():
    """benchmarks/format_overhead.py on 300 digits: an archive costs its entropy plus the header and the coder's
    flush, within the budget docs/format.md gives."""
    import re

    script = next(p for p in BENCHMARKS if p.stem == "format_overhead")
    r = subprocess.run([sys.executable, str(script), "--limit", "300"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    over, budget = map(float, re.search(r"over the estimate +([\d.]+) bits/digit \(budget: .* = ([\d.]+)\)",
                                        r.stdout).groups())
    assert 0 < over <= budget
    assert "300 digits" in r.stdout and "one-digit files" in r.stdout


@pytest.mark.train
def test_decoder_finetune_small_run(tmp_path, mnist_dir):
    """benchmarks/decoder_finetune.py on a tiny float16 model, one epoch on 300 digits: it prints the PSNR before and
    after, and writes nothing (the model's files are byte for byte the same)."""
    from mnistzip.train import TrainConfig, train

    model = tmp_path / "half"
    train(TrainConfig(lmbda=[300, 3000], latent_dims=8, width=64, epochs=1, half=True, steps_per_epoch=5,
                      train_limit=640, test_limit=100), model, mnist_dir)
    files = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    script = next(p for p in BENCHMARKS if p.stem == "decoder_finetune")
    r = subprocess.run([sys.executable, str(script), str(model), "--epochs", "1", "--limit", "300"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "same decoder)" in r.stdout and "epoch 1: [" in r.stdout
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == files


@pytest.mark.train
@pytest.mark.eval_extra
def test_seed_experiments_small_run(tmp_path, mnist_dir):
    """benchmarks/seed_experiments.py's prior sweep, --quick (three models of 5 training steps) on 200 test digits:
    a page with one row per prior and its figure, written where --out says, the models where --runs says."""
    script = next(p for p in BENCHMARKS if p.stem == "seed_experiments")
    r = subprocess.run([sys.executable, str(script), "prior", "--quick", "--limit", "200", "--runs",
                        str(tmp_path / "runs"), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    page = (tmp_path / "out" / "seed-prior.md").read_text()
    assert "Measured on the 200 MNIST test digits" in page and "**A `--quick` smoke run**" in page
    assert all(f"| {prior} | " in page for prior in ("logistic", "normal", "deep"))
    assert (tmp_path / "out" / "seed-prior.png").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "seed-prior-deep-quick", "seed-prior-logistic-quick", "seed-prior-normal-quick"]


def test_font_digits_small_run(tmp_path):
    """benchmarks/font_digits.py renders a balanced set and records it where eval finds digit sets."""
    from mnistzip import classify

    script = next(p for p in BENCHMARKS if p.stem == "font_digits")
    r = subprocess.run([sys.executable, str(script), "--count", "20", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    images, labels = classify.digitset("fonts", tmp_path)
    assert images.shape == (20, 28, 28) and sorted(labels.tolist()) == sorted(list(range(10)) * 2)


@pytest.mark.train
def test_classifier_small_run(tmp_path):
    """benchmarks/classifier.py: one epoch on 500 digits writes a classifier the runtime reads as Keras does."""
    from mnistzip import classify

    script = next(p for p in BENCHMARKS if p.stem == "classifier")
    r = subprocess.run([sys.executable, str(script), "guard", "--role", "guard", "--epochs", "1", "--limit", "500",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "the NumPy runtime reads 100.00% of the test digits as Keras does" in r.stdout
    c = classify.load(classify.GUARD, tmp_path)
    assert c.name == "guard" and c.test_accuracy > 20


@pytest.mark.train
def test_semantic_loss_small_run(tmp_path):
    """benchmarks/semantic_loss.py trains a few steps with the classification term into an ordinary model."""
    from mnistzip.card import Card

    script = next(p for p in BENCHMARKS if p.stem == "semantic_loss")
    out = tmp_path / "semantic"
    r = subprocess.run([sys.executable, str(script), "train", "--beta", "8", "--epochs", "1", "--steps-per-epoch", "3",
                        "--train-limit", "500", "-o", str(out)], capture_output=True, text=True, timeout=900,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    card = Card.read(out)
    assert [lv.lmbda for lv in card.levels] == [300.0, 360.0, 430.0, 520.0]
    assert all(0 <= lv.test["class_kept"] <= 100 for lv in card.levels)


def test_pipeline_small_run(tmp_path):
    """benchmarks/pipeline.py on a few dozen digits: each way of compressing is timed and decodes to the CLI's pixels."""
    import json

    pytest.importorskip("apache_beam")
    script = next(p for p in BENCHMARKS if p.stem == "pipeline")
    out = tmp_path / "pipeline.json"
    r = subprocess.run([sys.executable, str(script), "--repeat", "1", "--train", "60", "--pngs", "30", "--shard-size",
                        "20", "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [(row["input"], row["how"], row["workers"]) for row in rows] == [
        (label, how, workers) for label in ("mnist:train (60 digits)", "folder of 30 PNGs")
        for how, workers in (("mnistzip compress", 1), ("pipeline", 1), ("pipeline", 2))]
    assert all(row["digits_per_s"] > 0 for row in rows)
    assert "against the CLI" in r.stdout


def test_stages_small_run(tmp_path):
    """benchmarks/stages.py on 200 digits, one run a stage: every stage takes time, and the transforms, their
    layers' products and the machine's peak all have a speed."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "stages")
    out = tmp_path / "stages.json"
    r = subprocess.run([sys.executable, str(script), "--limit", "200", "--repeat", "1", "--json", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset" in r.stdout
    result = json.loads(out.read_text())
    assert result["digits"] == 200 and "thread(s)" in result["blas"]
    stages = ["startup_python", "startup_mnistzip", "reading", "analysis", "prior", "guard", "range_coding",
              "range_decoding", "synthesis", "writing_npy", "writing_png", "coding_of"]
    assert all(result["seconds"][stage] > 0 for stage in stages), result["seconds"]
    assert result["peak"]["sgemm"] > 0 and result["peak"]["dgemm"] > 0
    for transform in ("analysis", "synthesis"):
        figures = result["transforms"][transform]
        assert figures["macs_per_digit"] > 0 and figures["gflops"] > 0 and figures["at_peak_s"] > 0
        assert all(layer["gflops"] > 0 for layer in figures["layers"])
    assert all(rate > 0 for rates in result["digits_per_s"].values() for rate in rates.values())


def test_search_speed_small_run(tmp_path):
    """benchmarks/search_speed.py on two rungs, 40 digits, one round: each rung's one-digit times (searched,
    rounded, their difference) and many-digit speeds, with the machine it ran on."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "search_speed")
    out = tmp_path / "search.json"
    r = subprocess.run([sys.executable, str(script), "--rungs", "1,12", "--limit", "40", "--repeat", "1",
                        "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "thread(s)" in r.stdout.splitlines()[0]
    result = json.loads(out.read_text())
    assert [row["rung"] for row in result["rows"]] == [1, 12]
    for row in result["rows"]:
        assert row["search_ms"] > 0 and row["fast_ms"] > 0 and row["search_digits_per_s"] > 0
        assert row["added_ms"] == pytest.approx(row["search_ms"] - row["fast_ms"], abs=0.2)


def test_accelerator_small_run(tmp_path):
    """benchmarks/accelerator.py: where ONNX Runtime is installed, 40 digits, one round each way give the same
    symbols and pixels within one grey level; where it is not (the project does not install it), one line says
    what to install, and the run stops with status 1."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "accelerator")
    out = tmp_path / "accelerator.json"
    r = subprocess.run([sys.executable, str(script), "--limit", "40", "--repeat", "1", "--json", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    if not all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnx")):
        assert r.returncode == 1 and not out.exists()
        assert r.stderr.strip().endswith("which mnistzip does not install: pip install onnxruntime onnx")
        return
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["digits"] == 40 and result["symbols_equal"] and result["max_grey_levels"] <= 1
    assert all(result[f"{way}_{stage}_s"] > 0
               for way in ("numpy", "onnxruntime") for stage in ("coding_of", "synthesis"))


@pytest.mark.skipif(not all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnx")),
                    reason="needs onnxruntime and onnx, which mnistzip does not install")
def test_accelerator_refuses_a_rung_off_the_ladder(tmp_path):
    """A --rung the ladder does not have ends in the command line's one line and status, not a traceback."""
    script = next(p for p in BENCHMARKS if p.stem == "accelerator")
    r = subprocess.run([sys.executable, str(script), "--rung", "99", "--limit", "5"], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["accelerator.py: --quality must be 1 to 18, not 99"]
