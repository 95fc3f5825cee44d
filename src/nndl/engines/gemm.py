"""The weight update as one BLAS call: W += alpha * delta^T a.

NumPy's ``matmul`` always overwrites its output, so an SGD step written
with it computes the gradient into a buffer, ``g = delta^T a``, and then
subtracts, ``W -= eta/m * g``: one more pass over every weight, reading a
gradient that the BLAS threads just wrote on other cores and writing
weights that they just read.  BLAS's ``gemm`` computes
``C = alpha * A B + beta * C`` and with ``beta = 1`` does the update inside
the product, each thread updating its own tiles.

On the project's 2-core VM the separate pass cost 0.02 s per epoch of
[784,800,800,10] (mini-batch 100, 10,000 images) in some stretches of time
and 0.12-0.2 s in others, when the machine made traffic between its two
cores expensive; the fused call removed that difference
(docs/benchmarks.md).

NumPy does not expose ``gemm``, so ``fused_update`` looks up the one in the
BLAS library NumPy itself loaded (via threadpoolctl, which finds it and its
symbol names) and calls it through ctypes.  It is used only after it has
reproduced a small product computed by NumPy; anywhere that fails -- another
BLAS, an unusual build -- the engine keeps the two-step NumPy update.
"""

import ctypes

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
GEMM = {np.dtype(np.float32): "cblas_sgemm", np.dtype(np.float64): "cblas_dgemm"}
_CACHE = {}


def fused_update(dtype):
    """Return ``update(w, d, a, alpha, beta=1)`` doing ``w = beta * w +
    alpha * d.T @ a`` (a momentum step's velocity with beta = mu) in one
    BLAS call for arrays of ``dtype`` (float32 or float64), or None if
    NumPy's BLAS offers no usable ``cblas_?gemm``."""
    dtype = np.dtype(dtype)
    if dtype not in GEMM:
        return None
    if dtype not in _CACHE:
        _CACHE[dtype] = _checked(_gemm_from_numpy_blas(dtype), dtype)
    return _CACHE[dtype]


def _gemm_from_numpy_blas(dtype):
    """Wrap NumPy's OpenBLAS ``cblas_sgemm``/``cblas_dgemm``, or return None."""
    try:
        from threadpoolctl import ThreadpoolController
        libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
        lib = next((c for c in libs if "numpy" in c.filepath), None)
        if lib is None and len(libs) == 1:      # a NumPy built against the system's OpenBLAS
            lib = libs[0]
        if lib is None:
            return None
        gemm = getattr(lib.dynlib, lib._symbol_prefix + GEMM[dtype] + lib._symbol_suffix)
    except (ImportError, AttributeError, OSError):
        return None
    index = ctypes.c_int64 if lib._symbol_suffix.startswith("64") else ctypes.c_int
    real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    ptr, flag = ctypes.c_void_p, ctypes.c_int
    gemm.argtypes = [flag, flag, flag, index, index, index, real, ptr, index,
                     ptr, index, real, ptr, index]
    gemm.restype = None
    size = dtype.itemsize

    def update(w, d, a, alpha, beta=1.0):
        """w = beta * w + alpha * d.T @ a (beta 1: w += alpha * d.T @ a);
        w (M, N), d (K, M), a (K, N), rows contiguous."""
        (m, n), k = w.shape, d.shape[0]
        gemm(ROW_MAJOR, TRANS, NO_TRANS, m, n, k, alpha, d.ctypes.data,
             d.strides[0] // size, a.ctypes.data, a.strides[0] // size, beta,
             w.ctypes.data, w.strides[0] // size)
    return update


def _checked(update, dtype):
    """Return ``update`` if it reproduces NumPy on a small product, else None."""
    if update is None:
        return None
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 5)).astype(dtype)
    d = rng.standard_normal((3, 7)).astype(dtype)
    a = rng.standard_normal((3, 5)).astype(dtype)
    expected = w - 0.5 * (d.T @ a)
    update(w, d, a, -0.5)
    return update if np.allclose(w, expected, rtol=1e-5, atol=1e-5) else None


def usable(w, d, a):
    """True if the three arrays can go to ``gemm`` as they are: one dtype,
    rows contiguous and aligned, and ``w`` writeable."""
    return all(x.dtype == w.dtype and x.ndim == 2 and x.strides[1] == x.itemsize
               and x.strides[0] % x.itemsize == 0 and x.flags.aligned
               for x in (w, d, a)) and w.flags.writeable
