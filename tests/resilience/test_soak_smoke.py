"""The soak script's smoke mode (bench/soak.py --smoke: 5 people for 20 s against the whole
system it starts) completes with no error, every step measured and every queue drained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_smoke_has_no_error_and_drains():
    result = subprocess.run([sys.executable, "bench/soak.py", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                            timeout=240)
    report = result.stdout
    assert result.returncode == 0, report + result.stderr[-3000:]
    assert "errors: 0" in report
    for step in ("activation", "verify", "login", "listing", "download", "logout"):
        line = next(line for line in report.splitlines() if line.startswith(f"| {step} |"))
        assert int(line.split("|")[2]) > 0, line
    assert "left at the end (must be 0): " in report
    left = report.split("left at the end (must be 0): ")[1].splitlines()[0]
    assert all(part.rsplit(" ", 1)[1] == "0" for part in left.split(", ")), left
