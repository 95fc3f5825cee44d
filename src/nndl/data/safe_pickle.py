"""safe_pickle
~~~~~~~~~~~~~

Loading the book's ``mnist.pkl.gz`` without trusting it.

``pickle.load`` will call any function a file names, so unpickling a file
from the internet is running code from the internet.  The book's file is a
Python 2, protocol 2 pickle whose only globals are the three numpy names
needed to rebuild arrays.  :class:`RestrictedUnpickler` admits exactly those
(mapped to the installed numpy, whose module moved from ``numpy.core`` to
``numpy._core`` in numpy 2) plus ``_codecs.encode`` restricted to latin-1,
which Python 3 uses to store bytes in protocol-2 pickles.  Any other global
raises :class:`~nndl.errors.DataError` naming it, before anything is called.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import BinaryIO

import numpy as np

from nndl.errors import DataError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    if codecs.lookup(encoding).name != "iso8859-1":
        raise DataError(f"pickle asks for _codecs.encode with encoding {encoding!r}; only latin-1 is allowed")
    return text.encode("latin-1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(f"refusing to unpickle global {module}.{name}: only numpy arrays are allowed") from None

    def persistent_load(self, pid):
        raise DataError("refusing to unpickle a persistent id")


def safe_load(file: BinaryIO | bytes, *, encoding: str = "latin1"):
    """Unpickle ``file`` (a binary file or bytes) with :class:`RestrictedUnpickler`.

    ``encoding="latin1"`` is what Python 2 pickles of numpy arrays need.
    Any failure, including a malformed pickle, raises
    :class:`~nndl.errors.DataError`.
    """
    if isinstance(file, (bytes, bytearray)):
        file = io.BytesIO(file)
    try:
        return RestrictedUnpickler(file, encoding=encoding).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, LookupError) as e:
        raise DataError(f"malformed pickle: {type(e).__name__}: {e}") from None
