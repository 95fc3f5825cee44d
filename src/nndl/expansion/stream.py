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
their timing, and whichever engine trains on them.  The worker draws the
random numbers of the whole epoch first (NumPy; ``epoch_images`` waits for
that before it returns), then runs each transform's compiled kernel once
over its share of the rows.  The kernels do not hold the GIL, and one call
per epoch and transform leaves nothing waiting for the GIL while an
engine's compiled epoch holds it (a composition of transforms waits for it
between its kernels).

Threads come from the cores actually free (:mod:`~nndl.expansion.threads`):
BLAS is held to one thread fewer than the free cores while the stream runs,
and the worker gets the core left over.  Memory: two epochs' matrices
(e.g. 2 x 157 MB for 50,000 float32 images) and the epoch's random numbers.
"""

import threading

import numpy as np

from ..errors import ConfigError, DataError
from .spec import Compose, parse_specs
from .threads import LoadMeter


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
        prepared this epoch of this ``x`` it is returned at once; after
        returning, the worker starts on the next epoch (``prefetch``).
        Raises the worker's error, if it had one, here.
        """
        x = np.asarray(x)
        shape = self.image_shape(x.shape[1])
        job, self._job = self._job, None
        if job is not None and not job.is_for(x, epoch):
            job.cancel()
            job = None
        _, distort = self.thread_plan()
        if job is None:
            job = _EpochJob(self, x, epoch, shape, self._buffer(x), max(distort, self.plan.free))
            job.run()
        out = job.result()
        if self._current is not None and self._current is not out:
            self._spare = self._current
        self._current = out
        if self.prefetch:
            self._job = _EpochJob(self, x, epoch + 1, shape, self._buffer(x), distort)
            self._job.start()
        return out

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
    """One epoch's distortion: draw every chunk's random numbers, then run
    the kernels over ``threads`` shares of the rows, in the calling thread
    (:meth:`run`) or a worker (:meth:`start`)."""

    def __init__(self, expander, x, epoch, shape, out, threads):
        self.expander, self.x, self.epoch, self.shape, self.out = expander, x, epoch, shape, out
        self.threads = max(1, int(threads))
        self.error = None
        self.stopped = threading.Event()
        self.running = threading.Event()      # the kernels have been called
        self.thread = None

    def is_for(self, x, epoch):
        return self.x is x and self.epoch == epoch

    def start(self):
        """Start the worker and return once its kernels run (or it is done):
        the random numbers are drawn while the caller waits, so that an
        engine whose compiled epoch holds the GIL cannot keep the worker
        from starting."""
        self.thread = threading.Thread(target=self._guarded, daemon=True,
                                       name=f"nndl-expand-{self.epoch}")
        self.thread.start()
        while not self.running.wait(0.01) and self.thread.is_alive():
            pass

    def run(self):
        self._guarded()

    def cancel(self):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()

    def result(self):
        """The finished matrix, or the worker's error raised."""
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.out

    def _guarded(self):
        try:
            self._distort()
        except BaseException as e:          # noqa: BLE001 - raised again in result()
            self.error = e
        finally:
            self.running.set()

    def _distort(self):
        ex, x, out, shape = self.expander, self.x, self.out, self.shape
        n, size = len(x), ex.chunk_size
        chunks = [(lo, min(n, lo + size)) for lo in range(0, n, size)]
        t = ex.transform
        if not (hasattr(t, "draw") and hasattr(t, "run")):
            self.running.set()
            for c, (lo, hi) in enumerate(chunks):          # any callable: chunk by chunk
                if self.stopped.is_set():
                    return
                images = x[lo:hi].reshape(-1, *shape)
                out[lo:hi] = np.asarray(t(images, ex.rng(self.epoch, c))).reshape(hi - lo, -1)
            return
        drawn = [t.draw(ex.rng(self.epoch, c), hi - lo, shape) for c, (lo, hi) in enumerate(chunks)]
        if self.stopped.is_set() or not chunks:
            return
        params = _concatenate(drawn)
        shares = np.array_split(np.arange(n), min(self.threads, len(chunks)))
        entered = [threading.Event() for _ in shares]
        helpers = [threading.Thread(target=self._run_share, args=(share, params, e), daemon=True)
                   for share, e in zip(shares[1:], entered[1:])]
        for h, e in zip(helpers, entered[1:]):
            h.start()
            e.wait()
        self.running.set()              # each share is a kernel call away from running
        self._run_share(shares[0], params, entered[0])
        for h in helpers:
            h.join()
        if self.error is not None:
            raise self.error

    def _run_share(self, share, params, entered):
        entered.set()
        if len(share) == 0:
            return
        lo, hi = int(share[0]), int(share[-1]) + 1
        try:
            self.expander.transform.run(self.x[lo:hi], None, self.out[lo:hi],
                                        _slice(params, lo, hi), self.shape)
        except BaseException as e:          # noqa: BLE001 - raised again in result()
            self.error = e


def _concatenate(drawn):
    """Join per-chunk parameters (arrays, or lists of arrays per transform)."""
    first = drawn[0]
    if isinstance(first, list):
        return [_concatenate([d[i] for d in drawn]) for i in range(len(first))]
    return np.concatenate(drawn)


def _slice(params, lo, hi):
    if isinstance(params, list):
        return [_slice(p, lo, hi) for p in params]
    return params[lo:hi]


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
