"""stream
~~~~~~

On-the-fly expansion: every epoch, every training image is seen freshly
distorted, and the distorting happens in a background thread while the
network trains on the previous chunk.

:class:`Expander` is what ``train(..., augment=...)`` draws its mini-batches
from.  Each epoch the shuffled order is cut into chunks (a whole number of
mini-batches each); a worker thread distorts chunk after chunk into a queue
of at most ``prefetch`` chunks, so memory holds a few thousand images
whatever the number of epochs -- the expanded data is never stored in full.
NumPy releases the GIL inside its large operations, so the worker runs on
the second core while the main thread does backpropagation.

Chunk ``c`` of epoch ``e`` is distorted with a generator seeded from
``(seed, e, c)`` alone, so the same seed gives the same images whatever
the timing of the threads.

While an epoch runs, the BLAS the trainer calls is held to one thread fewer
than the machine has cores (``blas_threads``), leaving a core to the worker.
On the 2-core development machine, with another process busy on one core,
BLAS on both cores made an epoch of [784,800,800,10] with expansion 1.5x
slower (1.47 s against 1.01 s for 10,000 images); with nothing else
running, the limit costs 7% (0.93 s against 0.87 s).  See
``benchmarks/expansion_threads.py`` and docs/results/best.md.
"""

import os
import queue
import threading

import numpy as np

from ..errors import ConfigError, DataError
from .spec import Compose, parse_specs


class Expander:
    """A source of freshly distorted mini-batches for the training loop.

    ``transform`` is a transform (``transform(images, rng)`` on ``(N, H, W)``
    batches), or SPEC text or a list of SPECs (see :mod:`nndl.expansion.spec`).
    ``shape`` is the image shape ``(H, W)``; by default rows of ``d`` values
    are taken to be square images.  ``seed`` fixes every distortion; without
    one a random seed is drawn (and kept in ``self.seed``).
    """

    def __init__(self, transform, *, seed=None, shape=None, chunk_size=2000, prefetch=2,
                 blas_threads="auto"):
        if isinstance(transform, (str, list, tuple)):
            transform = parse_specs(transform)
        self.transform = transform
        self.seed = np.random.SeedSequence().entropy if seed is None else int(seed)
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.shape = shape
        if chunk_size < 1 or prefetch < 1:
            raise ConfigError("chunk_size and prefetch must be >= 1")
        self.chunk_size, self.prefetch = int(chunk_size), int(prefetch)
        if blas_threads == "auto":
            blas_threads = max(1, (os.cpu_count() or 1) - 1)
        if blas_threads is not None and (isinstance(blas_threads, bool)
                                         or not isinstance(blas_threads, int) or blas_threads < 1):
            raise ConfigError(f"blas_threads must be 'auto', None or an integer >= 1, "
                              f"got {blas_threads!r}")
        self.blas_threads = blas_threads

    def __repr__(self):
        return f"Expander({self.transform!r}, seed={self.seed})"

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

    def distort(self, images, epoch, chunk):
        """Return distorted copies of the flat ``images`` (n, H*W) for this
        (epoch, chunk), in their dtype."""
        h, w = self.image_shape(images.shape[1])
        out = self.transform(images.reshape(-1, h, w), self.rng(epoch, chunk))
        return out.reshape(len(images), -1).astype(images.dtype, copy=False)

    def batches(self, x_all, y_all, order, mini_batch_size, epoch):
        """Yield the epoch's mini-batches ``(x, y)`` in ``order``, with ``x``
        distorted; the same batches as undistorted training, image for image.

        A worker thread distorts the next chunks while these are trained on,
        and the trainer's BLAS keeps to ``blas_threads`` threads meanwhile
        (None: no limit); leaving the loop early (an exception, a break)
        stops the worker and lifts the limit.
        """
        self.image_shape(x_all.shape[1])
        per_chunk = max(1, self.chunk_size // mini_batch_size) * mini_batch_size
        chunks = [order[k:k + per_chunk] for k in range(0, len(order), per_chunk)]
        q = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        worker = threading.Thread(target=self._produce, args=(x_all, chunks, epoch, q, stop),
                                  name=f"nndl-expand-{epoch}", daemon=True)
        limit = _blas_limit(self.blas_threads)
        worker.start()
        try:
            for idx in chunks:
                x = q.get()
                if isinstance(x, BaseException):
                    raise x
                y = y_all.take(idx, axis=0)
                for k in range(0, len(idx), mini_batch_size):
                    yield x[k:k + mini_batch_size], y[k:k + mini_batch_size]
        finally:
            stop.set()
            worker.join()
            if limit is not None:
                limit.restore_original_limits()

    def _produce(self, x_all, chunks, epoch, q, stop):
        """Worker: distort each chunk in turn into ``q``; pass an error on
        to the trainer instead of dying silently."""
        try:
            for c, idx in enumerate(chunks):
                item = self.distort(x_all.take(idx, axis=0), epoch, c)
                if not _put(q, item, stop):
                    return
        except BaseException as e:          # noqa: BLE001 - re-raised in the trainer
            _put(q, e, stop)


def _blas_limit(threads):
    """Hold the process's BLAS to ``threads`` threads until the returned
    limiter's ``restore_original_limits()``; None when there is no limit."""
    if threads is None:
        return None
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=threads, user_api="blas")


def _put(q, item, stop):
    """Put ``item`` in ``q``, waiting for room unless ``stop`` is set; return
    whether it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


__all__ = ["Expander", "Compose"]
