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

``atomic_writer`` is the one way every nndl module writes a file (models,
metrics, checkpoints, data sets, plots, reports); ``check_output_path``,
``check_output_dir`` and ``check_distinct`` let a command refuse an output it
could not write before it starts working, and ``save_fallback`` keeps a trained network when the
final write fails anyway.

Memory is bounded before anything is parsed: a file is at most
``MAX_FILE_BYTES`` and holds at most ``MAX_NUMBERS`` values (counted in one
pass over the bytes), and ``sizes`` may not ask for more than
``MAX_PARAMETERS`` parameters.
"""

import contextlib
import errno
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .costs import COSTS, COSTS_BY_CLASS_NAME
from .errors import ConfigError, ModelFileError, OutputError
from .network import MAX_PARAMETERS, Network

FORMAT = "nndl-network"
VERSION = 1
MAX_FILE_BYTES = 2 * 1024**3      # refuse absurd files before reading them
MAX_NUMBERS = MAX_PARAMETERS + 10_000   # numbers a model file may hold, counted before parsing


@contextlib.contextmanager
def atomic_writer(path, binary=False):
    """Yield a file whose contents replace ``path`` if the block succeeds.

    The data goes to a temporary file in the target's directory, which is
    flushed, fsynced and renamed over the target (an atomic step on POSIX),
    and then the directory is fsynced so the rename itself survives a power
    cut.  Readers -- and a process killed at any instant -- see either the
    old file or the new one, never a partial one.  If the block raises, the
    temporary file is removed and the target is untouched.

    ``path`` may be a symbolic link: the file it points to is replaced
    (atomically, in that file's directory) and the link stays a link.  A
    device, FIFO, socket or directory is refused (``OutputError``) and left
    as it is.  A new file gets the mode an ordinary ``open`` would give
    (0666 less the umask, applied by the kernel; the process umask is never
    changed); a replaced file keeps its mode.  Every failure of the write
    itself (missing or read-only folder, full disk) is an ``OutputError``
    naming ``path``, never the temporary file.
    """
    target = check_target(path)
    fd, tmp = _create_temporary(path, target)
    try:
        with os.fdopen(fd, "wb" if binary else "w",
                       **({} if binary else {"encoding": "utf-8"})) as f:
            try:
                yield f
            except OSError as e:
                if e.filename is None and not isinstance(e, OutputError):
                    raise _output_error(path, e) from None   # a write to our own file
                raise
            _step(path, f.flush)
            _step(path, os.fsync, f.fileno())
        _step(path, os.replace, tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(target.parent)


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (see ``atomic_writer``)."""
    with atomic_writer(path) as f:
        f.write(text)


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (see ``atomic_writer``)."""
    with atomic_writer(path, binary=True) as f:
        f.write(data)


def publish(finished, path):
    """Move the complete file ``finished`` (written elsewhere on the same
    file system, e.g. a download's work folder) to ``path`` the way
    ``atomic_writer`` would: fsynced, renamed over the target (through a
    symbolic link; never over a device), the folder fsynced."""
    target = check_target(path)
    fd = os.open(finished, os.O_RDONLY)
    try:
        _step(path, os.fsync, fd)
    finally:
        os.close(fd)
    _step(path, os.replace, finished, target)
    _fsync_directory(target.parent)


def save_figure(figure, path, **kwargs):
    """Save a Matplotlib ``figure`` to ``path`` atomically, in the format its
    suffix names (``.png``, ``.svg``, ``.pdf``)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_writer(path, binary=True) as f:
        figure.savefig(f, format=fmt, **kwargs)


def check_target(path):
    """Return the file a write to ``path`` replaces, or raise ``OutputError``.

    A symbolic link resolves to its final target.  Refused: a target that
    exists and is not a regular file (device, FIFO, socket, directory), and
    a target whose folder is missing or not a folder.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise _output_error(path, e) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: not a regular file ({_kind(st.st_mode)}); "
                          "refusing to replace it")
    folder = target.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"{path}: the folder {folder} {what}")
    return target


def check_output_path(path, what):
    """Check, before any work, that ``path`` can be written; ``what`` names
    it in the message (a flag such as ``--save``).

    Everything ``atomic_writer`` would refuse is refused now (see
    ``check_target``), and a temporary file is created and removed in the
    target's folder, so that a folder that is read-only, full of inodes or
    on a read-only file system is found before a long run rather than after.
    Raises ``OutputError`` ("--save /dev/full: not a regular file ...").
    """
    try:
        target = check_target(path)
        fd, tmp = _create_temporary(path, target)
        os.close(fd)
        os.unlink(tmp)
    except OutputError as e:
        raise OutputError(f"{what} {e}") from None
    return target


def check_output_dir(path, what):
    """Check, before any work, that files can be written in the folder
    ``path`` (``--checkpoint DIR``, ``--out DIR``), creating nothing.

    An existing ``path`` must be a folder; a missing one will be created, so
    its nearest existing ancestor must be a folder.  Either way a temporary
    file is created and removed there, as in ``check_output_path``.  Raises
    ``OutputError`` naming ``what`` and ``path``.
    """
    path = Path(path)
    folder = path
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():            # a dangling link: its target would be created
            raise OutputError(f"{what} {path}: {folder} is a broken symbolic link")
        folder = folder.parent
    if not folder.is_dir():
        where = "is not a folder" if folder == path else f"cannot be created: {folder} is not a folder"
        raise OutputError(f"{what} {path}: {where}")
    try:
        fd, tmp = _create_temporary(path, folder / "probe")
        os.close(fd)
        os.unlink(tmp)
    except OutputError as e:
        raise OutputError(f"{what} {e}") from None
    return folder


def check_distinct(paths):
    """Refuse two outputs that are the same file.

    ``paths`` maps a name for each output (a flag) to its path; ``None``
    values are skipped.  Symbolic links are resolved, and existing files are
    compared by device and inode, so ``--save m.json --metrics-out ./m.json``
    or a link to the other output is caught.  Raises ``OutputError``.
    """
    seen = {}
    for what, path in paths.items():
        if path is None:
            continue
        key = _identity(path)
        if key in seen:
            other, first = seen[key]
            raise OutputError(f"{other} {first} and {what} {path} are the same file; "
                              "give each output its own path")
        seen[key] = (what, path)


def cache_dir_path(cache_dir=None):
    """nndl's cache directory: ``cache_dir``, else ``$NNDL_CACHE_DIR``, else the
    platform's user cache (downloads, and networks rescued by :func:`save_fallback`)."""
    import platformdirs
    return Path(cache_dir or os.environ.get("NNDL_CACHE_DIR") or platformdirs.user_cache_dir("nndl"))


def save_fallback(net, path):
    """Save ``net`` where it can still go after saving it to ``path`` failed
    (a full disk, a folder removed during training); return where it went.

    Tried in order: nndl's cache directory and the system's temporary
    directory, each under a new name built from ``path``'s stem
    (``nndl-rescued-model-XXXXXXXX.json``).  Raises ``OutputError`` listing
    every place tried if none could take it.
    """
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


def _identity(path):
    """What makes two paths the same file: (device, inode) if it exists,
    else the absolute path with every symbolic link resolved."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", real)


def _create_temporary(path, target):
    """Create the temporary file beside ``target``; return (fd, name).

    The kernel applies the umask to mode 0666 (and any default ACL), as for
    an ordinary ``open``; a file that is replaced lends its own mode."""
    try:
        mode = os.stat(target).st_mode & 0o777
    except OSError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise _output_error(path, e, target.parent) from None
        if mode is not None:
            try:
                os.fchmod(fd, mode)
            except OSError:
                pass    # not the owner's file system: keep the umask's mode
        return fd, tmp
    raise OutputError(f"{path}: cannot create a temporary file beside it")


def _step(path, function, *args):
    """Run one step of a write, turning an OSError into an OutputError naming ``path``."""
    try:
        return function(*args)
    except OutputError:
        raise
    except OSError as e:
        raise _output_error(path, e) from None


def _output_error(path, error, folder=None):
    """An OutputError naming the user's ``path`` for an OSError ``error``
    (``folder``: where the file was being created, if that is what failed)."""
    reason = error.strerror or str(error)
    if folder is not None and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = f"cannot write in the folder {folder} ({reason})"
    elif folder is not None and error.errno == errno.ENOENT:
        reason = f"the folder {folder} does not exist"
    e = OutputError(f"{path}: {reason}")
    e.errno = error.errno
    return e


def _kind(mode):
    """'a character device', 'a FIFO', ...: what a non-regular file is."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


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
