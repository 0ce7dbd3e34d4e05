"""Every script in benchmarks/ runs: its --help, and a small run of the robustness benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:")


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
