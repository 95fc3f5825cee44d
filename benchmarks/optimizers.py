"""The optimisers' targets, timed side by side with scikit-learn in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/optimizers.py [--only NAME ...]

* lbfgs:  L-BFGS on [784, 30, 10] (sigmoid, cross-entropy), the first 10,000
  training images, 100 iterations, lmbda 1.0, against
  ``MLPClassifier(solver="lbfgs", hidden_layer_sizes=(30,), activation="logistic",
  alpha=1.0, max_iter=100)``.  scikit-learn's penalty is 0.5 * alpha * ||W||^2
  / n_samples added to the mean loss, nndl's L2 term is (lmbda / 2n) sum w^2
  added to the mean cost (equation (85)): the same term, so alpha = lmbda.
  Target: our test accuracy >= theirs - 0.5 points, our time <= theirs.
* cg:     conjugate gradient on the same setting; target >= 85% test.
* newton: damped Newton with the exact Hessian on [784, 5, 10], 2,000 images.
* adam:   Adam on [784, 100, 10] ReLU/softmax, mini-batch 50, 3 epochs, eta
  chosen on the validation set from a small grid; target >= 96% test.
"""

import argparse
import time
import warnings

from nndl.data import load_mnist
from nndl.fullbatch import LBFGS, ConjugateGradient, Newton, minimize
from nndl.network import Network
from nndl.optimizers import Adam
from nndl.regularization import L2
from nndl.training import train


def blas():
    """Which BLAS kernel NumPy runs, and with how many threads."""
    from threadpoolctl import threadpool_info
    return ", ".join(f"{i['internal_api']} {i.get('architecture')} x{i['num_threads']}"
                     for i in threadpool_info() if i["user_api"] == "blas")


def test_accuracy(net, test):
    return net.accuracy(test.images, test.labels) / len(test)


def bench_lbfgs(splits, method=LBFGS, name="lbfgs"):
    """Ours against scikit-learn's L-BFGS MLP, same data, same iterations."""
    training = splits.training.subset(10000)
    net = Network([784, 30, 10], seed=0)
    start = time.perf_counter()
    state = minimize(net, training, 100, method(), regularization=L2(1.0))
    ours_s, ours = time.perf_counter() - start, test_accuracy(net, splits.test)
    print(f"{name}: nndl {ours:.2%} test in {ours_s:.2f}s "
          f"({len(state.history)} iterations, {state.history[-1]['evaluations']} cost "
          f"evaluations, stop: {state.stop})")
    return ours, ours_s, training


def bench_sklearn_lbfgs(splits, training):
    from sklearn.neural_network import MLPClassifier
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(30,), activation="logistic",
                        alpha=1.0, max_iter=100, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # "lbfgs failed to converge": 100 iterations
        clf.fit(training.images, training.labels)
    theirs_s = time.perf_counter() - start
    theirs = clf.score(splits.test.images, splits.test.labels)
    print(f"lbfgs: scikit-learn {theirs:.2%} test in {theirs_s:.2f}s ({clf.n_iter_} iterations)")
    return theirs, theirs_s


def bench_newton(splits, iterations=5):
    training = splits.training.subset(2000)
    net = Network([784, 5, 10], dtype="float64", seed=0)
    start = time.perf_counter()
    state = minimize(net, training, iterations, Newton(), regularization=L2(1.0))
    seconds = time.perf_counter() - start
    print(f"newton: [784, 5, 10] on 2,000 images, {len(state.history)} iterations in "
          f"{seconds:.1f}s ({seconds / len(state.history):.1f}s each: a "
          f"{sum(p.size for p in net.weights + net.biases)}^2 Hessian per step); cost "
          f"{state.history[0]['f']:.4f} -> {state.history[-1]['f']:.4f}, test "
          f"{test_accuracy(net, splits.test):.2%}, stop: {state.stop}")


def bench_adam(splits, etas=(0.0005, 0.001, 0.002)):
    def run(eta, data):
        net = Network([784, 100, 10], cost="log-likelihood", hidden="relu", seed=0)
        train(net, splits.training, 3, 50, Adam(eta))
        return net.accuracy(data.images, data.labels) / len(data), net

    scores = {}
    for eta in etas:
        scores[eta], _ = run(eta, splits.validation)
        print(f"adam: eta {eta:g}: validation {scores[eta]:.2%} after 3 epochs")
    best = max(etas, key=scores.get)
    start = time.perf_counter()
    acc, _ = run(best, splits.test)
    print(f"adam: eta {best:g} (best on validation): test {acc:.2%} after 3 epochs "
          f"({time.perf_counter() - start:.1f}s)  target >= 96%: "
          f"{'met' if acc >= 0.96 else 'MISSED'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=["lbfgs", "cg", "newton", "adam"],
                    default=["lbfgs", "cg", "newton", "adam"])
    args = ap.parse_args(argv)
    splits = load_mnist()
    print(f"BLAS: {blas()}  (timings on a shared machine: other jobs were running)")
    if "lbfgs" in args.only:
        ours, ours_s, training = bench_lbfgs(splits)
        theirs, theirs_s = bench_sklearn_lbfgs(splits, training)
        print(f"lbfgs: accuracy nndl - scikit-learn = {100 * (ours - theirs):+.2f} points "
              f"(target >= -0.5: {'met' if ours >= theirs - 0.005 else 'MISSED'}); "
              f"time nndl / scikit-learn = {ours_s / theirs_s:.2f} "
              f"(target <= 1: {'met' if ours_s <= theirs_s else 'MISSED'})")
    if "cg" in args.only:
        ours, _, _ = bench_lbfgs(splits, ConjugateGradient, "cg")
        print(f"cg: target >= 85% test: {'met' if ours >= 0.85 else 'MISSED'}")
    if "newton" in args.only:
        bench_newton(splits)
    if "adam" in args.only:
        bench_adam(splits)


if __name__ == "__main__":
    main()
