"""threads
~~~~~~~

How many threads training's BLAS and the distortion may use, from the cores
actually free.

The rule (:func:`plan_threads`):

* ``cores`` -- the cores this process may run on (``os.sched_getaffinity``);
* ``others`` -- the load of everything else: the 1-minute load average
  (``os.getloadavg``) less this process's own recent use of the cores
  (its CPU seconds over the wall seconds since the last plan), never below 0;
* ``free = max(1, round(cores - others))``;
* while images are distorted beside training, BLAS gets ``max(1, free - 1)``
  threads and the distortion the rest, ``max(1, free - trainer)``, where
  ``trainer`` is the number of threads the training uses: BLAS's by default
  (so one core for the distortion when two or more are free), or what the
  engine says it uses (e.g. 1 for a single-threaded compiled kernel, which
  leaves ``free - 1`` threads to the distortion).  On a single free core
  training and distortion share it.

So no thread waits for a core that another job holds: a machine with half
its cores busy runs the epoch at about half speed instead of several times
slower, which is what happens when OpenBLAS starts a thread per core and
they take turns with other jobs' threads.
"""

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadPlan:
    """The outcome of :func:`plan_threads`, with what it was made from."""

    cores: int
    load: float
    own: float
    free: int
    blas: int
    distort: int

    def __str__(self):
        return (f"{self.free} of {self.cores} cores free (load {self.load:.2f}, "
                f"{self.own:.2f} of it this process): BLAS {self.blas} threads, "
                f"distortion {self.distort}")


def plan_threads(cores, load, own=0.0, trainer=None):
    """Return the :class:`ThreadPlan` for ``cores`` usable cores, a 1-minute
    load average ``load``, this process's own share ``own`` of it, and the
    ``trainer`` threads training uses besides the distortion (None: BLAS's)."""
    cores = max(1, int(cores))
    others = max(0.0, float(load) - max(0.0, float(own)))
    free = max(1, min(cores, int(cores - others + 0.5)))
    blas = max(1, free - 1)
    training = blas if trainer is None else max(1, int(trainer))
    return ThreadPlan(cores, float(load), float(own), free, blas, max(1, free - training))


def usable_cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average():
    """The 1-minute load average (0 where the system has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


class LoadMeter:
    """Plans threads from the machine's load as it changes: :meth:`plan`
    measures this process's own CPU use since the previous plan and takes it
    out of the load average.  ``cores`` and ``load`` (a function) can be
    given, e.g. in tests; ``clock`` and ``cpu_clock`` likewise."""

    def __init__(self, cores=None, load=None, clock=time.monotonic, cpu_clock=time.process_time):
        self.cores = usable_cores() if cores is None else int(cores)
        self.load = load_average if load is None else load
        self.clock, self.cpu_clock = clock, cpu_clock
        self._since = None

    def plan(self, trainer=None):
        """Return the :class:`ThreadPlan` for now (``trainer`` as in
        :func:`plan_threads`)."""
        wall, cpu = self.clock(), self.cpu_clock()
        own = 0.0
        if self._since is not None and wall > self._since[0]:
            own = (cpu - self._since[1]) / (wall - self._since[0])
        self._since = (wall, cpu)
        return plan_threads(self.cores, self.load(), own, trainer)
