"""Helpers shared by the reliability tests: a tiny IDX dataset and a way to
run the command line in a child process that SIGKILLs itself at a chosen
moment (a real ``kill -9``: no cleanup code runs)."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from nndl.data import write_idx

KILLED_RUN = Path(__file__).with_name("killed_run.py")


def make_idx_dir(directory, n_train=300, n_test=60, seed=0):
    """Write a small MNIST-format dataset: 8x8 'images' whose label (0-3) is
    the bright quarter.  With --validation-size 50 it has 250 training images."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = rng.integers(0, 4, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 8, 8)).astype(np.uint8)
        for i, j in enumerate(labels):
            r, c = divmod(int(j), 2)
            images[i, r * 4:(r + 1) * 4, c * 4:(c + 1) * 4] += 200
        return images, labels
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stem, (x, y) in (("train", make(n_train)), ("t10k", make(n_test))):
        write_idx(directory / f"{stem}-images-idx3-ubyte", x)
        write_idx(directory / f"{stem}-labels-idx1-ubyte", y)
    return directory


def run_killed(mode, n, argv, timeout=60):
    """Run ``nndl argv`` in a child that SIGKILLs itself (see killed_run.py);
    return the CompletedProcess."""
    return subprocess.run([sys.executable, str(KILLED_RUN), mode, str(n), *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)
