"""store
~~~~~

Expanded data sets on disk, and preview pictures of distortions.

The file format (written by :func:`write_expanded`, read back by
``nndl.data.load_dataset("FILE.npz")`` and ``nndl train --dataset FILE.npz``)
is an uncompressed NumPy ``.npz``, loaded with ``allow_pickle=False``:

    training_images    float32 (n * (copies + 1), H*W)  originals and copies, shuffled
    training_labels    int64   (n * (copies + 1),)
    validation_images  float32, validation_labels int64   unchanged
    test_images        float32, test_labels int64         unchanged
    expansion          a 0-d string: JSON {"transform", "copies", "seed",
                       "source_training_size"} saying how the file was made

The training images are written a chunk at a time straight into the zip
member, so memory holds one chunk of distorted images, not the whole set.
Rows are shuffled (as ``expand_mnist.py`` shuffles): output row ``i`` is copy
``j = p[i] // n`` of image ``p[i] % n`` for a seeded permutation ``p``; copy 0
is the original.  The file appears under its name only when complete.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..persistence import atomic_writer

CHUNK = 4096


def default_copies(transform):
    """How many distorted copies per image ``nndl expand`` makes by default:
    all four for a lone ``shift`` (the book's 250,000-image set), else 1."""
    parts = getattr(transform, "transforms", [transform])
    return parts[0].variants if len(parts) == 1 and hasattr(parts[0], "variants") else 1


def enumerated(transform, copies):
    """The lone enumerable transform (``shift``) if ``copies`` asks for
    exactly its variants -- each copy then gets its own variant -- else None."""
    parts = getattr(transform, "transforms", [transform])
    lone = parts[0] if len(parts) == 1 else None
    return lone if lone is not None and getattr(lone, "variants", None) == copies else None


def distort_copies(transform, images, copies_index, rng, n_copies):
    """Return ``images`` (N, H, W), row ``i`` turned into its copy
    ``copies_index[i]`` (0 = unchanged).

    A lone enumerable transform (``shift``) asked for exactly its number of
    variants gives copy ``j`` its ``j``-th variant, as the book does; any
    other transform draws a fresh random distortion for every copy.
    """
    out = np.array(images, dtype=np.float32)
    lone = enumerated(transform, n_copies)
    if lone is not None:
        for j in range(1, n_copies + 1):
            rows = copies_index == j
            out[rows] = lone.variant(out[rows], j - 1)
        return out
    rows = copies_index > 0
    if rows.any():
        out[rows] = transform(out[rows], rng)
    return out


def write_expanded(path, splits, transform, copies, seed, shape=(28, 28), spec_text=None):
    """Write ``splits`` with its training set expanded by ``copies``
    distorted copies of every image to ``path`` (see the module docstring)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ConfigError(f"{path}: the expanded data set must be a .npz file")
    if copies < 1:
        raise ConfigError(f"copies must be >= 1, got {copies}")
    training = splits.training
    n, d = training.images.shape
    if shape[0] * shape[1] != d:
        raise ConfigError(f"images of {d} values are not {shape[0]}x{shape[1]}")
    total = n * (copies + 1)
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))).permutation(total)
    meta = {"transform": spec_text or repr(transform), "copies": copies, "seed": seed,
            "source_training_size": n}
    with atomic_writer(path, binary=True) as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open("training_images.npy", "w", force_zip64=True) as f:
                _write_header(f, (total, d), np.float32)
                for c, k in enumerate(range(0, total, CHUNK)):
                    src = order[k:k + CHUNK]
                    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, c)))
                    images = training.images[src % n].reshape(-1, *shape)
                    f.write(distort_copies(transform, images, src // n, rng, copies).tobytes())
            _write_array(zf, "training_labels", training.labels[order % n])
            for name in ("validation", "test"):
                ds = getattr(splits, name)
                _write_array(zf, f"{name}_images", ds.images.astype(np.float32, copy=False))
                _write_array(zf, f"{name}_labels", ds.labels)
            _write_array(zf, "expansion", np.array(json.dumps(meta)))
    return total


def _write_header(f, shape, dtype):
    """Write a .npy header for a C-ordered array of ``shape`` and ``dtype``."""
    np.lib.format.write_array_header_2_0(f, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False, "shape": tuple(int(s) for s in shape)})


def _write_array(zf, name, array):
    """Store one whole array as ``name.npy`` in the zip file."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array(f, np.asarray(array, order="C"), allow_pickle=False)


def write_preview(path, originals, distorted, zoom=3, gap=2):
    """Write a PNG grid: one row per original image, the original first,
    then its distortions (``distorted`` is a list of batches like
    ``originals``, each ``(N, H, W)`` in [0, 1]); a grey line divides them."""
    from PIL import Image
    originals = np.asarray(originals, dtype=np.float32)
    n, h, w = originals.shape
    cols = [originals] + [np.asarray(x, dtype=np.float32) for x in distorted]
    cell_h, cell_w = h * zoom + gap, w * zoom + gap
    grid = np.full((n * cell_h + gap, len(cols) * cell_w + gap + gap), 255, dtype=np.uint8)
    for j, batch in enumerate(cols):
        x0 = gap + j * cell_w + (gap if j else 0)
        for i in range(n):
            tile = np.clip(batch[i], 0, 1)
            tile = np.kron(255 - np.round(tile * 255), np.ones((zoom, zoom))).astype(np.uint8)
            grid[gap + i * cell_h: gap + i * cell_h + h * zoom, x0:x0 + w * zoom] = tile
    divider = gap + cell_w
    grid[:, divider:divider + gap] = 128
    with atomic_writer(path, binary=True) as f:
        Image.fromarray(grid).save(f, format="PNG")
