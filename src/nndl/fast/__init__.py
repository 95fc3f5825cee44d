"""Fast training engines, chosen once per run by ``select_engine``.

Two engines compute the same mini-batch SGD step as the reference
(``training.sgd_step``), faster:

* ``numba`` (``numba_engine``): a compiled kernel for small mini-batches,
  where NumPy's per-call overhead dominates; exploits the zeros in MNIST.
* ``blas`` (``blas_engine``): buffered NumPy for large mini-batches, where
  the matrix products dominate.

A third, ``torch`` (``torch_engine``), runs every technique with PyTorch,
on a GPU when there is one; it is chosen by name, or by ``auto`` on a GPU
for large networks only (``torch_engine.gpu_would_gain``).

Either of the first two is used only when ``support.unsupported_reason`` finds nothing it does
not know; otherwise, or when Numba cannot be imported, training falls back
to the reference and says why.
"""

import sys

from ..errors import ConfigError
from .support import unsupported_reason

ENGINES = ("auto", "reference", "numba", "blas", "torch")
# Below this mini-batch size one compiled call per epoch beats BLAS calls per
# mini-batch; from it up, BLAS wins even where the kernel skips most of the
# first layer's products: on a quiet machine [784,800,10] with mini-batch 100
# took 0.184 s with BLAS and 0.377 s compiled (docs/benchmarks.md).
NUMBA_BELOW_BATCH = 32


def prefers_numba(mini_batch_size):
    """True when the compiled kernel is expected to beat the BLAS engine."""
    return mini_batch_size < NUMBA_BELOW_BATCH


# Set by the command line (a process that is all nndl's): start Numba without
# SciPy's BLAS (see start_numba_without_scipy_blas) and keep BLAS to one
# thread while the single-threaded kernel trains (see single_blas_thread).
LEAN_NUMBA = False


def single_blas_thread():
    """Hold the process's BLAS to one thread for the rest of the run.

    With the compiled kernel training, BLAS computes only the monitoring
    products after each epoch (small for the networks the kernel serves); a
    second OpenBLAS thread adds about 15 MB of resident memory at the first
    of them and little speed.  Like ``start_numba_without_scipy_blas`` this
    is for a process that runs nothing but nndl.
    """
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")


def start_numba_without_scipy_blas():
    """Start Numba's compiler target while ``import scipy.linalg`` fails.

    On start-up Numba imports ``scipy.linalg.cython_blas`` only to learn
    whether ``np.dot`` and ``np.linalg`` may be compiled; that loads SciPy's
    own BLAS library, about 28 MB of memory that the kernel, which calls no
    BLAS, never uses.  Hidden, Numba just marks those functions unavailable
    for the rest of the process -- so this is only for a process that runs
    nothing but nndl (the ``nndl`` command), not for library users.  It does
    nothing if SciPy's linalg is already loaded or Numba already started.
    """
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    from numba.core.registry import cpu_target
    sys.modules["scipy.linalg"] = None          # makes the import raise ImportError
    try:
        cpu_target.target_context.refresh()
    finally:
        del sys.modules["scipy.linalg"]


def numba_available():
    """Return True if the compiled kernel can be imported."""
    try:
        from . import numba_engine  # noqa: F401
    except ImportError:
        return False
    return True


def choose_fast_engine(network, optimizer, regularization, mini_batch_size, engine="auto"):
    """Return (engine class or None, reason): the fast engine to use for this
    run, or None with the reason the reference step must be used.

    'auto' falls back quietly (the reason says why); naming a fast engine
    that cannot run this configuration is a ConfigError.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if engine == "reference":
        return None, "reference engine requested"
    reason = unsupported_reason(network, optimizer, regularization)
    if reason is None and engine == "numba" and not numba_available():
        reason = "numba cannot be imported"
    if reason:
        if engine != "auto":
            raise ConfigError(f"the {engine} engine cannot train this: {reason}")
        return None, reason
    if engine == "auto":
        engine = ("numba" if prefers_numba(mini_batch_size) and numba_available()
                  else "blas")
    if engine == "numba":
        if LEAN_NUMBA:
            start_numba_without_scipy_blas()
            single_blas_thread()
        from .numba_engine import NumbaEngine
        return NumbaEngine, "compiled kernel, sparse inputs"
    from .blas_engine import BlasEngine
    return BlasEngine, "buffered BLAS"
