"""Time nndl against the book's algorithm, scikit-learn and PyTorch.

    python benchmarks/bench.py              # the full run (make bench)
    python benchmarks/bench.py --smoke      # seconds, synthetic data (CI); also --quick
    python benchmarks/bench.py --techniques small,large   # only the technique table

Every contender trains the same configuration -- sigmoid hidden layers,
eta 0.5, lmbda 5.0 (L2), one epoch over the same images -- and each is
timed ``--repeats`` times in this one process after one warm-up epoch; the
table shows medians and each contender's time divided by nndl's.  nndl's
epochs are timed by its own per-epoch clock within one multi-epoch run
(the one-off setup of a run is printed separately).  Timings on a shared machine are
noisy: compare ratios from one run, not numbers across runs.
"""

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

# the faithful per-example transcription of network2.py that the tests also use
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
from book_reference import BookCrossEntropy, BookNetwork, book_columns  # noqa: E402

from nndl.data import Dataset, load_mnist  # noqa: E402
from nndl.dropout import Dropout  # noqa: E402
from nndl.network import Network  # noqa: E402
from nndl.optimizers import SGD, AdaGrad, Adam, Momentum, RMSProp  # noqa: E402
from nndl.regularization import L1, L2, MaxNorm  # noqa: E402
from nndl.training import StepSchedule, train  # noqa: E402

ETA, LMBDA = 0.5, 5.0


def median_seconds(fn, repeats):
    """Run fn() ``repeats`` times; return the median of the wall times."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def nndl_epoch(data, sizes, m, engine="auto"):
    """A closure that trains a fresh seeded nndl network for ``run.epochs``
    epochs and returns each epoch's seconds (``train``'s own per-epoch clock,
    so the once-per-run setup -- e.g. marking the input's non-zeros -- is
    not counted; ``run.setup`` keeps the rest of the call's time)."""
    def run():
        net = Network(sizes, seed=0)
        start = time.perf_counter()
        state = train(net, data, run.epochs, m, SGD(ETA), regularization=L2(LMBDA), engine=engine)
        epochs = [h["train_seconds"] for h in state.history]
        run.engine, run.setup = state.engine, time.perf_counter() - start - sum(epochs)
        return epochs
    run.epochs = 1
    return run


def book_epoch(data, sizes, m):
    """One epoch of the chapter's per-example algorithm (float64 columns)."""
    xs, ys = book_columns(data.images, data.labels, sizes[-1])
    rng = np.random.default_rng(0)

    training_data = list(zip(xs, ys))
    start = Network(sizes, dtype="float64", seed=0)

    def run():
        book = BookNetwork(sizes, start.weights, start.biases, BookCrossEntropy)
        book.SGD(training_data, 1, m, ETA, LMBDA, [rng.permutation(len(xs))])
    return run


def sklearn_epoch(data, sizes, m):
    """One epoch of MLPClassifier with the same sizes, step, batch and L2.

    scikit-learn's alpha adds alpha * w / m to each mini-batch's gradient;
    alpha = lmbda * m / n makes that the chapter's lmbda / n * w.  Its output
    layer is softmax with log-loss (it has no sigmoid/cross-entropy option).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def run():
        clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic",
                            solver="sgd", alpha=LMBDA * m / len(data), batch_size=m,
                            learning_rate_init=ETA, momentum=0.0, nesterovs_momentum=False,
                            max_iter=1, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(data.images, data.labels)
    return run


def torch_epoch(data, sizes, m):
    """One epoch of the same network in PyTorch (CPU): sigmoid layers,
    cross-entropy on sigmoid outputs, SGD with weight_decay = lmbda / n."""
    import torch
    x = torch.from_numpy(np.ascontiguousarray(data.images, dtype=np.float32))
    y = torch.nn.functional.one_hot(torch.from_numpy(data.labels), sizes[-1]).float()
    n = len(x)

    def run():
        torch.manual_seed(0)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
        model = torch.nn.Sequential(*layers[:-1])
        opt = torch.optim.SGD(model.parameters(), lr=ETA, weight_decay=LMBDA / n)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
        perm = torch.randperm(n)
        for k in range(0, n, m):
            idx = perm[k:k + m]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx]) / len(idx)
            loss.backward()
            opt.step()
    return run


def blas_floor(data, sizes, m):
    """The matrix products of one epoch alone, on preallocated buffers: per
    mini-batch a W^T (forward), delta W (backward, all but the first layer)
    and delta^T a (gradients) -- what any implementation must compute."""
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((b, a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    a = [np.ascontiguousarray(data.images[:m], dtype=np.float32)]
    a += [rng.random((m, b)).astype(np.float32) for b in sizes[1:]]
    d = [rng.random((m, b)).astype(np.float32) for b in sizes[1:]]
    g = [np.empty_like(w) for w in ws]
    back = [np.empty((m, w.shape[1]), dtype=np.float32) for w in ws]

    def run():
        for _ in range(0, len(data), m):
            for l, w in enumerate(ws):
                np.matmul(a[l], w.T, out=a[l + 1])
            for l in range(len(ws) - 1, 0, -1):
                np.matmul(d[l], ws[l], out=back[l])
            for l in range(len(ws)):
                np.matmul(d[l].T, a[l], out=g[l])
    return run


def available(module):
    """True if ``module`` can be imported (torch and sklearn are optional)."""
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def table(title, rows, base):
    """Print contenders' medians and their ratio to the row named ``base``."""
    print(f"\n{title}", flush=True)
    ref = dict(rows)[base]
    for name, sec in rows:
        if sec is None:
            print(f"  {name:<34} skipped (not installed)")
        else:
            print(f"  {name:<34} {sec:8.3f} s   ratio {sec / ref:6.2f}x nndl", flush=True)


def compare(data, sizes, m, repeats, contenders, threads=None):
    """Time each contender on (sizes, m); return [(name, median seconds)].

    ``threads`` caps the BLAS and PyTorch thread pools for every contender
    alike (None: their defaults).
    """
    with thread_limit(threads):
        return _compare(data, sizes, m, repeats, contenders)


class thread_limit:
    """Context manager: cap BLAS (threadpoolctl) and PyTorch threads."""

    def __init__(self, threads):
        self.threads, self.limits, self.torch_threads = threads, None, None

    def __enter__(self):
        if self.threads:
            from threadpoolctl import threadpool_limits
            self.limits = threadpool_limits(self.threads)
            if available("torch"):
                import torch
                self.torch_threads = torch.get_num_threads()
                torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.restore_original_limits()
        if self.torch_threads:
            import torch
            torch.set_num_threads(self.torch_threads)


def _compare(data, sizes, m, repeats, contenders):
    rows = []
    for name, make, module in contenders:
        if module and not available(module):
            rows.append((name, None))
            continue
        fn = make(data, sizes, m)
        fn()                                  # warm-up: JIT, caches, imports
        if hasattr(fn, "epochs"):             # nndl: one run of `repeats` epochs
            fn.epochs = repeats
            sec = statistics.median(fn())
        else:
            sec = median_seconds(fn, repeats)
        label = f"{name} [{fn.engine}]" if hasattr(fn, "engine") else name
        if hasattr(fn, "setup"):
            print(f"  ({label}: one-off setup per train() call {fn.setup:.3f} s, not counted)")
        rows.append((label, sec))
    return rows


def nndl_as(engine):
    """A contender factory for nndl with a given engine."""
    return lambda data, sizes, m: nndl_epoch(data, sizes, m, engine)


def accuracy_time(test, repeats):
    """Median time to classify the test images with [784,30,10]."""
    net = Network([test.images.shape[1], 30, 10], seed=0)
    net.accuracy(test.images, test.labels)
    return median_seconds(lambda: net.accuracy(test.images, test.labels), repeats)


def peak_rss_of_default_training(epochs):
    """Peak resident memory (MB) of ``nndl train`` with the default network,
    run in a child process (``--epochs`` shortened: memory does not grow)."""
    # A fresh small parent runs nndl and reports its children's peak; asking from
    # this (large, forked) process would count its own size too.
    cmd = [sys.executable, "-c", "import resource, subprocess, sys; "
           "r = subprocess.run(sys.argv[1:], check=True); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)",
           sys.executable, "-m", "nndl.cli", "train", "--epochs", str(epochs), "--seed", "0"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    rss = int(out.stderr.strip().splitlines()[-1]) / 1024
    return rss, wall, out.stdout.strip().splitlines()[-1]


def machine():
    """One line about this machine and numpy's BLAS."""
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i['internal_api']} {i.get('version')} {i['num_threads']} threads"
                         for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    return (f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, "
            f"numpy {np.__version__} ({blas}), load average {os.getloadavg()[0]:.2f}")


def synthetic(n, d=784, classes=10, seed=0):
    """Random MNIST-like data (80% zeros) for the smoke run."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, d)).astype(np.float32)
    x[rng.random((n, d)) < 0.8] = 0
    return Dataset(x, rng.integers(0, classes, n)), Dataset(x[:n // 2], rng.integers(0, classes, n // 2))


# ------------------------------------------------------------ technique table
ELASTIC = "elastic:alpha=34,sigma=4"     # the `best` preset's distortion


class Net:
    """One network of the technique table: its layers, activations, mini-batch,
    learning rate, and the per-technique goals (epoch over plain) stated for it."""

    def __init__(self, label, sizes, hidden, output, m, eta, goals):
        self.label, self.sizes, self.hidden, self.output = label, sizes, hidden, output
        self.m, self.eta, self.goals = m, eta, goals
        self.cost = "log-likelihood" if output == "softmax" else "cross-entropy"


def techniques(net):
    """[(name, factory)]: each factory returns train()'s keyword arguments
    for one technique added to plain SGD without regularisation; a fresh
    one per run (optimisers, dropout and expanders are stateful)."""
    eta = net.eta

    def expander():
        from nndl.expansion import Expander
        return Expander(ELASTIC, seed=1)

    return [
        ("plain SGD", lambda: {}),
        ("momentum 0.9", lambda: dict(optimizer=Momentum(eta, 0.9))),
        ("Nesterov 0.9", lambda: dict(optimizer=Momentum(eta, 0.9, nesterov=True))),
        ("dropout 0.5 (hidden)", lambda: dict(dropout=Dropout(0.5))),
        ("dropout 0.5 + input 0.2, per example",
         lambda: dict(dropout=Dropout(0.5, 0.2, per_example=True))),
        ("max-norm 3", lambda: dict(constraint=MaxNorm(3.0))),
        ("L1 5.0", lambda: dict(regularization=L1(5.0))),
        ("L2 5.0", lambda: dict(regularization=L2(5.0))),
        ("Adam (eta 0.001)", lambda: dict(optimizer=Adam(0.001))),
        ("RMSProp (eta 0.001)", lambda: dict(optimizer=RMSProp(0.001))),
        ("AdaGrad (eta 0.01)", lambda: dict(optimizer=AdaGrad(0.01))),
        ("Adam + L2 5.0", lambda: dict(optimizer=Adam(0.001), regularization=L2(5.0))),
        ("elastic expansion, fresh each epoch", lambda: dict(augment=expander())),
        ("best preset's step: momentum 0.9 + elastic + step:1:0.99",
         lambda: dict(optimizer=Momentum(eta, 0.9), augment=expander(),
                      callbacks=[StepSchedule(1, 0.99)])),
    ]


def technique_epoch(data, net, kwargs):
    """Train a fresh seeded network for two epochs with ``kwargs`` (train()'s);
    return (the last epoch's seconds, the engine).

    The first epoch is the warm-up (compiling, caches, and for expansion the
    one epoch whose distortion cannot be prepared in the background).  An
    expanded run trains six: its stream times two steady epochs of each of
    its schedules before it settles on one (nndl.expansion.stream), and the
    sixth is trained with the schedule it chose."""
    network = Network(net.sizes, hidden=net.hidden, output=net.output, cost=net.cost, seed=0)
    kwargs = dict(kwargs)
    optimizer = kwargs.pop("optimizer", None) or SGD(net.eta)
    epochs = 6 if kwargs.get("augment") is not None else 2
    try:
        state = train(network, data, epochs, net.m, optimizer, **kwargs)
    finally:
        if kwargs.get("augment") is not None:
            kwargs["augment"].close()          # stop preparing an epoch nobody trains
    return state.history[-1]["train_seconds"], state.engine


def torch_technique(data, net, momentum=0.0, nesterov=False, dropout=0.0):
    """One epoch of the table's network in PyTorch (CPU): the same layers,
    SGD with ``momentum`` (PyTorch's own, v = mu v + g, p -= eta v) and
    hidden ``dropout``."""
    import torch
    x = torch.from_numpy(np.ascontiguousarray(data.images, dtype=np.float32))
    labels = torch.from_numpy(np.asarray(data.labels, dtype=np.int64))
    y = torch.nn.functional.one_hot(labels, net.sizes[-1]).float()
    act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[net.hidden]

    def run():
        torch.manual_seed(0)
        layers = []
        for a, b in zip(net.sizes[:-1], net.sizes[1:]):
            layers += [torch.nn.Linear(a, b), act()] + ([torch.nn.Dropout(dropout)] if dropout else [])
        model = torch.nn.Sequential(*layers[:-(2 if dropout else 1)])
        opt = torch.optim.SGD(model.parameters(), lr=net.eta, momentum=momentum, nesterov=nesterov)
        if net.output == "softmax":
            loss_fn, target = torch.nn.CrossEntropyLoss(reduction="sum"), labels
        else:
            loss_fn, target = torch.nn.BCEWithLogitsLoss(reduction="sum"), y
        perm = torch.randperm(len(x))
        for k in range(0, len(x), net.m):
            idx = perm[k:k + net.m]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), target[idx]) / len(idx)
            loss.backward()
            opt.step()
    return run


def sklearn_technique(data, net, momentum=0.0):
    """One epoch of MLPClassifier on the table's network: SGD with
    ``momentum`` (scikit-learn's: v = mu v - eta g), no penalty."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def run():
        clf = MLPClassifier(hidden_layer_sizes=tuple(net.sizes[1:-1]),
                            activation={"sigmoid": "logistic"}.get(net.hidden, net.hidden),
                            solver="sgd", alpha=0.0, batch_size=net.m, learning_rate_init=net.eta,
                            momentum=momentum, nesterovs_momentum=False, max_iter=1,
                            shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(data.images, data.labels)
    return run


def technique_table(data, net, repeats, threads=None):
    """Print each technique's epoch over the plain epoch of ``net``, the
    engine that ran it, the peers' technique epochs over their own plain
    epoch, and (softmax network) the best preset's step over the plain BLAS
    epoch.  Return {name: median ratio}.

    The techniques are timed in ``repeats`` rounds, each timing every
    technique once, so that a change in the shared machine's speed meets
    them all alike; each ratio is a round's technique epoch over the same
    round's plain epoch: the median over rounds, and the range in brackets."""
    print(f"\ntechniques on {net.label}, {len(data)} images: epoch over plain SGD in the same "
          f"round, median of {repeats} rounds [min-max]", flush=True)
    rows = techniques(net)
    if net.output == "softmax":
        rows = rows + [("plain SGD, blas engine named", lambda: {"engine": "blas"})]
    seconds, engines_used = {name: [] for name, _ in rows}, {}
    with thread_limit(threads):
        for k in range(repeats):
            for name, kwargs in rows:
                sec, engines_used[name] = technique_epoch(data, net, kwargs())
                seconds[name].append(sec)
            print(f"  (round {k + 1} of {repeats} done)", flush=True)
        plain = seconds["plain SGD"]
        ratios = {}
        for name, _ in rows:
            r = [s / p for s, p in zip(seconds[name], plain)]
            ratios[name] = statistics.median(r)
            goal = net.goals.get(name)
            print(f"  {name:<58} {statistics.median(seconds[name]):7.3f} s {ratios[name]:6.2f}x "
                  f"[{min(r):.2f}-{max(r):.2f}] [{engines_used[name]}]"
                  + (f"  (goal: <= {goal}x)" if goal else ""), flush=True)
        if net.output == "softmax":
            best = rows[-2][0]
            r = [s / p for s, p in zip(seconds[best], seconds[rows[-1][0]])]
            print(f"  best preset's step over the plain BLAS epoch: {statistics.median(r):.2f}x "
                  f"[{min(r):.2f}-{max(r):.2f}]", flush=True)
        peer_rows(data, net, repeats, statistics.median(plain))
    return ratios


def peer_rows(data, net, repeats, nndl_plain):
    """The peers' epochs with the techniques they have, over their own plain
    epoch (and nndl's plain epoch over theirs)."""
    peers = [("PyTorch", "torch", torch_technique,
              [("plain SGD", {}), ("momentum 0.9", dict(momentum=0.9)),
               ("Nesterov 0.9", dict(momentum=0.9, nesterov=True)),
               ("dropout 0.5 (hidden)", dict(dropout=0.5))])]
    if net.output != "softmax":
        peers.append(("scikit-learn", "sklearn", sklearn_technique,
                      [("plain SGD", {}), ("momentum 0.9", dict(momentum=0.9))]))
    for peer, module, make, rows in peers:
        if not available(module):
            print(f"  {peer}: skipped (not installed)")
            continue
        plain = None
        for name, kwargs in rows:
            fn = make(data, net, **kwargs)
            fn()                                   # warm-up
            sec = median_seconds(fn, repeats)
            plain = plain or sec
            extra = f", nndl's plain epoch {plain / nndl_plain:.1f}x faster" if not kwargs else ""
            print(f"  {peer + ' ' + name:<58} {sec:7.3f} s {sec / plain:6.2f}x {peer} plain{extra}",
                  flush=True)


def technique_tables(training, repeats, small_threads, smoke, networks=("small", "large"),
                     large_images=20000):
    """The technique table for ``networks`` (small ones on synthetic data
    in the smoke run): [784,30,10] on 50,000 images, [784,800,800,10] on
    ``large_images``."""
    small = Net("[784,30,10] mini-batch 10", [784, 30, 10], "sigmoid", "sigmoid", 10, 0.5,
                {"elastic expansion, fresh each epoch": 2.0})
    sizes = [784, 40, 40, 10] if smoke else [784, 800, 800, 10]
    large = Net(f"[{','.join(map(str, sizes))}] ReLU/softmax mini-batch 100", sizes, "relu",
                "softmax", 100, 0.1,
                {"elastic expansion, fresh each epoch": 1.3})
    if "small" in networks:
        technique_table(training if smoke else training.subset(min(50000, len(training))), small,
                        repeats, small_threads)
    if "large" in networks:
        technique_table(training.subset(min(large_images, len(training))), large, repeats)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", "--quick", action="store_true", help="tiny synthetic run, for CI")
    p.add_argument("--techniques", default=None, metavar="small,large",
                   help="only the technique table (each technique's epoch over plain SGD) "
                        "of these networks")
    p.add_argument("--technique-images", type=int, default=20000,
                   help="training images per epoch of the large network's technique table")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--big-images", type=int, default=10000,
                   help="training images for the mini-batch-100 tables (default 10,000: "
                        "the work per image is the same, and a shared machine is slow)")
    p.add_argument("--small-threads", type=int, default=1,
                   help="BLAS/PyTorch threads for the mini-batch-10 tables (default 1: "
                        "nndl's kernel is single-threaded too, and tiny products gain nothing "
                        "from threads on a shared 2-core machine)")
    args = p.parse_args(argv)
    if args.smoke:
        training, test = synthetic(400)
        repeats, big, memory = 1, [[784, 40, 10], [784, 40, 40, 10]], False
    else:
        splits = load_mnist(quiet=True)
        training, test = splits.training, splits.test
        repeats, big, memory = args.repeats, [[784, 800, 10], [784, 800, 800, 10]], True
    print(machine(), flush=True)
    print(f"{len(training)} training images, one epoch per timing, median of {repeats}")
    if args.techniques:
        technique_tables(training, repeats, args.small_threads, args.smoke,
                         args.techniques.split(","), args.technique_images)
        return

    everyone = [("nndl", nndl_as("auto"), None), ("nndl reference (NumPy)", nndl_as("reference"), None),
                ("book per-example (float64)", book_epoch, None),
                ("scikit-learn MLPClassifier", sklearn_epoch, "sklearn"),
                ("PyTorch (CPU)", torch_epoch, "torch")]
    print(f"mini-batch 10 tables: {args.small_threads} BLAS/PyTorch thread(s); "
          "mini-batch 100 tables: default threads")
    rows = compare(training, [784, 30, 10], 10, repeats, everyone, args.small_threads)
    table("[784,30,10], mini-batch 10 (goal: <= 0.15 s; >= 15x book, 6x sklearn, 10x torch)",
          rows, rows[0][0])
    rows = compare(training, [784, 100, 10], 10, repeats, everyone[:2] + everyone[4:],
                   args.small_threads)
    table("[784,100,10], mini-batch 10 (goal: <= 0.3 s)", rows, rows[0][0])
    big_data = training.subset(min(args.big_images, len(training)))
    print(f"\nmini-batch 100 tables: {len(big_data)} images per epoch")
    from nndl.engines.gemm import fused_update
    print("  (blas engine's weight update: "
          + ("one gemm call, W += alpha d^T a" if fused_update(np.float32) is not None
             else "NumPy product, then subtraction") + ")")
    for sizes in big:
        rows = compare(big_data, sizes, 100, repeats,
                       [("nndl", nndl_as("auto"), None), ("nndl numba", nndl_as("numba"), None),
                        ("nndl blas", nndl_as("blas"), None),
                        ("BLAS floor (matrix products only)", lambda d, s, m: blas_floor(d, s, m), None),
                        ("PyTorch (CPU)", torch_epoch, "torch")])
        floor = dict(rows)["BLAS floor (matrix products only)"]
        table(f"{sizes}, mini-batch 100 (goal: nndl within 1.5x of the BLAS floor)", rows, rows[0][0])
        print(f"  nndl / BLAS floor: {rows[0][1] / floor:.2f}")
    print(f"\naccuracy of [784,30,10] on {len(test)} images: "
          f"{accuracy_time(test, repeats * 4) * 1000:.1f} ms (goal: <= 20 ms)")
    technique_tables(training, repeats, args.small_threads, args.smoke)
    if memory:
        rss, wall, last = peak_rss_of_default_training(1)
        print(f"peak RSS of `nndl train --epochs 1` (default network): {rss:.0f} MB "
              f"(goal: < 400 MB); {wall:.1f} s wall; {last}")


if __name__ == "__main__":
    main()
