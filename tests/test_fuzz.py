"""Fuzzing every loader of untrusted bytes: model files, IDX files, pickles,
checkpoints and images.

Each test feeds thousands of generated or mutated inputs -- truncated,
bit-flipped, wrong types, wrong shapes, NaN/inf, absurd sizes, deep nesting,
huge numbers -- to one loader and requires that it either returns a valid
result or raises its documented error (``ModelFileError``, ``DataError``,
``CheckpointError``, ``ImageError``), within a time limit (hypothesis'
``deadline``) and with bounded memory (the peak traced by ``tracemalloc``
must stay below a small multiple of the input's size).  Anything else --
another exception, a hang, a large allocation -- fails the test, and
hypothesis shrinks it to a minimal example.

``make test`` runs a fixed, derandomised set of 2,800 examples.  For a longer campaign with fresh random inputs:

    NNDL_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz.py \\
        --hypothesis-show-statistics
"""

import gzip
import io
import json
import os
import pickle
import shutil
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nndl import CheckpointError, DataError, ImageError, ModelFileError, Network
from nndl.checkpoint import Checkpoint, load_checkpoint, restore
from nndl.data import read_idx
from nndl.data.safe_pickle import safe_load
from nndl.images import load_digit
from nndl.optimizers import SGD
from nndl.persistence import load, to_dict
from nndl.training import train

CAMPAIGN = int(os.environ.get("NNDL_FUZZ_EXAMPLES", "0"))


def fuzz(examples):
    """Hypothesis settings: ``examples`` inputs (or the campaign's number),
    derandomised in the test suite so that ``make test`` is repeatable."""
    return settings(max_examples=CAMPAIGN or examples, derandomize=not CAMPAIGN, deadline=2000,
                    database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def traced():
    """Trace allocations for the whole module (numpy reports its buffers too)."""
    tracemalloc.start()
    yield
    tracemalloc.stop()


_fresh = [0]


def scratch(tmp_path_factory, name, data):
    """Write ``data`` to a new file and return its path.  (A new name each
    time: rewriting one file in place makes ext4 flush it, 4 ms a call.)"""
    path = scratch_dir(tmp_path_factory) / name
    path.write_bytes(data)
    return path


def scratch_dir(tmp_path_factory):
    """A new empty directory; the previous one is deleted."""
    _fresh[0] += 1
    base = tmp_path_factory.getbasetemp() / "fuzz"
    base.mkdir(exist_ok=True)
    for old in base.iterdir():
        shutil.rmtree(old)
    path = base / str(_fresh[0])
    path.mkdir()
    return path


def bounded(fn, arg, errors, size, slack=8 * 2**20, factor=40):
    """Call ``fn(arg)``; return its result or the documented error it raised,
    after checking that the allocation peak stayed below slack + factor*size."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result = fn(arg)
    except errors as e:
        result = e
    peak = tracemalloc.get_traced_memory()[1] - base
    assert peak < slack + factor * size, f"{peak} bytes allocated for a {size}-byte input"
    return result


# ----------------------------------------------------------- JSON mutations
numbers = st.one_of(st.floats(), st.integers(-2**80, 2**80), st.booleans(),
                    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**63, 10**30]))
junk = st.recursive(st.none() | numbers | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=12)


@st.composite
def mutated(draw, tree, max_mutations=3):
    """``tree`` (parsed JSON) with 1..max_mutations random changes at random
    depths: a value replaced by junk, an entry deleted, or junk inserted."""
    tree = json.loads(json.dumps(tree))
    for _ in range(draw(st.integers(1, max_mutations))):
        parent, key = None, None
        node = tree
        while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, draw(st.sampled_from(keys))
            node = node[key]
        if parent is None:
            return draw(junk)
        action = draw(st.sampled_from(["replace", "replace", "delete", "insert"]))
        if action == "replace":
            parent[key] = draw(junk)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, draw(junk))
        else:
            parent[draw(st.text(max_size=8))] = draw(junk)
    return tree


@st.composite
def mutated_bytes(draw, data, max_mutations=4):
    """``data`` with random truncations, bit flips, insertions, deletions and
    duplicated slices."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, max_mutations))):
        i = draw(st.integers(0, len(b)))
        action = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "repeat"]))
        if action == "truncate":
            del b[i:]
        elif action == "flip" and i < len(b):
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del b[i:i + draw(st.integers(1, 16))]
        elif action == "repeat":
            b[i:i] = b[i:i + draw(st.integers(1, 64))] * draw(st.integers(1, 8))
    return bytes(b)


# --------------------------------------------------------------- model files
def _model_doc(sizes, seed=0):
    return json.loads(json.dumps(to_dict(Network(sizes, seed=seed, dtype="float64"))))


MODEL_DOCS = [_model_doc([3, 2]), _model_doc([4, 3, 2], seed=1)]
BOOK_DOC = {k: MODEL_DOCS[1][k] for k in ("sizes", "weights", "biases", "cost")}


def check_model(path, size):
    """Load ``path``: a ModelFileError, or a network that is internally valid."""
    result = bounded(load, path, ModelFileError, size)
    if isinstance(result, Network):
        for l, (x, y) in enumerate(zip(result.sizes[:-1], result.sizes[1:])):
            assert result.weights[l].shape == (y, x) and result.biases[l].shape == (y, 1)
            assert np.isfinite(result.weights[l]).all() and np.isfinite(result.biases[l]).all()
        result.feedforward(np.zeros((1, result.sizes[0])))


@fuzz(500)
@given(doc=st.sampled_from(MODEL_DOCS + [BOOK_DOC]).flatmap(mutated))
def test_fuzz_model_file_structure(tmp_path_factory, doc):
    path = scratch(tmp_path_factory, "model.json", json.dumps(doc).encode())
    check_model(path, path.stat().st_size)


@fuzz(500)
@given(data=st.sampled_from([json.dumps(d).encode() for d in MODEL_DOCS]).flatmap(mutated_bytes))
def test_fuzz_model_file_bytes(tmp_path_factory, data):
    check_model(scratch(tmp_path_factory, "model.json", data), len(data))


@pytest.mark.parametrize("text", [
    "[" * 1_000_000,
    '{"a":' * 200_000,
    '{"sizes": [2, 1], "weights": [[[1' + "0" * 100_000 + ', 1]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
    '{"sizes": [2, 1], "weights": [[[1e999999, 1]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
    '{"sizes": [2, 1], "weights": [[[' + "[" * 5000 + "1" + "]" * 5000 + ', 1]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
    '{"sizes": [1000000000, 1000000000], "weights": [], "biases": [], "cost": "QuadraticCost"}',
    '{"sizes": [' + "1," * 100_000 + '1], "weights": [], "biases": [], "cost": "QuadraticCost"}',
    "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
])
def test_absurd_model_files(tmp_path, text):
    path = tmp_path / "absurd.json"
    path.write_text(text, encoding="latin-1")
    assert isinstance(bounded(load, path, ModelFileError, len(text)), ModelFileError)


def test_too_large_files_are_refused_before_reading(tmp_path, monkeypatch):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(3 * 2**30)      # sparse: 3 GiB on paper, nothing on disk
    assert "too large for a model file" in str(bounded(load, huge, ModelFileError, 0))
    import nndl.persistence
    monkeypatch.setattr(nndl.persistence, "MAX_NUMBERS", 1000)
    many = tmp_path / "many.json"
    many.write_text("[" + "0," * 2000 + "0]")
    assert "more than 1000 values" in str(bounded(load, many, ModelFileError, 4000))


# ---------------------------------------------------------------- IDX files
IDX_CODES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def idx_files(draw):
    """An IDX header, often valid and sometimes not, over data that is
    exactly, less or more than what the header declares."""
    magic = draw(st.sampled_from([b"\0\0"] * 6 + [b"\0\1", b"\x1f\x8b", b"PK"]))
    code = draw(st.sampled_from(IDX_CODES * 3 + [0x00, 0x0A, 0xFF]))
    ndim = draw(st.sampled_from([1, 2, 3, 4, 1, 2, 3, 0, 5, 255]))
    dims = draw(st.lists(st.one_of(st.integers(0, 6), st.sampled_from(
        [2**31, 2**32 - 1, 2**16, 65537])), min_size=0, max_size=max(ndim, 0) if ndim < 8 else 4))
    header = magic + bytes([code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)
    declared = int(np.prod(dims, dtype=object)) * ITEMSIZE.get(code, 1) if dims else 0
    length = min(declared, 4096) + draw(st.sampled_from([0, 0, 0, -1, 1, 7]))
    return header + bytes([draw(st.integers(0, 255))]) * max(length, 0)  # only the length matters


def check_idx(path, size):
    """Read ``path``: a DataError, or an array whose size matches the file."""
    result = bounded(read_idx, path, DataError, size)
    if isinstance(result, np.ndarray):
        assert 1 <= result.ndim <= 4 and result.dtype.isnative


@fuzz(500)
@given(data=idx_files(), gz=st.booleans())
def test_fuzz_idx_headers(tmp_path_factory, data, gz):
    path = scratch(tmp_path_factory, "x.idx.gz" if gz else "x.idx",
                   gzip.compress(data, mtime=0) if gz else data)
    check_idx(path, len(data))


def _idx_bytes(array, gz):
    buffer = io.BytesIO()
    header = bytes([0, 0, {1: 0x08, 8: 0x0E}[array.dtype.itemsize], array.ndim])
    body = header + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.astype(
        array.dtype.newbyteorder(">")).tobytes()
    if gz:
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
            f.write(body)
        return buffer.getvalue()
    return body


IDX_SAMPLES = [_idx_bytes(np.arange(60, dtype=np.uint8).reshape(5, 3, 4), gz)
               for gz in (False, True)] + [_idx_bytes(np.linspace(0, 1, 12), False)]


@fuzz(400)
@given(sample=st.sampled_from(range(len(IDX_SAMPLES))), data=st.data())
def test_fuzz_idx_bytes(tmp_path_factory, sample, data):
    mutated_data = data.draw(mutated_bytes(IDX_SAMPLES[sample]))
    path = scratch(tmp_path_factory, "x.idx.gz" if sample == 1 else "x.idx", mutated_data)
    check_idx(path, max(len(mutated_data), 100))


def test_idx_declaring_too_many_bytes_is_refused_before_reading(tmp_path):
    # 2**31 float64s = 16 GiB declared; 8 MiB of zeros present, compressed to 8 KiB.
    path = tmp_path / "bomb.idx.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x0E, 2]) + (2**16).to_bytes(4, "big") + (2**15).to_bytes(4, "big"))
        f.write(bytes(8 * 2**20))
    result = bounded(read_idx, path, DataError, 0, slack=2**20)
    assert "more than the limit" in str(result)


# ------------------------------------------------------------------ pickles
def _book_pickle():
    rng = np.random.default_rng(0)
    sets = tuple((rng.random((3, 4)).astype(np.float32), np.arange(3, dtype=np.int64))
                 for _ in range(3))
    return pickle.dumps(sets, protocol=2)


@fuzz(400)
@given(data=mutated_bytes(_book_pickle()))
def test_fuzz_restricted_unpickler(data):
    bounded(safe_load, data, DataError, len(data))


def test_unpickler_refuses_huge_reconstruct():
    rebuild = pickle.dumps((np.zeros(0),), protocol=2)
    small, large = pickle.dumps((0,), protocol=2)[2:-3], pickle.dumps((2**40,), protocol=2)[2:-3]
    evil = rebuild.replace(small, large, 1)
    assert evil != rebuild
    assert "refusing" in str(bounded(safe_load, evil, DataError, len(evil)))


# -------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory, tiny_module_data):
    directory = tmp_path_factory.mktemp("fuzz-ck")
    net = Network([4, 3, 3], seed=0)
    train(net, tiny_module_data, 2, 20, SGD(0.5), callbacks=[Checkpoint(directory)])
    return directory


@pytest.fixture(scope="module")
def tiny_module_data():
    from nndl.data import Dataset
    rng = np.random.default_rng(0)
    return Dataset(rng.random((40, 4)).astype(np.float32), rng.integers(0, 3, 40))


def _restore(directory):
    return restore(directory, Network([4, 3, 3]), SGD(0.5))


@fuzz(150)
@given(data=st.data())
def test_fuzz_checkpoint_manifest(checkpoint_dir, tmp_path_factory, data):
    manifest = json.loads((checkpoint_dir / "manifest.json").read_text())
    target = scratch_dir(tmp_path_factory)
    npz = next(checkpoint_dir.glob("arrays-*.npz"))
    (target / npz.name).write_bytes(npz.read_bytes())
    text = json.dumps(data.draw(mutated(manifest)))
    (target / "manifest.json").write_text(text)
    bounded(_restore, target, CheckpointError, len(text) + npz.stat().st_size)


@fuzz(150)
@given(data=st.data())
def test_fuzz_checkpoint_arrays(checkpoint_dir, tmp_path_factory, data):
    """A damaged .npz whose manifest records the damaged file's SHA-256 (as a
    forger would): every header must still be checked before allocation."""
    import hashlib
    npz = next(checkpoint_dir.glob("arrays-*.npz"))
    damaged = data.draw(mutated_bytes(npz.read_bytes()))
    manifest = json.loads((checkpoint_dir / "manifest.json").read_text())
    manifest["arrays"]["sha256"] = hashlib.sha256(damaged).hexdigest()
    target = scratch_dir(tmp_path_factory)
    (target / npz.name).write_bytes(damaged)
    (target / "manifest.json").write_text(json.dumps(manifest))
    bounded(load_checkpoint, target, CheckpointError, len(damaged))


# ------------------------------------------------------------------- images
def _png():
    a = np.zeros((12, 10), np.uint8)
    a[2:10, 4:6] = 255
    buffer = io.BytesIO()
    Image.fromarray(a).save(buffer, "PNG")
    return buffer.getvalue()


@fuzz(200)
@given(data=mutated_bytes(_png()))
def test_fuzz_images(tmp_path_factory, data):
    path = scratch(tmp_path_factory, "x.png", data)
    result = bounded(load_digit, path, ImageError, len(data))
    if isinstance(result, np.ndarray):
        assert result.shape == (784,) and np.isfinite(result).all()


@st.composite
def gray_arrays(draw):
    """Small gray-level images of every kind: noise, a few specks on paper,
    flat, one pixel wide, uint8 or float."""
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["noise", "specks", "flat", "float"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "specks":
        a = np.full((h, w), draw(st.integers(0, 255)), np.uint8)
        for _ in range(draw(st.integers(1, 5))):
            a[rng.integers(h), rng.integers(w)] = draw(st.integers(0, 255))
        return a
    if kind == "flat":
        return np.full((h, w), draw(st.integers(0, 255)), np.uint8)
    return rng.normal(draw(st.floats(-5, 5)), draw(st.floats(0, 300)), (h, w))


@fuzz(300)
@given(a=gray_arrays())
def test_fuzz_preprocess(a):
    """Any 2-D array gives an MNIST-style vector or ImageError, nothing else."""
    from nndl.images import preprocess
    try:
        v = preprocess(a)
    except ImageError:
        return
    assert v.shape == (784,) and v.dtype == np.float32
    assert np.isfinite(v).all() and v.min() >= 0 and v.max() < 1
