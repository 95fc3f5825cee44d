"""Tests for nndl.images: MNIST-style preprocessing of the user's own images."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from nndl.errors import ImageError
from nndl.images import load_digit, preprocess, save_digit_png


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


# ------------------------------------------------ photographs of digits on paper

def font_digit(d, size=(240, 200), ink=30, paper=230, pt=150, stroke=6, offset=(0, 0)):
    """The digit ``d`` in Pillow's own font, dark on light paper, antialiased."""
    img = Image.new("L", size, paper)
    ImageDraw.Draw(img).text((size[0] / 2 + offset[0], size[1] / 2 + offset[1]), str(d),
                             fill=ink, font=ImageFont.load_default(size=pt), anchor="mm",
                             stroke_width=stroke, stroke_fill=ink)
    return np.asarray(img)


def clean_cases():
    """Clean images (uniform paper, one digit): the robust steps must not change them."""
    cases = {}
    a = np.zeros((28, 28), np.uint8)
    a[4:24, 12:17] = 255
    a[23, 10:19] = 255
    cases["one28"] = a
    cases["seven_dark"] = np.asarray(draw_seven((200, 300), 0, 255, 12))
    cases["seven_grey"] = np.asarray(draw_seven((120, 160), 20, 240, 8))
    cases["seven_bright"] = 255 - np.asarray(draw_seven((150, 150), 0, 255, 10))
    blob = np.full((400, 600), 255, np.uint8)
    blob[20:32, 30:38] = 0
    cases["corner_blob"] = blob
    for d in range(10):
        cases[f"thin{d}"] = font_digit(d, (160, 160), ink=0, paper=255, pt=120, stroke=0)
        cases[f"bright{d}"] = 255 - font_digit(d, (90, 120), ink=0, paper=255, pt=70, stroke=0)
        cases[f"offset{d}"] = font_digit(d, (300, 220), ink=40, paper=200, pt=200,
                                         offset=(10, -5))
    cases["large8"] = font_digit(8, (1500, 1200), ink=0, paper=255, pt=900, stroke=20)
    return cases


def test_clean_images_give_the_same_input_as_before():
    """The outputs of the preprocessing before specks, shading and noise were
    handled (bounding box of every bright pixel), stored as bytes: a clean
    image still gives them, to within one grey level."""
    with np.load(Path(__file__).parent / "data" / "preprocess_clean.npz") as z:
        before = {k: z[k] for k in z.files}
    cases = clean_cases()
    assert sorted(before) == sorted(cases)
    for name, image in cases.items():
        now = np.round(preprocess(image) * 256)
        assert np.abs(now - before[name]).max() <= 1, name


def with_speck(a):
    a = a.astype(np.float64)
    a[10:12, 12:15] = 30          # six dark pixels far from the digit
    return a


def with_shading(a):
    return a * np.linspace(1.0, 0.3, a.shape[1])[None, :]   # light falls off to the right


def with_noise(a):
    return a + np.random.default_rng(0).normal(0, 20, a.shape)   # sensor noise, sd 20 of 255


def with_jpeg(a, quality=30):
    buf = io.BytesIO()
    Image.fromarray(to_bytes(a)).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float64)


def with_paper_edge(a):
    a = a.astype(np.float64)
    a[:, -25:] = 40               # the dark table beyond the sheet's edge
    return a


def with_table_around(a):
    a = a.astype(np.float64)
    a[:18], a[-15:], a[:, :20], a[:, -22:] = 35, 35, 35, 35   # the sheet lies on a dark table
    return a


def photographed(a):
    return with_jpeg(with_noise(with_paper_edge(with_shading(with_speck(a)))))


def to_bytes(a):
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


DEFECTS = {"speck": with_speck, "shading": with_shading, "noise": with_noise,
           "jpeg": with_jpeg, "paper edge": with_paper_edge, "table around": with_table_around,
           "all at once": photographed}


def shifted_corr(v, w):
    """Correlation of two 28x28 inputs, allowing either to be one pixel off:
    the centring rounds the centre of mass to whole pixels, as MNIST's did."""
    a, b = v.reshape(28, 28), w.reshape(28, 28)
    return max(corr(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.fixture(scope="module")
def clean_digits():
    return [preprocess(font_digit(d)) for d in range(10)]


@pytest.mark.parametrize("defect", DEFECTS)
def test_defects_of_photographs_give_the_clean_input(defect, clean_digits):
    """Each defect alone, and all together: the input the network sees is
    the clean one's, and a template match against the ten clean digits
    still names the right one."""
    for d in range(10):
        v = preprocess(to_bytes(DEFECTS[defect](font_digit(d))))
        scores = [shifted_corr(v, t) for t in clean_digits]
        assert scores[d] > 0.9, (defect, d, scores[d])
        assert int(np.argmax(scores)) == d, (defect, d)


def test_speck_and_paper_edge_do_not_set_the_box():
    """What the old bounding box did: a 6-pixel speck in a corner or the dark
    edge of the sheet made the digit small and off-centre."""
    clean = preprocess(font_digit(3))
    for image in (with_speck(font_digit(3)), with_paper_edge(font_digit(3))):
        v = preprocess(image)
        assert bbox(v) == bbox(clean)
        np.testing.assert_allclose(centre_of_mass(v), centre_of_mass(clean), atol=0.5)


def test_a_broken_stroke_keeps_both_pieces():
    a = np.full((200, 200), 255, np.uint8)
    a[40:95, 90:110] = 0           # a "1" drawn in two strokes with a gap
    a[105:160, 90:110] = 0
    v = preprocess(a)
    assert bbox(v)[0] == 20        # both pieces: 120 rows tall -> 20


def faint_stripes():
    """Gray levels 0.40..0.52 in diagonal stripes: the brightest "ink" is
    barely above the noise measured on the "paper", so the averaging square
    the noise calls for is 2668 pixels a side on a 64x64 image."""
    r, c = np.mgrid[0:64, 0:64]
    return np.array([0.40, 0.44, 0.48, 0.52])[(r + c) % 4]


def test_ink_near_the_noise_floor_is_averaged_over_a_bounded_square():
    import tracemalloc

    from nndl.images import MAX_SQUARE, _averaging_side, _gray_levels, _ink
    ink, sigma = _ink(_gray_levels(faint_stripes()))
    assert np.ceil(4.0 * sigma / (0.1 * ink.max())) > 2000       # what it would ask for
    assert _averaging_side(ink.max(), sigma) == MAX_SQUARE == 31
    noisy = _gray_levels(to_bytes(with_noise(font_digit(3))))
    ink, sigma = _ink(noisy)
    assert 1 < _averaging_side(ink.max(), sigma) < MAX_SQUARE    # a noisy photo: not capped
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match="edge"):          # stripes to every side: no digit
            preprocess(faint_stripes())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2e6, peak                 # was 176 MB with the 2668-pixel square


def test_an_image_of_only_the_papers_edge_has_no_digit(tmp_path):
    edge = np.full((40, 40), 230, np.uint8)
    edge[:, -8:] = 40                       # the dark table beyond the sheet, nothing else
    with pytest.raises(ImageError, match="no digit found: only the image's edge is dark"):
        preprocess(edge)
    Image.fromarray(edge).save(tmp_path / "edge.png")
    with pytest.raises(ImageError, match=r"edge\.png: no digit found"):
        load_digit(tmp_path / "edge.png")
    with_digit = with_paper_edge(font_digit(3))             # the edge beside a digit: dropped
    assert bbox(preprocess(with_digit)) == bbox(preprocess(font_digit(3)))


def on_paper(x, paper=230, ink=30):
    """An MNIST digit (784 values in [0, 1)) written large in dark ink on paper."""
    big = Image.fromarray(np.round(x.reshape(28, 28) * 256).astype(np.uint8))
    big = np.asarray(big.resize((168, 168), Image.Resampling.BICUBIC), dtype=np.float64) / 255
    sheet = np.zeros((220, 240))
    sheet[26:194, 36:204] = np.clip(big, 0, 1)
    return paper - (paper - ink) * sheet


def test_a_trained_network_reads_photographs_as_it_reads_clean_paper(mnist):
    """Fifty handwritten test digits on paper, clean and with each defect: a
    small network trained on 10,000 MNIST images gives (nearly) every
    defective image the answer it gives the clean one, and is as often right."""
    from nndl import Network
    from nndl.optimizers import SGD
    from nndl.training import train
    net = Network([784, 30, 10], seed=1)
    train(net, mnist.training.subset(10000), 3, 10, SGD(0.5))
    images, labels = mnist.test.images[:50], mnist.test.labels[:50]

    def read(make):
        seen = np.array([preprocess(to_bytes(make(on_paper(x)))) for x in images])
        return net.feedforward(seen).argmax(axis=1)
    clean = read(lambda a: a)
    assert (clean == labels).sum() >= 45
    for defect, make in DEFECTS.items():
        answers = read(make)
        assert (answers == clean).sum() >= 47, defect
        assert (answers == labels).sum() >= (clean == labels).sum() - 1, defect


def test_save_digit_png_writes_what_the_network_saw(tmp_path):
    v = preprocess(font_digit(5))
    save_digit_png(v, tmp_path / "seen.png")
    back = np.asarray(Image.open(tmp_path / "seen.png"))
    assert back.shape == (28, 28) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, np.round(v * 256).reshape(28, 28))
    w = preprocess(font_digit(7))
    save_digit_png(np.array([v, w]), tmp_path / "two.png")
    two = np.asarray(Image.open(tmp_path / "two.png"))
    assert two.shape == (28, 56)
    np.testing.assert_array_equal(two[:, 28:], np.round(w * 256).reshape(28, 28))
