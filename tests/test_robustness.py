"""Hostile files, bad inputs, interruptions, determinism and concurrency: the fast slices.

The full runs (100,000 fuzzed files, every bit flip of 100 files, the bad-input
table) are in benchmarks/robustness.py.
"""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnistzip import container, fuzz, images, mnist
from mnistzip.errors import ExitStatus, MnistzipError

pytestmark = pytest.mark.user_data  # (conftest.py) never skipped where mnistzip runs

MNISTZIP = [sys.executable, "-m", "mnistzip"]


@pytest.fixture(scope="module")
def samples(tiny_codec, mnist_dir):
    """A one-digit and a many-digit file made with the tiny model."""
    digits = mnist.images("test", mnist_dir)
    return [container.dumps(tiny_codec.compress(digits[i : i + n])) for i, n in ((0, 1), (1, 40))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_files_raise_only_mnistzip_errors(tiny_codec, samples, data):
    blob = data.draw(st.sampled_from(samples))
    kind = data.draw(st.sampled_from(fuzz.MUTATIONS))
    blob = fuzz.mutate(blob, random.Random(data.draw(st.integers(0, 2**32))), samples, kind)
    started = time.perf_counter()
    try:
        out = fuzz.decode(tiny_codec, blob)
        assert kind in ("recrc", "multi", "splice") and out.dtype == np.uint8  # damage the CRC did not see
    except MnistzipError:
        pass
    assert time.perf_counter() - started < 1.0


def test_a_byte_mutation_always_changes_the_file(samples):
    """A "byte" mutation that wrote a byte's own value back left the file whole, and the fuzz test above, rightly
    expecting an error for any damage the CRC sees, failed on it (seed 1432491 of the 40-digit sample)."""
    for blob in samples:
        assert all(fuzz.mutate(blob, random.Random(seed), samples, "byte") != blob for seed in range(3000))


def test_every_single_bit_flip_is_reported(tiny_codec, samples):
    outcomes = [fuzz.reported(tiny_codec, bad) for blob in samples for bad in fuzz.single_bit_flips(blob)]
    assert all(outcomes) and len(outcomes) > 1000


def test_crafted_huge_count_allocates_nothing(tiny_codec):
    blob = fuzz.with_crc(b"\x89Z\x01" + bytes.fromhex(tiny_codec.id) + b"\x80\x80\x40" + bytes(16))  # 2**20 digits
    with pytest.raises(MnistzipError, match="payload too short: 1048576 digits need at least"):
        fuzz.decode(tiny_codec, blob)


# --------------------------------------------------------------------------- bad inputs through the CLI


def _png(path, mode="L", size=(28, 28), **save):
    rng = np.random.default_rng(0)
    arr = np.zeros(size[::-1], np.uint8)
    arr[size[1] // 4 : 3 * size[1] // 4, size[0] // 3 : 2 * size[0] // 3] = 255
    img = Image.fromarray(arr)
    if mode != "L":
        img = img.convert(mode)
    img.save(path, **save)
    return rng


def _bomb(path):
    """A small PNG whose header claims 10000 x 10000 pixels."""
    import struct
    import zlib

    _png(path)
    blob = bytearray(Path(path).read_bytes())
    blob[16:24] = struct.pack(">II", 10000, 10000)
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
    Path(path).write_bytes(bytes(blob))


BAD_INPUTS = [
    ("empty file", lambda: Path("x.png").write_bytes(b""), ["x.png"], "x.png: not a PNG, JPEG, WebP, BMP, GIF or TIFF image"),
    ("directory of no images", lambda: Path("d").mkdir(), ["d"],
     "d: directory holds no image files (.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp)"),
    ("text file", lambda: Path("x.png").write_text("hello"), ["x.png"], "x.png: not a PNG, JPEG, WebP, BMP, GIF or TIFF image"),
    ("truncated PNG", lambda: (_png("t.png"), Path("t.png").write_bytes(Path("t.png").read_bytes()[:60])),
     ["t.png"], None),
    ("1x1 image", lambda: _png("x.png", size=(1, 1)), ["x.png"], "x.png: image is 1x1; expected at least 8x8 pixels"),
    ("decompression bomb", lambda: _bomb("b.png"), ["b.png"], "b.png: image is 10000x10000 pixels; mnistzip reads at most 50,000,000 pixels"),
    ("MNIST index out of range", lambda: None, ["mnist:train:60000"],
     "MNIST index 60000 out of range: the train split has 60000 digits (0-59999)"),
]


@pytest.mark.parametrize("name, make, args, message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_one_line_no_output(cli, tiny_model, name, make, args, message):
    make()
    r = cli("compress", *args, "-o", "out.mz", "-m", tiny_model)
    assert r.exit_code == ExitStatus.BAD_INPUT, r.output
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    if message:
        assert line == f"mnistzip: error: {message}"
    else:
        assert line.startswith("mnistzip: error: t.png: cannot decode image")
    assert not Path("out.mz").exists()


@pytest.mark.parametrize("mode, save", [("I;16", {}), ("P", {}), ("CMYK", {"format": "JPEG"}), ("RGBA", {})])
def test_unusual_image_modes_compress(cli, tiny_model, mode, save):
    name = "x.jpg" if save.get("format") == "JPEG" else "x.png"
    _png(name, mode=mode, size=(40, 56), **save)
    r = cli("compress", name, "-o", "out.mz", "-m", tiny_model)
    assert r.exit_code == 0, r.output
    assert container.read("out.mz").count == 1


def test_animated_image_uses_first_frame_and_says_so(cli, tiny_model):
    frames = [Image.fromarray(np.full((28, 28), v, np.uint8)) for v in (0, 200)]
    frames[0].putpixel((10, 10), 255)
    frames[0].save("a.gif", save_all=True, append_images=frames[1:])
    digit = images.load_image("a.gif", invert=False)
    assert digit[10, 10] == 255 and digit[0, 0] == 0
    r = cli("compress", "a.gif", "-o", "a.mz", "-m", tiny_model)
    assert r.exit_code == 0
    assert r.stderr.strip() == "mnistzip: note: a.gif: several frames; the first is used"


def test_malformed_data_dir(cli, tmp_path):
    bad = tmp_path / "mnist"
    bad.mkdir()
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 12))
    r = cli("compress", "mnist:test:0", "-o", "x.mz", "--data-dir", bad)
    assert r.exit_code == ExitStatus.DATA
    assert r.stderr.strip() == "mnistzip: error: t10k-images-idx3-ubyte.gz: expected IDX image magic 2051, found 2049"


def test_refuses_to_replace_a_device(cli, tiny_model):
    r = cli("compress", "mnist:test:0", "-o", "/dev/null", "--force", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert r.stderr.strip() == "mnistzip: error: /dev/null is a system file; mnistzip writes none (-o - writes to standard output)"
    assert Path("/dev/null").is_char_device()


@pytest.fixture
def tiny_fs(tmp_path):
    """A 16 KiB tmpfs (needs root; skipped elsewhere)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_filesystem_leaves_nothing(cli, tiny_model, tiny_fs):
    (tiny_fs / "filler").write_bytes(b"\x00" * 12 * 1024)
    r = cli("decompress", _archive(cli, tiny_model), "-o", tiny_fs / "all.npy", "-m", tiny_model)
    assert r.exit_code == ExitStatus.OUTPUT
    assert r.stderr.strip() == f"mnistzip: error: {tiny_fs / 'all.npy'}: cannot write (No space left on device)"
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["filler"]


def _archive(cli, tiny_model) -> str:
    assert cli("compress", "mnist:test:0-99", "-o", "hundred.mz", "-m", tiny_model).exit_code == 0
    return "hundred.mz"


# --------------------------------------------------------------------------- processes: determinism, signals, races


def _default_sigint():
    """Let Ctrl-C reach the child even when the test run itself was started in the background
    (a shell's ``cmd &`` ignores SIGINT, the child would inherit that, and never see the signal)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(args, cwd, **kw):
    env = dict(os.environ, MNISTZIP_MODELS_DIR=os.environ.get("MNISTZIP_MODELS_DIR", ""))
    return subprocess.run([*MNISTZIP, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env, **kw)


def test_same_input_same_bytes_across_processes(tmp_path, tiny_model):
    for name in ("a.mz", "b.mz"):
        assert _run(["compress", "mnist:test:0-499", "-o", name, "-m", tiny_model], tmp_path).returncode == 0
    assert (tmp_path / "a.mz").read_bytes() == (tmp_path / "b.mz").read_bytes()
    for name in ("a.npy", "b.npy"):
        assert _run(["decompress", "a.mz", "-o", name, "-m", tiny_model], tmp_path).returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_killed_compress_leaves_no_partial_file(tmp_path, tiny_model, sig):
    """Killed at any of several moments, compress leaves the whole file or none; the kill must land mid-run at
    least once, or the test would have tested nothing."""
    landed = 0
    for delay in (0.3, 0.8, 1.5, 2.5, 4.0):
        out = tmp_path / "all.mz"
        proc = subprocess.Popen([*MNISTZIP, "compress", "mnist:test", "mnist:test", "-o", str(out), "-m",
                                 str(tiny_model), "-f"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=_default_sigint)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if out.exists():  # it finished first: then the file is whole
            assert container.read(out).count == 20000
            out.unlink()
        else:
            landed += 1
            assert proc.returncode in (ExitStatus.INTERRUPTED, -sig), (delay, err.decode())
        if sig != signal.SIGKILL:
            assert not list(tmp_path.glob(".all.mz*"))  # temp files cleaned up
    assert landed


def test_ctrl_c_while_the_command_line_loads_is_one_line(tmp_path):
    """A SIGINT in the first few tenths of a second lands while Typer and Rich import: the same line, no traceback."""
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mnistzip.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from mnistzip.__main__ import main\n"
        "main()\n"
    )
    r = subprocess.run([sys.executable, "-c", code, "models"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == ExitStatus.INTERRUPTED
    assert r.stderr == "mnistzip: error: interrupted\n"


def test_two_writers_never_corrupt(tmp_path, tiny_model):
    procs = [
        subprocess.Popen([*MNISTZIP, "compress", f"mnist:test:{i * 100}-{i * 100 + 99}", "-o", "same.mz", "-f",
                          "-m", str(tiny_model)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(2)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert container.read(tmp_path / "same.mz").count == 100
    assert not list(tmp_path.glob(".same.mz*"))


# Long enough (about 2 s an epoch) that the signal, sent half a second after epoch 1 ends, lands mid-run.
TRAIN = ["train", "--lmbda", "500", "--epochs", "4", "--steps-per-epoch", "40", "--train-limit", "5120",
         "--test-limit", "300", "-o", "m"]


@pytest.mark.train
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_train_resumes_to_the_same_figures(tmp_path, sig):
    proc = subprocess.Popen([*MNISTZIP, *TRAIN], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    history = tmp_path / "m.training" / "history.json"
    deadline = time.time() + 120
    while not history.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert not (tmp_path / "m").exists()
    if sig == signal.SIGINT:
        assert proc.returncode == ExitStatus.INTERRUPTED
        assert err.decode().strip().endswith("rerun the same command with --resume")
    resumed = _run([*TRAIN, "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    straight = _run([*TRAIN[:-1], "straight"], tmp_path)
    assert straight.returncode == 0, straight.stderr
    import json

    a, b = (json.loads((tmp_path / name / "model.json").read_text())["levels"][0]["test"] for name in ("m", "straight"))
    assert [h["epoch"] for h in json.loads((tmp_path / "m" / "history.json").read_text())] == [1, 2, 3, 4]
    assert a["psnr_of_mean_mse"] == pytest.approx(b["psnr_of_mean_mse"], abs=0.5)
    assert a["bits_entropy"] == pytest.approx(b["bits_entropy"], rel=0.1)


def test_payload_that_spins_tfcs_range_decoder_is_refused_at_once(tmp_path):
    """A CRC-valid file on which TFC's decoder never ends (made by tests/data/make_decoder_spin.py): the
    runtime's escape decoder stops at the 32nd zero."""
    sample = Path(__file__).parent / "data" / "decoder-spin.mz"
    started = time.perf_counter()
    r = _run(["decompress", sample, "-o", tmp_path / "x.png"], tmp_path, timeout=120)
    assert r.returncode == ExitStatus.BAD_FILE
    assert r.stderr.strip() == "mnistzip: error: payload does not decode: the range-coded stream is corrupt"
    assert not (tmp_path / "x.png").exists()
    assert time.perf_counter() - started < 30


@pytest.mark.train
def test_payload_that_spins_tfcs_range_decoder_is_cut_off_on_the_tensorflow_engine(tmp_path, monkeypatch):
    """On the TensorFlow engine, TFC's decoder spins: a deadline on its progress cuts it off."""
    monkeypatch.setenv("MNISTZIP_ENGINE", "tf")
    sample = Path(__file__).parent / "data" / "decoder-spin.mz"
    r = _run(["decompress", sample, "-o", tmp_path / "x.png"], tmp_path, timeout=120)
    assert r.returncode == ExitStatus.BAD_FILE
    assert r.stderr.strip() == (
        "mnistzip: error: payload does not decode in 2.1 s: the range-coded stream is corrupt"
    )
    assert not (tmp_path / "x.png").exists()


def test_a_killed_folder_output_is_cleaned_up_by_the_next_run(tmp_path, tiny_model):
    """A SIGKILL during a folder output left a hidden .NAME.XXXX.tmp/ of PNGs that nothing removed. 30,000 PNGs
    take seconds to write: the kill lands once the first hundred are there."""
    assert _run(["compress", *["mnist:test"] * 3, "--fast", "-o", "all.mz", "-m", tiny_model], tmp_path).returncode == 0
    proc = subprocess.Popen([*MNISTZIP, "decompress", "all.mz", "-o", "digits", "-m", str(tiny_model)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, partial = time.time() + 120, []
    while time.time() < deadline and proc.poll() is None:
        partial = list(tmp_path.glob(".digits.*.tmp"))
        if partial and len(os.listdir(partial[0])) > 100:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert partial and partial[0].exists() and not (tmp_path / "digits").exists()  # the kill landed: what it left
    r = _run(["decompress", "all.mz", "-o", "digits", "-m", tiny_model], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.glob(".digits.*")) and len(os.listdir(tmp_path / "digits")) == 30000


@pytest.mark.train
def test_a_decoder_held_by_spinning_streams_says_so(tmp_path):
    """TFC's decoder cannot be stopped: after two spinning streams its threads are held, and a good file then
    timed out as 'corrupt'. In one process (the library's use, not the CLI's) the error now says what happened."""
    code = (
        "from mnistzip import container, zoo\n"
        "from mnistzip.codec import Codec\n"
        "from mnistzip.errors import BadMzFile\n"
        f"spin = container.read({str(Path(__file__).parent / 'data' / 'decoder-spin.mz')!r})\n"
        f"good = container.read({str(Path(__file__).parent / 'data' / 'golden' / 'class-300-520-level1.mz')!r})\n"
        "native = zoo.for_file(spin.model_id, None)\n"
        "codec = Codec.open(native.card, level=native.level.number, engine='tf')\n"
        "for mz in (good, spin, spin, good):\n"
        "    try:\n"
        "        codec.decompress(mz); print('ok')\n"
        "    except BadMzFile as e:\n"
        "        print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    lines = r.stdout.splitlines()
    assert lines[:2] == ["ok", "payload does not decode in 2.1 s: the range-coded stream is corrupt"], r.stderr
    assert all(line.endswith("still hold the decoder (TensorFlow cannot stop them): decode it in a new process")
               for line in lines[2:] if line != "ok") and len(lines) == 4
