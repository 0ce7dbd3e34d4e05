"""mnistzip.fileio: the rules every output follows (see its docstring), on plain files."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mnistzip import fileio
from mnistzip.errors import InputError, OutputError

pytestmark = pytest.mark.user_data  # (conftest.py) never skipped where mnistzip runs


def leftover(parent: Path, name: str, pid: int, directory: bool = False, host: str | None = None) -> Path:
    """A temporary as a killed mnistzip run would leave it for output ``name``."""
    host = host or socket.gethostname()
    path = parent / f".{name}.{fileio.TEMP_TAG}-{host}-{pid}-abc_12xy{fileio.TEMP_SUFFIX}"
    if directory:
        path.mkdir()
        for i in range(3):
            (path / f"digit-{i}.png").write_bytes(b"png")
    else:
        path.write_bytes(b"partial")
    return path


def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_force_replaces_a_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists; pass --force to overwrite it"):
        fileio.write_atomic(target, b"new")
    fileio.write_atomic(target, b"new", force=True)
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("directory", [False, True])
def test_force_never_replaces_a_folder(tmp_path, directory):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    with pytest.raises(OutputError, match=r"mine is a folder; mnistzip never replaces a folder \(remove it or choose"):
        with fileio.atomic_output(folder, force=True, directory=directory) as tmp:
            (tmp if directory else tmp).touch()
    assert (folder / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left either


def test_a_folder_output_needs_a_new_name(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(OutputError, match="out already exists; a folder output needs a name that does not exist"):
        fileio.check_writable(tmp_path / "out", force=True, directory=True)


def test_force_replaces_a_folder_only_when_it_proves_mnistzip_wrote_it(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    with fileio.atomic_output(folder, force=True, directory=True, replaceable=lambda p: True) as tmp:
        (tmp / "new").write_text("x")
    assert [p.name for p in folder.iterdir()] == ["new"]


@pytest.mark.parametrize("link", ["same", "hard", "symbolic"])
def test_an_output_that_is_an_input_is_refused_even_with_force(tmp_path, link):
    source = tmp_path / "d.png"
    source.write_bytes(b"digit")
    output = {"same": source, "hard": tmp_path / "h.png", "symbolic": tmp_path / "s.png"}[link]
    if link == "hard":
        os.link(source, output)
    elif link == "symbolic":
        output.symlink_to(source)
    with pytest.raises(OutputError, match="is also an input; mnistzip never writes over its input"):
        fileio.write_atomic(output, b"archive", force=True, inputs=[source])
    assert source.read_bytes() == b"digit"


def test_the_destination_is_checked_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="directory .*nope does not exist"):
        fileio.check_writable(tmp_path / "nope" / "x.mz", force=False)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere: the folder is as a user would find it
        real = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **k: Path(path) != locked and real(path, mode, **k))
    with pytest.raises(OutputError, match="cannot write in directory"):
        fileio.check_writable(locked / "x.mz", force=False)


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    pid = dead_pid()
    stale_file = leftover(tmp_path, "out.mz", pid)
    other_name = leftover(tmp_path, "other.mz", pid)  # another destination's: not this run's business
    fileio.write_atomic(tmp_path / "out.mz", b"archive")
    assert not stale_file.exists() and other_name.exists()
    stale_folder = leftover(tmp_path, "digits", pid, directory=True)
    with fileio.atomic_output(tmp_path / "digits", directory=True) as tmp:
        (tmp / "digit-0.png").write_bytes(b"png")
    assert not stale_folder.exists() and (tmp_path / "digits" / "digit-0.png").exists()


def test_leftovers_that_are_not_provably_ours_stay(tmp_path):
    pid = dead_pid()
    running = leftover(tmp_path, "out.mz", os.getppid())  # its process still runs
    elsewhere = leftover(tmp_path, "out.mz", pid, host="another-host")
    folder = leftover(tmp_path, "out.mz", pid + 1 if pid + 1 != os.getpid() else pid + 2, directory=True)
    (folder / "notes.txt").write_text("not a digit")  # a folder output holds PNGs only
    fileio.remove_leftovers(tmp_path / "out.mz")
    assert running.exists() and elsewhere.exists() and folder.exists()


class _Stream(io.BytesIO):
    def __init__(self, data: bytes = b"", tty: bool = False):
        super().__init__(data)
        self.buffer, self._tty = self, tty

    def isatty(self):
        return self._tty


def test_binary_output_to_a_terminal_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "stdout", _Stream(tty=True))
    with pytest.raises(OutputError, match=r"^refusing to write binary data to a terminal; redirect it"):
        fileio.stdout_binary()


def test_standard_input_is_read_with_a_bound(monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stream(b"x" * 11))
    with pytest.raises(InputError, match="standard input holds over 10 bytes; an .mz file is never that large"):
        fileio.read_stdin(10, "an .mz file")
    monkeypatch.setattr(sys, "stdin", _Stream(b"abc", tty=True))
    with pytest.raises(InputError, match="^standard input is a terminal; pipe an .mz file into mnistzip$"):
        fileio.read_stdin(10, "an .mz file")


def test_a_leftover_that_is_an_input_or_of_another_kind_stays(tmp_path):
    """The cleanup deleted an input named like a temporary, and a folder of PNGs beside a file output."""
    pid = dead_pid()
    as_input = leftover(tmp_path, "x.png", pid)
    fileio.write_atomic(tmp_path / "x.png", b"digits", inputs=[as_input])
    assert as_input.exists()
    folder = leftover(tmp_path, "o.mz", pid, directory=True)  # a file output never leaves a folder
    fileio.write_atomic(tmp_path / "o.mz", b"archive")
    assert folder.exists()
    folder_input = leftover(tmp_path, "digits", pid, directory=True)
    with fileio.atomic_output(tmp_path / "digits", directory=True, inputs=[folder_input / "digit-0.png"]) as tmp:
        (tmp / "digit-0.png").write_bytes(b"png")
    assert folder_input.exists()


@pytest.mark.parametrize("path", ["/dev/stdout", "/dev/null", "/proc/self/fd/1"])
def test_system_files_are_never_outputs(path):
    """`-o /dev/stdout --force` replaced the /dev/stdout link itself (as root, with stdout redirected to a file)."""
    with pytest.raises(OutputError, match=f"^{path} is a system file; mnistzip writes none"):
        fileio.check_writable(path, force=True)


def test_names_too_long_are_refused_before_any_work(tmp_path):
    with pytest.raises(OutputError, match=r"cannot write \(File name too long\)"):
        fileio.check_writable(tmp_path / ("a" * 300 + ".mz"), force=False)
    with pytest.raises(OutputError, match=r"name too long \(mnistzip writes it first as"):
        fileio.check_writable(tmp_path / ("b" * 245 + ".mz"), force=False)  # legal, but not its temporary
