"""Soak: 200 cycles of train, save, load and evaluate must not grow memory."""

import gc

import numpy as np

from nndl.divergence import DivergenceCheck
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.persistence import load, save
from nndl.regularization import L2
from nndl.training import Monitor, train


def rss_bytes():
    """Resident memory of this process, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_train_save_load_evaluate_200_cycles_without_growth(tiny_data, tmp_path):
    path = tmp_path / "m.json"

    def cycle(i):
        net = Network([4, 16, 3], seed=i)
        train(net, tiny_data, 2, 10, SGD(0.5), regularization=L2(0.1), evaluation=tiny_data,
              callbacks=[Monitor(evaluation_accuracy=True, evaluation_cost=True), DivergenceCheck()])
        save(net, path)
        back = load(path)
        assert back.accuracy(tiny_data.images, tiny_data.labels) == net.accuracy(
            tiny_data.images, tiny_data.labels)
        return back.total_cost(tiny_data.images, tiny_data.labels)

    for i in range(20):                         # warm-up: imports, caches, allocator pools
        cycle(i)
    gc.collect()
    start = rss_bytes()
    costs = [cycle(i) for i in range(200)]
    gc.collect()
    growth = rss_bytes() - start
    assert np.isfinite(costs).all()
    assert growth < 10 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 200 cycles"
