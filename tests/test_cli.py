"""Every command through Typer's CliRunner, in a temporary directory: exit codes and exact error lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnistzip import container, mnist, search
from mnistzip.errors import ExitStatus, ModelError, install_hint
from mnistzip.recipe import recipe_family

DATA = Path(__file__).parent / "data"


MNISTZIP = [sys.executable, "-m", "mnistzip"]


def error_line(result) -> str:
    return result.stderr.strip()


# --------------------------------------------------------------------------- compress


def test_compress_and_decompress_one_digit(cli, tiny_model):
    r = cli("compress", "mnist:test:0", "-o", "d.mz", "--model", tiny_model)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("d.mz: 1 digit, ")
    r = cli("decompress", "d.mz", "--model", tiny_model)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "d.decoded.png: 1 digit (image)"
    assert Image.open("d.decoded.png").size == (28, 28)


def test_compress_many_to_npy_and_folder(cli, tiny_model, tiny_codec):
    assert cli("compress", "mnist:test:0-9", "-o", "ten.mz", "-m", tiny_model).exit_code == 0
    assert container.read("ten.mz").count == 10
    assert cli("decompress", "ten.mz", "-o", "ten.npy", "-m", tiny_model).exit_code == 0
    arr = np.load("ten.npy")
    assert arr.shape == (10, 28, 28) and arr.dtype == np.uint8
    digits = mnist.images("test")[:10]
    np.testing.assert_array_equal(arr, tiny_codec.decompress(search.compress(tiny_codec, digits)))
    assert cli("decompress", "ten.mz", "-o", "ten", "-m", tiny_model).exit_code == 0
    assert sorted(p.name for p in (__import__("pathlib").Path("ten")).iterdir())[:2] == ["digit-0.png", "digit-1.png"]
    assert cli("decompress", "ten.mz", "-o", "grid.png", "-m", tiny_model).exit_code == 0
    assert Image.open("grid.png").size == (4 * 28, 3 * 28)


def test_compress_refine(cli, tiny_model):
    r = cli("compress", "mnist:test:0-3", "-o", "r.mz", "-m", tiny_model, "--refine", "--refine-lmbda", "300")
    assert r.exit_code == 0, r.output
    assert container.read("r.mz").count == 4
    assert cli("decompress", "r.mz", "-m", tiny_model).exit_code == 0


def test_compress_searches_by_default_and_rounds_with_fast(cli, cond_model, cond_codec):
    digits = mnist.images("test")[:30]
    assert cli("compress", "mnist:test:0-29", "-o", "s.mz", "-m", cond_model).exit_code == 0
    assert cli("compress", "mnist:test:0-29", "-o", "f.mz", "-m", cond_model, "--fast").exit_code == 0
    assert container.read("s.mz") == search.compress(cond_codec, digits)
    assert container.read("f.mz") == cond_codec.compress(digits)
    assert container.read("s.mz") != container.read("f.mz")
    r = cli("compress", "mnist:test:0-29", "-o", "x.mz", "-m", cond_model, "--fast", "--refine")
    assert r.exit_code == ExitStatus.USAGE and not Path("x.mz").exists()
    assert error_line(r) == ("mnistzip: error: --fast and --refine (or --refine-lmbda, --keep-class) pull opposite "
                             "ways: give one (see 'root compress --help')")


def test_compress_png_input_default_output_name(cli, tiny_model):
    Image.fromarray(mnist.images("test")[3]).save("three.png")
    r = cli("compress", "three.png", "-m", tiny_model)
    assert r.exit_code == 0, r.output
    assert container.read("three.mz").count == 1


def test_compress_refuses_to_overwrite(cli, tiny_model):
    assert cli("compress", "mnist:test:1", "-o", "d.mz", "-m", tiny_model).exit_code == 0
    before = open("d.mz", "rb").read()
    r = cli("compress", "mnist:test:2-3", "-o", "d.mz", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert error_line(r) == "mnistzip: error: d.mz already exists; pass --force to overwrite it"
    assert open("d.mz", "rb").read() == before
    assert cli("compress", "mnist:test:2-3", "-o", "d.mz", "-m", tiny_model, "--force").exit_code == 0
    assert open("d.mz", "rb").read() != before


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["mnist:test:10000", "-o", "x.mz"], ExitStatus.BAD_INPUT,
         "MNIST index 10000 out of range: the test split has 10000 digits (0-9999)"),
        (["mnist:tset:1", "-o", "x.mz"], ExitStatus.BAD_INPUT,
         "bad MNIST reference 'mnist:tset:1': expected mnist:SPLIT, mnist:SPLIT:I or mnist:SPLIT:I-J"),
        (["missing.png", "-o", "x.mz"], ExitStatus.BAD_INPUT,
         "missing.png: no such file, directory or MNIST reference (e.g. mnist:test:7)"),
        (["missing.png"], ExitStatus.BAD_INPUT,  # no -o: the missing input is still what is wrong
         "missing.png: no such file, directory or MNIST reference (e.g. mnist:test:7)"),
        (["mnist:test:0", "-", "-o", "x.mz", "-"], ExitStatus.BAD_INPUT,
         "- (standard input) is given 2 times; it holds one image"),
        (["mnist:test:0", "-o", "nodir/x.mz"], ExitStatus.OUTPUT, "nodir/x.mz: directory nodir does not exist"),
    ],
)
def test_compress_errors(cli, args, status, message):
    r = cli("compress", *args)
    assert r.exit_code == status
    assert error_line(r) == f"mnistzip: error: {message}"


def test_compress_non_image(cli):
    open("notes.png", "w").write("not a picture")
    r = cli("compress", "notes.png", "-o", "x.mz")
    assert r.exit_code == ExitStatus.BAD_INPUT
    assert error_line(r) == "mnistzip: error: notes.png: not a PNG, JPEG, WebP, BMP, GIF or TIFF image"
    assert not __import__("os").path.exists("x.mz")


def test_unknown_model(cli):
    r = cli("compress", "mnist:test:0", "-o", "x.mz", "--model", "nope")
    assert r.exit_code == ExitStatus.MODEL
    assert error_line(r) == (
        "mnistzip: error: unknown model 'nope': expected a rung (see 'mnistzip models') or a model directory"
    )


# --------------------------------------------------------------------------- decompress / info


def test_decompress_with_the_wrong_model(cli, tiny_model, other_model, tiny_codec):
    assert cli("compress", "mnist:test:0", "-o", "d.mz", "-m", tiny_model).exit_code == 0
    r = cli("decompress", "d.mz", "-m", other_model)
    assert r.exit_code == ExitStatus.MODEL
    other_id = json.loads((other_model / "model.json").read_text())["levels"][0]["id"]
    assert error_line(r) == (
        f"mnistzip: error: the file was made with model {tiny_codec.id}, not with other ({other_id}); "
        "pass --model with the model that made it"
    )
    assert not __import__("os").path.exists("d.png")


def test_decompress_needs_an_installed_model(cli, tiny_model, tiny_codec):
    assert cli("compress", "mnist:test:0", "-o", "d.mz", "-m", tiny_model).exit_code == 0
    r = cli("decompress", "d.mz")
    assert r.exit_code == ExitStatus.MODEL
    line = error_line(r)  # the tiny model's id may be one a retired model had (test_a_file_of_a_retired_model...)
    assert line.startswith(f"mnistzip: error: the file needs model {tiny_codec.id}, which is not installed")
    assert line.endswith("pass --model with the model directory that made it")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "f.mz: empty file: expected an .mz file"),
        (b"GIF89a", "f.mz: not an .mz file: expected magic bytes 89 5a, found 47 49"),
        (b"\x89Z\x07", "f.mz: unsupported .mz format version 7: this mnistzip reads version 1"),
        (b"\x89Z\x01\xec", "f.mz: truncated .mz file: expected 2 bytes of model id, found 1"),
    ],
)
@pytest.mark.parametrize("command", ["decompress", "info"])
def test_bad_files(cli, command, content, message):
    open("f.mz", "wb").write(content)
    r = cli(command, "f.mz")
    assert r.exit_code == ExitStatus.BAD_FILE
    assert error_line(r) == f"mnistzip: error: {message}"


def test_corrupt_file_writes_nothing(cli, tiny_model):
    assert cli("compress", "mnist:test:0-3", "-o", "d.mz", "-m", tiny_model).exit_code == 0
    blob = bytearray(open("d.mz", "rb").read())
    blob[8] ^= 0x10
    open("d.mz", "wb").write(bytes(blob))
    r = cli("decompress", "d.mz", "-m", tiny_model)
    assert r.exit_code == ExitStatus.BAD_FILE
    assert "checksum mismatch" in error_line(r) and "\n" not in error_line(r)
    assert not __import__("os").path.exists("d.png")


def test_info_reports_bytes(cli, tiny_model, tiny_codec):
    assert cli("compress", "mnist:test:0-199", "-o", "a.mz", "-m", tiny_model).exit_code == 0
    r = cli("info", "a.mz", "--json")
    assert r.exit_code == 0
    fields = json.loads(r.stdout)
    size = __import__("os").path.getsize("a.mz")
    assert fields["bytes"] == size and fields["digits"] == 200 and fields["model_id"] == tiny_codec.id
    assert fields["overhead_bytes"] == 9 and fields["payload_bytes"] == size - 9
    assert [f["field"] for f in fields["layout"]][-1] == "crc-16"
    human = cli("info", "a.mz")
    assert f"200 digits, {size} bytes" in human.stdout


# --------------------------------------------------------------------------- sample / eval / models / train


def test_sample_is_reproducible(cli, tiny_model):
    assert cli("sample", "-n", "6", "--seed", "3", "-o", "a.npy", "-m", tiny_model).exit_code == 0
    assert cli("sample", "-n", "6", "--seed", "3", "-o", "b.npy", "-m", tiny_model).exit_code == 0
    a, b = np.load("a.npy"), np.load("b.npy")
    assert a.shape == (6, 28, 28)
    np.testing.assert_array_equal(a, b)
    r = cli("sample", "-n", "16", "-m", tiny_model)
    assert r.exit_code == 0 and Image.open("samples.png").size == (112, 112)


def test_eval_json(cli, tiny_model, tiny_codec):
    r = cli("eval", "--model", tiny_model, "--limit", "50", "--json", "-")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["split"] == "test" and report["digits"] == 50
    row = report["results"][0]
    assert set(row) == {
        "model", "family", "model_id", "digits", "archive_bytes", "bits_archive", "bits_single_file", "bits_entropy",
        "psnr_mean", "psnr_of_mean_mse", "mae", "ssim", "class_kept", "class_kept_second", "compress_digits_per_s",
        "decompress_digits_per_s",
    }
    assert set(report["classifiers"]) == {"reference", "second"}
    assert all(c["ceiling"] >= 98 for c in report["classifiers"].values())  # the first 50 digits read right
    assert 0 <= row["class_kept"] <= report["classifiers"]["reference"]["ceiling"] + 1e-9
    assert row["digits"] == 50 and row["model_id"] == tiny_codec.id and row["model"] == "tiny"
    assert row["archive_bytes"] * 8 / 50 == pytest.approx(row["bits_archive"], abs=1e-3)
    assert row["bits_archive"] >= row["bits_entropy"] > 0
    assert row["bits_single_file"] > row["bits_archive"]
    assert row["psnr_mean"] >= row["psnr_of_mean_mse"] > 5
    assert 0 < row["ssim"] < 1 and row["mae"] > 0
    assert row["compress_digits_per_s"] > 0 and row["decompress_digits_per_s"] > 0


def test_eval_refine_adds_a_refined_row(cli, tiny_model):
    r = cli("eval", "--model", tiny_model, "--limit", "10", "--refine", "--json", "-")
    assert r.exit_code == 0, r.output
    plain, refined = json.loads(r.stdout)["results"]
    assert (plain["model"], refined["model"]) == ("tiny", "tiny --refine")
    assert refined["family"] == plain["family"] + " +refine" and refined["model_id"] == plain["model_id"]


def test_eval_fast_adds_a_rounded_row(cli, cond_model, cond_codec):
    r = cli("eval", "--model", cond_model, "--limit", "20", "--fast", "--json", "-")
    assert r.exit_code == 0, r.output
    searched, fast = json.loads(r.stdout)["results"]
    assert (searched["model"], fast["model"]) == (cond_codec.name, cond_codec.name + " --fast")
    assert fast["family"] == searched["family"] + " +fast"
    digits = mnist.images("test")[:20]
    assert fast["archive_bytes"] == cond_codec.compress(digits).size  # what compress --fast writes
    assert searched["archive_bytes"] == search.compress(cond_codec, digits).size  # and compress


def test_eval_ladder_is_one_curve(cli):
    from mnistzip import catalogue

    r = cli("eval", "--ladder", "--limit", "20", "--json", "-")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["results"]
    assert [row["model"] for row in rows] == [e.name for e in catalogue.ladder()]
    assert len({row["family"] for row in rows}) == 1
    assert [row["model_id"] for row in rows] == [e.id for e in catalogue.ladder()]
    r = cli("eval", "-q", "3", "-q", "1", "--limit", "20", "--json", "-")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["results"]
    assert [row["model"] for row in rows] == ["ladder-q3", "ladder-q1"] and {row["family"] for row in rows} == {"ladder"}


@pytest.mark.eval_extra
def test_eval_with_codecs_plot_grid_and_json_file(cli, tiny_model, tiny_codec):
    r = cli("eval", "-m", tiny_model, "--limit", "30", "--codecs", "png,jpeg,webp", "--reference", "jpeg",
            "--plot", "rd.png", "--grid", "grid.png", "--skip", "16", "--json", "e.json")
    assert r.exit_code == 0, r.output
    assert "mse, that of the mean squared error" in " ".join(r.stdout.split())
    assert "BD-rate of webp against jpeg: -" in r.stdout
    report = json.load(open("e.json"))
    names = [row["model"] for row in report["results"]]
    assert names[:3] == ["tiny", "png", "jpeg q1"] and "webp q90" in names
    png = next(row for row in report["results"] if row["model"] == "png")
    assert png["lossless"] and png["psnr_mean"] is None and png["bits_single_file"] > 500
    assert report["bd_rate"]["reference"] == "jpeg" and report["bd_rate"]["percent"]["webp"] < 0
    assert Image.open("rd.png").size == (840, 540)
    assert Image.open("grid.png").size == (150 + 8 * 88, 4 + 2 * 106)  # the originals above the model's digits


def test_eval_errors(cli, tiny_model):
    r = cli("eval", "-m", tiny_model, "--limit", "5", "--codecs", "gif")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == ("mnistzip: error: --codecs must name some of png, webp-lossless, jpeg, webp, avif, not "
                             "'gif' (see 'root eval --help')")
    r = cli("eval", "-m", tiny_model, "--limit", "5", "--reference", "zzz")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == ("mnistzip: error: --reference must be one of the measured families "
                             "(mae/logistic/L50/W32/constant/e1), not 'zzz' (see 'root eval --help')")


@pytest.mark.eval_extra
def test_eval_reports_class_kept_on_printed_digits_and_plots_it(cli):
    r = cli("eval", "-q", "1", "-q", "12", "--split", "fonts", "--limit", "60", "--plot-kept", "kept.png")
    assert r.exit_code == 0, r.output
    assert "fonts (printed digits, not MNIST), 60 digits" in r.stdout
    assert re.search(r"kept: the % of digits whose reconstruction a classifier \(cnn, a convolutional network\) "
                     r"reads as the original's label; it reads [0-9.]+% of the originals right", " ".join(r.stdout.split()))
    assert Image.open("kept.png").size == (840, 540)


def test_compress_keep_class_refines_without_losing_the_class_the_guard_reads(cli):
    """--keep-class implies --refine; the file decodes with any mnistzip, and no digit whose class the guard read
    in the plain reconstruction loses it."""
    from mnistzip import classify

    digits = mnist.images("test")[:40]
    for name, options in (("plain.mz", []), ("kept.mz", ["--keep-class"])):
        r = cli("compress", "mnist:test:0-39", "-q", "1", "-o", name, *options)
        assert r.exit_code == 0, r.output
        r = cli("decompress", name, "-o", name.replace(".mz", ".npy"))
        assert r.exit_code == 0, r.output
    guard = classify.load(classify.GUARD)
    wanted = guard.predict(digits)
    plain, kept = (guard.predict(np.load(f)) == wanted for f in ("plain.npy", "kept.npy"))
    assert kept[plain].all() and kept.sum() >= plain.sum()


def test_eval_of_a_level_of_a_model(cli, vr_model, vr_codec):
    r = cli("eval", "-m", vr_model, "--level", "1", "--limit", "10", "--json", "-")
    assert r.exit_code == 0, r.output
    assert [row["model_id"] for row in json.loads(r.stdout)["results"]] == [vr_codec.at_level(1).id]
    r = cli("eval", "-q", "2", "--level", "1", "--limit", "10")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == "mnistzip: error: --level picks a level of the model given with --model (see 'root eval --help')"


@pytest.mark.eval_extra
def test_eval_keep_class_adds_a_row(cli):
    r = cli("eval", "-q", "1", "--limit", "12", "--refine", "--keep-class", "--json", "-")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["results"]
    assert [row["model"] for row in rows] == ["ladder-q1", "ladder-q1 --refine", "ladder-q1 --refine --keep-class"]
    assert [row["family"] for row in rows] == ["ladder", "ladder +refine", "ladder +refine +keep-class"]


def test_eval_of_an_unknown_split(cli):
    r = cli("eval", "--split", "val", "--limit", "5")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == "mnistzip: error: --split must be test, train or fonts, not 'val' (see 'root eval --help')"


def test_models_lists_the_ladder(cli):
    from mnistzip import catalogue

    r = cli("models", "--json")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert [row["quality"] for row in rows] == list(range(1, len(rows) + 1)) and len(rows) == len(catalogue.ladder())
    bits = [row["bits_archive"] for row in rows]
    assert bits == sorted(bits) and bits[0] <= 12 and bits[-1] >= 100
    assert all(row["psnr_of_mean_mse"] > 0 and row["decompress_digits_per_s"] > 0 for row in rows)
    kept = [row["class_kept"] for row in rows]  # class kept grows with the rate, and the second classifier agrees
    assert 50 < kept[0] < kept[-1] <= 100
    assert all(abs(row["class_kept"] - row["class_kept_second"]) < 5 for row in rows)
    (default,) = [row for row in rows if row["default"]]
    assert default["name"] == catalogue.default_rung().name
    assert [(row["model"], row["level"], row["id"], row["codes_class"]) for row in rows] == [
        (r.card.name, r.level.number, r.id, r.card.codes_class) for r in catalogue.ladder()]


def test_models_table_keeps_each_rung_on_one_line(cli):
    rows = json.loads(cli("models", "--json").stdout)
    r = cli("models")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    for row in rows:  # name, id, figures and model share a line in 80 columns
        name = row["name"] + ("*" if row["default"] else "")
        assert any(f" {name} " in line and row["id"] in line and f"{row['bits_archive']:.1f}" in line
                   and row["model"] in line for line in lines), name


def test_compress_with_a_level_of_a_model(cli, vr_model, vr_codec):
    for q in (1, 3):
        r = cli("compress", "mnist:test:0-9", "-o", f"q{q}.mz", "-m", vr_model, "--level", q)
        assert r.exit_code == 0, r.output
        assert r.stdout.strip().endswith(f"(model vr level {q})")
        assert container.read(f"q{q}.mz").model_id == vr_codec.at_level(q).id
        r = cli("decompress", f"q{q}.mz", "-o", f"q{q}.npy", "-m", vr_model)  # the level is found from the id
        assert r.exit_code == 0, r.output
    assert Path("q1.mz").stat().st_size < Path("q3.mz").stat().st_size


def test_compress_by_rate_picks_the_rung_nearest_without_exceeding_and_says_which(cli):
    from mnistzip import catalogue

    r = cli("compress", "mnist:test:0", "-o", "b.mz", "--bits", "20")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == ("b.mz: 1 digit, 10 bytes: 2 of code, 8 of header and checksum (model ladder-q7, the "
                                "quality level for --bits: 19.7 bits a digit on average over MNIST's test digits in "
                                "one file)")
    assert container.read("b.mz").model_id == catalogue.by_rung(7).id


@pytest.mark.parametrize("args, status, message", [
    (["-q", "99"], ExitStatus.USAGE, "--quality must be 1 to 18, not 99 (see 'root compress --help')"),
    (["-q", "0"], ExitStatus.USAGE, "--quality must be 1 to 18, not 0 (see 'root compress --help')"),
    (["--bits", "7.2"], ExitStatus.USAGE, "--bits must be 7.286 or more (what the smallest quality level takes), not "
     "7.2 (see 'root compress --help')"),
    (["-q", "2", "--bits", "30"], ExitStatus.USAGE, "give a quality level (--quality) or a rate (--bits), not both "
     "(see 'root compress --help')"),
    (["-m", "ladder-q3", "--bits", "5"], ExitStatus.USAGE,
     "--model picks a model; --quality and --bits pick a quality level: give one (see 'root compress --help')"),
    (["--level", "2"], ExitStatus.USAGE, "--level picks a level of the model given with --model (see 'root compress "
     "--help')"),
    (["--level", "1", "-m", "ladder-q3"], ExitStatus.USAGE,
     "ladder-q3 is one quality level of a shipped model; --level goes with --model FOLDER (see 'root compress --help')"),
    (["--level", "4", "-m", "{vr}"], ExitStatus.MODEL, "vr has levels 1 to 3, not 4"),
])
def test_rung_and_level_errors(cli, vr_model, args, status, message):
    r = cli("compress", "mnist:test:0", "-o", "a.mz", *[a.format(vr=vr_model) for a in args])
    assert r.exit_code == status
    assert error_line(r) == f"mnistzip: error: {message}"
    assert not Path("a.mz").exists()


def test_a_file_of_a_retired_model_is_named_in_one_line(cli):
    """The decode-only models left before 1.0; their ids stay known (models/retired.json)."""
    for tool in ("decompress", "info"):
        r = cli(tool, DATA / "seed-2000-three.mz", *(["--json"] if tool == "info" else []))
        if tool == "info":
            assert r.exit_code == 0 and json.loads(r.stdout)["retired"] == "seed-2000 level 1"
            continue
        assert r.exit_code == ExitStatus.MODEL
        assert error_line(r) == (
            "mnistzip: error: the file needs model ec58, which is not installed: seed-2000 level 1 had that id and was "
            "retired before 1.0 (mnistzip at commit ab07ca4 decodes its files); or pass --model with the model "
            "directory that made it")


def test_outputs_get_the_usual_permissions(cli, tiny_model):
    import os

    umask = os.umask(0o022)
    try:
        assert cli("compress", "mnist:test:0", "-o", "d.mz", "-m", tiny_model).exit_code == 0
        assert cli("decompress", "d.mz", "-o", "d", "-m", tiny_model).exit_code == 0
    finally:
        os.umask(umask)
    assert Path("d.mz").stat().st_mode & 0o777 == 0o644
    assert Path("d").stat().st_mode & 0o777 == 0o755


@pytest.mark.train
def test_train_tiny_then_refuse_existing(cli):
    args = ["train", "--lmbda", "300", "--width", "64", "--epochs", "1", "--steps-per-epoch", "3", "--train-limit",
            "384", "--test-limit", "50", "-o", "m"]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert "saved m (id " in r.stdout
    card = json.loads(open("m/model.json").read())
    assert card["command"].startswith("mnistzip ") and card["recipe"]["lmbda"] == 300
    # the ladder's recipe at λ=300: class-300-520's, which sends the class
    assert card["recipe"]["width"] == 64 and recipe_family(card["recipe"]) == "mse/deep/L32/W64/cosine/e1/class"
    r = cli(*args)
    assert r.exit_code == ExitStatus.OUTPUT
    assert error_line(r) == "mnistzip: error: m already exists; pass --force to overwrite it"


@pytest.mark.parametrize("option, value, message", [
    ("--distortion", "l3", "--distortion must be one of mae, mse, not 'l3'"),
    ("--lr-schedule", "step", "--lr-schedule must be one of constant, cosine, not 'step'"),
    ("--prior", "flat", "--prior must be one of logistic, normal, deep, conditional, not 'flat'"),
    ("--quantization", "soft", "--quantization must be one of noise, mixed, not 'soft'"),
    ("--synthesis", "gdn", "--synthesis must be one of seed, conv3, not 'gdn'"),
])
def test_train_bad_option(cli, option, value, message):
    r = cli("train", option, value, "-o", "m")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == f"mnistzip: error: {message} (see 'root train --help')"


def test_train_cpu_devices_without_mirrored(cli):
    r = cli("train", "--cpu-devices", "2", "-o", "m")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == "mnistzip: error: --cpu-devices is for --strategy mirrored, not none (see 'root train --help')"


def test_train_unknown_strategy(cli):
    r = cli("train", "--strategy", "ring", "-o", "m")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == ("mnistzip: error: --strategy must be one of none, mirrored, multiworker, not 'ring' "
                             "(see 'root train --help')")


def test_train_code_class_needs_the_deep_prior(cli):
    r = cli("train", "--code-class", "--prior", "conditional", "-o", "m")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == "mnistzip: error: --code-class needs --prior deep, not conditional (see 'root train --help')"
    assert not os.path.exists("m")


@pytest.mark.parametrize("command", ["compress", "decompress", "sample", "train", "eval", "models", "info"])
def test_every_command_has_help(cli, command):
    r = cli(command, "--help")
    assert r.exit_code == 0, r.output
    assert f" {command} [OPTIONS]" in r.stdout.split("Usage:")[1].splitlines()[0]
    assert r.stderr == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["compress", "mnist:test:0", "--zzz"], "No such option: --zzz (see 'root compress --help')"),
        (["compress"], "Missing argument 'INPUT...' (see 'root compress --help')"),
        (["compres", "x"], "No such command 'compres'. Did you mean 'compress', 'decompress'? (see 'root --help')"),
    ],
)
def test_usage_errors_are_one_line(cli, args, message):
    r = cli(*args)
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == f"mnistzip: error: {message}"


def test_no_arguments_shows_the_help(cli):
    r = cli()
    assert r.exit_code == ExitStatus.USAGE
    assert "Usage:" in r.stdout and "compress" in r.stdout


def test_help_and_info_do_not_import_tensorflow(tmp_path):
    code = (
        "import sys; from typer.testing import CliRunner; from mnistzip.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(app, ['info', 'missing.mz']); assert r.exit_code == 4;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


@pytest.mark.train
def test_train_preset_fills_only_what_is_not_given(cli):
    """--preset seed: the seed recipe under the options given (the default recipe is the ladder's: test_recipe);
    without -o, the model goes to runs/ (never among the shipped models of a checkout)."""
    r = cli("train", "--preset", "seed", "--epochs", "1", "--distortion", "mse", "--steps-per-epoch", "2",
            "--train-limit", "256", "--test-limit", "20")
    assert r.exit_code == 0, r.output
    assert "saved runs/lmbda-2000 (id " in r.stdout
    recipe = json.loads(open("runs/lmbda-2000/model.json").read())["recipe"]
    assert recipe["epochs"] == 1 and recipe["distortion"] == "mse"  # given: kept
    assert recipe["prior"] == "logistic" and recipe["batch_size"] == 128  # from the preset


@pytest.mark.parametrize("turned_into", [
    TypeError("Unable to convert function return value to a Python type!"),  # pybind11, while TF is imported
    ModelError("models/m: cannot load the SavedModel (TypeError)"),  # the same, inside Codec.load
])
def test_ctrl_c_that_an_extension_module_turned_into_another_error_is_reported(cli, monkeypatch, turned_into):
    """A Ctrl-C while TensorFlow was being imported came out as 'internal error: TypeError: Unable to convert
    function return value to a Python type!' (pybind11 converts the KeyboardInterrupt), exit status 1."""
    import signal

    from mnistzip import zoo

    def load(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            raise turned_into from None

    monkeypatch.setattr(zoo, "chosen", load)
    r = cli("compress", "mnist:test:0", "-o", "zero.mz")
    assert r.exit_code == ExitStatus.INTERRUPTED
    assert error_line(r) == "mnistzip: error: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI put Python's handler back


def test_ctrl_c_while_the_command_line_is_parsed_is_reported(cli, monkeypatch):
    """Typer imports its converters while parsing: a Ctrl-C then was a silent exit 130."""
    import typer.core

    def interrupted(self, ctx, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(typer.core.TyperGroup, "parse_args", interrupted)
    r = cli("models")
    assert r.exit_code == ExitStatus.INTERRUPTED
    assert error_line(r) == "mnistzip: error: interrupted"


# --------------------------------------------------------------------------- files are safe


@pytest.mark.user_data
@pytest.mark.parametrize("absolute", [False, True])
def test_force_never_deletes_a_folder(cli, tiny_model, in_tmp, absolute):
    """`decompress d.mz -o SOMEDIR --force` deleted the folder and put one PNG in its place."""
    assert cli("compress", "mnist:test:0", "-o", "d.mz", "-m", tiny_model).exit_code == 0
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("precious")
    target = in_tmp if absolute else Path("mine")  # the current directory itself, by absolute path
    r = cli("decompress", "d.mz", "-o", target, "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert error_line(r) == (
        f"mnistzip: error: {target} is a folder; mnistzip never replaces a folder (remove it or choose another name)"
    )
    assert Path("mine/notes.txt").read_text() == "precious" and Path("d.mz").exists()
    assert sorted(p.name for p in in_tmp.iterdir()) == ["d.mz", "mine"]


@pytest.mark.user_data
def test_an_output_that_is_its_own_input_is_refused(cli, tiny_model):
    """`compress d.png -o d.png --force` replaced the digit with the archive."""
    Image.fromarray(mnist.images("test")[0]).save("d.png")
    before = Path("d.png").read_bytes()
    r = cli("compress", "d.png", "-o", "d.png", "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert error_line(r) == "mnistzip: error: d.png is also an input; mnistzip never writes over its input (choose another output)"
    Path("digits").mkdir()
    Path("digits/link.png").symlink_to(Path("d.png").resolve())  # found inside an input folder, through a link
    r = cli("compress", "digits", "-o", "d.png", "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT and "d.png is also an input" in error_line(r)
    assert Path("d.png").read_bytes() == before


@pytest.mark.user_data
def test_an_archive_named_png_is_not_overwritten_by_its_own_output(cli, tiny_model):
    """`decompress x.png --force`, x.png being an .mz file, replaced the archive with its digits (its default
    output is x.decoded.png now; named, the archive is still refused)."""
    assert cli("compress", "mnist:test:0", "-o", "x.png", "-m", tiny_model).exit_code == 0
    before = Path("x.png").read_bytes()
    r = cli("decompress", "x.png", "-o", "x.png", "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert error_line(r) == "mnistzip: error: x.png is also an input; mnistzip never writes over its input (choose another output)"
    assert Path("x.png").read_bytes() == before


@pytest.mark.user_data
def test_a_grid_too_large_is_refused_from_the_header_alone(cli, tiny_codec, tiny_model):
    from mnistzip import fuzz

    Path("big.mz").write_bytes(fuzz.with_crc(b"\x89Z\x01" + bytes.fromhex(tiny_codec.id) + b"\x80\x80\x40" + bytes(9000)))
    r = cli("decompress", "big.mz", "-o", "grid.png", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert error_line(r) == ("mnistzip: error: grid.png: 1,048,576 digits are too many for one grid PNG (at most "
                             "65,536); write a folder or an .npy file")


@pytest.mark.user_data
def test_folder_inputs_are_read_recursively_and_listed_with_v(cli, tiny_model):
    test = mnist.images("test")
    for i, name in enumerate(["b.png", "a/2.png", "a/1.png", "a/sub/0.png"]):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(test[i]).save(name)
    Path("scans").mkdir()
    for name in ["b.png", "a"]:
        Path(name).rename(Path("scans") / name)
    r = cli("compress", "scans", "-o", "s.mz", "-v", "-m", tiny_model)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[:4] == ["0 → scans/a/1.png", "1 → scans/a/2.png", "2 → scans/a/sub/0.png",
                                         "3 → scans/b.png"]
    assert container.read("s.mz").count == 4


@pytest.mark.user_data
def test_standard_streams_in_a_pipe(tmp_path, tiny_model):
    """decompress -o - | compress - -o - | info -: the .mz bytes and a PNG travel through pipes."""
    run = dict(cwd=tmp_path, capture_output=True)
    made = subprocess.run([*MNISTZIP, "compress", "mnist:test:3", "-o", "-", "-m", str(tiny_model)], **run)
    assert made.returncode == 0 and made.stdout.startswith(b"\x89Z") and made.stderr == b""
    png = subprocess.run([*MNISTZIP, "decompress", "-", "-o", "-", "-m", str(tiny_model)], input=made.stdout, **run)
    assert png.returncode == 0 and png.stdout.startswith(b"\x89PNG"), png.stderr
    again = subprocess.run([*MNISTZIP, "compress", "-", "-m", str(tiny_model)], input=png.stdout, **run)
    assert again.returncode == 0 and again.stdout.startswith(b"\x89Z")
    info = subprocess.run([*MNISTZIP, "info", "-", "--json"], input=again.stdout, **run)
    assert json.loads(info.stdout)["digits"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.user_data
def test_a_closed_pipe_ends_quietly(tmp_path):
    """`mnistzip train --help | head` ended with 'internal error: BrokenPipeError'."""
    proc = subprocess.Popen([*MNISTZIP, "train", "--help"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    assert proc.wait(timeout=60) == ExitStatus.CLOSED_PIPE
    assert proc.stderr.read() == b""


@pytest.mark.user_data
@pytest.mark.parametrize("command", ["compress", "decompress", "sample", "train", "eval", "models", "info"])
def test_help_text_is_shown_as_written(cli, command):
    """Rich turned ':train:' in 'mnist:train:0-99' into an emoji."""
    import inspect

    from mnistzip import cli as cli_module

    r = cli(command, "--help")
    source = inspect.getsource(getattr(cli_module, {"eval": "evaluate"}.get(command, command)))
    for token in re.findall(r"[a-z]+:[a-z]+:[0-9-]+", source):
        assert token in r.stdout
    assert not re.search("[\U0001F300-\U0001FAFF]", r.stdout)


@pytest.mark.user_data
@pytest.mark.parametrize("args, option, reason", [
    (["train", "--lmbda", "nan"], "--lmbda", "0 or more, not nan"),
    (["train", "--lmbda", "300", "--lmbda", "inf"], "--lmbda", "0 or more, not inf"),
    (["train", "--lr", "inf"], "--lr", "0 or more, not inf"),
    (["train", "--lr", "nan"], "--lr", "0 or more, not nan"),
    (["compress", "mnist:test:0", "-o", "x.mz", "--refine-lmbda", "inf"], "--refine-lmbda", "0 or more, not inf"),
    (["sample", "--seed", "-1"], "--seed", "0 or more, not -1"),
    (["sample", "-n", "0"], "-n", "1 to 4096, not 0"),
    (["sample", "--scale", "17"], "--scale", "1 to 16, not 17"),
    (["compress", "mnist:test:0", "-q", "x"], "--quality", "a whole number, not 'x'"),
    (["compress", "mnist:test:0", "--bits", "x"], "--bits", "a number, not 'x'"),
])
@pytest.mark.user_data
def test_numbers_out_of_range_are_usage_errors(cli, args, option, reason):
    """`train --lmbda nan` trained, `--lmbda inf` ended in 'internal error', so did `sample --seed -1`; every
    bad number is said the same way, with the option's long name."""
    r = cli(*args)
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == f"mnistzip: error: {option} must be {reason} (see 'root {args[0]} --help')"


# --------------------------------------------------------------------------- any option value


ODD_TEXT = ["-", "", "0", "-1", "nan", "inf", "-inf", "1e400", "99999999999999999999", "x.mz", "x.png", "x.npy",
            "dir/", "/dev/null", "mnist:test:0", ":train:", "q1", "λ", "a\nb", "--force"]
ODD_VALUES = st.one_of(st.sampled_from(ODD_TEXT), st.integers(-2**70, 2**70).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8))
OPTIONS = {  # every option of every command that takes a value
    "compress": ["--output", "--model", "--quality", "--bits", "--level", "--data-dir", "--refine-lmbda"],
    "decompress": ["--output", "--format", "--model"],
    "sample": ["-n", "--seed", "--output", "--format", "--model", "--quality", "--bits", "--level"],
    "eval": ["--model", "--quality", "--split", "--limit", "--codecs", "--reference", "--plot", "--grid", "--skip", "--json",
             "--data-dir"],
    "train": ["--lmbda", "--latent-dims", "--width", "--epochs", "--batch-size", "--lr", "--lr-schedule",
              "--distortion", "--prior", "--quantization", "--decoder-epochs", "--synthesis", "--preset", "--seed",
              "--output", "--data-dir", "--train-limit", "--test-limit", "--steps-per-epoch"],
    "info": [],
}
INPUTS = {"compress": ["d.mz", "mnist:test:0", "missing.mz", ".", "-"], "decompress": ["d.mz", "missing.mz", ".", "-"],
          "info": ["d.mz", "missing.mz", ".", "-"]}


def odd_command_line(data, command: str, model: str | None) -> list[str]:
    """``command`` with up to three of its options set to odd values, and ``model`` unless the model is one of them."""
    chosen = data.draw(st.lists(st.sampled_from(OPTIONS[command]), unique=True, max_size=3)) if OPTIONS[command] else []
    args = [command]
    if command in INPUTS:
        args.append(data.draw(st.sampled_from(INPUTS[command])))
    for option in chosen:
        args += [option, data.draw(ODD_VALUES)]
    if model and "--model" not in chosen:
        args += ["--model", model]
    return args


def assert_documented_failure(r, args):
    assert r.exit_code in set(ExitStatus) - {ExitStatus.ERROR}, (args, r.output)
    assert "Traceback" not in r.output and "internal error" not in r.output, (args, r.output)
    if r.exit_code:
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_option_value_is_one_line_and_a_documented_status(cli, tiny_codec, mnist_dir, monkeypatch, data):
    """No value reachable from the command line ends in 'internal error' (exit 1) or a traceback; a missing model
    keeps each run quick (every option is checked before a model loads)."""
    container.write("d.mz", tiny_codec.compress(mnist.images("test", mnist_dir)[:2]), force=True)
    Path("no-mnist").mkdir(exist_ok=True)
    monkeypatch.setenv("MNISTZIP_DATA_DIR", "no-mnist")  # training stops there, after every option was checked
    command = data.draw(st.sampled_from(sorted(OPTIONS)))
    args = odd_command_line(data, command, None if command in ("info", "train") else "no-such-model")
    assert_documented_failure(cli(*args), args)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_option_value_with_a_real_model(cli, tiny_model, tiny_codec, monkeypatch, data):
    """The same with a model that loads: the values used after loading (quality, seed, λ, output) are reached.
    The model is loaded once (reading a SavedModel takes seconds), the rest of each command runs as it is."""
    from mnistzip.codec import Codec

    load = Codec.load.__func__

    def loaded_once(cls, path, verify=True, level=None):
        if Path(path).resolve() == tiny_model.resolve():
            return tiny_codec.at_level(tiny_codec.level.number if level is None else level)
        return load(cls, path, verify, level)

    monkeypatch.setattr(Codec, "load", classmethod(loaded_once))
    container.write("d.mz", tiny_codec.compress(mnist.images("test")[:2]), force=True)
    command = data.draw(st.sampled_from(["compress", "decompress", "sample"]))
    args = odd_command_line(data, command, str(tiny_model))
    assert_documented_failure(cli(*args), args)


def test_info_names_standard_input(tmp_path, tiny_model):
    made = subprocess.run([*MNISTZIP, "compress", "mnist:test:3", "-o", "-", "-m", str(tiny_model)], cwd=tmp_path,
                          capture_output=True)
    info = subprocess.run([*MNISTZIP, "info", "-"], input=made.stdout, cwd=tmp_path, capture_output=True)
    assert info.stdout.decode().startswith("standard input: mnistzip format version 1, model ")


def test_a_slow_decode_shows_progress_only_after_a_delay(monkeypatch):
    from mnistzip.cli import printing

    shown = []

    class Bar:
        def start(self):
            shown.append("start")

        def add_task(self, description, total, live):
            shown.append(description)

        def update(self, task, completed, live):
            shown.append(completed)

        def stop(self):
            shown.append("stop")

    monkeypatch.setattr("rich.progress.Progress", lambda *columns, **options: Bar())
    monkeypatch.setattr(printing.sys.stderr, "isatty", lambda: True)
    clock = iter([0.0, 0.5, 2.5, 3.0])
    monkeypatch.setattr(printing.time, "monotonic", lambda: next(clock))
    with printing.progress("decoding 9 digits") as progress:
        progress(0.1)  # at 0.5 s: nothing shown yet
        progress(0.6)  # at 2.5 s: the bar appears
        progress(1.0)
    assert shown == ["start", "decoding 9 digits", 0.6, 1.0, "stop"]


def test_mnist_files_read_by_a_reference_are_inputs_too(cli, tiny_model, mnist_dir, monkeypatch):
    """`compress mnist:test:7 -o DATA/t10k-images-idx3-ubyte.gz --force` replaced the MNIST file read."""
    import shutil

    shutil.copytree(mnist_dir, "mn")
    target = Path("mn/t10k-images-idx3-ubyte.gz")
    before = target.read_bytes()
    monkeypatch.setenv("MNISTZIP_DATA_DIR", "mn")
    r = cli("compress", "mnist:test:7", "-o", target, "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT and "is also an input" in error_line(r)
    r = cli("eval", "--limit", "20", "--json", target, "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT and "is also an input" in error_line(r)
    assert target.read_bytes() == before


def test_info_shows_a_name_as_it_is(cli, tiny_model):
    """A name with Rich markup gave 'internal error: MarkupError'; escape sequences reached the terminal."""
    assert cli("compress", "mnist:test:0", "-o", "d.mz", "-m", tiny_model).exit_code == 0
    Path("a[").mkdir()
    Path("[red]z[").mkdir()
    for name in ["a[/]b.mz", "[red]z[/red].mz", "e\x1b[2J.mz"]:
        target = Path(name)
        target.write_bytes(Path("d.mz").read_bytes())
        r = cli("info", name)
        assert r.exit_code == 0, r.output
        assert r.stdout.splitlines()[0].startswith(name.replace("\x1b", "\\x1b") + ": mnistzip format version 1")


def test_a_fifo_is_no_input(cli):
    """A FIFO as an input blocked forever."""
    import os

    os.mkfifo("f.png")
    os.mkfifo("f.mz")
    r = cli("compress", "f.png", "-o", "x.mz")
    assert r.exit_code == ExitStatus.BAD_INPUT and error_line(r) == "mnistzip: error: f.png: not a regular file"
    for command in ("decompress", "info"):
        r = cli(command, "f.mz")
        assert r.exit_code == ExitStatus.BAD_FILE and error_line(r) == "mnistzip: error: f.mz: not a regular file"


def test_a_full_or_closed_standard_output_is_one_line(tmp_path):
    """`mnistzip models >/dev/full` was 'internal error: OSError', `--help >/dev/full` a traceback."""
    for args in (["models"], ["--help"], ["compress", "--help"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([*MNISTZIP, *args], stdout=full, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        assert r.returncode == ExitStatus.OUTPUT
        assert r.stderr == "mnistzip: error: standard output: cannot write (No space left on device)\n"
    r = subprocess.run([*MNISTZIP, "sample", "-n", "1", "-o", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, cwd=tmp_path, pass_fds=(), close_fds=True,
                       preexec_fn=lambda: __import__("os").close(1))
    assert r.returncode == ExitStatus.OUTPUT and r.stderr == "mnistzip: error: standard output is closed\n"


def _without(monkeypatch, *modules):
    """Make ``modules`` look uninstalled to mnistzip's extras check."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.split(".")[0] in modules else real(name, *a, **k))


def test_train_without_tensorflow_names_the_extra(cli, monkeypatch):
    _without(monkeypatch, "tensorflow", "tensorflow_compression")
    r = cli("train", "--lmbda", "500", "-o", "m")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == ("mnistzip: error: train needs TensorFlow 2.14 and TensorFlow Compression, which exist "
                             f"for Python 3.11 only: {install_hint('train')}")
    assert not Path("m").exists()


def test_only_the_plots_need_the_eval_extra_and_they_are_refused_before_measuring(cli, monkeypatch):
    """`eval --codecs png` and `--grid` needed scipy, and --grid failed only after the whole evaluation."""
    from mnistzip import evaluate

    _without(monkeypatch, "matplotlib", "scipy")
    measured = []
    with monkeypatch.context() as patched:
        patched.setattr(evaluate, "evaluate", lambda *a, **k: measured.append(1) or [])
        for option in ("--plot", "--plot-kept"):
            r = cli("eval", "--limit", "20", option, "rd.png")
            assert r.exit_code == ExitStatus.USAGE and not measured
            assert error_line(r) == f"mnistzip: error: eval {option} needs matplotlib: {install_hint('eval')}"
    r = cli("eval", "--limit", "20", "-q", "1", "-q", "12", "--codecs", "png,jpeg", "--grid", "grid.png")
    assert r.exit_code == 0, r.output
    assert "BD-rate of jpeg against ladder: " in r.stdout and Image.open("grid.png").size[0] > 8 * 84


def test_hints_name_the_install_command_that_fits(monkeypatch, tmp_path):
    """The hint said `pip install 'mnistzip[eval]'` to a user who had installed from a clone."""
    import importlib.metadata

    class Installed:
        def __init__(self, origin):
            self.origin = origin

        def read_text(self, name):
            return self.origin if name == "direct_url.json" else None

    for origin, hint in [
        (None, "pip install 'mnistzip[eval]'"),
        ('{"url": "https://files.example/mnistzip-1.0.tar.gz", "archive_info": {}}', "pip install 'mnistzip[eval]'"),
        ('{"url": "file:///home/me/mnist%20zip", "dir_info": {}}', "pip install '/home/me/mnist zip[eval]'"),
        ('{"url": "file:///src/mnistzip", "dir_info": {"editable": true}}', "pip install -e '/src/mnistzip[eval]'"),
    ]:
        monkeypatch.setattr(importlib.metadata, "distributions", lambda name, o=origin: [Installed(o)])
        assert install_hint("eval") == hint


# --------------------------------------------------------------------------- a new user's own digits and habits


def test_default_outputs_are_beside_each_input_and_never_an_original(cli, tiny_model):
    """`compress scans` asked for -o, and `decompress digit.mz` wanted to write over the user's digit.png."""
    Path("scans").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(mnist.images("test")[len(name)]).save(Path("scans") / name)
    Image.fromarray(mnist.images("test")[3]).save("digit.png")
    original = Path("digit.png").read_bytes()
    r = cli("compress", "scans", "digit.png", "mnist:test:7", "-m", tiny_model)
    assert r.exit_code == 0, r.output
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == ["scans.mz", "digit.mz", "mnist-test-7.mz"]
    assert container.read("scans.mz").count == 2 and container.read("digit.mz").count == 1
    r = cli("decompress", "digit.mz", "-m", tiny_model)
    assert r.exit_code == 0 and r.stdout == "digit.decoded.png: 1 digit (image)\n"
    assert Path("digit.png").read_bytes() == original
    r = cli("prepare", "digit.png")
    assert r.exit_code == 0 and r.stdout == "digit.prepared.png: 1 digit prepared (image)\n"


def test_two_inputs_with_one_default_output_are_refused(cli):
    Image.fromarray(mnist.images("test")[0]).save("a.png")
    Image.fromarray(mnist.images("test")[0]).save("a.jpg")
    r = cli("compress", "a.png", "a.jpg")
    assert r.exit_code == ExitStatus.USAGE
    assert error_line(r) == ("mnistzip: error: a.png and a.jpg would both be written to a.mz; give -o OUT.mz "
                             "(see 'root compress --help')")
    assert not Path("a.mz").exists()


def test_the_inputs_are_checked_before_the_outputs(cli):
    """`compress notes.txt` with notes.mz there said the output existed; the real problem showed after --force."""
    Path("notes.txt").write_text("a shopping list")
    Path("notes.mz").write_bytes(b"someone's file")
    r = cli("compress", "notes.txt")
    assert r.exit_code == ExitStatus.BAD_INPUT
    assert error_line(r) == "mnistzip: error: notes.txt: not a PNG, JPEG, WebP, BMP, GIF or TIFF image"
    assert Path("notes.mz").read_bytes() == b"someone's file"


def test_a_pen_digit_photographed_on_beige_paper_comes_back_as_the_same_digit(cli):
    """A photo of a pen 2 on beige paper came back as a scribbled loop: the paper counted as ink."""
    from conftest import draw_on_paper
    from mnistzip import classify

    for digit in ("2", "7"):
        draw_on_paper(Path(f"photo{digit}.jpg"), digit, shadow=digit == "2")
        r = cli("compress", f"photo{digit}.jpg")
        assert r.exit_code == 0, r.output
        assert "the paper is not clean" in r.stderr
        assert cli("decompress", f"photo{digit}.mz", "-o", f"back{digit}.npy").exit_code == 0
        assert classify.load("reference").predict(np.load(f"back{digit}.npy"))[0] == int(digit)


def test_prepare_shows_the_digit_made_and_sample_draws_large(cli):
    from conftest import draw_on_paper

    draw_on_paper(Path("photo.jpg"), "7")
    r = cli("prepare", "photo.jpg", "--scale", "4", "-o", "seen.png")
    assert r.exit_code == 0 and r.stdout == "seen.png: 1 digit prepared (image)\n"
    assert Image.open("seen.png").size == (112, 112)
    r = cli("sample", "-n", "16", "--seed", "1", "--scale", "3", "-o", "s.png")
    assert r.exit_code == 0 and Image.open("s.png").size == (4 * 28 * 3, 4 * 28 * 3)
    r = cli("sample", "-n", "2", "--scale", "2", "-o", "s.npy")
    assert r.exit_code == ExitStatus.USAGE and "--scale is for PNG images" in error_line(r)


def test_version_help_and_debug_anywhere(cli):
    assert cli("-V").stdout == cli("--version").stdout == f"mnistzip {__import__('mnistzip').__version__}\n"
    assert cli("-h").stdout == cli("--help").stdout and "compress" in cli("-h").stdout
    assert "…" not in cli("-h").stdout  # no command's description cut short
    r = cli("decompress", "missing.mz", "--debug")
    assert r.exit_code == ExitStatus.BAD_FILE and "Traceback" in r.stderr and "missing.mz: no such file" in r.stderr


def test_every_option_says_its_default_and_range():
    """-q's help gave neither its default (12) nor its range (1-18)."""
    from mnistzip import options

    for spec in (*options.COMPRESS, *options.DECOMPRESS, *options.PREPARE, *options.SAMPLE, *options.EVAL,
                 *options.TRAIN):
        text = spec.described()
        if spec.low is not None:
            assert re.search(r"(\d+ to \d+|\d+ or more)\.", text), spec.name
        if spec.type is not bool and spec.default not in (None, ..., []) or spec.default_text:
            assert "Default: " in text, spec.name
    assert options.MODEL[0].described().endswith("As in cwebp, -q is quality. 1 to 18. Default: 12.")


@pytest.mark.parametrize("args", [["models"], ["info", "d.mz"], ["eval", "-q", "1", "-q", "12", "--limit", "20",
                                                                   "--codecs", "png"]])
def test_tables_are_plain_text_in_80_columns(cli, args):
    """eval's table was cut to 'bi…' under ~140 columns, and when redirected."""
    assert cli("compress", "mnist:test:0", "-o", "d.mz").exit_code == 0
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert not re.search("[┏━┃│└╇…]", r.stdout)
