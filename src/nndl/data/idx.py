"""idx
~~~

Reading and writing IDX files, the format LeCun's MNIST distribution uses,
and building the book's split from them.

An IDX file is: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B
int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions,
each dimension as a big-endian uint32, then the data, big-endian, C order.
Files ending in ``.gz`` are decompressed transparently.

Files come from the network, so nothing in the header is trusted: the
declared size is checked against the bytes actually present *before* any
large allocation, and data is read in chunks so that a lying header can never
make us reserve more memory than the file really holds.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from nndl.data.dataset import Dataset, Splits
from nndl.errors import DataError
from nndl.persistence import atomic_writer

_CODES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KINDS = {(dt.kind, dt.itemsize): code for code, dt in _CODES.items()}
MAX_ELEMENTS = 2**31
#: The most data bytes an IDX file may declare (MNIST's largest holds 47 MB).
#: Checked before reading, so a small gzip file that decompresses to
#: gigabytes (a "zip bomb") is refused instead of filling memory.
MAX_BYTES = 2**30
_CHUNK = 1 << 22


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in the IDX file ``path`` (native byte order).

    Raises :class:`~nndl.errors.DataError`, naming the file, if the magic
    bytes or type code are wrong, there are not 1 to 4 dimensions, the data is
    shorter or longer than the header declares, or the header declares more
    than ``2**31`` elements or ``MAX_BYTES`` bytes.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            return _read(f, path)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read IDX file: {e}") from None


def _read(f, path: Path) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(head)} bytes)")
    if head[:2] != b"\0\0":
        raise DataError(f"{path}: bad IDX magic bytes {head[:2].hex()} (expected 0000)")
    code, ndim = head[2], head[3]
    if code not in _CODES:
        raise DataError(f"{path}: unknown IDX data type code 0x{code:02x}")
    if not 1 <= ndim <= 4:
        raise DataError(f"{path}: IDX file has {ndim} dimensions, expected 1 to 4")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = _CODES[code]
    count = math.prod(dims)
    if count > MAX_ELEMENTS or math.prod(max(d, 1) for d in dims) > MAX_ELEMENTS:
        # (the second test: NumPy refuses even an empty array whose other
        # dimensions multiply past its limit, like (0, 2**31, 2**31))
        raise DataError(f"{path}: header declares {count} elements {dims}, more than 2**31")
    nbytes = count * dtype.itemsize
    if nbytes > MAX_BYTES:
        raise DataError(f"{path}: header declares {nbytes} data bytes {dims}, more than "
                        f"the limit of {MAX_BYTES}")
    if not path.name.endswith(".gz"):  # the size on disk is known: check before reading
        present = os.fstat(f.fileno()).st_size - 4 - 4 * ndim
        if present < nbytes:
            raise DataError(f"{path}: truncated: header declares {nbytes} data bytes, file holds {present}")
        if present > nbytes:
            raise DataError(f"{path}: {_header_text(code, dims)} declares {nbytes} data bytes, "
                            f"but {present} follow: {_mismatch(count)}")
    buf = bytearray()
    while len(buf) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(buf)))
        if not chunk:
            raise DataError(f"{path}: truncated: header declares {nbytes} data bytes, file holds {len(buf)}")
        buf += chunk
    if f.read(1):
        raise DataError(f"{path}: {_header_text(code, dims)} declares {nbytes} data bytes, "
                        f"but more follow: {_mismatch(count)}")
    return np.frombuffer(buf, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def _header_text(code: int, dims: tuple) -> str:
    """'the header 00 00 08 03 (uint8, 3 dimensions 60000x28x28)', for messages."""
    return (f"the header 00 00 {code:02x} {len(dims):02x} ({_CODES[code].name}, "
            f"{len(dims)} dimension{'s' if len(dims) > 1 else ''} "
            f"{'x'.join(map(str, dims))})")


def _mismatch(count: int) -> str:
    """Why a header and the data after it disagree, most likely."""
    if count == 0:
        return ("a dimension of 0 with data after it: the magic number's dimension "
                "count is probably wrong, or this is not an IDX file")
    return "the magic number or the dimensions are wrong, or the file is corrupt"


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (1 to 4 dimensions, a dtype IDX can hold) to ``path``
    in IDX format, gzip-compressed if the name ends in ``.gz``."""
    path = Path(path)
    a = np.asarray(array)
    code = _KINDS.get((a.dtype.kind, a.dtype.itemsize))
    if code is None:
        raise DataError(f"{path}: IDX cannot hold dtype {a.dtype}")
    if not 1 <= a.ndim <= 4:
        raise DataError(f"{path}: IDX holds 1 to 4 dimensions, array has {a.ndim}")
    header = bytes([0, 0, code, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
    data = np.ascontiguousarray(a, dtype=_CODES[code]).tobytes()
    with atomic_writer(path, binary=True) as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                f.write(header + data)
        else:
            raw.write(header + data)


_IDX_NAMES = {
    "train_images": ("train-images", "idx3"),
    "train_labels": ("train-labels", "idx1"),
    "test_images": ("t10k-images", "idx3"),
    "test_labels": ("t10k-labels", "idx1"),
}


def _find(directory: Path, stem: str, kind: str) -> Path:
    names = [f"{stem}{sep}{kind}-ubyte{gz}" for sep in "-." for gz in ("", ".gz")]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory}: no IDX file {' or '.join(names)}")


def _dataset(images_path: Path, labels_path: Path) -> Dataset:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim < 2:
        raise DataError(f"{images_path}: images must be uint8 with 2+ dimensions, got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise DataError(f"{labels_path}: labels must be 1-D integers, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and labels.min() < 0:
        raise DataError(f"{labels_path}: negative label {labels.min()}")
    pixels = images.reshape(len(images), -1).astype(np.float32)
    pixels /= 256  # the book's scaling: exact in float32, max 255/256
    return Dataset(pixels, labels)


def load_idx_dir(directory: str | os.PathLike, validation_size: int = 10000) -> Splits:
    """Load the four MNIST IDX files in ``directory`` as the book's split.

    Nielsen's ``mnist.pkl.gz`` is the official 60,000 training images cut in
    two: the first 50,000 are the training set and the last 10,000 the
    validation set; the official 10,000 test images are the test set.  So
    the validation set here is the *last* ``validation_size`` training
    images.  Pixels become float32 value/256 and images of any HxW are
    flattened to HxW features.  Accepts ``train-images-idx3-ubyte`` and
    ``train-images.idx3-ubyte`` names, each optionally ``.gz``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory of IDX files")
    p = {key: _find(directory, stem, kind) for key, (stem, kind) in _IDX_NAMES.items()}
    train = _dataset(p["train_images"], p["train_labels"])
    test = _dataset(p["test_images"], p["test_labels"])
    n = len(train)
    if not 0 <= validation_size < n:
        raise DataError(f"validation_size must be in [0, {n}) for {n} training images, got {validation_size}")
    cut = n - validation_size
    return Splits(
        Dataset(train.images[:cut], train.labels[:cut]),
        Dataset(train.images[cut:], train.labels[cut:]),
        test,
    )
