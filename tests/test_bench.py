"""Smoke test of the benchmark: it runs end to end and prints ratios.

No timing is asserted (timings belong to benchmarks/bench.py, not tests).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np

from nndl.engines import gemm

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
    for row in ("plain SGD", "momentum 0.9", "Nesterov 0.9", "dropout 0.5 (hidden)", "max-norm 3",
                "L1 5.0", "Adam (eta 0.001)", "RMSProp (eta 0.001)", "AdaGrad (eta 0.01)",
                "elastic expansion, fresh each epoch",
                "best preset's step over the plain BLAS epoch"):
        assert row in text
    assert "techniques on [784,30,10] mini-batch 10" in text
    assert "techniques on [784,40,40,10] ReLU/softmax mini-batch 100" in text
    assert text.count("[blas]") >= 10          # the engine that ran each technique is named
    expansion = [line for line in text.splitlines() if "elastic expansion, fresh" in line]
    assert "[numba]" in expansion[0] and "[blas]" in expansion[1]   # mini-batch 10, then 100
    fused = gemm.fused_update(np.float32) is not None
    assert ("blas engine's weight update: one gemm call" in text) == fused


def test_fused_update_benchmark_runs_and_compares_both_updates(mnist):
    script = BENCH.parent / "fused_update.py"
    out = subprocess.run([sys.executable, str(script), "--sizes", "784,40,10", "--images", "300",
                          "--trials", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for row in ("gemm update", "NumPy update", "its W -= g", "BLAS floor", "over the floor:"):
        assert row in out.stdout
