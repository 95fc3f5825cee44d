"""The ``general`` preset against scikit-learn's default MLPClassifier.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/general_preset.py [--choose]

``--choose`` trains every candidate of ``CANDIDATES`` on MNIST (judged on the
validation set) and on scikit-learn's ``load_digits`` (judged on ten
held-out splits other than the comparison's, beside scikit-learn's default), the evidence the preset was
chosen by (docs/general.md).  Without
it, the chosen settings (``src/nndl/presets/general.toml``, plus the
optimiser) run beside ``MLPClassifier(hidden_layer_sizes=(100,))``
with every other parameter at scikit-learn's default, on the same data in
the same run: MNIST (the first 10,000 training images, judged on the
validation and test sets) and
load_digits (pixels / 16; ten stratified splits of 1,297 training and 500
held-out images).  BLAS runs on one thread on both sides.  Targets: our accuracy >= theirs on both, our time < theirs.
"""

import argparse
import time
import warnings

import numpy as np

from nndl.callbacks import StepSchedule
from nndl.data import load_mnist
from nndl.data.dataset import Dataset
from nndl.network import Network
from nndl.optimizers import Adam, make_optimizer
from nndl.options import read_preset
from nndl.regularization import make_regularization
from nndl.training import train

CANDIDATES = {
    "adam 1e-3, m 32, lmbda 0, 20 epochs": dict(optimizer="adam", eta=0.001, batch=32,
                                                lmbda=0.0, epochs=20),
    "adam 1e-3, m 32, lmbda 5, 20 epochs": dict(optimizer="adam", eta=0.001, batch=32,
                                                lmbda=5.0, epochs=20),
    "adam 1e-3, m 32, lmbda 1, 60 epochs": dict(optimizer="adam", eta=0.001, batch=32,
                                                lmbda=1.0, epochs=60),
    **{f"momentum 0.9, eta {eta}, m {batch}, lmbda {lmbda}, {epochs} epochs":
       dict(optimizer="momentum", eta=eta, batch=batch, lmbda=lmbda, epochs=epochs)
       for eta in (0.02, 0.05, 0.1) for batch in (16, 32) for lmbda in (0.25, 0.5, 1.0)
       for epochs in (60, 120)},
}
#: MNIST training images used on both sides (scikit-learn's default runs up to
#: 200 epochs: on all 50,000 that is many minutes on a shared 2-core machine).
MNIST_TRAIN = 10000


def blas():
    """Which BLAS kernel NumPy runs, and with how many threads."""
    from threadpoolctl import threadpool_info
    return ", ".join(f"{i['internal_api']} {i.get('architecture')} x{i['num_threads']}"
                     for i in threadpool_info() if i["user_api"] == "blas")


def make(setting):
    """The optimiser a setting names."""
    if setting["optimizer"] == "adam":
        return Adam(setting["eta"])
    return make_optimizer(setting["eta"], momentum=setting.get("momentum", 0.9))


def fit_ours(setting, training, hidden, seed=0):
    """Train [n_in, hidden, n_classes] ReLU/softmax as a setting says; return
    (network, seconds)."""
    net = Network([training.images.shape[1], hidden, int(training.labels.max()) + 1],
                  cost="log-likelihood", hidden="relu", seed=seed)
    decay = setting.get("decay")          # eta x decay each epoch (--lr-schedule step:1:decay)
    start = time.perf_counter()
    train(net, training, setting["epochs"], setting["batch"], make(setting),
          regularization=make_regularization("l2", setting["lmbda"]),
          callbacks=[StepSchedule(1, decay)] if decay else [])
    return net, time.perf_counter() - start


def fit_sklearn(training, hidden, seed=0):
    """scikit-learn's default MLPClassifier of the same hidden size; return (clf, seconds)."""
    from sklearn.neural_network import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # ConvergenceWarning at max_iter
        clf.fit(training.images, training.labels)
    return clf, time.perf_counter() - start


def accuracy(model, data):
    if isinstance(model, Network):
        return model.accuracy(data.images, data.labels) / len(data)
    return model.score(data.images, data.labels)


def digits_splits(n_splits, seed):
    """load_digits as [0, 1] pixels, in stratified (training 1,297, held-out 500)
    splits: ``seed`` 0 for the comparison, 1 for choosing the preset."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedShuffleSplit
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    sss = StratifiedShuffleSplit(n_splits=n_splits, test_size=500, random_state=seed)
    return [(Dataset(x[a], y[a]), Dataset(x[b], y[b])) for a, b in sss.split(x, y)]


def preset_setting():
    """The shipped preset's settings, as this script's run function takes them."""
    p = read_preset("general")
    optimizer = p.get("optimizer", "momentum" if p.get("momentum") else "sgd")
    return dict(optimizer=optimizer, eta=p["eta"], momentum=p.get("momentum", 0.0),
                epochs=p["epochs"], batch=p["batch-size"], lmbda=p.get("lmbda", 0.0),
                hidden=p["sizes"][1])


def choose(splits, digits):
    theirs = np.mean([accuracy(fit_sklearn(tr, 100, seed=k)[0], ho)
                      for k, (tr, ho) in enumerate(digits)])
    print(f"scikit-learn's default on these digits splits: {theirs:.2%}")
    print("candidate | MNIST validation | digits held-out (mean of splits) | MNIST seconds")
    for name, c in CANDIDATES.items():
        net, secs = fit_ours(c, splits.training.subset(MNIST_TRAIN), 100)
        val = accuracy(net, splits.validation)
        dig = np.mean([accuracy(fit_ours(c, tr, 100, seed=k)[0], ho)
                       for k, (tr, ho) in enumerate(digits)])
        print(f"{name} | {val:.2%} | {dig:.2%} | {secs:.1f}", flush=True)


def compare(splits, digits):
    s = preset_setting()
    hidden = s["hidden"]
    print(f"general preset: {s}")
    training = splits.training.subset(MNIST_TRAIN)
    net, ours_s = fit_ours(s, training, hidden)
    clf, theirs_s = fit_sklearn(training, hidden)
    for what, data in (("validation", splits.validation), ("test", splits.test)):
        print(f"MNIST {what}: nndl {accuracy(net, data):.2%}  scikit-learn "
              f"{accuracy(clf, data):.2%}")
    print(f"MNIST time: nndl {ours_s:.1f}s  scikit-learn {theirs_s:.1f}s ({clf.n_iter_} "
          f"epochs)  ratio {ours_s / theirs_s:.2f}", flush=True)
    ours, theirs, ot, tt = [], [], 0.0, 0.0
    for k, (tr, ho) in enumerate(digits):
        net, secs = fit_ours(s, tr, hidden, seed=k)
        clf, csecs = fit_sklearn(tr, hidden, seed=k)
        ours.append(accuracy(net, ho))
        theirs.append(accuracy(clf, ho))
        ot, tt = ot + secs, tt + csecs
    print(f"digits held-out, {len(digits)} splits: nndl {np.mean(ours):.2%} "
          f"({', '.join(f'{a:.1%}' for a in ours)})  scikit-learn {np.mean(theirs):.2%} "
          f"({', '.join(f'{a:.1%}' for a in theirs)})")
    print(f"digits time (all splits): nndl {ot:.1f}s  scikit-learn {tt:.1f}s  "
          f"ratio {ot / tt:.2f}")


def epoch_times(splits, epochs=5):
    """Seconds of training per epoch of the first 10,000 MNIST images: the
    preset, and plain SGD with the same eta and mini-batch, on the engine
    ``train`` picks (epochs 2 on: the first may load compiled code)."""
    s, training = preset_setting(), splits.training.subset(10000)
    for name, optimizer in (("preset", make(s)), ("plain SGD", make_optimizer(s["eta"]))):
        net = Network([784, s["hidden"], 10], cost="log-likelihood", hidden="relu", seed=0)
        state = train(net, training, epochs, s["batch"], optimizer,
                      regularization=make_regularization("l2", s["lmbda"]))
        times = ", ".join(f"{r['train_seconds']:.3f}" for r in state.history[1:])
        print(f"{name}: seconds per epoch of 10,000 images on {state.engine}: {times}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--choose", action="store_true", help="train every candidate setting")
    ap.add_argument("--epoch-times", action="store_true",
                    help="only time the preset's epochs against plain SGD's")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits
    splits = load_mnist()
    digits = digits_splits(10, seed=1) if args.choose else digits_splits(10, seed=0)
    # one BLAS thread for both sides: on a busy 2-core machine two threads
    # made every small matrix product wait for a descheduled partner (30x slower)
    with threadpool_limits(limits=1, user_api="blas"):
        print(f"BLAS: {blas()}  (timings on a shared machine: other jobs were running)")
        if args.epoch_times:
            epoch_times(splits)
        elif args.choose:
            choose(splits, digits)
        else:
            compare(splits, digits)


if __name__ == "__main__":
    main()
