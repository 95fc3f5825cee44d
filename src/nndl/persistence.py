"""Saving and loading networks as JSON.

The format is network2.py's (``sizes``, ``weights``, ``biases``, ``cost``)
plus a ``format``/``version`` header, the activations and the dtype, and,
optionally, ``classes``: the label each output neuron stands for, for a
network trained on some digits only (files without it load as 0, 1, ...).  Files
written by the book's ``network2.save`` load too: they lack the header, and
every layer is then sigmoid.

Loading never executes anything from the file: it is parsed as JSON and every
field is checked (types, shapes, finite numbers) before a network is built,
and any problem raises ``ModelFileError`` naming the field.  Saving writes a
temporary file, flushes it to disk and renames it over the target, so a
crash mid-write leaves the previous file intact.

Files are written by ``nndl.outputs`` (the one atomic writer, whose names
are re-exported here for existing callers); ``save_fallback`` keeps a
trained network when the final write fails anyway.

Memory is bounded before anything is parsed: a file is at most
``MAX_FILE_BYTES`` and holds at most ``MAX_NUMBERS`` values (counted in one
pass over the bytes), and ``sizes`` may not ask for more than
``MAX_PARAMETERS`` parameters.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .costs import COSTS, COSTS_BY_CLASS_NAME
from .errors import ConfigError, ModelFileError, OutputError
from .network import MAX_PARAMETERS, Network
from .outputs import (atomic_write_bytes, atomic_write_text, atomic_writer,  # noqa: F401
                      check_distinct, check_output_dir, check_output_path, publish,
                      save_figure)

FORMAT = "nndl-network"
VERSION = 1
MAX_FILE_BYTES = 2 * 1024**3      # refuse absurd files before reading them
MAX_NUMBERS = MAX_PARAMETERS + 10_000   # numbers a model file may hold, counted before parsing


def save_fallback(net, path):
    """Save ``net`` where it can still go after saving it to ``path`` failed
    (a full disk, a folder removed during training); return where it went.

    Tried in order: nndl's cache directory and the system's temporary
    directory, each under a new name built from ``path``'s stem
    (``nndl-rescued-model-XXXXXXXX.json``).  Raises ``OutputError`` listing
    every place tried if none could take it.
    """
    from .data.fetch import cache_dir_path
    stem = Path(path).stem or "model"
    failures = []
    for folder in (cache_dir_path(None) / "rescued", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, prefix=f"nndl-rescued-{stem}-",
                                        suffix=".json")
            os.close(fd)
            save(net, name)
            return name
        except OSError as e:
            failures.append(f"{folder}: {e.strerror or e}")
    raise OutputError("could not save the network anywhere: " + "; ".join(failures))



def to_dict(net):
    """Return the JSON-ready description of ``net``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "sizes": list(net.sizes),
        "cost": net.cost.__name__,
        "activations": [a.name for a in net.activations],
        "dtype": np.dtype(net.dtype).name,
        "weights": [np.asarray(w).tolist() for w in net.weights],
        "biases": [np.asarray(b).tolist() for b in net.biases],
        **({"classes": list(net.classes)} if net.classes is not None else {}),
    }


def save(net, path):
    """Save ``net`` to ``path`` as JSON, atomically."""
    atomic_write_text(path, json.dumps(to_dict(net)))


def load(path, network_class=Network):
    """Load a network saved by ``save`` or by the book's ``network2.save``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelFileError(f"{path}: file is {size} bytes, too large for a model file")
        with open(path, "rb") as f:
            text = f.read()
    except ModelFileError:
        raise
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read model file: {e.strerror or e}") from None
    if text.count(b",") > MAX_NUMBERS:   # one C pass; parsing would cost ~32 bytes a number
        raise ModelFileError(f"{path}: holds more than {MAX_NUMBERS} values, too many for a "
                             f"model file (the limit is {MAX_PARAMETERS} parameters)")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: not a JSON model file ({str(e)[:80]})") from None
    try:
        return from_dict(data, network_class)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None


def from_dict(data, network_class=Network):
    """Build a network from a parsed model file, checking every field."""
    if not isinstance(data, dict):
        raise ModelFileError(f"expected a JSON object, got {type(data).__name__}")
    if "format" in data or "version" in data:
        if data.get("format") != FORMAT:
            raise ModelFileError(f"'format' is {data.get('format')!r}, expected {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ModelFileError(f"unsupported format version {data.get('version')!r} "
                                 f"(this nndl reads version {VERSION})")
    for key in ("sizes", "weights", "biases", "cost"):
        if key not in data:
            raise ModelFileError(f"missing key {key!r}")
    sizes = data["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(type(s) is int and 1 <= s <= 10**7 for s in sizes)):
        raise ModelFileError(f"'sizes' must be a list of at least 2 positive integers, "
                             f"got {_short(sizes)}")
    n_params = sum(x * y + y for x, y in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise ModelFileError(f"'sizes' {sizes} means {n_params} parameters, too many")
    cost_name = data["cost"]
    if not isinstance(cost_name, str) or (cost_name not in COSTS_BY_CLASS_NAME
                                          and cost_name not in COSTS):
        raise ModelFileError(f"unknown cost {_short(cost_name)}")
    activations = data.get("activations", ["sigmoid"] * (len(sizes) - 1))
    if (not isinstance(activations, list) or len(activations) != len(sizes) - 1
            or not all(isinstance(a, str) and a in ACTIVATIONS for a in activations)):
        raise ModelFileError(f"'activations' must list {len(sizes) - 1} of "
                             f"{', '.join(ACTIVATIONS)}, got {_short(activations)}")
    dtype = data.get("dtype", "float64")
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"'dtype' must be float32 or float64, got {_short(dtype)}")
    weights = _arrays(data["weights"], "weights",
                      [(y, x) for x, y in zip(sizes[:-1], sizes[1:])], dtype)
    biases = _arrays(data["biases"], "biases", [(y, 1) for y in sizes[1:]], dtype)
    try:
        net = network_class(sizes, cost=cost_name, hidden=activations[:-1],
                            output=activations[-1], dtype=dtype)
    except ConfigError as e:
        raise ModelFileError(str(e)) from None
    net.weights, net.biases = weights, biases
    net.classes = _classes(data.get("classes"), sizes[-1])
    return net


def _classes(classes, n_outputs):
    """The optional ``classes`` field: the label of each output neuron
    (distinct integers >= 0, one per output), or None when absent."""
    if classes is None:
        return None
    if (not isinstance(classes, list) or len(classes) != n_outputs
            or not all(type(c) is int and c >= 0 for c in classes)
            or len(set(classes)) != len(classes)):
        raise ModelFileError(f"'classes' must list {n_outputs} distinct labels >= 0 (one per "
                             f"output neuron), got {_short(classes)}")
    return classes


def _arrays(values, key, shapes, dtype):
    """Convert the list ``values`` to arrays of the expected ``shapes``."""
    if not isinstance(values, list) or len(values) != len(shapes):
        raise ModelFileError(f"'{key}' must be a list of {len(shapes)} arrays")
    out = []
    for i, (v, shape) in enumerate(zip(values, shapes)):
        if shape[1] == 1 and isinstance(v, list) and v and not isinstance(v[0], list):
            shape_in = (shape[0],)   # accept flat bias vectors too
        else:
            shape_in = shape
        try:
            a = np.array(v)
        except (ValueError, TypeError, OverflowError, RecursionError):
            a = None
        if a is None or a.dtype.kind not in "iuf":
            raise ModelFileError(f"{key}[{i}] is not a rectangular array of numbers")
        a = a.astype(np.float64)
        if a.shape != shape_in:
            raise ModelFileError(f"{key}[{i}] has shape {a.shape}, expected {shape} from 'sizes'")
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{key}[{i}] contains NaN or infinite values")
        out.append(np.ascontiguousarray(a.reshape(shape), dtype=dtype))
    return out


def _short(value, limit=60):
    """Return repr(value), cut to ``limit`` characters for error messages."""
    r = repr(value)
    return r if len(r) <= limit else r[:limit] + "..."
