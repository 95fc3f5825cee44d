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

Even the allowed names can be abused (an empty array "reconstructed" with a
shape of 2**40 elements, a length field claiming 4 GiB, a dtype made to hold
Python objects), so each is narrowed to what a pickled numeric array needs;
memory then stays proportional to the bytes actually in the file.  Fuzzed in
``tests/test_fuzz.py``.
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
import struct
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


def _small_reconstruct(subtype, shape, dtype):
    """numpy's ``_reconstruct``, for the empty placeholder array that every
    pickled ndarray starts as (its data arrives afterwards, by ``__setstate__``).

    The real function allocates whatever shape it is given, so a forged
    pickle asking for 2**40 elements would exhaust memory; here anything but
    an empty ndarray is refused.
    """
    if subtype is not np.ndarray:
        raise DataError(f"refusing to rebuild {subtype!r}: only plain numpy arrays are allowed")
    if (not isinstance(shape, tuple) or len(shape) > 32
            or not all(type(d) is int and d >= 0 for d in shape)
            or math.prod(shape) > 1):
        raise DataError(f"refusing to pre-allocate an array of shape {str(shape)[:60]}: "
                        "pickled arrays start empty")
    return _reconstruct(subtype, shape, dtype)


def _numeric_dtype(obj, align=False, copy=False):
    """``numpy.dtype``, for plain numbers only (no objects, records or sub-arrays)."""
    d = np.dtype(obj, align=bool(align), copy=bool(copy))
    if d.kind not in "biuf" or d.hasobject or d.names is not None or d.subdtype is not None:
        raise DataError(f"refusing dtype {str(d)[:40]}: only numeric arrays are allowed")
    return d


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _small_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _small_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _numeric_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _CappedReader:
    """A file wrapper whose ``read(n)`` reads in chunks, so that a length
    field claiming gigabytes costs only the bytes really there."""

    CHUNK = 1 << 22

    def __init__(self, file):
        self.file = file

    def read(self, n=-1):
        """Return up to ``n`` bytes (all if n < 0), allocating as data arrives."""
        if n is None or n < 0:
            return self.file.read()
        if n <= self.CHUNK:
            return self.file.read(n)
        parts, got = [], 0
        while got < n:
            part = self.file.read(min(self.CHUNK, n - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def readline(self):
        """Return one line (pickle's text opcodes), at most 64 KiB of it."""
        return self.file.readline(1 << 16)

    def readinto(self, buffer):
        """Unused by the opcodes allowed here (BYTEARRAY8 is refused)."""
        raise DataError("refusing a pickle that needs readinto")


def _refuse(self):
    raise DataError("refusing a pickle opcode that numpy arrays do not need")


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that can rebuild numeric numpy arrays and nothing else.

    It is the pure-Python unpickler (the C one allocates whatever size a
    length field claims before reading the data), with four guards: only the
    globals in ``_ALLOWED``; reads in chunks (``_CappedReader``); no
    out-of-band buffers or BYTEARRAY8; and ``BUILD`` -- which calls
    ``__setstate__`` -- checked first: an ndarray's raw data must have
    exactly the size its shape and dtype imply, and a dtype may not be
    given fields, sub-arrays or flags.
    """

    dispatch = dict(pickle._Unpickler.dispatch)
    for _op in (pickle.BYTEARRAY8, pickle.NEXT_BUFFER, pickle.READONLY_BUFFER):
        dispatch[_op[0]] = _refuse

    def __init__(self, file, *, encoding="latin1"):
        super().__init__(_CappedReader(file), encoding=encoding)

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(f"refusing to unpickle global {module}.{name}: only numpy arrays are allowed") from None

    def persistent_load(self, pid):
        raise DataError("refusing to unpickle a persistent id")

    def load_build(self):
        """Check the state before ``__setstate__`` runs (see the class docstring)."""
        state, inst = self.stack[-1], self.stack[-2] if len(self.stack) > 1 else None
        if isinstance(inst, np.ndarray):
            _check_array_state(state)
        elif isinstance(inst, np.dtype):
            _check_dtype_state(inst, state)
        else:
            raise DataError(f"refusing to set the state of {type(inst).__name__}")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


def _check_array_state(state):
    """ndarray state: (version, shape, dtype, fortran, data) with data of the right size."""
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], tuple)
            and all(type(d) is int and d >= 0 for d in state[1]) and len(state[1]) <= 32
            and isinstance(state[2], np.dtype) and isinstance(state[4], (bytes, str))):
        raise DataError("malformed pickled array state")
    _numeric_dtype(state[2])
    expected = math.prod(state[1]) * state[2].itemsize
    if len(state[4]) != expected:
        raise DataError(f"pickled array of shape {state[1][:8]} needs {expected} bytes, "
                        f"has {len(state[4])}")


def _check_dtype_state(inst, state):
    """dtype state: only the byte order may be set (no fields, sub-arrays or flags)."""
    if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
            and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
            and state[5:7] == (-1, -1) and state[7] == inst.flags == 0):
        raise DataError(f"refusing pickled dtype state {str(state)[:60]}")


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
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, LookupError,
            IndexError, KeyError, OverflowError, struct.error, RecursionError) as e:
        raise DataError(f"malformed pickle: {type(e).__name__}: {str(e)[:200]}") from None
