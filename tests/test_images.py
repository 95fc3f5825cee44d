"""Tests for nndl.images: MNIST-style preprocessing of the user's own images."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nndl.errors import ImageError
from nndl.images import load_digit, preprocess


def centre_of_mass(v):
    a = np.asarray(v, dtype=np.float64).reshape(28, 28)
    t = a.sum()
    return (np.arange(28) @ a.sum(axis=1)) / t, (np.arange(28) @ a.sum(axis=0)) / t


def bbox(v, frac=0.1):
    a = np.asarray(v).reshape(28, 28)
    ink = a > frac * a.max()
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def check_output(v):
    assert v.shape == (784,)
    assert v.dtype == np.float32
    assert v.min() >= 0.0 and v.max() < 1.0
    assert v.max() > 0.9


def draw_seven(size, ink, paper, width):
    """A '7'-like digit in the middle of an image of the given (w, h)."""
    img = Image.new("L", size, paper)
    w, h = size
    d = ImageDraw.Draw(img)
    d.line([(0.3 * w, 0.25 * h), (0.7 * w, 0.25 * h), (0.45 * w, 0.75 * h)],
           fill=ink, width=width)
    return img


def corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def test_mnist_like_digit_passes_nearly_unchanged():
    a = np.zeros((28, 28), dtype=np.uint8)
    a[4:24, 12:17] = 255           # a "1": 20 tall, centre of mass (13.9, 14)
    a[23, 10:19] = 255
    v = preprocess(a)
    check_output(v)
    cy, cx = centre_of_mass(v)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert bbox(v)[0] == 20
    assert corr(v, a.reshape(784) / 256) > 0.99


def test_float_input_in_unit_range():
    a = np.zeros((28, 28))
    a[6:22, 10:18] = 0.8
    check_output(preprocess(a))


def test_polarity_dark_ink_on_white_equals_inverted():
    dark = np.asarray(draw_seven((200, 300), ink=0, paper=255, width=12))
    bright = 255 - dark
    v1, v2 = preprocess(dark), preprocess(bright)
    check_output(v1)
    assert corr(v1, v2) > 0.9
    # Ink ends up bright: the background (border) of the result is black.
    a = v1.reshape(28, 28)
    assert a[0].max() == 0 and a[-1].max() == 0 and a[:, 0].max() == 0


def test_small_blob_in_corner_is_centred_and_scaled():
    a = np.full((400, 600), 255, dtype=np.uint8)
    a[20:32, 30:38] = 0            # a 12x8 blob in the top-left corner
    v = preprocess(a)
    check_output(v)
    cy, cx = centre_of_mass(v)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(bbox(v)) in (20, 21)


def test_aspect_ratio_preserved_for_tall_bar():
    a = np.zeros((300, 300), dtype=np.uint8)
    a[50:250, 140:160] = 255        # 200 tall, 20 wide: aspect 10:1
    v = preprocess(a)
    h, w = bbox(v)
    assert h in (20, 21)
    assert w <= 4


def test_blank_array_raises():
    with pytest.raises(ImageError, match="blank"):
        preprocess(np.full((50, 50), 255, dtype=np.uint8))
    with pytest.raises(ImageError, match="blank"):
        preprocess(np.zeros((50, 50)))


def test_bad_array_raises():
    with pytest.raises(ImageError):
        preprocess(np.zeros((28, 28, 3)))
    with pytest.raises(ImageError):
        preprocess(np.full((28, 28), np.nan))


def test_png_file(tmp_path):
    p = tmp_path / "seven.png"
    draw_seven((120, 160), ink=20, paper=240, width=8).save(p)
    v = load_digit(p)
    check_output(v)
    assert corr(v, preprocess(np.asarray(draw_seven((120, 160), 20, 240, 8)))) > 0.99


def test_rgba_png_with_transparent_background(tmp_path):
    img = Image.new("RGBA", (150, 150), (0, 0, 0, 0))   # transparent *black*
    d = ImageDraw.Draw(img)
    d.line([(40, 30), (110, 30), (70, 120)], fill=(0, 0, 0, 255), width=10)
    p = tmp_path / "seven.png"
    img.save(p)
    v = load_digit(p)
    check_output(v)
    reference = preprocess(np.asarray(draw_seven((150, 150), 0, 255, 10)))
    assert corr(v, reference) > 0.8
    a = v.reshape(28, 28)
    assert a[0].max() == 0 and a[:, 0].max() == 0


def test_jpeg_file(tmp_path):
    p = tmp_path / "seven.jpg"
    draw_seven((200, 300), ink=0, paper=255, width=12).convert("RGB").save(p, quality=75)
    v = load_digit(p)
    check_output(v)
    reference = preprocess(np.asarray(draw_seven((200, 300), 0, 255, 12)))
    assert corr(v, reference) > 0.95


def test_blank_file_raises_naming_path(tmp_path):
    p = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(p)
    with pytest.raises(ImageError, match=r"blank\.png: no digit found \(image is blank\)"):
        load_digit(p)


def test_text_file_raises(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n")
    with pytest.raises(ImageError, match="notes.png"):
        load_digit(p)


def test_truncated_png_raises(tmp_path):
    rng = np.random.default_rng(0)
    full = tmp_path / "full.png"
    Image.fromarray(rng.integers(0, 256, (200, 200), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    p = tmp_path / "cut.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png") as e:
        load_digit(p)
    assert "\n" not in str(e.value)


def test_missing_file_and_directory_raise(tmp_path):
    with pytest.raises(ImageError, match="nope.png"):
        load_digit(tmp_path / "nope.png")
    with pytest.raises(ImageError):
        load_digit(tmp_path)


def test_max_pixels_checked_before_decoding(tmp_path):
    p = tmp_path / "seven.png"
    draw_seven((120, 160), 0, 255, 8).save(p)
    with pytest.raises(ImageError, match="120x160"):
        load_digit(p, max_pixels=10_000)


def _png_with_declared_size(width, height):
    """A valid 1x1 PNG whose IHDR is patched to claim width x height."""
    import io
    buf = io.BytesIO()
    Image.new("L", (1, 1), 0).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    # signature (8) + length (4) + b"IHDR" (4) + data (13) + CRC (4)
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_header_claiming_huge_size_is_refused(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_with_declared_size(100_000, 100_000))
    with pytest.raises(ImageError, match="pixels") as e:
        load_digit(p)
    assert "bomb.png" in str(e.value)


def test_header_over_our_limit_but_under_pillows_is_refused(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(_png_with_declared_size(10_000, 6_000))   # 60 Mpx > 50 Mpx
    with pytest.raises(ImageError, match="10000x6000"):
        load_digit(p)
