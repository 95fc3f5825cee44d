"""Converting between the book's lists of column vectors and nndl's arrays.

network2.py takes data as a list of ``(x, y)`` tuples: ``x`` a (784, 1)
column, ``y`` either a (10, 1) one-hot column (training data) or an integer
label (validation and test data).  nndl trains on two contiguous arrays
instead.  ``as_dataset`` turns a book list into a ``Dataset`` once;
``BookList`` is a list that carries its arrays along, so even that one
conversion is skipped for data from ``mnist_loader``.
"""

import numpy as np

from .data import Dataset
from .errors import DataError

_MUTATORS = ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
             "insert", "pop", "remove", "reverse", "sort", "clear")


class BookList(list):
    """A list of book-style ``(x, y)`` pairs that remembers its arrays.

    ``self.arrays`` is ``(images, labels)`` while the list is unchanged since
    it was built, and ``None`` once anything has modified it.  Slicing keeps
    the arrays (sliced), so ``training_data[:1000]`` stays fast.
    """

    arrays = None

    @classmethod
    def from_arrays(cls, images, labels, one_hot=False):
        """Build the list from ``images`` (n, d) and integer ``labels`` (n,).

        Each x is a (d, 1) view into ``images``; with ``one_hot`` each y is
        the (10, 1) column of ``vectorized_result``, else the integer label.
        """
        n_classes = 10 if labels.size == 0 else max(10, int(labels.max()) + 1)
        if one_hot:
            eye = np.eye(n_classes)[:, :, None]
            pairs = [(x[:, None], eye[j]) for x, j in zip(images, labels.tolist())]
        else:
            pairs = [(x[:, None], j) for x, j in zip(images, labels.tolist())]
        out = cls(pairs)
        out.arrays = (images, labels)
        out.one_hot = one_hot
        return out

    def __getitem__(self, index):
        item = super().__getitem__(index)
        if isinstance(index, slice) and self.arrays is not None:
            sliced = BookList(item)
            sliced.arrays = (self.arrays[0][index], self.arrays[1][index])
            sliced.one_hot = self.one_hot
            return sliced
        return item


def _forgetting(name):
    method = getattr(list, name)

    def wrapper(self, *args, **kwargs):
        self.arrays = None
        return method(self, *args, **kwargs)
    wrapper.__name__ = name
    wrapper.__doc__ = f"list.{name}, after forgetting the cached arrays."
    return wrapper


for _name in _MUTATORS:
    setattr(BookList, _name, _forgetting(_name))


def vectorized_result(j):
    """Return a (10, 1) column with 1.0 in position j: the book's one-hot target."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


def as_dataset(data, n_inputs=None):
    """Return a ``Dataset`` for book-style data.

    Accepts a ``BookList`` (its arrays are used directly), any list of
    ``(x, y)`` pairs with y one-hot or an integer, or a ``Dataset``.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, BookList) and data.arrays is not None:
        return Dataset(*data.arrays)
    try:
        pairs = list(data)
    except TypeError:
        raise DataError(f"expected a list of (x, y) pairs, got {type(data).__name__}") from None
    if not pairs:
        raise DataError("the data is empty")
    try:
        images = np.stack([np.asarray(x, dtype=np.float64).reshape(-1) for x, _ in pairs])
        labels = np.array([int(np.argmax(y)) if np.ndim(y) else int(y) for _, y in pairs])
    except (TypeError, ValueError) as e:
        raise DataError(f"expected a list of (x, y) pairs: {e}") from None
    if n_inputs is not None and images.shape[1] != n_inputs:
        raise DataError(f"each x has {images.shape[1]} values, the network expects {n_inputs}")
    return Dataset(images, labels)
