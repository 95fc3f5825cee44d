"""A committee of networks: several trained networks classifying together.

The chapter's most expensive remedy for overfitting ("Other techniques for
regularization", after dropout,
http://neuralnetworksanddeeplearning.com/chap3.html#other_techniques_for_regularization):
train several networks on the same data from different starting weights
and combine what they say.  The chapter lets them vote; a committee here
averages their output probabilities -- the softmax outputs, or for sigmoid
output layers the activations -- and answers with the most probable class.
Averaging rather than voting, because the mean keeps each member's
confidence (a member that is sure outweighs two that hesitate), it leaves
no ties to break (two members of a committee of four disagreeing is common;
equal means are not), and it is how Cireşan et al. combined their
committees of MNIST networks ("Handwritten digit recognition with a
committee of deep neural nets on GPUs", 2011, arXiv:1103.4487: the mean of
the members' outputs).  ``nndl reproduce ensemble`` runs the chapter's vote.

``Committee(networks)`` takes members with the same input size, output
layer and classes (anything else is refused: ``ConfigError``) and has a
network's ``feedforward``, ``predict`` and ``accuracy``; ``combine`` is the
arithmetic.  ``train_committee(config)`` trains the members a
``RunConfig`` with ``members = N`` and ``out = DIR`` describes (member K
seeded ``seed + K - 1``), one after another, keeping each member's model
and metrics in ``DIR/member-K/`` as soon as it is trained, so that the same
command run again trains only the members not yet finished; it writes the
committee's metrics to ``DIR/committee.json``.
"""

import json
import time
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelFileError

COMBINE = "mean of output probabilities"
FORMAT = "nndl-committee"
VERSION = 1
COMMITTEE_FILE = "committee.json"
MODEL_FILE = "model.json"
METRICS_FILE = "metrics.json"
#: A member's options that may differ from a finished member's on disk: they do
#: not change what is trained (where the files go, the progress bar, the engine
#: computing the same steps, whether the test set is measured).
MAY_DIFFER = ("progress", "save", "metrics_out", "plot", "checkpoint", "resume", "test",
              "engine", "device")
#: Options a committee sets for each member itself.
PER_MEMBER = ("save", "metrics_out", "plot", "checkpoint", "resume")


# ------------------------------------------------------------------ combining
def combine(outputs):
    """The committee's output: the mean over members of their outputs.

    ``outputs`` is (members, rows, classes): each member's output-layer
    activations (softmax probabilities, or sigmoid activations).  Computed
    in float64."""
    return np.mean(np.asarray(outputs, dtype=np.float64), axis=0)


def describe(network):
    """What members must share: (inputs, outputs, output activation, classes)."""
    classes = None if network.classes is None else tuple(network.classes)
    return network.sizes[0], network.sizes[-1], network.activations[-1].name, classes


def check_compatible(networks, names=None):
    """Refuse members that cannot be combined: a different input size,
    number of outputs, output layer or classes from the first member's.
    ``names`` (e.g. file names) name the members in the message."""
    names = list(names) if names is not None else [f"member {k + 1}" for k in
                                                   range(len(networks))]
    first = describe(networks[0])
    for name, net in zip(names[1:], networks[1:]):
        this = describe(net)
        if this != first:
            raise ConfigError(f"{name} has {_shape(this)} but {names[0]} has {_shape(first)}: "
                              "a committee's members must have the same input size, output "
                              "layer and classes")


def _shape(described):
    n_in, n_out, output, classes = described
    text = f"{n_in} inputs and {n_out} {output} outputs"
    return text + (f" (classes {','.join(map(str, classes))})" if classes else "")


class Committee:
    """Networks classifying together by the mean of their output probabilities.

    ``sizes`` is [inputs, outputs] (the members' hidden layers may differ)
    and ``classes`` the members' classes, so that code written for a network
    (``nndl.training.check_data``) takes a committee.
    """

    def __init__(self, networks, names=None):
        self.networks = list(networks)
        if not self.networks:
            raise ConfigError("a committee needs at least one network")
        check_compatible(self.networks, names)
        self.sizes = [self.networks[0].sizes[0], self.networks[0].sizes[-1]]
        self.classes = self.networks[0].classes

    def __len__(self):
        return len(self.networks)

    def outputs(self, x, batch_size=10000):
        """Each member's outputs for the rows of ``x``: (members, rows, classes), float64."""
        x = np.asarray(x)
        x = x[None, :] if x.ndim == 1 else x
        return np.stack([np.concatenate([np.asarray(net.feedforward(x[k:k + batch_size]),
                                                    dtype=np.float64)
                                         for k in range(0, len(x), batch_size)]
                                        or [np.empty((0, self.sizes[1]))])
                         for net in self.networks])

    def feedforward(self, x):
        """The committee's output for the rows of ``x``: ``combine`` of the members'."""
        return combine(self.outputs(x))

    def predict(self, x):
        """The most probable class (its output neuron's index) for each row."""
        return self.feedforward(x).argmax(axis=1)

    def accuracy(self, x, labels):
        """How many rows of ``x`` the committee classifies as ``labels``."""
        return int(np.count_nonzero(self.predict(x) == np.asarray(labels)))

    def accuracies(self, x, labels):
        """(each member's correct count, the committee's correct count by
        size: its first 1, 2, ..., all members), from one forward pass each."""
        outputs, labels = self.outputs(x), np.asarray(labels)
        members = [int(np.count_nonzero(o.argmax(axis=1) == labels)) for o in outputs]
        by_size = [int(np.count_nonzero(combine(outputs[:n]).argmax(axis=1) == labels))
                   for n in range(1, len(outputs) + 1)]
        return members, by_size


def load_committee(paths):
    """The committee of the model files ``paths`` (``ModelFileError`` for a
    bad file, ``ConfigError`` for members that do not fit together)."""
    from .persistence import load
    return Committee([load(p) for p in paths], names=[str(p) for p in paths])


# ------------------------------------------------------------------ training
def member_dir(out, k):
    """Where member ``k`` (counted from 1) of the committee in ``out`` lives."""
    return Path(out) / f"member-{k}"


def member_config(config, k):
    """The RunConfig of member ``k`` (from 1) of the committee ``config``:
    its seed ``config.seed + k - 1``, its model and metrics in its folder."""
    folder = member_dir(config.out, k)
    return config.replace(members=1, out=None, seed=config.seed + k - 1,
                          save=str(folder / MODEL_FILE), metrics_out=str(folder / METRICS_FILE))


def check_committee(config):
    """Refuse, before any work, a committee that cannot be trained into
    ``config.out``; return ``config`` with a seed (a finished first
    member's, else a new one)."""
    from .persistence import check_output_dir
    from .run import flag, with_seed
    if config.out is None:
        raise ConfigError(f"--members {config.members} trains a committee: give --out DIR "
                          "for its members' models and metrics")
    for name in PER_MEMBER:
        if getattr(config, name) is not None:
            raise ConfigError(f"{flag(name)} does not apply to a committee: each member's "
                              f"model and metrics go to {member_dir(config.out, 'K')}/")
    check_output_dir(config.out, "--out")
    _check_committee_file(Path(config.out) / COMMITTEE_FILE, config.out)
    if config.seed is None:
        saved = _read_metrics(member_dir(config.out, 1) / METRICS_FILE, config.out)
        seed = (saved or {}).get("committee_member", {}).get("options", {}).get("seed")
        config = config.replace(seed=seed) if isinstance(seed, int) else with_seed(config)
    return config


def _check_committee_file(path, out):
    """Refuse a committee.json that is not a committee's metrics (it would be replaced)."""
    if not path.exists() and not path.is_symlink():
        return
    doc = _read_metrics(path, out)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"--out {out}: {path} is not a committee's metrics file; "
                          "refusing to replace it (choose another folder)")


def _read_metrics(path, out):
    """The JSON document at ``path``, None if there is none; ConfigError if
    it is not a readable JSON file."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"--out {out}: {path} is not a readable JSON file "
                          f"({getattr(e, 'strerror', None) or str(e)[:80]}); "
                          "refusing to replace it") from None


def finished_member(config, k):
    """Member ``k`` of the committee ``config`` if it is trained already:
    (its network, its metrics document); None if its folder holds neither
    file.  Anything else there -- one file without the other, files that are
    not a member's, a member trained with other settings -- is refused
    (``ConfigError``), so that nothing unrelated is replaced."""
    from .persistence import check_output_dir, load
    from .run import RunConfig
    mc = member_config(config, k)
    folder, model, metrics = member_dir(config.out, k), Path(mc.save), Path(mc.metrics_out)
    check_output_dir(folder, "--out")
    present = [p.name for p in (model, metrics) if p.exists() or p.is_symlink()]
    if not present:
        return None
    where = f"--out {config.out}: {folder}"
    if len(present) == 1:
        raise ConfigError(f"{where} holds {present[0]} without "
                          f"{({MODEL_FILE, METRICS_FILE} - set(present)).pop()}: not a "
                          "finished member; remove it or choose another folder")
    doc = _read_metrics(metrics, config.out)
    options = doc.get("committee_member", {}).get("options") if isinstance(doc, dict) else None
    if not isinstance(options, dict):
        raise ConfigError(f"{where}/{METRICS_FILE} is not a committee member's metrics; "
                          "refusing to replace it (choose another folder)")
    from .checkpoint import config_differences
    diffs = config_differences(options, mc.as_dict(), RunConfig().as_dict(), MAY_DIFFER)
    if diffs:
        raise ConfigError(f"{where} holds member {k} trained with other settings: "
                          f"{'; '.join(diffs)}; give its settings, or another --out")
    try:
        return load(model), doc
    except ModelFileError as e:
        raise ConfigError(f"{where}: {e}; remove the member or choose another folder") from None


def plan(config):
    """Check the committee ``config`` before any work; return (the config
    with its seed, {k: (network, metrics) for each member already trained})."""
    config = check_committee(config)
    done = {}
    for k in range(1, config.members + 1):
        found = finished_member(config, k)
        if found is not None:
            done[k] = found
    return config, done


def train_member(config, splits, *, callbacks=(), report=None, sources=None, index=1):
    """Train one member (``config`` from ``member_config``) on ``splits``;
    save its model and metrics; return (run, state, summary, test accuracy,
    its metrics document).

    The metrics document is ``nndl.run.metrics_document``'s, with
    ``total_seconds`` (building, training, measuring the test set) and
    ``committee_member``: its index and its options, which a later run of
    the committee compares before counting the member as finished.
    """
    from .run import build, measure_test_accuracy, run_summary, save_outputs
    started = time.perf_counter()
    Path(config.save).parent.mkdir(parents=True, exist_ok=True)
    run = build(config, splits, report=report)
    state = run.train(list(callbacks))
    summary = run_summary(run, state)
    test_accuracy = measure_test_accuracy(run) if config.test else None
    summary.update(total_seconds=time.perf_counter() - started,
                   committee_member={"member": index, "options": config.as_dict()})
    save_outputs(run, state, test_accuracy, summary, sources)
    doc = json.loads(Path(config.metrics_out).read_text(encoding="utf-8"))
    return run, state, summary, test_accuracy, doc


def train_committee(config, splits=None, *, callbacks=None, report=None, on_member=None,
                    sources=None):
    """Train the committee ``config`` describes into ``config.out`` and
    return its metrics document (also written to ``out/committee.json``).

    Members already on disk with the same settings are not trained again.
    ``callbacks(k)`` gives member ``k``'s extra training callbacks,
    ``report`` receives one-line notices, ``on_member(k, run, state,
    summary, test_accuracy)`` is called after each member is trained.
    """
    from .data import load_dataset
    drawn = config.seed is None
    config, done = plan(config)
    say = report or (lambda line: None)
    if drawn:
        how = "the first member's" if 1 in done else "drawn"
        say(f"seed: {config.seed} ({how}; --seed {config.seed} repeats this committee)")
    if splits is None:
        splits = load_dataset(config.dataset, validation_size=config.validation_size)
    networks, docs = [], []
    for k in range(1, config.members + 1):
        seed = config.seed + k - 1
        if k in done:
            network, doc = done[k]
            say(f"member {k}/{config.members} (seed {seed}): trained already, in "
                f"{member_dir(config.out, k)}")
        else:
            say(f"member {k}/{config.members} (seed {seed})")
            try:
                run, state, summary, test_accuracy, doc = train_member(
                    member_config(config, k), splits, index=k, report=report,
                    sources=sources, callbacks=callbacks(k) if callbacks else ())
            except KeyboardInterrupt:
                saved = sorted(set(done) | set(range(1, k)))
                raise KeyboardInterrupt(
                    f"member {k} was not finished; "
                    + (f"member{'s' if len(saved) > 1 else ''} "
                       f"{', '.join(map(str, saved))} {'are' if len(saved) > 1 else 'is'} "
                       f"saved in {config.out}; " if saved else "")
                    + "the same command trains the rest") from None
            network = run.network
            if on_member:
                on_member(k, run, state, summary, test_accuracy)
        networks.append(network)
        docs.append(doc)
    doc = evaluate_committee(config, Committee(networks), splits, docs, sources)
    from .run import write_metrics
    write_metrics(Path(config.out) / COMMITTEE_FILE, doc)
    return doc


def evaluate_committee(config, committee, splits, members, sources=None):
    """The committee's metrics document: its accuracy on the validation set
    by size (its first 1, 2, ... members: the size to choose), on the test
    set (unless ``config.test`` is off), the time every member's training
    took and ``members``, each member's metrics document."""
    from . import __version__
    from .run import _data
    started = time.perf_counter()
    splits = _data(config, splits, None)[0]           # --digits applied
    validation, test = splits.validation, splits.test
    by_size = member_validation = None
    if len(validation):
        counts, sizes = committee.accuracies(validation.images, validation.labels)
        member_validation = [c / len(validation) for c in counts]
        by_size = [c / len(validation) for c in sizes]
    test_accuracy = None
    if config.test:
        test_accuracy = committee.accuracy(test.images, test.labels) / len(test)
    evaluation_seconds = time.perf_counter() - started
    options = {**config.as_dict(), **(sources or {}), "nndl_version": __version__}
    best = None if by_size is None else int(np.argmax(by_size)) + 1
    return json.loads(json.dumps({
        "format": FORMAT, "version": VERSION, "config": options, "combine": COMBINE,
        "seeds": [config.seed + k for k in range(config.members)],
        "test_accuracy": test_accuracy,
        "validation_accuracy": by_size[-1] if by_size else None,
        "validation_accuracy_by_size": by_size,
        "best_size_on_validation": best,
        "member_validation_accuracies": member_validation,
        "member_test_accuracies": [m.get("test_accuracy") for m in members],
        "total_seconds": sum(m.get("total_seconds") or 0.0 for m in members)
        + evaluation_seconds,
        "evaluation_seconds": evaluation_seconds,
        "members": members}))
