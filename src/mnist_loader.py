"""mnist_loader
~~~~~~~~~~~~

The book's ``mnist_loader`` module, for Python 3, backed by nndl.

``load_data_wrapper()`` returns exactly the book's representations:
training data is a list of 50,000 pairs ``(x, y)`` with ``x`` a (784, 1)
column of pixel intensities and ``y`` a (10, 1) one-hot column; validation
and test data are lists of ``(x, label)`` with an integer label.

The lists are :class:`BookList` objects: ordinary lists that also remember
the contiguous arrays they were made from, so ``network2`` can train on
those arrays without converting 50,000 column vectors each time.  Any change
to a list (``random.shuffle``, ``append``, item assignment...) makes it
forget the arrays, and network2 then rebuilds them from the list's contents.

Data comes from ``nndl.data.load_mnist``: fetched, verified by SHA-256 and
cached on first use (or the file named by the ``NNDL_DATA`` variable).
"""

import numpy as np

from nndl.bookdata import BookList, vectorized_result
from nndl.data import load_mnist

__all__ = ["load_data", "load_data_wrapper", "vectorized_result", "BookList"]


def load_data():
    """Return ``(training_data, validation_data, test_data)``, each a tuple
    ``(images, labels)``: images a float32 array with one 784-pixel row per
    image, labels an integer array, as in the book."""
    splits = load_mnist()
    return tuple((d.images, d.labels) for d in (splits.training, splits.validation, splits.test))


def load_data_wrapper():
    """Return ``(training_data, validation_data, test_data)`` in the book's
    list-of-tuples form (see the module docstring)."""
    splits = load_mnist()
    return (BookList.from_arrays(splits.training.images, splits.training.labels, one_hot=True),
            BookList.from_arrays(splits.validation.images, splits.validation.labels),
            BookList.from_arrays(splits.test.images, splits.test.labels))
