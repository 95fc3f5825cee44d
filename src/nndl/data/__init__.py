"""nndl.data
~~~~~~~~~

The data the networks learn from: MNIST split as in the book (50,000
training, 10,000 validation, 10,000 test images), fetched, verified and
cached (:mod:`~nndl.data.fetch`), or read from IDX files
(:mod:`~nndl.data.idx`) or a pickle in the book's format, which is never
unpickled with plain ``pickle`` (:mod:`~nndl.data.safe_pickle`).
"""

from nndl.data.dataset import Dataset, Splits
from nndl.data.fetch import MNIST_SHA256, MNIST_SIZE, fetch_mnist
from nndl.data.idx import load_idx_dir, read_idx, write_idx
from nndl.data.mnist import load_dataset, load_mnist, load_pickle

__all__ = [
    "Dataset",
    "Splits",
    "MNIST_SHA256",
    "MNIST_SIZE",
    "fetch_mnist",
    "load_dataset",
    "load_idx_dir",
    "load_mnist",
    "load_pickle",
    "read_idx",
    "write_idx",
]
