"""Run the ``nndl`` command line, then SIGKILL this very process at a chosen moment.

    python killed_run.py batch N ARGS...     die just before the N-th mini-batch step
                                             of the reference engine (--engine reference)
    python killed_run.py manifest N ARGS...  die just before the N-th checkpoint
                                             manifest is written (its arrays are on disk)

SIGKILL cannot be caught: no ``finally`` block, no atexit handler runs, exactly
as when the machine's OOM killer or a ``kill -9`` ends a long training run.
"""

import os
import signal
import sys


def die_on_call(module, name, n):
    """Replace ``module.name`` by a wrapper that SIGKILLs the process on its n-th call."""
    original, calls = getattr(module, name), [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(module, name, wrapper)


if __name__ == "__main__":
    mode, n, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if mode == "batch":
        import nndl.engines.reference
        die_on_call(nndl.engines.reference, "sgd_step", n)
    elif mode == "manifest":
        import nndl.checkpoint
        die_on_call(nndl.checkpoint, "atomic_write_text", n)
    else:
        sys.exit(f"unknown mode {mode!r}")
    from nndl.cli import main
    sys.exit(main(argv))
