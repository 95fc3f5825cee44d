"""Training engines: the registry and the choice of one per run.

``ENGINES`` lists every engine in the order ``auto`` tries them; each entry
names the module and class, imported only when the engine is considered:

* ``numba`` (``numba_engine``): a compiled kernel for small mini-batches,
  where NumPy's per-call overhead dominates; exploits the zeros in MNIST.
* ``blas`` (``blas_engine``): buffered NumPy for large mini-batches, where
  the matrix products dominate.
* ``reference`` (``reference``): ``reference.sgd_step``, for everything.
* ``torch`` (``torch_engine``, first so that ``auto`` can prefer a GPU):
  every technique with PyTorch, on CUDA when there is one; ``auto`` takes
  it only on a GPU for large networks (``torch_engine.gpu_would_gain``).

Each engine's class declares what it can run (``supports``) and what ``auto``
should use it for (``preference``); see ``base`` for the protocol.
``select`` returns the chosen engine and the reason, which ``train`` records
in ``state.engine`` / ``state.engine_reason``.
"""

import importlib
from dataclasses import dataclass

from ..errors import ConfigError
from .base import Engine, Step  # noqa: F401  (the protocol and the bundle)

ENGINES = {
    "torch": ("torch_engine", "TorchEngine"),
    "numba": ("numba_engine", "NumbaEngine"),
    "blas": ("blas_engine", "BlasEngine"),
    "reference": ("reference", "ReferenceEngine"),
}
CHOICES = ("auto", *ENGINES)

# Set by the command line (a process that is all nndl's): start Numba without
# SciPy's BLAS and keep BLAS to one thread while the single-threaded kernel
# trains (numba_engine.start_numba_without_scipy_blas, single_blas_thread).
LEAN_NUMBA = False


def engine_class(name):
    """Import and return the class registered as ``name``."""
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


@dataclass(frozen=True)
class Selection:
    """The engine class chosen for a run, its name, and why it was chosen."""

    cls: type
    name: str
    reason: str

    def start(self, network, step, x, y):
        """Set the engine up for this run and return it."""
        return self.cls(network, step, x, y)


def select(network, step, requested="auto"):
    """Return the ``Selection`` for training ``network`` with ``step``.

    A named engine is used if its ``supports`` allows the run, else it is a
    ConfigError with the reason.  ``auto`` takes the first engine of
    ``ENGINES`` whose ``preference`` and ``supports`` both allow the run; the
    reason is its ``description``, or for the reference the first reason an
    engine gave for not supporting the run.  A ``step.device`` is the torch
    engine's: with ``auto`` it names that engine, with a CPU engine it must
    be 'cpu' (``torch_engine.check_device``).
    """
    if requested not in CHOICES:
        raise ConfigError(f"unknown engine {requested!r}; choose from {', '.join(CHOICES)}")
    if step.device is not None:
        from .torch_engine import check_device
        check_device(requested, step.device)
        requested = "torch" if requested == "auto" else requested
    if requested != "auto":
        cls = engine_class(requested)
        if requested == "reference":
            return Selection(cls, cls.name, "reference engine requested")
        reason = cls.supports(network, step)
        if reason:
            raise ConfigError(f"the {requested} engine cannot train this: {reason}")
        return Selection(cls, cls.name, cls.description)
    first_refusal = None
    for name in ENGINES:
        cls = engine_class(name)
        if cls.preference(network, step) is not None:
            continue
        reason = cls.supports(network, step)
        if reason is None:
            return Selection(cls, name, first_refusal if name == "reference" and first_refusal
                             else cls.description)
        first_refusal = first_refusal or reason
    raise AssertionError("the reference engine supports every run")
