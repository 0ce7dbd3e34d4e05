"""python -m mnistzip.pipeline on Beam's DirectRunner, two worker processes: every digit once, the pixels of
``mnistzip compress``, bad inputs in the dead letters, reruns identical byte for byte."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("apache_beam")

from mnistzip import blas, container, mnist, pipeline, search, zoo  # noqa: E402
from mnistzip.cli import app  # noqa: E402
from mnistzip.errors import install_hint  # noqa: E402

TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
SHARD_SIZE = 32
ONE_THREAD = {name: "1" for name in blas.VARIABLES}  # what two workers on two cores get, on any machine


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread_per_worker():
    """Each worker with one BLAS thread whatever the cores here, so that the references computed below match."""
    saved = {name: os.environ.get(name) for name in ONE_THREAD}
    os.environ.update(ONE_THREAD)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name)
        else:
            os.environ[name] = value


def run(*argv: str) -> tuple[int, str, str]:
    """The entry point in this process (its workers are processes of their own): (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = pipeline.main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, mnist_dir) -> Path:
    """24 PNG digits (3 dark on light), a file that is no image, a stray text file, a hidden PNG, an array of 40
    digits and one of floats."""
    root = tmp_path_factory.mktemp("pipeline")
    test = mnist.images("test", mnist_dir)
    scans = root / "scans"
    scans.mkdir()
    for i in range(24):
        digit = test[100 + i] if i % 8 else 255 - test[100 + i]
        Image.fromarray(digit).save(scans / f"{i:03d}.png")
    (scans / "bad.png").write_bytes(b"\x89PNG not really")
    (scans / "notes.txt").write_text("scanned on Monday\n")
    Image.fromarray(test[0]).save(scans / ".hidden.png")
    arrays = root / "arrays"
    arrays.mkdir()
    np.save(arrays / "a.npy", test[200:240])
    np.save(arrays / "f.npy", test[:3].astype(np.float32))
    return root


@pytest.fixture(scope="module")
def compressed(inputs):
    """One job over every kind of input (and one glob again), then the same job into another folder."""
    results = []
    for name in ("one", "two"):
        (inputs / name).mkdir()
        results.append(run(
            "compress", "--input", str(inputs / "scans" / "*"), "--input", str(inputs / "arrays" / "*.npy"),
            "--input", "mnist:test:0-59", "--input", str(inputs / "scans" / "00*.png"),
            "--output", str(inputs / name / "d"), "--shard-size", str(SHARD_SIZE), *TWO_WORKERS,
        ))
    return inputs, results


def _manifest(prefix: Path) -> list[dict]:
    return [json.loads(line) for line in Path(f"{prefix}.manifest.jsonl").read_text().splitlines()]


def test_every_digit_is_coded_once_and_bad_inputs_are_dead_letters(compressed):
    root, [(status, out, err), _] = compressed
    prefix = root / "one" / "d"
    summary = json.loads(Path(f"{prefix}.summary.json").read_text())
    assert status == 3
    assert err == f"mnistzip: error: 3 inputs could not be used: see {prefix}.errors.jsonl\n"
    assert out == (f"{prefix}: 124 digits in 4 shards, {summary['bytes']:,} bytes, {summary['bits_per_digit']:.1f} "
                   f"bits/digit ({summary['name']}, model {summary['model']})\n")
    scans, arrays = root / "scans", root / "arrays"
    expected = ([str(scans / f"{i:03d}.png") for i in range(24)] + [f"{arrays / 'a.npy'}:{i}" for i in range(40)]
                + [f"mnist:test:{i}" for i in range(60)])
    manifest = _manifest(prefix)
    assert [line["source"] for line in manifest] == expected
    shard_names = [f"d-{k:05d}-of-00004.mz" for k in range(4)]
    assert sorted(p.name for p in (root / "one").glob("*.mz")) == shard_names
    counts = [sum(line["shard"] == name for line in manifest) for name in shard_names]
    assert counts == [31, 32, 32, 29]  # bad.png had its place in shard 0
    for name, count in zip(shard_names, counts):
        mz = container.read(root / "one" / name)
        assert mz.count == count and mz.model_id == summary["model"]
        assert [line["index"] for line in manifest if line["shard"] == name] == list(range(count))
    dead = [json.loads(line) for line in Path(f"{prefix}.errors.jsonl").read_text().splitlines()]
    assert dead == [
        {"source": f"{arrays / 'f.npy'}", "error": f"{arrays / 'f.npy'}: expected uint8 digits of shape (N, 28, 28), "
                                                    f"found float32 (3, 28, 28)"},
        {"source": f"{scans / 'bad.png'}", "error": f"{scans / 'bad.png'}: not a PNG, JPEG, WebP, BMP, GIF or TIFF "
                                                    f"image"},
        {"source": f"{scans / 'notes.txt'}", "error": f"{scans / 'notes.txt'}: not an image or .npy file (expected "
                                                      f".bmp, .gif, .jpeg, .jpg, .npy, .png, .tif, .tiff, .webp)"},
    ]
    assert summary["digits"] == 124 and summary["shards"] == 4 and summary["dead_letters"] == 3
    assert summary["bytes"] == sum((root / "one" / name).stat().st_size for name in shard_names)


def test_a_rerun_writes_the_same_bytes(compressed):
    root, [_, (status, _, _)] = compressed
    assert status == 3
    one, two = sorted((root / "one").iterdir()), sorted((root / "two").iterdir())
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_shards_hold_the_codes_of_mnistzip_compress(compressed, in_tmp):
    """Each digit of a shard has the latents it gets from ``mnistzip compress`` in another batch (``codec.coding_of``),
    and decodes to the same pixels within one grey level (the decoder's float32 sums depend on the batch)."""
    from typer.testing import CliRunner

    root, _ = compressed
    manifest = _manifest(root / "one" / "d")
    codec = zoo.load()

    def latents(mz):
        return codec.decode_latents(mz.payload, mz.count)

    decoded = {name: latents(container.read(root / "one" / name)) for name in {m["shard"] for m in manifest}}
    files = [str(root / "scans" / f"{i:03d}.png") for i in range(24)]
    r = CliRunner().invoke(app, ["compress", *files, "mnist:test:0-59", "-o", "ref.mz"])
    assert r.exit_code == 0, r.output
    reference = latents(container.read("ref.mz"))
    arrays = np.load(root / "arrays" / "a.npy")
    from_array = latents(search.compress(codec, arrays))
    for line in manifest:
        got = decoded[line["shard"]][line["index"]]
        source = line["source"]
        if source.startswith("mnist:"):
            want = reference[24 + int(source.rsplit(":", 1)[1])]
        elif ".npy:" in source:
            want = from_array[int(source.rsplit(":", 1)[1])]
        else:
            want = reference[files.index(source)]
        np.testing.assert_array_equal(got, want, err_msg=source)
    shard = manifest[0]["shard"]
    pixels, ref_pixels = (codec.decompress(container.read(p)).astype(int) for p in (root / "one" / shard, "ref.mz"))
    for line in (m for m in manifest if m["shard"] == shard and m["source"].startswith("mnist:")):
        want = ref_pixels[24 + int(line["source"].rsplit(":", 1)[1])]
        assert np.abs(pixels[line["index"]] - want).max() <= 1, line["source"]


def test_existing_outputs_are_refused_before_the_job(compressed):
    root, _ = compressed
    status, out, err = run("compress", "--input", "mnist:test:0-9", "--output", str(root / "one" / "d"))
    assert (status, out) == (6, "")
    assert err == (f"mnistzip: error: {root / 'one' / 'd'}-00000-of-00004.mz exists (and 6 more); pass --force to "
                   f"replace what this job writes\n")


def test_decompress_writes_each_shard_as_an_array_and_a_corrupt_file_is_a_dead_letter(compressed):
    root, _ = compressed
    broken = root / "broken"
    broken.mkdir()
    blob = bytearray((root / "one" / "d-00001-of-00004.mz").read_bytes())
    blob[-1] ^= 0xFF
    (broken / "x.mz").write_bytes(bytes(blob))
    out_dir = root / "decoded"
    status, out, err = run("decompress", "--input", str(root / "one" / "d-*.mz"), "--input", str(broken / "*.mz"),
                           "--output", str(out_dir), *TWO_WORKERS)
    assert status == 3
    assert out == f"{out_dir}: 124 digits from 4 files\n"
    assert err == f"mnistzip: error: 1 input could not be used: see {out_dir}/errors.jsonl\n"
    for k in range(4):  # the pixels of mnistzip decompress with the workers' BLAS threads (the decoder sums floats)
        name = f"d-{k:05d}-of-00004"
        r = subprocess.run([sys.executable, "-m", "mnistzip", "decompress", str(root / "one" / f"{name}.mz"), "-o",
                            str(root / f"{name}.npy")], env={**os.environ, **ONE_THREAD}, capture_output=True)
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(out_dir / f"{name}.npy"), np.load(root / f"{name}.npy"))
    [dead] = [json.loads(line) for line in (out_dir / "errors.jsonl").read_text().splitlines()]
    assert dead["source"] == str(broken / "x.mz")
    assert dead["error"].startswith(f"{broken / 'x.mz'}: ") and "checksum mismatch" in dead["error"]
    assert json.loads((out_dir / "summary.json").read_text()) == {"files": 4, "digits": 124, "dead_letters": 1}
    status, _, err = run("decompress", "--input", str(root / "one" / "d-*.mz"), "--output", str(out_dir))
    assert (status, err) == (6, f"mnistzip: error: {out_dir}: folder holds files; pass --force to write into it\n")


def test_decompress_to_folders_of_pngs(compressed):
    root, _ = compressed
    out_dir = root / "pngs"
    status, out, _ = run("decompress", "--input", str(root / "one" / "d-00003-of-00004.mz"), "--output", str(out_dir),
                         "--format", "png", "--direct_num_workers=1")
    assert (status, out) == (0, f"{out_dir}: 29 digits from 1 file\n")
    pngs = sorted((out_dir / "d-00003-of-00004").iterdir())
    assert [p.name for p in pngs[:2]] == ["digit-00.png", "digit-01.png"] and len(pngs) == 29
    r = subprocess.run([sys.executable, "-m", "mnistzip", "decompress", str(root / "one" / "d-00003-of-00004.mz"),
                        "-o", str(root / "first")], env={**os.environ, **ONE_THREAD}, capture_output=True)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(pngs[0])), np.asarray(Image.open(root / "first" / pngs[0].name)))


@pytest.mark.parametrize("argv, status, line", [
    (["compress", "--input", "nothing-here-*.png", "--output", "d"], 3, "nothing-here-*.png: matches no file"),
    (["decompress", "--input", "nothing-here-*.mz", "--output", "o"], 3, "nothing-here-*.mz: matches no file"),
    (["compress", "--input", "mnist:test:0-9", "--output", "d", "--shard-size", "0"], 2,
     f"--shard-size must be 1 to {container.MAX_DIGITS}, not 0"),
    (["compress", "--input", "mnist:test:0-9", "--output", "d", "-q", "1", "--bits", "9"], 2,
     "give a quality level (--quality) or a rate (--bits), not both"),
    (["compress", "--input", "mnist:test:0-9", "--output", "no-such-folder/d"], 6,
     "no-such-folder: no such folder for --output no-such-folder/d"),
    (["compress", "--output", "d"], 2, "the following arguments are required: --input"),
    (["compress", "--input", "mnist:test:0-9", "--output", "d", "--direct_num_workers=abc"], 2,
     "argument --direct_num_workers: invalid int value: 'abc'"),
    (["compress", "--input", "mnist:test:0-9", "--output", "d", "--shard_size", "5"], 2,
     "unknown option '--shard_size' (neither this command's nor Beam's)"),
    (["decompress", "--input", "x.mz", "--output", "o", "--format", "gif"], 2,
     "argument --format: invalid choice: 'gif' (choose from 'npy', 'png')"),
])
def test_bad_command_lines_give_one_line(in_tmp, argv, status, line):
    assert run(*argv) == (status, "", f"mnistzip: error: {line}\n")


def test_a_workers_failure_is_one_line_naming_the_mnistzip_error():
    text = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "mnistzip.errors.OutputError: out/d-00001-of-00002.mz: cannot write (No space left on device) "
            "[while running 'CompressDigits/Code']\n")
    assert pipeline._worker_error(RuntimeError(text)) == (
        "out/d-00001-of-00002.mz: cannot write (No space left on device) [while running 'CompressDigits/Code']", 6)
    assert pipeline._worker_error(RuntimeError("Worker subprocess exited with return code 1")) == (
        "the job failed: Worker subprocess exited with return code 1", 1)


def test_without_beam_the_entry_point_says_what_to_install(in_tmp):
    code = ("import runpy, sys; sys.modules['apache_beam'] = None; sys.argv = ['p', 'compress']; "
            "runpy.run_module('mnistzip.pipeline', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"mnistzip: error: mnistzip.pipeline needs Apache Beam: {install_hint('beam')}\n"


def test_the_transforms_compose_into_a_pipeline_of_ones_own(tmp_path, mnist_dir):
    """CompressDigits in a user's pipeline, in one process: its dead letters are a PCollection to route."""
    import apache_beam as beam

    (tmp_path / "x.txt").write_text("no digit")
    with beam.Pipeline() as p:
        result = p | pipeline.CompressDigits(["mnist:test:0-4", str(tmp_path / "x.txt")], str(tmp_path / "d"),
                                             pipeline.ModelChoice(quality=3), data_dir=str(mnist_dir))
        result["dead_letter"] | beam.Map(lambda d: d.source) | beam.io.WriteToText(str(tmp_path / "dead"))
    assert (tmp_path / "dead-00000-of-00001").read_text() == f"{tmp_path / 'x.txt'}\n"
    assert container.read(tmp_path / "d-00000-of-00001.mz").count == 5
    shutil.rmtree(tmp_path)


def test_patterns_match_as_a_shell_does(tmp_path, monkeypatch):
    """``**/`` spans no folder too, hidden names are left out at any depth, a pattern may have no folder part."""
    for name in ("a.png", "sub/b.png", "sub/deeper/c.png", ".git/d.png", "sub/.e.png", "sub/deeper.png/f.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert pipeline.glob("**/*.png") == ["a.png", "sub/b.png", "sub/deeper.png/f.png", "sub/deeper/c.png"]
    assert pipeline.glob("*.png") == ["a.png"]
    assert pipeline.glob("sub/*") == ["sub/b.png"]  # a folder is not a file
    assert pipeline.glob("sub/.*.png") == ["sub/.e.png"]
    assert pipeline.glob("**/*.png", limit=1) and len(pipeline.glob("**/*.png", limit=2)) == 2


def test_a_forced_rerun_with_fewer_shards_names_the_earlier_jobs(in_tmp):
    first = run("compress", "--input", "mnist:test:0-5", "--output", "d", "--shard-size", "2", "--direct_num_workers=1")
    assert first[0] == 0
    status, out, err = run("compress", "--input", "mnist:test:0-5", "--output", "d", "--shard-size", "3", "--force",
                           "--direct_num_workers=1")
    assert status == 0 and out.startswith("d: 6 digits in 2 shards, ")
    assert err == ("mnistzip: note: 3 shards of an earlier job remain beside this job's; its manifest does not name "
                   "them: d-00000-of-00003.mz ...\n")
    assert json.loads(Path("d.summary.json").read_text())["shard_files"] == ["d-00000-of-00002.mz",
                                                                            "d-00001-of-00002.mz"]


def test_decompress_to_pngs_with_force_rewrites_its_files_and_keeps_others(compressed):
    root, _ = compressed
    out_dir = root / "pngs-again"
    shard = str(root / "one" / "d-00003-of-00004.mz")
    assert run("decompress", "--input", shard, "--output", str(out_dir), "--format", "png",
               "--direct_num_workers=1")[0] == 0
    mine = out_dir / "d-00003-of-00004" / "mine.txt"
    mine.write_text("keep me")
    (out_dir / "d-00003-of-00004" / "digit-00.png").write_bytes(b"damaged")
    status, out, err = run("decompress", "--input", shard, "--output", str(out_dir), "--format", "png", "--force",
                           "--direct_num_workers=1")
    assert (status, err) == (0, "")
    assert mine.read_text() == "keep me"
    assert Image.open(out_dir / "d-00003-of-00004" / "digit-00.png").size == (28, 28)


def test_a_bad_reference_in_a_pipeline_of_ones_own_is_a_dead_letter(tmp_path):
    import apache_beam as beam

    with beam.Pipeline() as p:
        result = p | pipeline.CompressDigits(["mnist:test:0-1", "mnist:test:99999"], str(tmp_path / "d"))
        result["dead_letter"] | beam.Map(lambda d: d.error) | beam.io.WriteToText(str(tmp_path / "dead"))
    assert (tmp_path / "dead-00000-of-00001").read_text() == (
        "MNIST index 99999 out of range: the test split has 10000 digits (0-9999)\n")
