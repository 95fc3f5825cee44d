"""stream
~~~~~~

On-the-fly expansion: every epoch, every training image is seen freshly
distorted, and the distorting of the next epoch happens in a background
thread while the network trains on this one.

:class:`Expander` gives a whole epoch's distorted training matrix,
``epoch_images(x, epoch)``: row ``i`` is image ``x[i]`` distorted, in
``x``'s dtype, so any engine can train on it as plain data, in its own
order.  As soon as it has returned epoch ``e``, a worker thread starts on
epoch ``e + 1`` (into a second buffer: the matrix of an epoch stays valid
until the next call), so that by the time the epoch has trained, the next
one is ready.  ``batches(x, y, order, mini_batch_size, epoch)`` hands out
the same images as mini-batches for the reference step.

Rows are distorted in chunks of ``chunk_size``: chunk ``c`` of epoch ``e``
takes its random numbers from a generator seeded from ``(seed, e, c)``
alone, so a seed gives the same images whatever the number of threads and
their timing, and whichever engine trains on them.  The worker threads take
the chunks one after another (draw its random numbers, run each
transform's compiled kernel over its rows, and ``derive`` from them if the
engine asked for it, :meth:`Expander.epoch_with`); a caller that asks for
an epoch not yet done takes the chunks left over instead of waiting.  The
kernels do not hold the GIL, nor do NumPy's draws; an engine that trains
beside them must not hold it either (the compiled training kernel and the
BLAS engine's products release it).

Threads come from the cores actually free (:mod:`~nndl.expansion.threads`):
BLAS is held to one thread fewer than the free cores while the stream runs,
and the worker gets the core left over.  That overlap hides the distortion
but costs a BLAS trainer a thread for the whole epoch, which a large
network feels (on two cores it trains at one thread's speed); so where two
or more cores are free and the trainer is BLAS (``trainer_threads`` None,
every thread count "auto"), the stream also tries *bursts* -- each epoch
distorted at its start by every free core, no worker beside training, BLAS
on every free core -- and keeps whichever schedule gave the shorter epochs
(:meth:`Expander.schedule`), trying the other again every
``RETRY_EVERY`` epochs, since the load may change.  The images are the same
either way.  Memory: two epochs' matrices
(e.g. 2 x 157 MB for 50,000 float32 images) and a chunk's random numbers
per thread.
"""

import threading
import time

import numpy as np

from ..errors import ConfigError, DataError
from .spec import Compose, parse_specs
from .threads import LoadMeter


#: Epochs between trials of the schedule not in use (two epochs each).
RETRY_EVERY = 20


class Expander:
    """A source of freshly distorted training images, an epoch at a time.

    ``transform`` is a transform (see :mod:`nndl.expansion.spec`), SPEC text
    or a list of SPECs, or any ``transform(images, rng)`` on ``(N, H, W)``
    batches.  ``shape`` is the image shape ``(H, W)``; by default rows of
    ``d`` values are square images.  ``seed`` fixes every distortion;
    without one a random seed is drawn (and kept in ``self.seed``).
    ``prefetch`` prepares the next epoch in the background.  ``threads``
    (distortion) and ``blas_threads`` are ``"auto"`` (the rule of
    :func:`~nndl.expansion.threads.plan_threads`, from ``meter``'s load) or
    a number; ``blas_threads=None`` leaves BLAS alone.  An engine that
    trains with a known number of threads of its own (not BLAS's) sets
    ``trainer_threads`` (e.g. 1), and the distortion gets the other free
    cores.
    """

    def __init__(self, transform, *, seed=None, shape=None, chunk_size=2000, prefetch=True,
                 threads="auto", blas_threads="auto", meter=None, trainer_threads=None):
        if isinstance(transform, (str, list, tuple)):
            transform = parse_specs(transform)
        self.transform = transform
        self.seed = np.random.SeedSequence().entropy if seed is None else int(seed)
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.shape = shape
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.chunk_size, self.prefetch = chunk_size, bool(prefetch)
        self.threads = _thread_count("threads", threads, allow_none=False)
        self.blas_threads = _thread_count("blas_threads", blas_threads, allow_none=True)
        self.meter = meter if meter is not None else LoadMeter()
        self.trainer_threads = _thread_count("trainer_threads", trainer_threads, allow_none=True)
        if self.trainer_threads == "auto":
            raise ConfigError("trainer_threads must be None or an integer >= 1, got 'auto'")
        self.plan = None              # the last ThreadPlan
        self.seconds = {"overlap": None, "burst": None}   # a steady epoch's length under each
        self._calls = 0
        self._last = None             # (time of the last call, its schedule, the one before)
        self._threads = None          # (blas, distortion) threads from it
        self._job = None              # the epoch being prepared in the background
        self._current = self._spare = None

    def __repr__(self):
        return f"Expander({self.transform!r}, seed={self.seed})"

    # ------------------------------------------------------------- config
    def state_dict(self):
        """What fixes the distortions: the seed and the transform's SPEC."""
        return {"seed": self.seed, "transform": repr(self.transform)}

    def load_state_dict(self, state):
        """Take the seed of a :meth:`state_dict` (the transform is the caller's)."""
        self.close()
        self.seed = int(state["seed"])

    def image_shape(self, d):
        """Return ``(H, W)`` for rows of ``d`` values, or raise DataError."""
        if self.shape is not None:
            h, w = self.shape
            if h * w != d:
                raise DataError(f"images of {d} values are not {h}x{w}")
            return h, w
        side = int(round(np.sqrt(d)))
        if side * side != d:
            raise DataError(f"cannot distort images of {d} values: not square; give shape=(H, W)")
        return side, side

    def rng(self, epoch, chunk):
        """The generator for one chunk of one epoch, from (seed, epoch, chunk) only."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(epoch, chunk)))

    def thread_plan(self):
        """Plan the threads from the load now; return ``(blas, distortion)``
        (``blas`` None when BLAS is left alone)."""
        self.plan = self.meter.plan(self.trainer_threads)
        blas = self.plan.blas if self.blas_threads == "auto" else self.blas_threads
        distort = self.plan.distort if self.threads == "auto" else self.threads
        self._threads = blas, distort
        return self._threads

    # ------------------------------------------------------------- epochs
    def epoch_images(self, x, epoch):
        """Return epoch ``epoch``'s distorted copy of the training matrix
        ``x`` (n, H*W): row ``i`` is ``x[i]`` distorted, in ``x``'s dtype.

        The array stays valid until the next call.  When the worker already
        prepared this epoch of this ``x`` it is returned at once (if it is
        not done, the calling thread distorts the chunks it has not started
        on); after returning, the worker starts on the next epoch
        (``prefetch``).  Raises the worker's error, if it had one, here.
        """
        return self.epoch_with(x, epoch)[0]

    def epoch_with(self, x, epoch, derive=None):
        """:meth:`epoch_images`, and ``derive`` of them: return ``(images,
        derived)``.  ``derive`` maps a block of distorted rows to an array
        with a row for each (an engine's per-image data, e.g. the compiled
        kernel's non-zero masks); it runs on every chunk right after that
        chunk is distorted, by the same thread, so it is prepared in the
        background too.  Without ``derive``, ``derived`` is None."""
        x = np.asarray(x)
        shape = self.image_shape(x.shape[1])
        job, self._job = self._job, None
        if job is not None and not job.is_for(x, epoch, derive):
            job.cancel()
            job = None
        entered = time.perf_counter()
        _, distort = self.thread_plan()
        if job is None:
            job = _EpochJob(self, x, epoch, shape, self._buffer(x), max(distort, self.plan.free),
                            derive)
            job.start(background=False)
        out, derived = job.result()
        if self._current is not None and self._current is not out:
            self._spare = self._current
        self._current = out
        schedule = self.schedule(entered)
        if schedule == "burst":                     # BLAS on every free core, no worker
            self._threads = self.plan.free, distort
        elif self.prefetch:
            self._job = _EpochJob(self, x, epoch + 1, shape, self._buffer(x), distort, derive)
            self._job.start()
        return out, derived

    def may_burst(self):
        """True if the stream may distort in bursts (see the module's text):
        two or more cores free, a BLAS trainer, every thread count "auto"."""
        return (self.prefetch and self.trainer_threads is None and self.blas_threads == "auto"
                and self.threads == "auto" and self.plan is not None and self.plan.free >= 2)

    def schedule(self, now):
        """Record how long the epoch since the last call took (under the
        schedule it trained with, if the one before had the same: a steady
        epoch) and return the schedule for the epoch about to train:
        "overlap" (the next epoch distorted beside it) or "burst" (the next
        epoch distorted when it is asked for, by every free core)."""
        if self._last is not None:
            before, schedule, previous = self._last
            if schedule == previous:
                self.seconds[schedule] = now - before
        self._calls += 1
        previous = self._last[1] if self._last else None
        if not self.may_burst():
            choice = "overlap"
        elif None in self.seconds.values():
            choice = "overlap" if self.seconds["overlap"] is None else "burst"
        else:
            best = min(self.seconds, key=self.seconds.get)
            other = "burst" if best == "overlap" else "overlap"
            choice = other if self._calls % RETRY_EVERY in (0, 1) else best
        self._last = (now, choice, previous)
        return choice

    def _buffer(self, x):
        """A free array for an epoch of ``x``: the spare one if it fits."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.shape == x.shape and spare.dtype == x.dtype:
            return spare
        return np.empty(x.shape, dtype=x.dtype if x.dtype.kind == "f" else np.float32)

    def close(self):
        """Stop the worker and drop the buffers."""
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
        self._current = self._spare = None

    def batches(self, x_all, y_all, order, mini_batch_size, epoch):
        """Yield the epoch's mini-batches ``(x, y)`` in ``order``, with ``x``
        distorted (rows of :meth:`epoch_images`); the same batches as
        undistorted training, image for image.

        While they are trained on, the trainer's BLAS keeps to the planned
        number of threads (``blas_threads``; None: no limit); leaving the
        loop early (an exception, a break) lifts the limit.
        """
        images = self.epoch_images(x_all, epoch)
        limit = _blas_limit(self._threads[0])
        try:
            for k in range(0, len(order), mini_batch_size):
                idx = order[k:k + mini_batch_size]
                yield images.take(idx, axis=0), y_all.take(idx, axis=0)
        finally:
            if limit is not None:
                limit.restore_original_limits()

    def blas_limit(self):
        """A context manager holding BLAS to the planned threads (for an
        engine that trains on :meth:`epoch_images`); a no-op without one."""
        import contextlib
        limit = _blas_limit((self._threads or self.thread_plan())[0])
        return limit if limit is not None else contextlib.nullcontext()


class _EpochJob:
    """One epoch's distortion, a chunk at a time: each chunk's random
    numbers drawn, its rows distorted (and ``derive``-d), by whichever thread
    takes it next -- the workers started by :meth:`start`, and the caller
    of :meth:`result` while chunks are left, so that no core sits waiting
    for the epoch while it could distort.  A chunk's result depends on its
    own seed only, never on the thread that made it.  A transform without
    ``draw``/``run`` (any callable) runs in one thread, chunk by chunk in
    order."""

    def __init__(self, expander, x, epoch, shape, out, threads, derive=None):
        self.expander, self.x, self.epoch, self.shape, self.out = expander, x, epoch, shape, out
        self.threads, self.derive = max(1, int(threads)), derive
        t = expander.transform
        self.compiled = hasattr(t, "draw") and hasattr(t, "run")
        n, size = len(x), expander.chunk_size
        self.chunks = [(lo, min(n, lo + size)) for lo in range(0, n, size)]
        self.derived = [None] * len(self.chunks)
        self.error = None
        self.stopped = threading.Event()
        self.running = threading.Event()      # a thread has started on the chunks
        self.workers = []
        self._lock, self._taken = threading.Lock(), 0

    def is_for(self, x, epoch, derive=None):
        return self.x is x and self.epoch == epoch and self.derive is derive

    def start(self, background=True):
        """Start the workers (``threads`` of them, one fewer when the caller
        is about to take its share in :meth:`result`; one for a plain
        callable) and return once one runs."""
        count = self.threads - (not background) if self.compiled else int(background)
        for k in range(min(count, len(self.chunks))):
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"nndl-expand-{self.epoch}-{k}")
            thread.start()
            self.workers.append(thread)
        while self.workers and not self.running.wait(0.01) \
                and any(t.is_alive() for t in self.workers):
            pass

    def cancel(self):
        self.stopped.set()
        for thread in self.workers:
            thread.join()

    def result(self):
        """``(images, derived)`` once every chunk is done, or the error of
        the thread that failed raised; the caller distorts what is left."""
        if self.compiled or not self.workers:
            self._work()
        for thread in self.workers:
            thread.join()
        if self.error is not None:
            raise self.error
        if self.derive is None:
            return self.out, None
        if not self.chunks:
            return self.out, self.derive(self.out[:0])
        return self.out, np.concatenate(self.derived) if len(self.chunks) > 1 else self.derived[0]

    def _next_chunk(self):
        """The index of a chunk no thread has taken, or None."""
        with self._lock:
            c, self._taken = self._taken, self._taken + 1
        return c if c < len(self.chunks) and not self.stopped.is_set() else None

    def _work(self):
        self.running.set()
        try:
            c = self._next_chunk()
            while c is not None:
                self._chunk(c)
                c = self._next_chunk()
        except BaseException as e:          # noqa: BLE001 - raised again in result()
            self.error = self.error or e
            self.stopped.set()

    def _chunk(self, c):
        """Distort chunk ``c`` from its own generator, then derive from it."""
        ex, (lo, hi), t = self.expander, self.chunks[c], self.expander.transform
        rng = ex.rng(self.epoch, c)
        if self.compiled:
            t.run(self.x[lo:hi], None, self.out[lo:hi], t.draw(rng, hi - lo, self.shape),
                  self.shape)
        else:
            images = self.x[lo:hi].reshape(-1, *self.shape)
            self.out[lo:hi] = np.asarray(t(images, rng)).reshape(hi - lo, -1)
        if self.derive is not None:
            self.derived[c] = self.derive(self.out[lo:hi])


def _thread_count(name, value, allow_none):
    """Check a thread-count option: 'auto', an integer >= 1 (or None)."""
    if value == "auto" or (value is None and allow_none):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be 'auto'{', None' if allow_none else ''} or an "
                          f"integer >= 1, got {value!r}")
    return value


def _blas_limit(threads):
    """Hold the process's BLAS to ``threads`` threads until the returned
    limiter's ``restore_original_limits()``; None when there is no limit."""
    if threads is None:
        return None
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=threads, user_api="blas")


__all__ = ["Expander", "Compose"]
