"""Writing files safely: the one atomic writer and the checks of output paths.

``atomic_writer`` is the one way every nndl module writes a file (models,
metrics, checkpoints, data sets, plots, reports): a temporary file beside
the target, flushed and fsynced, renamed over it, and the folder fsynced, so
a crash mid-write leaves the previous file intact.  It writes through a
symbolic link (the link stays), refuses devices, FIFOs, sockets and folders,
gives a new file the umask's mode without changing the process's umask, and
every failure is an ``OutputError`` naming the path the user gave, never the
temporary file.

``check_output_path``, ``check_output_dir`` and ``check_distinct`` let a
command refuse an output it could not write before it starts working.
"""

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from .errors import OutputError


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
