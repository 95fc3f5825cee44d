"""Shared fixtures.

``mnist`` loads the real data once per test session through nndl's own
loader: the ``NNDL_DATA`` file when set (``make test`` points it at a local
verified copy when one exists), else the cache, else a verified download.
"""

import os

import numpy as np
import pytest

from nndl.data import Dataset


@pytest.fixture(scope="session")
def mnist_file(tmp_path_factory):
    """A verified path to the book's mnist.pkl.gz: $NNDL_DATA, else fetched
    into an empty cache the way a user's first run fetches it."""
    from nndl.data import fetch_mnist
    path = fetch_mnist(cache_dir=None if os.environ.get("NNDL_DATA")
                       else tmp_path_factory.mktemp("fresh-cache"), quiet=True)
    if not str(path).endswith(".pkl.gz"):
        pytest.fail(f"expected the book's mnist.pkl.gz from the fetch chain, got {path}")
    return path


@pytest.fixture(scope="session")
def mnist():
    from nndl.data import load_mnist
    return load_mnist(quiet=True)


@pytest.fixture
def tiny_data():
    """A small, learnable 3-class problem: 60 points of 4 features."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    centres = rng.normal(size=(3, 4))
    images = (centres[labels] + 0.3 * rng.normal(size=(60, 4))).astype(np.float32)
    images = 1 / (1 + np.exp(-images))
    return Dataset(images.astype(np.float32), labels)


def assert_resumes_bit_for_bit(checkpointed, tmp_path, epochs, stop_after=2):
    """``checkpointed(directory, epochs, stop_after=None, resume=False)`` trains
    with a Checkpoint in ``directory`` and returns (network, momentum
    optimiser): a run stopped after ``stop_after`` epochs and resumed must end
    with exactly the weights, biases and velocities of the run never stopped."""
    whole_net, whole_opt = checkpointed(tmp_path / "whole", epochs)
    checkpointed(tmp_path / "ck", epochs, stop_after=stop_after)
    net, opt = checkpointed(tmp_path / "ck", epochs, resume=True)
    for a, b in zip(whole_net.weights + whole_net.biases + whole_opt.velocities,
                    net.weights + net.biases + opt.velocities):
        np.testing.assert_array_equal(a, b)
