"""The README's first screen: its set-up block works on a fresh install with no MNIST folder, prints what the README
shows, and is the block CI runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / ".ci"))
from readme_block import block  # noqa: E402


def test_ci_runs_the_readme_blocks_as_they_are_written():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'setup=$(python3 .ci/readme_block.py setup)' in ci and 'bash -euxo pipefail -c "$setup"' in ci
    assert 'bash -euxo pipefail -c "$(python3 .ci/readme_block.py tests)"' in ci
    assert "unset MNISTZIP_DATA_DIR" in ci and "PYENV_VERSION=3.13.0" in ci
    setup = block("setup", README)
    assert "pip install .\n" in setup and "mnistzip compress" in setup and "MNISTZIP" not in setup


def test_the_set_up_commands_work_offline_and_print_what_the_readme_shows(tmp_path):
    """Each mnistzip command of the set-up block, run as the installed command would run, with no data folder and
    no TFDS: it exits 0, and prints the line the README shows beneath the block."""
    commands = [shlex.split(line) for line in block("setup", README).splitlines() if "bin/mnistzip" in line]
    shown = re.search(r"```sh\n.*?```\s*```\n(.*?)```", README[README.index("<!-- setup"):], re.S).group(1)
    env = {k: v for k, v in __import__("os").environ.items() if k != "MNISTZIP_DATA_DIR"}
    printed = []
    for command in commands:
        run = subprocess.run([sys.executable, "-m", "mnistzip", *command[1:]], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        printed.append(run.stdout)
    assert "".join(printed) == shown
    assert (tmp_path / "seven.mz").stat().st_size == 14


def test_the_readme_picture_is_there_and_named_by_its_command():
    picture = re.search(r"!\[[^]]*\]\((docs/[\w.-]+\.png)\)", README).group(1)
    assert (ROOT / picture).is_file()
    assert f"--grid {picture}" in " ".join(README.split())
