"""dataset
~~~~~~~

The containers the rest of nndl trains on.

Nielsen's ``mnist_loader`` hands the network lists of ``(x, y)`` tuples of
column vectors.  Here a data set is two contiguous arrays instead: ``images``,
float32 of shape ``(n, 784)`` (one row per image, pixel intensities in
[0, 1) exactly as in the book: value/256), and ``labels``, int64 of shape
``(n,)``.  The network can then work on whole mini-batches as matrices.

A :class:`Splits` holds the book's three sets.  ``Splits.sha256()`` is a
digest of all six arrays; it is how we check that data built from any source
(the book's pickle, the IDX files, a cached ``.npz``) is bit-for-bit the
data the book uses.  ``save_npz``/``load_npz`` write and read a
:class:`Splits` as an uncompressed ``.npz``, atomically and without pickle.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nndl.errors import DataError
from nndl.persistence import atomic_writer

_SETS = ("training", "validation", "test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """``n`` examples: ``images`` float ``(n, features)``, ``labels`` int64 ``(n,)``.

    Images stay float64 if given as float64 (nothing is rounded away from a
    user's data); anything else becomes float32, MNIST's own precision.  The
    arrays are made C-contiguous on construction;
    shapes that cannot work (not 2-D images, not 1-D labels, or different
    numbers of images and labels) raise :class:`~nndl.errors.DataError`.
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim != 2:
            raise DataError(f"images must be a 2-D array (examples, features), got shape {images.shape}")
        if labels.ndim != 1:
            raise DataError(f"labels must be a 1-D array, got shape {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{images.shape[0]} images but {labels.shape[0]} labels: the counts must be equal"
            )
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"labels must be integers, got dtype {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise DataError(f"labels must be >= 0, got {labels.min()}")
        if images.dtype != np.float64:
            images = np.ascontiguousarray(images, dtype=np.float32)
        if not all_finite(images):
            raise DataError("images contain NaN or infinite values")
        object.__setattr__(self, "images", np.ascontiguousarray(images))
        object.__setattr__(self, "labels", np.ascontiguousarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __repr__(self) -> str:
        return f"Dataset(n={len(self)}, features={self.images.shape[1]})"

    def subset(self, n: int) -> "Dataset":
        """Return the first ``n`` examples (views, no copy).

        The book often trains on the first 1,000 training images to show
        overfitting; this is that operation.
        """
        if not 0 <= n <= len(self):
            raise DataError(f"cannot take {n} examples from a data set of {len(self)}")
        return Dataset(self.images[:n], self.labels[:n])

    def only_classes(self, classes) -> "Dataset":
        """Return the examples whose label is in ``classes``, relabelled
        0, 1, ... in the order given ("strip the problem down": training on
        the 0s and 1s only, say, with a two-neuron output layer).

        ``only_classes([3, 7])`` keeps the 3s (label 0) and the 7s (label 1).
        """
        classes = [int(c) for c in classes]
        if not classes or len(set(classes)) != len(classes) or min(classes) < 0:
            raise DataError(f"classes must be a non-empty list of labels >= 0 without "
                            f"repeats, got {classes}")
        lookup = np.full(max(max(classes), int(self.labels.max(initial=0))) + 1, -1, np.int64)
        lookup[classes] = np.arange(len(classes))
        new = lookup[self.labels]
        keep = new >= 0
        return Dataset(self.images[keep], new[keep])


@dataclass(frozen=True, eq=False)
class Splits:
    """The book's three data sets: training, validation (for choosing
    hyper-parameters) and test (touched only to report final accuracy)."""

    training: Dataset
    validation: Dataset
    test: Dataset

    def __repr__(self) -> str:
        return f"Splits(training={self.training!r}, validation={self.validation!r}, test={self.test!r})"

    def __iter__(self):
        """Unpack like the book's tuple: ``training, validation, test = load_mnist()``."""
        return iter((self.training, self.validation, self.test))

    def arrays(self) -> dict[str, np.ndarray]:
        """The six arrays, named ``training_images``, ``training_labels``, ..."""
        out = {}
        for name in _SETS:
            ds = getattr(self, name)
            out[f"{name}_images"] = ds.images
            out[f"{name}_labels"] = ds.labels
        return out

    def sha256(self) -> str:
        """SHA-256 of the six arrays (names, dtypes, shapes and little-endian bytes).

        Two ``Splits`` have the same digest exactly when they hold the same
        data, whatever file they were read from.
        """
        h = hashlib.sha256()
        for name, a in self.arrays().items():
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
            h.update(f"{name}:{a.dtype.str}:{a.shape}\n".encode())
            h.update(memoryview(a).cast("B"))
        return h.hexdigest()


def check_labels(splits: Splits, n_outputs: int) -> None:
    """Raise :class:`~nndl.errors.DataError` unless every label of ``splits``
    is a class of a network with ``n_outputs`` outputs (0 to ``n_outputs - 1``).

    The message says which set, how many labels, which values and where the
    first is; then, when the values out of range are rare (under 1%) or leave
    a gap of labels that never occur, that the labels file is probably
    corrupt, else how many classes the labels have.
    """
    for name, ds in zip(_SETS, splits):
        bad = ds.labels >= n_outputs
        if not bad.any():
            continue
        values = np.unique(ds.labels[bad])
        first = int(np.flatnonzero(bad)[0])
        shown = ", ".join(map(str, values[:5])) + (", ..." if len(values) > 5 else "")
        message = (f"the {name} labels must be 0 to {n_outputs - 1} for a network with "
                   f"{n_outputs} outputs, but {int(bad.sum())} of {len(ds)} are not "
                   f"({shown}; the first at index {first})")
        present = np.unique(ds.labels)
        gap = np.setdiff1d(np.arange(n_outputs, values[0]), present)
        if bad.mean() < 0.01 or gap.size:
            message += ": the labels file is probably corrupt"
        else:
            message += f": the labels have {int(values[-1]) + 1} classes (0 to {int(values[-1])})"
        raise DataError(message)


def save_npz(path: str | os.PathLike, splits: Splits) -> None:
    """Write ``splits`` to ``path`` as an uncompressed ``.npz``, atomically.

    Written through :func:`nndl.persistence.atomic_writer`: a reader sees
    either no file or a whole one, the file is fsynced, and it gets the
    umask's permissions like any other file nndl writes.
    """
    with atomic_writer(path, binary=True) as f:
        np.savez(f, **splits.arrays())


def load_npz(path: str | os.PathLike) -> Splits:
    """Read a :class:`Splits` written by :func:`save_npz` (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read .npz: {e}") from None
    try:
        return Splits(*(Dataset(arrays[f"{s}_images"], arrays[f"{s}_labels"]) for s in _SETS))
    except KeyError as e:
        raise DataError(f"{path}: missing array {e}") from None


def all_finite(array, rows=4096):
    """Return True if every value of ``array`` is finite, checking ``rows``
    rows at a time so that no boolean copy of a whole data set is made."""
    return all(np.isfinite(array[k:k + rows]).all() for k in range(0, len(array), rows))
