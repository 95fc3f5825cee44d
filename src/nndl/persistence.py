"""Saving and loading networks as JSON.

The format is network2.py's (``sizes``, ``weights``, ``biases``, ``cost``)
plus a ``format``/``version`` header, the activations and the dtype.  Files
written by the book's ``network2.save`` load too: they lack the header, and
every layer is then sigmoid.

Loading never executes anything from the file: it is parsed as JSON and every
field is checked (types, shapes, finite numbers) before a network is built,
and any problem raises ``ModelFileError`` naming the field.  Saving writes a
temporary file, flushes it to disk and renames it over the target, so a
crash mid-write leaves the previous file intact.

Memory is bounded before anything is parsed: a file is at most
``MAX_FILE_BYTES`` and holds at most ``MAX_NUMBERS`` values (counted in one
pass over the bytes), and ``sizes`` may not ask for more than
``MAX_PARAMETERS`` parameters.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .costs import COSTS, COSTS_BY_CLASS_NAME
from .errors import ConfigError, ModelFileError
from .network import MAX_PARAMETERS, Network

FORMAT = "nndl-network"
VERSION = 1
MAX_FILE_BYTES = 2 * 1024**3      # refuse absurd files before reading them
MAX_NUMBERS = MAX_PARAMETERS + 10_000   # numbers a model file may hold, counted before parsing


@contextlib.contextmanager
def atomic_writer(path, binary=False):
    """Yield a file whose contents replace ``path`` if the block succeeds.

    The data goes to a temporary file in the same directory, which is
    flushed, fsynced and renamed over ``path`` (an atomic step on POSIX), and
    then the directory is fsynced so the rename itself survives a power cut.
    Readers -- and a process killed at any instant -- see either the old
    file or the new one, never a partial one.  If the block raises, the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            os.fchmod(f.fileno(), _file_mode(path))
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (see ``atomic_writer``)."""
    with atomic_writer(path) as f:
        f.write(text)


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (see ``atomic_writer``)."""
    with atomic_writer(path, binary=True) as f:
        f.write(data)


def _file_mode(path):
    """The permissions the new file should get: the old file's, if there is
    one, else what an ordinary ``open`` would give (0666 less the umask).
    ``mkstemp`` alone would make every saved file private (0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask():
    """The process's umask, read without changing it (Linux), else 022."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_directory(directory):
    """Flush a directory's entries to disk (best effort: not every OS or
    file system allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    return net


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
