"""Smoke test of the benchmark: it runs end to end and prints ratios.

No timing is asserted (timings belong to benchmarks/bench.py, not tests).
"""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_bench_smoke_prints_every_table_with_ratios():
    out = subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for title in ("[784,30,10], mini-batch 10", "[784,100,10], mini-batch 10",
                  "[784, 40, 10], mini-batch 100", "BLAS floor", "accuracy of [784,30,10]"):
        assert title in text
    assert text.count("ratio") >= 8
    assert "nndl [numba]" in text and "book per-example" in text
    assert "nndl / BLAS floor:" in text
