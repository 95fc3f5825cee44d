"""What an expanded epoch costs on the compiled engine, and what bounds it.

    python benchmarks/numba_expansion.py [--images N] [--epochs E] [--quick]

[784,30,10], sigmoid/cross-entropy, mini-batch 10, eta 0.5, elastic
alpha 34 sigma 4 (the `best` preset's distortion), the numba engine:

1. The CPU seconds of one epoch's parts, each timed alone in this thread:
   training (the kernel), and for the expansion drawing the random numbers,
   distorting, and marking the non-zero pixels.  On ``c`` free cores an
   expanded epoch cannot take less than max(training, sum of the parts / c).
2. Whether the kernel releases the GIL: a Python thread counts while
   another trains an epoch, and its CPU seconds are set beside the
   kernel's; as a control, the same while a compiled loop that holds the
   GIL spins (there the counter gets next to nothing).
3. Plain and expanded runs of ``E`` epochs, alternating: each epoch after
   the first (which has no previous epoch to prepare it during) in wall
   and process CPU seconds, and the median ratio expanded / plain.

Timings on a shared machine move with its load (printed): compare the
ratios of one run, and the CPU seconds rather than the wall.
"""

import argparse
import os
import statistics
import threading
import time

import numpy as np
from numba import njit

from bench import machine
from nndl.data import load_mnist
from nndl.engines import Step, kernel, numba_engine
from nndl.expansion import Expander
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.regularization import NoRegularization
from nndl.training import train

ELASTIC = "elastic:alpha=34,sigma=4"


def part_seconds(x, repeats):
    """Median CPU seconds, in this thread, of drawing, distorting and
    marking one epoch of ``x``, chunk by chunk as the Expander does."""
    ex = Expander(ELASTIC, seed=0)
    t, shape, out = ex.transform, ex.image_shape(x.shape[1]), np.empty_like(x)
    runs = []
    for r in range(repeats + 1):                   # the first loads the kernels
        parts = np.zeros(3)
        for c, lo in enumerate(range(0, len(x), ex.chunk_size)):
            hi = min(len(x), lo + ex.chunk_size)
            a = time.thread_time()
            params = t.draw(ex.rng(r, c), hi - lo, shape)
            b = time.thread_time()
            t.run(x[lo:hi], None, out[lo:hi], params, shape)
            d = time.thread_time()
            kernel.nonzero_masks(out[lo:hi])
            parts += (b - a, d - b, time.thread_time() - d)
        runs.append(parts)
    return np.median(runs[1:], axis=0)


def engine_for(data):
    """A prepared numba engine for a fresh [784,30,10] on ``data``."""
    net = Network([784, 30, 10], seed=0)
    x = np.ascontiguousarray(data.images, dtype=net.dtype)
    y = np.eye(10, dtype=net.dtype)[data.labels]
    engine = numba_engine.NumbaEngine(net, Step(SGD(0.5), NoRegularization(), 10, len(x)), x, y)
    engine.prepare(print)
    return engine, x, y


@njit
def spin(n):
    """A compiled loop that holds the GIL (the control of ``beside_counter``)."""
    total = 0.0
    for i in range(n):
        total += np.sqrt(i)
    return total


def beside_counter(work):
    """Run ``work()`` here while a Python thread counts; return (its CPU
    seconds here, the counter's CPU seconds meanwhile)."""
    done, counted = threading.Event(), []

    def count():
        start, n = time.thread_time(), 0
        while not done.is_set():
            n += 1
        counted.append(time.thread_time() - start)

    counter = threading.Thread(target=count)
    counter.start()
    cpu = time.thread_time()
    work()
    cpu = time.thread_time() - cpu
    done.set()
    counter.join()
    return cpu, counted[0]


def gil_check(data):
    """(kernel CPU s, counter CPU s), and the same for the GIL-holding control."""
    engine, x, y = engine_for(data)
    order = np.random.default_rng(0).permutation(len(x))
    spin(10)
    start = time.thread_time()
    spin(10 ** 7)
    n = int(10 ** 7 * 0.1 / max(time.thread_time() - start, 1e-3))   # about 0.1 s of spinning
    return (beside_counter(lambda: engine.run_epoch(x, y, order, 0)),
            beside_counter(lambda: spin(n)))


class ProcessCPU:
    """Record each epoch's CPU seconds of the whole process (every thread)."""

    def on_epoch_begin(self, state):
        self.start = time.process_time()

    def on_epoch_end(self, state):
        state.history[-1]["cpu_seconds"] = time.process_time() - self.start


def epochs(data, n, expanded):
    """(wall, process CPU) seconds of epochs 2..n of a numba run; the engine."""
    ex = Expander(ELASTIC, seed=1) if expanded else None
    state = train(Network([784, 30, 10], seed=0), data, n, 10, SGD(0.5), augment=ex,
                  engine="numba", callbacks=[ProcessCPU()])
    if ex is not None:
        ex.close()
    return [(h["train_seconds"], h["cpu_seconds"]) for h in state.history[1:]], state.engine


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="10,000 images, 3 epochs, 1 round")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.epochs, args.rounds = 10000, 3, 1
    data = load_mnist(quiet=True).training.subset(args.images)
    print(machine())
    print(f"[784,30,10], mini-batch 10, {len(data)} images, {ELASTIC}; {os.cpu_count()} cores")
    engine, x, y = engine_for(data)
    order = np.random.default_rng(0).permutation(len(x))
    train_cpu = []
    for _ in range(3):
        start = time.thread_time()
        engine.run_epoch(x, y, order, 0)
        train_cpu.append(time.thread_time() - start)
    train_cpu = statistics.median(train_cpu)
    draw, distort, masks = part_seconds(x, 3)
    total = train_cpu + draw + distort + masks
    print(f"1. CPU seconds an epoch: training {train_cpu:.3f}; expansion: draw {draw:.3f}, "
          f"distort {distort:.3f}, masks {masks:.3f} ({len(x) / distort:,.0f} images/s "
          f"distorted); sum {total:.3f} = {total / train_cpu:.2f} plain epochs, so at best "
          + ", ".join(f"{max(1.0, total / c / train_cpu):.2f}x plain on {c} free cores"
                      for c in (1, 2, 4)))
    (kernel_cpu, beside), (spin_cpu, beside_spin) = gil_check(data)
    print(f"2. GIL: while the kernel trained an epoch ({kernel_cpu:.3f} s CPU) a Python thread "
          f"counted for {beside:.3f} s CPU; while a GIL-holding compiled loop spun "
          f"({spin_cpu:.3f} s CPU), for {beside_spin:.3f} s")
    ratios, engines_seen = [], set()
    for r in range(args.rounds):
        plain, e1 = epochs(data, args.epochs, False)
        expanded, e2 = epochs(data, args.epochs, True)
        engines_seen |= {e1, e2}
        ratios += [e[0] / p[0] for p, e in zip(plain, expanded)]
        fmt = lambda rows: " ".join(f"{w:.3f}/{c:.3f}" for w, c in rows)      # noqa: E731
        print(f"3. round {r + 1} (load {os.getloadavg()[0]:.2f}), epochs 2-{args.epochs} "
              f"wall/process-CPU s: plain {fmt(plain)}; expanded {fmt(expanded)}", flush=True)
    print(f"   expanded / plain epoch, median of {len(ratios)}: {statistics.median(ratios):.2f}x "
          f"[{min(ratios):.2f}-{max(ratios):.2f}] [{', '.join(sorted(engines_seen))}] "
          "(goal: <= 2x)")


if __name__ == "__main__":
    main()
