"""mnist
~~~~~

Loading MNIST the way the book splits it: 50,000 training, 10,000
validation and 10,000 test images, pixels float32 value/256.

:func:`load_mnist` gets a verified file from :func:`~nndl.data.fetch.fetch_mnist`.
Decompressing and unpickling the book's 220 MB pickle takes about a second,
so after the first verified load the arrays are also stored, uncompressed, as
``<cache>/mnist-<digest>.npz`` (written atomically, read with
``allow_pickle=False``, and checked against the digest of the book's arrays
on every load).  Later loads read that instead, several times faster.  Delete
the cache directory to undo.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from nndl.data.dataset import Dataset, Splits, load_npz, save_npz
from nndl.data.fetch import MNIST, MNIST_SHA256, MNIST_SIZE, cache_dir_path, fetch, verify_file
from nndl.data.idx import load_idx_dir
from nndl.data.safe_pickle import safe_load
from nndl.errors import ChecksumError, DataError


def load_pickle(path: str | os.PathLike) -> Splits:
    """Load a ``.pkl.gz`` in the book's format: a pickled tuple of three
    ``(images, labels)`` pairs of numpy arrays.

    The pickle goes through :class:`~nndl.data.safe_pickle.RestrictedUnpickler`,
    so a file that names anything other than numpy's array machinery is
    refused instead of run.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            obj = safe_load(f)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3
            and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in obj)):
        raise DataError(f"{path}: expected a tuple of three (images, labels) pairs like the book's mnist.pkl.gz")
    sets = []
    for name, (images, labels) in zip(("training", "validation", "test"), obj):
        if not (isinstance(images, np.ndarray) and isinstance(labels, np.ndarray)):
            raise DataError(f"{path}: {name} set is not a pair of numpy arrays")
        try:
            sets.append(Dataset(images, labels))
        except DataError as e:
            raise DataError(f"{path}: {name} set: {e}") from None
    return Splits(*sets)


def load_mnist(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
               sources=None, quiet: bool = False) -> Splits:
    """Return the book's MNIST split, fetching and caching it if needed.

    ``path`` (or ``$NNDL_DATA``) names a copy of the book's ``mnist.pkl.gz``
    to use; otherwise the cache and then the network are tried, as described
    in :mod:`nndl.data.fetch`.  Whatever the source, the arrays are identical
    to the book's and have been verified by SHA-256.
    """
    found, splits = fetch(path, cache_dir=cache_dir, sources=sources, quiet=quiet)
    if splits is not None:
        return splits
    npz = cache_dir_path(cache_dir) / MNIST.npz_name
    if npz.is_file():
        try:
            splits = load_npz(npz)
            if splits.sha256() == MNIST.arrays_sha256:
                return splits
        except DataError:
            pass
        npz.unlink(missing_ok=True)
    splits = load_pickle(found)
    if splits.sha256() != MNIST.arrays_sha256:  # cannot happen for a file whose SHA-256 matched
        raise ChecksumError(f"{found}: arrays differ from the book's")
    try:
        npz.parent.mkdir(parents=True, exist_ok=True)
        save_npz(npz, splits)
    except OSError:
        pass  # a read-only cache only costs speed
    return splits


_SPECS = ("expected 'mnist', 'idx:DIR', a directory of IDX files, a .pkl.gz file in the book's "
          "format, or a .npz file (as written by 'nndl expand')")


def load_dataset(spec: str | os.PathLike | None = None, *,
                 validation_size: int | None = None) -> Splits:
    """Load the data set named by ``spec``, as the command line's ``--data`` does.

    ``None`` or ``"mnist"``: :func:`load_mnist`.  ``"idx:DIR"`` or a
    directory: :func:`~nndl.data.idx.load_idx_dir`, with ``validation_size``
    images carved from the end of the training set.  A ``.pkl.gz`` file:
    loaded in the book's format through the restricted unpickler; a file the
    size of the book's must also have its SHA-256 (and is then loaded, and
    cached, as MNIST).  A ``.npz`` file: the six arrays of
    :func:`~nndl.data.dataset.save_npz`, as ``nndl expand`` writes them.

    ``validation_size`` (default 10000, as the book) chooses the split of
    IDX data only: MNIST, a ``.pkl.gz`` and a ``.npz`` come with their own
    validation set, and a different size for them is refused
    (``DataError``) rather than silently ignored.
    """
    text = "mnist" if spec is None else os.fspath(spec)
    if text.startswith("idx:") or (text != "mnist" and Path(text).is_dir()):
        directory = text[4:] if text.startswith("idx:") else text
        return load_idx_dir(directory, 10000 if validation_size is None else validation_size)
    splits = _load_split(text)
    if validation_size is not None and validation_size != len(splits.validation):
        raise DataError(f"--validation-size {validation_size}: {text} comes with its own "
                        f"{len(splits.validation)} validation images; the split can be chosen "
                        "for IDX data (idx:DIR) only")
    return splits


def _load_split(text: str) -> Splits:
    """MNIST, a book-format ``.pkl.gz`` or an ``nndl expand`` ``.npz``: data
    that comes already split."""
    if text == "mnist":
        return load_mnist()
    path = Path(text)
    if text.endswith(".pkl.gz"):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if path.stat().st_size == MNIST_SIZE:
            verify_file(path, MNIST_SHA256, MNIST_SIZE)
            return load_mnist(path)
        return load_pickle(path)
    if text.endswith(".npz"):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        return load_npz(path)
    raise DataError(f"unknown data set {text!r}: {_SPECS}")
