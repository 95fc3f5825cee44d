"""Choose ``--average-from`` for a preset on the validation set: train the
preset once (validation monitored, the test set untouched), keep every
epoch's weights from epoch FROM on, then report the validation accuracy of
single epochs and of the mean weights of epochs S..last for each start S.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/averaging_windows.py \\
        --preset best --keep-from 150 --starts 150,175,200,225,250,275,290 --dir out/windows

(``--no-train`` evaluates the epochs already kept in DIR.)
The preset's own ``average-from`` is switched off for the training run, so
the last epoch's weights are the plain run's.  Each kept epoch is an .npz of
the weights and biases in DIR (5 MB an epoch for [784, 800, 800, 10]).
"""

import argparse
from pathlib import Path

import numpy as np

from nndl.callbacks import WeightAveraging
from nndl.network import count_correct
from nndl.options import read_preset, settings_from
from nndl.run import RunConfig, build


class KeepWeights:
    """Save the weights and biases at the end of each epoch from ``first`` on."""

    def __init__(self, directory, first):
        self.directory, self.first = Path(directory), first

    def on_epoch_end(self, state):
        epoch = state.epoch + 1
        if epoch >= self.first:
            net = state.network
            np.savez(self.directory / f"epoch-{epoch:04d}.npz", *net.weights, *net.biases)
        accuracy = state.history[-1].get("evaluation_accuracy")
        print(f"epoch {epoch}  validation {accuracy:.2%}", flush=True)


def load_params(path):
    """The weights and biases saved in one epoch's .npz."""
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="best")
    ap.add_argument("--keep-from", type=int, default=150)
    ap.add_argument("--starts", default="150,175,200,225,250,275,290")
    ap.add_argument("--dir", default="out/windows")
    ap.add_argument("--no-train", action="store_true",
                    help="only evaluate the epochs already kept in DIR")
    args = ap.parse_args()
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    settings = settings_from(read_preset(args.preset), f"preset {args.preset}")
    config = RunConfig(**settings).replace(average_from=None, test=False, save=None,
                                           metrics_out=None, progress="off")
    run = build(config, report=print)
    if not args.no_train:
        run.train([KeepWeights(directory, args.keep_from)])
    net, layers, data = run.network, len(run.network.weights), run.evaluation
    files = sorted(directory.glob("epoch-*.npz"))
    epochs = [int(f.stem.split("-")[1]) for f in files]

    def accuracy(params):
        net.weights = [p.astype(net.dtype) for p in params[:layers]]
        net.biases = [p.astype(net.dtype) for p in params[layers:]]
        return count_correct(net, data.images, data.labels) / len(data)

    starts = [int(s) for s in args.starts.split(",")]
    means = {s: WeightAveraging(s) for s in starts}
    for epoch, f in zip(epochs, files):
        params = load_params(f)
        if epoch % 25 == 0 or epoch == epochs[-1]:
            print(f"epoch {epoch} alone: {accuracy(params):.2%}")
        for averaging in means.values():            # the callback's own running mean
            averaging.add(epoch, params)
    for s, averaging in means.items():
        print(f"mean of epochs {s}-{epochs[-1]} ({averaging.count}): "
              f"{accuracy(averaging.means):.2%}")


if __name__ == "__main__":
    main()
