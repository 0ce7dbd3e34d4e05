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
        assert row["symbols_same"] >= 0.9
        assert row["cross_ok"] is True and row["max_pixel"] <= 1
    cond = rows[3]
    assert cond["bins_same"] == 1.0 and cond["mirror_exact"] is True
    assert 0 < cond["min_bin_distance"] <= 0.5
    assert cond["scale_rel"] is not None and cond["scale_rel"] < 1e-12  # summation order alone


def test_cli_speed_small_run(tmp_path):
    """benchmarks/cli_speed.py, once per case on 50 digits: every case runs and reports a time and a peak RSS."""
    import json

    script = next(p for p in BENCHMARKS if p.stem == "cli_speed")
    out = tmp_path / "speed.json"
    r = subprocess.run([sys.executable, str(script), "--repeat", "1", "--split", "mnist:test:0-49", "--engines", "numpy",
                        "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(out.read_text())
    cases = [row["case"] for row in result["runs"]]
    assert cases == ["--help", "compress one digit", "decompress one digit", "compress mnist:test:0-49",
                     "decompress mnist:test:0-49 (.npy)"]
    assert all(row["seconds"] > 0 and row["peak_rss_mb"] > 0 for row in result["runs"])
    assert result["runs"][3]["digits_per_s"] > 0
    assert 0 < result["environment"]["mb_without_models"] < result["environment"]["mb"]
