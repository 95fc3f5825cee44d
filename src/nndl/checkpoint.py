"""Checkpoints: save a training run after every epoch, and resume it exactly.

A run left training for hours should survive a crash, a reboot or a
``kill -9``.  ``Checkpoint(directory)`` is a callback that, at the end of
every epoch, saves everything the rest of the run depends on:

* the weights and biases;
* the state of the random generator that shuffles the mini-batches;
* ``optimizer.state_dict()`` (the learning rate; momentum's velocities);
* ``state_dict()`` of every callback that has one (schedules, early stopping);
* the history of per-epoch metrics, the number of epochs done, and a
  ``config`` dict describing the run (the command line stores its flags).

``restore(directory, network, optimizer, callbacks)`` puts all of it back, and
``train(..., start_epoch=r.epoch, history=r.history)`` then continues so that
the finished run is bit-for-bit the run that was never interrupted.

On disk a checkpoint is a directory holding ``manifest.json`` and one
``arrays-EEEEEE.npz``.  The ``.npz`` (every array; read back with
``allow_pickle=False``) is written first, atomically; then the manifest,
which names it and records its SHA-256, shapes and the rest of the state, is
atomically replaced; only then is the previous ``.npz`` deleted.  A process
killed at any instant leaves the previous complete checkpoint or the new one.
Loading trusts nothing: the manifest's fields are validated, the ``.npz`` must
have the recorded SHA-256, and each array's header must declare the recorded
shape before it is read, so a damaged checkpoint raises ``CheckpointError``
and never allocates more than its manifest allows.
"""

import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CheckpointError, ConfigError
from .network import MAX_PARAMETERS, check_sizes
from .outputs import atomic_write_bytes, atomic_write_text

FORMAT = "nndl-checkpoint"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 2**20
_ARRAYS_NAME = re.compile(r"arrays-\d{6,}\.npz")
_ARRAY_KEY = re.compile(r"[A-Za-z0-9_.#:-]{1,200}")
_DTYPES = ("float32", "float64", "int64", "int32", "bool")


@dataclass
class Resumed:
    """What ``restore`` hands back to the training loop."""

    epoch: int                      # epochs already done: train from here
    history: list                   # their per-epoch metrics
    stop: str = None                # set if the saved run had stopped early
    config: dict = field(default_factory=dict)


class Checkpoint:
    """A callback that saves the training state to ``directory`` after every epoch.

    It must be the last callback, so that what it saves includes everything
    the others recorded for the epoch (metrics, early-stopping counters).
    ``config`` is stored as is, for the caller to compare when resuming.
    """

    def __init__(self, directory, config=None):
        self.directory = Path(directory)
        self.config = dict(config or {})

    def on_train_begin(self, state):
        """Refuse to run anywhere but last; create the directory."""
        if state.callbacks and state.callbacks[-1] is not self:
            raise ConfigError("Checkpoint must be the last callback, so that it saves what "
                              "the others recorded")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{self.directory}: cannot create checkpoint directory: "
                                  f"{e.strerror or e}") from None

    def on_epoch_end(self, state):
        """Save the state as it is after this epoch."""
        save_checkpoint(self.directory, state, self.config)


# ------------------------------------------------------------------- saving
def save_checkpoint(directory, state, config=None):
    """Write the training ``state`` to ``directory`` (see the module docstring)."""
    directory = Path(directory)
    net, arrays = state.network, {}
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"weights.{l}"], arrays[f"biases.{l}"] = w, b
    optimizer = _extract(_state_dict(state.optimizer), "optimizer", arrays)
    callbacks = {key: _extract(cb.state_dict(), f"callback.{key}", arrays)
                 for key, cb in _stateful(state.callbacks)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    epochs_done = state.epoch + 1
    name = f"arrays-{epochs_done:06d}.npz"
    atomic_write_bytes(directory / name, data)
    manifest = {
        "format": FORMAT, "version": VERSION,
        "epochs_done": epochs_done, "stop": state.stop,
        "network": {"sizes": list(net.sizes), "cost": net.cost.__name__,
                    "activations": [a.name for a in net.activations],
                    "dtype": np.dtype(net.dtype).name},
        "arrays": {"file": name, "sha256": hashlib.sha256(data).hexdigest(),
                   "shapes": {k: list(np.shape(a)) for k, a in arrays.items()},
                   "dtypes": {k: np.asarray(a).dtype.name for k, a in arrays.items()}},
        "rng": _rng(state).bit_generator.state,
        "optimizer": {"class": type(state.optimizer).__name__, "state": optimizer},
        "callbacks": callbacks,
        "history": state.history,
        "config": config or {},
    }
    try:
        text = json.dumps(manifest, indent=1)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"cannot save the training state as JSON: {e}") from None
    atomic_write_text(directory / MANIFEST, text)
    for old in directory.glob("arrays-*.npz"):
        if old.name != name:
            old.unlink(missing_ok=True)


def _state_dict(obj):
    """``obj.state_dict()``, or {} for an object without state."""
    return obj.state_dict() if hasattr(obj, "state_dict") else {}


def _stateful(callbacks):
    """(key, callback) for each callback with a ``state_dict``, keyed by class
    name (``Name#2`` for a second one of the same class)."""
    seen, out = {}, []
    for cb in callbacks:
        if isinstance(cb, Checkpoint) or not hasattr(cb, "state_dict"):
            continue
        name = type(cb).__name__
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", cb))
    return out


def _rng(state):
    """The generator that shuffles: the loop's, else the network's."""
    return state.rng if getattr(state, "rng", None) is not None else state.network.rng


def _extract(value, key, arrays):
    """Return ``value`` made JSON-ready: every array in it moves to ``arrays``
    under a dotted key and is replaced by ``{"__array__": key}``."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {str(k): _extract(v, f"{key}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_extract(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _insert(value, arrays):
    """The inverse of ``_extract``: put the arrays back."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            try:
                return arrays[value["__array__"]]
            except (KeyError, TypeError):
                raise CheckpointError(f"the manifest refers to a missing array "
                                      f"{_short(value['__array__'])}") from None
        return {k: _insert(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_insert(v, arrays) for v in value]
    return value


# ------------------------------------------------------------------ loading
@dataclass
class Saved:
    """A checkpoint as read from disk, checked but not yet applied."""

    directory: Path
    manifest: dict
    arrays: dict


def has_checkpoint(directory):
    """Whether ``directory`` holds a checkpoint manifest."""
    return (Path(directory) / MANIFEST).is_file()


def load_checkpoint(directory):
    """Read and check the checkpoint in ``directory``; raise CheckpointError
    naming the problem if it is missing or damaged."""
    directory = Path(directory)
    try:
        manifest = _read_manifest(directory)
        _check_manifest(manifest)
        arrays = _read_arrays(directory / manifest["arrays"]["file"], manifest["arrays"])
        return Saved(directory, manifest, arrays)
    except CheckpointError as e:
        raise CheckpointError(f"{directory}: {e}") from None


def _read_manifest(directory):
    """Parse ``manifest.json``, refusing absurd sizes before reading."""
    path = directory / MANIFEST
    try:
        if not directory.is_dir():
            raise CheckpointError("not a checkpoint directory")
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise CheckpointError(f"{MANIFEST} is {size} bytes, too large")
        text = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no {MANIFEST}: not a checkpoint directory") from None
    except OSError as e:
        raise CheckpointError(f"cannot read {MANIFEST}: {e.strerror or e}") from None
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{MANIFEST} is not valid JSON ({str(e)[:80]})") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{MANIFEST} is not a JSON object")
    return manifest


def _check_manifest(m):
    """Check every field of a parsed manifest: types, ranges, shapes."""
    if m.get("format") != FORMAT or m.get("version") != VERSION:
        raise CheckpointError(f"not an {FORMAT} version {VERSION} manifest "
                              f"(format {_short(m.get('format'))}, version {_short(m.get('version'))})")
    _need(m, "epochs_done", lambda v: type(v) is int and v >= 0, "an integer >= 0")
    _need(m, "stop", lambda v: v is None or isinstance(v, str), "null or a string")
    _need(m, "network", lambda v: isinstance(v, dict), "an object")
    net = m["network"]
    _need(net, "sizes", lambda v: isinstance(v, list) and all(type(s) is int for s in v),
          "a list of integers")
    try:
        sizes = check_sizes(net["sizes"])
    except ConfigError as e:
        raise CheckpointError(f"'network.sizes': {e}") from None
    _need(net, "cost", lambda v: isinstance(v, str), "a string")
    _need(net, "dtype", lambda v: v in ("float32", "float64"), "float32 or float64")
    _need(net, "activations", lambda v: isinstance(v, list) and len(v) == len(sizes) - 1
          and all(isinstance(a, str) for a in v), f"a list of {len(sizes) - 1} names")
    _need(m, "arrays", lambda v: isinstance(v, dict), "an object")
    a = m["arrays"]
    _need(a, "file", lambda v: isinstance(v, str) and _ARRAYS_NAME.fullmatch(v), "arrays-NNNNNN.npz")
    _need(a, "sha256", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v),
          "a SHA-256 in hex")
    _need(a, "shapes", _valid_shapes, f"an object of array shapes, {4 * MAX_PARAMETERS} "
          "numbers at most")
    _need(a, "dtypes", lambda v: isinstance(v, dict) and set(v) == set(a["shapes"])
          and all(d in _DTYPES for d in v.values()), "one dtype per array")
    for l, (x, y) in enumerate(zip(sizes[:-1], sizes[1:])):
        for key, shape in ((f"weights.{l}", [y, x]), (f"biases.{l}", [y, 1])):
            if a["shapes"].get(key) != shape:
                raise CheckpointError(f"array {key} has shape {_short(a['shapes'].get(key))}, "
                                      f"expected {shape} from the sizes {sizes}")
    _need(m, "rng", lambda v: isinstance(v, dict), "an object")
    _need(m, "optimizer", lambda v: isinstance(v, dict) and isinstance(v.get("class"), str)
          and "state" in v, "an object with 'class' and 'state'")
    _need(m, "callbacks", lambda v: isinstance(v, dict), "an object")
    _need(m, "history", lambda v: isinstance(v, list) and len(v) <= m["epochs_done"]
          and all(isinstance(r, dict) for r in v), "a list of per-epoch objects")
    _need(m, "config", lambda v: isinstance(v, dict), "an object")


def _need(obj, key, ok, what):
    """Raise CheckpointError unless ``obj[key]`` exists and passes ``ok``."""
    if key not in obj:
        raise CheckpointError(f"the manifest lacks {key!r}")
    if not ok(obj[key]):
        raise CheckpointError(f"{key!r} must be {what}, got {_short(obj[key])}")


def _valid_shapes(shapes):
    """Whether ``shapes`` maps array names to small non-negative shapes."""
    if not isinstance(shapes, dict) or not all(_ARRAY_KEY.fullmatch(k) for k in shapes):
        return False
    total = 0
    for shape in shapes.values():
        if (not isinstance(shape, list) or len(shape) > 4
                or not all(type(d) is int and 0 <= d <= MAX_PARAMETERS for d in shape)):
            return False
        total += int(np.prod(shape, dtype=object))
    return total <= 4 * MAX_PARAMETERS


def _read_arrays(path, spec):
    """Return the arrays of the ``.npz`` at ``path`` after checking its SHA-256
    and each array's header against ``spec`` (so nothing unexpected is allocated)."""
    try:
        data = path.read_bytes() if path.stat().st_size <= 16 * 4 * MAX_PARAMETERS else None
    except OSError as e:
        raise CheckpointError(f"cannot read {path.name}: {e.strerror or e}") from None
    if data is None or hashlib.sha256(data).hexdigest() != spec["sha256"]:
        raise CheckpointError(f"{path.name} does not have the SHA-256 recorded in the manifest "
                              "(damaged or from another checkpoint)")
    shapes, dtypes = spec["shapes"], spec["dtypes"]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sorted(z.namelist()) != sorted(f"{k}.npy" for k in shapes):
                raise CheckpointError(f"{path.name} does not hold the arrays the manifest lists")
            out = {}
            for key, shape in shapes.items():
                with z.open(f"{key}.npy") as f:
                    header_shape, dtype = _npy_header(f)
                    if list(header_shape) != shape or dtype.name != dtypes[key]:
                        raise CheckpointError(f"array {key} in {path.name} is {dtype} "
                                              f"{header_shape}, the manifest says "
                                              f"{dtypes[key]} {tuple(shape)}")
                with z.open(f"{key}.npy") as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            return out
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"cannot read {path.name}: {type(e).__name__}: {e}") from None


def _npy_header(f):
    """Return (shape, dtype) from an open ``.npy`` member, reading only its header."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    return shape, dtype


# ---------------------------------------------------------------- restoring
def restore(directory, network, optimizer, callbacks=(), rng=None):
    """Load the checkpoint in ``directory`` (or an already loaded ``Saved``)
    into a freshly built run and return a ``Resumed`` (epochs done, history,
    stop reason, config).

    ``network`` must have the checkpoint's sizes, cost, activations and
    dtype; its weights and biases are replaced.  The generator ``rng`` (the
    network's by default: the one ``train`` shuffles with) gets its saved
    state; ``optimizer`` and each callback with a ``load_state_dict`` get
    theirs.  Anything that does not match raises CheckpointError.
    """
    saved = directory if isinstance(directory, Saved) else load_checkpoint(directory)
    directory = saved.directory
    m, arrays = saved.manifest, saved.arrays
    try:
        _check_same_network(m["network"], network)
        rng = network.rng if rng is None else rng
        try:
            rng.bit_generator.state = m["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"cannot restore the random generator: {e}") from None
        _restore_optimizer(m["optimizer"], optimizer, arrays)
        _restore_callbacks(m["callbacks"], callbacks, arrays)
    except CheckpointError as e:
        raise CheckpointError(f"{directory}: {e}") from None
    n = len(network.sizes) - 1
    network.weights = [arrays[f"weights.{l}"].astype(network.dtype) for l in range(n)]
    network.biases = [arrays[f"biases.{l}"].astype(network.dtype) for l in range(n)]
    return Resumed(m["epochs_done"], m["history"], m["stop"], m["config"])


def _check_same_network(saved, network):
    """Raise CheckpointError unless ``network`` is built like the saved one."""
    here = {"sizes": list(network.sizes), "cost": network.cost.__name__,
            "activations": [a.name for a in network.activations],
            "dtype": np.dtype(network.dtype).name}
    for key, value in here.items():
        if saved[key] != value:
            raise CheckpointError(f"the checkpoint's network has {key} {saved[key]}, "
                                  f"this one has {value}")


def _restore_optimizer(saved, optimizer, arrays):
    """Give ``optimizer`` its saved state, checking it is the same kind."""
    if saved["class"] != type(optimizer).__name__:
        raise CheckpointError(f"the checkpoint's optimizer is {saved['class']}, this run's "
                              f"is {type(optimizer).__name__}")
    state = _insert(saved["state"], arrays)
    if hasattr(optimizer, "load_state_dict"):
        _load_state(optimizer, state, "optimizer")
    elif state != _state_dict(optimizer):
        raise CheckpointError(f"the optimizer's saved state {_short(state)} differs")


def _restore_callbacks(saved, callbacks, arrays):
    """Give each stateful callback its saved state; the sets must match."""
    stateful = dict(_stateful(callbacks))
    if set(saved) != set(stateful):
        raise CheckpointError(f"the checkpoint holds state for callbacks {sorted(saved)}, "
                              f"this run has {sorted(stateful)}")
    for key, cb in stateful.items():
        if hasattr(cb, "load_state_dict"):
            _load_state(cb, _insert(saved[key], arrays), key)


def _load_state(obj, state, what):
    """``obj.load_state_dict(state)``, with a damaged state as CheckpointError."""
    try:
        obj.load_state_dict(state)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError(f"cannot restore the {what}'s state: {type(e).__name__}: {e}") from None


def _short(value, limit=60):
    """Return repr(value), cut to ``limit`` characters for error messages."""
    r = repr(value)
    return r if len(r) <= limit else r[:limit] + "..."


#: Options that may change between a run and its resumption: they do not change the result.
#: ``engine`` and ``device`` compute the same steps (the engines are tested against the
#: reference), so a run may continue on another one; only float rounding differs.
RESUME_MAY_DIFFER = ("progress", "save", "metrics_out", "plot", "checkpoint", "resume",
                     "epochs", "time_limit", "test", "engine", "device")
#: Where options came from (older checkpoints record them): the options themselves are compared.
SOURCES = ("preset", "config")


def check_same_config(directory, saved, current, defaults=None):
    """Refuse to resume a run whose settings differ from the checkpoint's, naming each.

    ``saved`` and ``current`` map option names to values (as JSON gives
    them back); the sources of the options (``preset``, ``config``) and the
    options in ``RESUME_MAY_DIFFER`` are not compared.  An option the
    checkpoint does not record (it was added to nndl later) counts as its
    value in ``defaults``, the value every run had before it existed.
    """
    diffs = config_differences(saved, current, defaults, RESUME_MAY_DIFFER)
    if diffs:
        raise ConfigError(f"--resume {directory}: the checkpoint was made with different "
                          f"settings: {'; '.join(diffs)}; rerun with the checkpoint's settings")


def config_differences(saved, current, defaults=None, ignore=()):
    """The options whose values differ between ``saved`` and ``current``
    ({option: value}, as JSON gives them back), as 'flag old (now new)'
    texts; the sources of the options and the options in ``ignore`` are not
    compared, and an option ``saved`` lacks counts as its value in
    ``defaults``."""
    diffs, defaults = [], defaults or {}
    saved = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
    for key in sorted((set(saved) | set(current)) - set(SOURCES) - set(ignore)):
        if saved.get(key) != current.get(key):
            what = "training data" if key == "training_data_sha256" else \
                "--" + key.replace("_", "-")
            diffs.append(f"{what} {_show(saved.get(key))} (now {_show(current.get(key))})")
    return diffs


def _show(value):
    """An option value as it is typed: lists comma-separated, data digests shortened."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "..."
    return str(value)
