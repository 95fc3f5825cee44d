"""Artificially expanding the training data: each transform on synthetic
images whose answer is known, the fast paths against scipy.ndimage, the
seeded background stream, the expanded .npz files and the command line."""

import json
import warnings

import numpy as np
import pytest
from scipy import ndimage

from nndl import Network
from nndl.cli import main
from nndl.data import Dataset, Splits, load_dataset
from nndl.errors import ConfigError, DataError
from nndl.expansion import (Affine, Compose, Elastic, Expander, LargeRotationWarning, Shift,
                            bilinear_sample, elastic, parse_spec, parse_specs, random_affine,
                            rotate, scale, shear, shift_pixels, translate)
from nndl.expansion.store import write_expanded
from nndl.expansion import kernels as K
from nndl.expansion import transforms as T
from nndl.expansion import stream as expansion_stream
from nndl.expansion.threads import LoadMeter, plan_threads
from nndl.expansion.transforms import (gaussian_matrix, pixel_grid, smooth_fields,
                                       uniform_fields, elastic_from_fields)
from nndl.optimizers import SGD
from nndl.training import minibatches, train


def dot(r, c, h=28, w=28, n=1):
    """n black images with one bright pixel at (r, c)."""
    x = np.zeros((n, h, w), np.float32)
    x[:, r, c] = 1.0
    return x


def brightest(img):
    return np.unravel_index(np.argmax(img), img.shape)


def digits(n=64, seed=0):
    """Random blobby 28x28 'images' in [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.clip(ndimage.gaussian_filter(rng.random((n, 28, 28)), (0, 1.5, 1.5)) * 3 - 1, 0, 1
                   ).astype(np.float32)


# ----------------------------------------------------- known answers
@pytest.mark.parametrize("down,right", [(1, 0), (-1, 0), (0, 1), (0, -1), (3, -5)])
def test_translate_moves_a_pixel_exactly(down, right):
    out = translate(dot(10, 12), down, right)
    assert out[0, 10 + down, 12 + right] == pytest.approx(1.0)
    assert out.sum() == pytest.approx(1.0)


def test_half_pixel_move_splits_the_pixel_bilinearly():
    out = translate(dot(10, 12), 0, 0.5)[0]
    assert out[10, 12] == pytest.approx(0.5) and out[10, 13] == pytest.approx(0.5)


@pytest.mark.parametrize("degrees,expected", [(90, (7, 13)), (-90, (20, 14)), (180, (14, 7))])
def test_rotation_turns_a_pixel_counter_clockwise_about_the_centre(degrees, expected):
    # the centre is (13.5, 13.5); (13, 20) is 6.5 right of it (and half a row up),
    # so a quarter turn counter-clockwise puts it 6.5 above the centre
    out = rotate(dot(13, 20), degrees)[0]
    assert out[expected] == pytest.approx(1.0, abs=1e-5)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


def test_small_rotation_moves_a_pixel_along_its_circle():
    out = rotate(dot(13, 25), 15)[0]                  # 11.5 right of centre, 0.5 up
    dr, dc = -0.5, 11.5
    a = np.radians(15)
    want = (13.5 + dr * np.cos(a) - dc * np.sin(a), 13.5 + dr * np.sin(a) + dc * np.cos(a))
    centroid = (np.indices(out.shape) * out).sum(axis=(1, 2)) / out.sum()
    assert centroid == pytest.approx(want, abs=0.05)


def test_rotation_by_360_and_zero_are_identity():
    x = digits(4)
    np.testing.assert_array_equal(rotate(x, 0), x)
    np.testing.assert_allclose(rotate(x, 360), x, atol=1e-5)


def test_shear_slides_rows_in_proportion_to_height():
    out = shear(dot(3, 13, n=1), 45)[0]               # 10.5 rows above the centre
    assert brightest(out)[0] == 3
    assert np.argwhere(out > 0.2)[:, 1].mean() == pytest.approx(13 + 10.5, abs=0.51)


def test_scale_moves_pixels_away_from_the_centre():
    out = scale(dot(13, 20), 2.0)[0]                  # 6.5 right of centre -> 13
    assert np.argwhere(out > 0.2)[:, 1].mean() == pytest.approx(13.5 + 13, abs=0.51)


def test_nothing_wraps_around_the_edges():
    x = dot(0, 27)
    assert translate(x, 0, 1).sum() == 0              # leaves the image
    assert shift_pixels(x, 0, 1).sum() == 0
    assert rotate(dot(0, 0), 180)[0, 27, 27] == pytest.approx(1.0)  # corner to corner, no wrap


def test_book_shifts_equal_expand_mnist_py():
    """expand_mnist.py: np.roll by one pixel, then zero the row/column that wrapped."""
    x = digits(5)
    book = []
    for img in x:
        for d, axis, index_position, index in [(1, 0, "first", 0), (-1, 0, "first", 27),
                                               (1, 1, "last", 0), (-1, 1, "last", 27)]:
            new = np.roll(img, d, axis)
            if index_position == "first":
                new[index, :] = 0
            else:
                new[:, index] = 0
            book.append(new)
    ours = np.stack([Shift(1).variant(x, k) for k in range(4)], 1).reshape(-1, 28, 28)
    np.testing.assert_array_equal(ours, np.stack(book))


def test_random_shift_picks_one_of_the_four_moves():
    x = digits(40)
    out = Shift(2)(x, np.random.default_rng(0))
    variants = np.stack([Shift(2).variant(x, k) for k in range(4)])
    matches = (variants == out[None]).all(axis=(2, 3))
    assert (matches.sum(axis=0) >= 1).all()
    assert len(set(matches.argmax(axis=0))) == 4


def test_elastic_with_alpha_zero_is_the_identity():
    x = digits(8)
    np.testing.assert_array_equal(elastic(x, np.random.default_rng(0), alpha=0, sigma=4), x)


def test_same_seed_same_output_different_seed_different_output():
    x = digits(16)
    t = parse_specs(["elastic:alpha=34,sigma=4", "affine:rotate=15,shift=2,skew=10,scale=0.1"])
    a = t(x, np.random.default_rng(7))
    np.testing.assert_array_equal(a, t(x, np.random.default_rng(7)))
    assert not np.allclose(a, t(x, np.random.default_rng(8)))


def test_random_affine_with_zero_ranges_is_the_identity():
    x = digits(4)
    np.testing.assert_allclose(random_affine(x, np.random.default_rng(0)), x, atol=1e-6)


# ------------------------------------------------ fast paths vs scipy
def test_bilinear_sample_matches_scipy_map_coordinates():
    rng = np.random.default_rng(1)
    x = digits(6).astype(np.float64)
    rows = rng.uniform(-3, 31, (6, 28, 28))
    cols = rng.uniform(-3, 31, (6, 28, 28))
    ours = bilinear_sample(x, rows, cols)
    for i in range(6):
        ref = ndimage.map_coordinates(x[i], [rows[i], cols[i]], order=1, mode="grid-constant")
        np.testing.assert_allclose(ours[i], ref, atol=2e-5)


@pytest.mark.parametrize("sigma", [0.7, 4.0, 9.0])
def test_batched_gaussian_smoothing_matches_scipy(sigma):
    u = uniform_fields(np.random.default_rng(2), 3, 28, 28)
    ours = smooth_fields(u, sigma)
    for f, g in zip(u.reshape(-1, 28, 28), ours.reshape(-1, 28, 28)):
        ref = ndimage.gaussian_filter(f.astype(np.float64), sigma, mode="constant")
        np.testing.assert_allclose(g, ref, atol=1e-6)
    assert gaussian_matrix(28, sigma).shape == (28, 28)


def test_elastic_matches_the_straightforward_scipy_version():
    """Given the same raw random fields, our batched elastic distortion is the
    per-image gaussian_filter + map_coordinates recipe."""
    x = digits(5)
    u = uniform_fields(np.random.default_rng(3), 5, 28, 28)
    ours = elastic_from_fields(x, u, 34.0, 4.0)
    rows, cols = pixel_grid(28, 28)
    for i in range(5):
        dr, dc = (ndimage.gaussian_filter(u[i, k].astype(np.float64), 4.0, mode="constant") * 34
                  for k in range(2))
        ref = ndimage.map_coordinates(x[i].astype(np.float64), [rows[0] + dr, cols[0] + dc],
                                      order=1, mode="grid-constant")
        np.testing.assert_allclose(ours[i], ref, atol=1e-5)
    assert np.abs(ours - x).mean() > 0.01              # it did distort


# ------------------------------------------ compiled kernels vs scipy
def bordered(n=6, seed=0):
    """digits() with a black 2-pixel border, where scipy's mode='constant'
    and 'grid-constant' agree (MNIST's digits have a 4-pixel border)."""
    x = digits(n, seed)
    x[:, :2], x[:, -2:], x[:, :, :2], x[:, :, -2:] = 0, 0, 0, 0
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_bilinear_sampling_of_a_given_field_matches_scipy(dtype):
    """With sigma so small that the Gaussian is one tap, the compiled elastic
    kernel samples at exactly (i, j) + alpha * field: the bilinear read of a
    given displacement field, compared with map_coordinates(order=1)."""
    x = bordered(6).astype(dtype)
    rng = np.random.default_rng(1)
    fields = uniform_fields(rng, 6, 28, 28)
    assert np.array_equal(gaussian_matrix(28, 0.1), np.eye(28))
    out = np.empty((6, 784), dtype)
    K.elastic_from_fields(x.reshape(6, -1), None, out, fields, 4.0, 0.1, (28, 28))
    rows, cols = pixel_grid(28, 28)
    for i in range(6):
        where = [rows[0] + np.float32(4.0) * fields[i, 0], cols[0] + np.float32(4.0) * fields[i, 1]]
        for mode in ("constant", "grid-constant"):
            ref = ndimage.map_coordinates(x[i].astype(np.float64), where, order=1, mode=mode,
                                          cval=0.0)
            np.testing.assert_allclose(out[i].reshape(28, 28), ref, atol=2e-6)
    assert out.dtype == dtype


def test_compiled_sampler_is_black_outside_like_grid_constant():
    """Near a bright edge the two scipy modes differ; ours is grid-constant:
    the image is black beyond its edge and reads between are interpolated."""
    x = np.ones((1, 28, 28), np.float32)
    out = translate(x, 0, 0.5)[0]                              # NumPy reference
    compiled = parse_spec("affine")                           # identity map
    np.testing.assert_array_equal(compiled(x, np.random.default_rng(0)), x)
    params = K.affine_params(np.eye(2)[None], np.array([[0.0, 0.5]]))
    got = np.empty((1, 784), np.float32)
    K.affine(x.reshape(1, -1), None, got, params, (28, 28))
    np.testing.assert_allclose(got.reshape(28, 28), out, atol=1e-6)
    assert got.reshape(28, 28)[5, 0] == pytest.approx(0.5)    # half black, half white


def test_compiled_exact_elastic_matches_scipy_gaussian_filter_and_map_coordinates():
    """Elastic(exact=True): the paper's recipe, compiled, per image against
    gaussian_filter(mode='constant', truncate 4) + map_coordinates(order=1)."""
    x = bordered(5)
    fields = uniform_fields(np.random.default_rng(3), 5, 28, 28)
    out = np.empty((5, 784), np.float32)
    K.elastic_from_fields(x.reshape(5, -1), None, out, fields, 34.0, 4.0, (28, 28))
    rows, cols = pixel_grid(28, 28)
    for i in range(5):
        dr, dc = (ndimage.gaussian_filter(fields[i, k].astype(np.float64), 4.0, mode="constant",
                                          truncate=4.0) * 34 for k in range(2))
        ref = ndimage.map_coordinates(x[i].astype(np.float64), [rows[0] + dr, cols[0] + dc],
                                      order=1, mode="constant", cval=0.0)
        np.testing.assert_allclose(out[i].reshape(28, 28), ref, atol=2e-5)
    e = Elastic(exact=True)
    np.testing.assert_allclose(e(x, np.random.default_rng(4)), e.reference(x, np.random.default_rng(4)),
                               atol=2e-5)


@pytest.mark.parametrize("spec", ["elastic:alpha=34,sigma=4", "elastic:alpha=8,sigma=1.5",
                                  "affine:rotate=15,shift=2,skew=10,scale=0.1",
                                  ["elastic", "affine:rotate=10,shift=1"], "shift:pixels=2"])
def test_compiled_transforms_equal_their_numpy_reference(spec):
    """Same generator state, same random numbers, same images to float32 rounding."""
    t = parse_specs(spec)
    x = digits(300)
    np.testing.assert_allclose(t(x, np.random.default_rng(5)),
                               t.reference(x, np.random.default_rng(5)), atol=2e-5)


@pytest.mark.parametrize("spec", ["elastic:alpha=6,sigma=2", "affine:rotate=20,shift=1,skew=5"])
def test_compiled_transforms_handle_images_that_are_not_square(spec):
    x = digits(40)[:, 3:15, 5:25]                               # 12 x 20
    t = parse_specs(spec)
    np.testing.assert_allclose(t(x, np.random.default_rng(9)),
                               t.reference(x, np.random.default_rng(9)), atol=2e-5)


def test_compiled_affine_matches_scipy_affine_transform():
    x = bordered(8)
    rng = np.random.default_rng(6)
    matrices, shifts = T.random_affine_maps(rng, 8, 20, 2, 10, 0.1)
    out = np.empty((8, 784), np.float32)
    K.affine(x.reshape(8, -1), None, out, K.affine_params(matrices, shifts), (28, 28))
    c = np.array([13.5, 13.5])
    for i in range(8):
        inv = np.linalg.inv(matrices[i])
        ref = ndimage.affine_transform(x[i].astype(np.float64), inv, c - inv @ (c + shifts[i]),
                                       order=1, mode="constant", cval=0.0)
        np.testing.assert_allclose(out[i].reshape(28, 28), ref, atol=2e-5)


def test_kernels_read_rows_by_index_and_keep_black_images_black():
    x = digits(10).reshape(10, -1)
    x[3] = 0
    rows = np.array([7, 3, 7])
    for t in (parse_spec("elastic"), parse_spec("affine:rotate=10,shift=2")):
        params = t.draw(np.random.default_rng(0), 3, (28, 28))
        by_index, copied = np.empty((3, 784), np.float64), np.empty((3, 784), np.float64)
        t.run(x, rows, by_index, params, (28, 28))
        t.run(x[rows].copy(), None, copied, params, (28, 28))
        np.testing.assert_array_equal(by_index, copied)
        assert not by_index[1].any() and by_index[0].any()
        assert not np.array_equal(by_index[0], by_index[2])       # each copy its own distortion
    with pytest.raises(ValueError, match="C-contiguous"):
        K.affine(x, None, np.empty((10, 784), np.float32)[:, :392], np.zeros((10, 6), np.float32),
                 (28, 28))


# ------------------------- low-rank fields: the reference's distribution
def lowrank_covariance(a, b, counts):
    """The (HW x HW) covariance of the low-rank field A C B^T, C's kept
    entries i.i.d. of variance 1/3."""
    cov = 0
    for p, kb in enumerate(counts):
        for q in range(kb):
            cov = cov + np.kron(np.outer(a[:, p], a[:, p]), np.outer(b[:, q], b[:, q])) / 3
    return cov


def test_lowrank_field_covariance_equals_the_smoothed_uniform_field():
    """Analytically: the covariance of every pair of pixels of the low-rank
    field against that of G U G^T (U uniform in [-1, 1], variance 1/3)."""
    for sigma, h, w in ((1.5, 12, 10), (4.0, 28, 28), (9.0, 28, 28)):
        a, b, counts = T.lowrank_plan(h, w, sigma)
        gh, gw = gaussian_matrix(h, sigma), gaussian_matrix(w, sigma)
        exact = np.kron(gh @ gh.T, gw @ gw.T) / 3
        np.testing.assert_allclose(lowrank_covariance(a, b, counts), exact, rtol=0,
                                   atol=1e-4 * exact.max())
    a, b, counts = T.lowrank_plan(28, 28, 4.0)
    assert a.shape == b.shape == (28, 9) and counts.sum() == 60   # 60 numbers, not 784
    assert list(counts) == [9, 9, 8, 8, 7, 7, 6, 4, 2]
    assert T.lowrank_plan(28, 28, 0.7)[0].shape[1] >= 27       # next to nothing to drop


def sampled_fields(n=6000, sigma=4.0):
    """n exact fields (uniform, Gaussian-smoothed) and n low-rank ones, (n, 28, 28)."""
    exact = smooth_fields(uniform_fields(np.random.default_rng(10), n // 2, 28, 28), sigma)
    a, b, counts = T.lowrank_plan(28, 28, sigma)
    coeffs = T.lowrank_coefficients(np.random.default_rng(11), n // 2, counts)
    low = T.lowrank_fields(coeffs, a, b, counts, 1.0)
    return exact.reshape(n, 28, 28), low.reshape(n, 28, 28)


def test_lowrank_fields_sampled_match_in_variance_correlation_length_and_shape():
    from scipy import stats
    exact, low = sampled_fields()
    ve, vl = exact.var(axis=0), low.var(axis=0)
    assert vl.mean() / ve.mean() == pytest.approx(1, abs=0.03)          # displacement variance
    assert np.abs(vl / ve - 1).mean() < 0.06                           # per pixel

    def correlation(f, lag):
        return np.corrcoef(f[:, 14, 8], f[:, 14, 8 + lag])[0, 1]
    for lag in (1, 2, 4, 6, 10):                                       # correlation length
        assert correlation(low, lag) == pytest.approx(correlation(exact, lag), abs=0.04)
    assert correlation(exact, 4) > 0.5 > correlation(exact, 10)
    for f in (exact, low):                                             # Gaussian-shaped
        assert stats.kurtosis(f[:, 14, 14]) == pytest.approx(0, abs=0.25)


def test_lowrank_and_exact_elastic_distort_images_alike():
    """Pixel-mass statistics of distorted images: how much of each image's
    ink survives and how far pixels change, over many distortions."""
    from scipy import stats
    x = bordered(400, seed=4)
    x = np.concatenate([x] * 3)
    low = parse_spec("elastic:alpha=34,sigma=4")(x, np.random.default_rng(20))
    exact = Elastic(34, 4, exact=True)(x, np.random.default_rng(21))
    mass = x.sum(axis=(1, 2))
    kept_low, kept_exact = low.sum(axis=(1, 2)) / mass, exact.sum(axis=(1, 2)) / mass
    assert kept_low.mean() == pytest.approx(kept_exact.mean(), rel=0.01)
    assert kept_low.std() == pytest.approx(kept_exact.std(), rel=0.1)
    assert stats.ks_2samp(kept_low, kept_exact).pvalue > 0.001
    change_low = np.abs(low - x).mean(axis=(1, 2))
    change_exact = np.abs(exact - x).mean(axis=(1, 2))
    assert change_low.mean() == pytest.approx(change_exact.mean(), rel=0.03)
    assert stats.ks_2samp(change_low, change_exact).pvalue > 0.001
    assert change_low.mean() > 0.02                                    # it did distort


# -------------------------------------------------------------- specs
def test_parse_spec_reads_parameters_and_defaults():
    e = parse_spec("elastic:alpha=20,sigma=5")
    assert isinstance(e, Elastic) and (e.alpha, e.sigma) == (20, 5)
    assert (parse_spec("elastic").alpha, parse_spec("elastic").sigma) == (34, 4)
    a = parse_spec("affine:rotate=15,shift=2,skew=10,scale=0.1")
    assert isinstance(a, Affine) and (a.rotate, a.shift, a.skew, a.scale) == (15, 2, 10, 0.1)
    assert parse_spec("shift:pixels=2").pixels == 2
    assert len(parse_specs(["elastic", "shift"]).transforms) == 2


@pytest.mark.parametrize("bad", ["spin", "elastic:alpha", "elastic:beta=1", "elastic:alpha=x",
                                 "elastic:alpha=-1", "elastic:sigma=0", "elastic:alpha=nan",
                                 "affine:rotate=200", "affine:scale=1", "affine:skew=80",
                                 "affine:shift=-1", "shift:pixels=1.5", "shift:pixels=0"])
def test_bad_specs_raise_config_error(bad):
    with pytest.raises(ConfigError):
        parse_spec(bad)


def test_large_rotations_warn_small_ones_do_not():
    with pytest.warns(LargeRotationWarning, match="6 into a 9"):
        parse_spec("affine:rotate=90")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_spec("affine:rotate=30")


# ------------------------------------------------------------- stream
def flat_data(n=300, seed=0):
    x = digits(n, seed).reshape(n, -1)
    return x, np.eye(10, dtype=np.float32)[np.arange(n) % 10]


def collect(expander, x, y, order, mbs, epoch):
    return [(a.copy(), b.copy()) for a, b in expander.batches(x, y, order, mbs, epoch)]


def test_stream_gives_the_plain_batches_distorted_image_for_image():
    x, y = flat_data(250)
    order = np.random.default_rng(0).permutation(250)
    ex = Expander("elastic:alpha=0", seed=1, chunk_size=64)    # alpha 0: identity
    got = collect(ex, x, y, order, 10, 0)
    want = list(minibatches(x, y, order, 10))
    assert len(got) == len(want) == 25
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


def test_stream_is_seeded_per_epoch_and_independent_of_chunk_timing():
    x, y = flat_data(200)
    order = np.arange(200)
    a = collect(Expander("elastic", seed=5, chunk_size=50, prefetch=1), x, y, order, 10, 0)
    b = collect(Expander("elastic", seed=5, chunk_size=50, prefetch=3), x, y, order, 10, 0)
    c = collect(Expander("elastic", seed=5, chunk_size=50), x, y, order, 10, 1)
    for (ax, _), (bx, _) in zip(a, b):
        np.testing.assert_array_equal(ax, bx)
    assert not np.allclose(a[0][0], c[0][0])                  # a new epoch, new distortions
    assert not np.allclose(a[0][0], x[:10])


def test_stream_passes_worker_errors_to_the_trainer_and_stops_early():
    x, y = flat_data(100)

    def broken(images, rng):
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        collect(Expander(broken, seed=0, chunk_size=20), x, y, np.arange(100), 10, 0)
    gen = Expander("elastic", seed=0, chunk_size=20, prefetch=1).batches(x, y, np.arange(100), 10, 0)
    next(gen)
    gen.close()                                               # worker must not hang


def quiet_meter(cores=2, load=0.0):
    """A LoadMeter that sees ``cores`` cores and a fixed load."""
    return LoadMeter(cores=cores, load=lambda: load)


def test_epoch_images_are_the_chunks_distorted_from_their_own_seeds():
    x, _ = flat_data(130)
    x64 = x.astype(np.float64)
    ex = Expander("elastic", seed=4, chunk_size=50, prefetch=False, meter=quiet_meter())
    got = ex.epoch_images(x64, 2)
    assert got.shape == x.shape and got.dtype == np.float64
    t = ex.transform
    for c, lo in enumerate(range(0, 130, 50)):              # chunk c from (seed, epoch, c)
        want = t(x[lo:lo + 50].reshape(-1, 28, 28), ex.rng(2, c)).reshape(-1, 784)
        np.testing.assert_allclose(got[lo:lo + 50], want, atol=1e-6)
    assert not np.allclose(got, ex.epoch_images(x64, 3))    # a new epoch, new distortions


def test_epoch_images_do_not_depend_on_threads_or_prefetching():
    x, _ = flat_data(300)
    want = Expander("elastic", seed=8, chunk_size=40, prefetch=False, threads=1,
                    meter=quiet_meter()).epoch_images(x, 0).copy()
    ex = Expander("elastic", seed=8, chunk_size=40, threads=3, meter=quiet_meter(cores=4))
    for epoch in (0, 1, 2):                                 # 1 and 2 prepared in the background
        got = ex.epoch_images(x, epoch)
        fresh = Expander("elastic", seed=8, chunk_size=40, prefetch=False,
                         meter=quiet_meter()).epoch_images(x, epoch)
        np.testing.assert_array_equal(got, fresh)
    np.testing.assert_array_equal(Expander("elastic", seed=8, chunk_size=40, meter=quiet_meter())
                                  .epoch_images(x, 0), want)
    assert ex._job is not None and ex._job.epoch == 3       # the next one is on its way,
    assert ex._job.running.is_set()                         # and a worker is on its chunks
    ex.close()
    assert ex._job is None


def test_epoch_images_of_another_matrix_or_epoch_are_not_the_prefetched_ones():
    x, _ = flat_data(100)
    ex = Expander("affine:rotate=10", seed=1, chunk_size=30, meter=quiet_meter())
    ex.epoch_images(x, 0)
    other = x[::-1].copy()
    np.testing.assert_array_equal(
        ex.epoch_images(other, 1),
        Expander("affine:rotate=10", seed=1, chunk_size=30, prefetch=False).epoch_images(other, 1))
    np.testing.assert_array_equal(                         # epoch 2 prefetched; 5 asked for
        ex.epoch_images(other, 5),
        Expander("affine:rotate=10", seed=1, chunk_size=30, prefetch=False).epoch_images(other, 5))
    ex.close()


def test_background_errors_are_raised_at_the_next_epoch():
    x, _ = flat_data(40)
    calls = []

    def fails_from_epoch_1(images, rng):
        calls.append(len(images))
        if len(calls) > 2:
            raise RuntimeError("worker broke")
        return images
    ex = Expander(fails_from_epoch_1, seed=0, chunk_size=20, meter=quiet_meter())
    np.testing.assert_array_equal(ex.epoch_images(x, 0), x)
    with pytest.raises(RuntimeError, match="worker broke"):
        ex.epoch_images(x, 1)


def test_batches_are_the_epoch_images_in_order():
    x, y = flat_data(120)
    order = np.random.default_rng(3).permutation(120)
    ex = Expander("elastic", seed=2, chunk_size=50, meter=quiet_meter())
    got = collect(ex, x, y, order, 10, 4)
    images = Expander("elastic", seed=2, chunk_size=50, prefetch=False).epoch_images(x, 4)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), images[order])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y[order])


@pytest.mark.parametrize("cores,load,own,trainer,free,blas,distort", [
    (2, 0.0, 0.0, None, 2, 1, 1),      # quiet 2-core machine: a core each
    (2, 1.0, 0.0, None, 1, 1, 1),      # one core busy: training and distortion share one
    (2, 6.0, 0.0, None, 1, 1, 1),      # overloaded: never fewer than one thread
    (16, 0.0, 0.0, None, 16, 15, 1),
    (16, 8.2, 0.0, None, 8, 7, 1),     # half busy: half the threads
    (16, 8.2, 2.0, None, 10, 9, 1),    # 2.0 of the load is this process's own
    (16, 0.0, 0.0, 1, 16, 15, 15),     # a single-threaded trainer leaves 15 to the distortion
    (4, 9.0, 12.0, None, 4, 3, 1),     # own use above the load: nothing else running
])
def test_thread_plan_follows_the_free_cores(cores, load, own, trainer, free, blas, distort):
    plan = plan_threads(cores, load, own, trainer)
    assert (plan.free, plan.blas, plan.distort) == (free, blas, distort)
    assert f"{free} of {cores} cores free" in str(plan)


def test_load_meter_takes_this_process_out_of_the_load():
    clock = iter([0.0, 10.0, 20.0]).__next__
    cpu = iter([0.0, 15.0, 15.0]).__next__                   # 1.5 cores busy, then idle
    meter = LoadMeter(cores=4, load=lambda: 3.5, clock=clock, cpu_clock=cpu)
    first = meter.plan()                                     # nothing known: all 3.5 others'
    assert first.own == 0 and first.free == 1
    second = meter.plan()                                    # 1.5 of the 3.5 is ours
    assert second.own == pytest.approx(1.5) and (second.free, second.blas) == (2, 1)
    third = meter.plan()                                     # we were idle
    assert third.own == 0 and third.free == 1


def test_expander_plans_blas_from_the_load():
    from threadpoolctl import threadpool_info
    x = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    y = np.zeros((40, 10), dtype=np.float32)
    ex = Expander("elastic", seed=0, meter=quiet_meter(cores=8, load=5.0))   # 3 free
    seen = [[p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
            for _ in ex.batches(x, y, np.arange(40), 10, epoch=0)]
    assert ex.plan.free == 3 and all(t == [2] * len(t) for t in seen)
    with ex.blas_limit():
        assert all(p["num_threads"] == 2 for p in threadpool_info() if p["user_api"] == "blas")
    ex.close()
    with pytest.raises(ConfigError, match="trainer_threads"):
        Expander("elastic", trainer_threads=0)
    with pytest.raises(ConfigError, match="chunk_size"):
        Expander("elastic", chunk_size=0)
    assert Expander("elastic", seed=3).state_dict() == {"seed": 3,
                                                          "transform": "elastic:alpha=34,sigma=4"}


def test_stream_refuses_non_square_images():
    with pytest.raises(DataError):
        Expander("elastic", seed=0).image_shape(10)
    assert Expander("elastic", seed=0, shape=(2, 5)).image_shape(10) == (2, 5)


def test_training_with_expansion_is_reproducible_and_differs_from_plain():
    x, _ = flat_data(200)
    data = Dataset(x, np.arange(200) % 10)

    def run(augment):
        net = Network([784, 12, 10], seed=3)
        train(net, data, 2, 10, SGD(0.5), augment=augment, engine="reference")
        return net.weights[0]
    a = run(Expander("elastic", seed=9))
    np.testing.assert_array_equal(a, run(Expander("elastic", seed=9)))
    assert not np.allclose(a, run(None))
    np.testing.assert_array_equal(run(None), run(Expander("elastic:alpha=0", seed=9)))


# ---------------------------------------------------------- npz files
def small_splits(n=40):
    x = digits(n + 20).reshape(n + 20, -1)
    labels = np.arange(n + 20) % 10
    return Splits(Dataset(x[:n], labels[:n]), Dataset(x[n:n + 10], labels[n:n + 10]),
                  Dataset(x[n + 10:], labels[n + 10:]))


def test_written_shift_set_is_the_book_set_shuffled(tmp_path):
    splits = small_splits()
    path = tmp_path / "shifted.npz"
    assert write_expanded(path, splits, Compose([Shift(1)]), 4, seed=0) == 200
    back = load_dataset(str(path))
    x = splits.training.images.reshape(-1, 28, 28)
    expected = np.concatenate([x] + [Shift(1).variant(x, k) for k in range(4)]).reshape(200, -1)
    key = lambda a: np.lexsort(a.T)                           # noqa: E731 - compare as sets
    got = back.training.images
    np.testing.assert_array_equal(got[key(got)], expected[key(expected)])
    assert sorted(back.training.labels) == sorted(np.tile(splits.training.labels, 5))
    assert not np.array_equal(got[:40], splits.training.images)   # shuffled
    np.testing.assert_array_equal(back.test.images, splits.test.images)
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["expansion"]))["copies"] == 4


def test_written_random_copies_keep_originals_and_labels(tmp_path):
    splits = small_splits()
    path = tmp_path / "el.npz"
    write_expanded(path, splits, parse_specs("elastic"), 2, seed=1)
    back = load_dataset(path)
    assert len(back.training) == 120
    for img, label in zip(splits.training.images, splits.training.labels):
        same = np.flatnonzero((back.training.images == img).all(axis=1))
        assert len(same) == 1 and back.training.labels[same[0]] == label
    write_expanded(tmp_path / "el2.npz", splits, parse_specs("elastic"), 2, seed=1)
    np.testing.assert_array_equal(load_dataset(tmp_path / "el2.npz").training.images,
                                  back.training.images)


def test_corrupt_npz_is_a_data_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError):
        load_dataset(bad)
    with pytest.raises(DataError):
        load_dataset(tmp_path / "missing.npz")


# ---------------------------------------------------------------- CLI
@pytest.fixture
def npz_dataset(tmp_path):
    from nndl.data.dataset import save_npz
    path = tmp_path / "small.npz"
    save_npz(path, small_splits(200))
    return path


def test_cli_expand_then_train_on_the_result(npz_dataset, tmp_path, capsys):
    out, preview = tmp_path / "x.npz", tmp_path / "p.png"
    code = main(["expand", "--dataset", str(npz_dataset), "--transform", "shift:pixels=1",
                 "--out", str(out), "--preview", str(preview)])
    text = capsys.readouterr().out
    assert code == 0 and "1000 training images" in text
    from PIL import Image
    assert Image.open(preview).size[0] > 5 * 28
    code = main(["train", "--dataset", str(out), "--sizes", "784,10,10", "--epochs", "1",
                 "--evaluate-on", "test", "--seed", "0", "--progress", "off",
                 "--expand", "elastic:alpha=10,sigma=4", "--expand", "affine:rotate=10"])
    assert code == 0 and "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["train", "--expand", "elastic:alpha=-3"], "alpha must be >= 0"),
    (["train", "--expand", "warp"], "unknown transform"),
    (["expand", "--transform", "elastic", "--out", "x.txt"], "must name a .npz"),
    (["expand", "--transform", "elastic", "--out", "x.npz", "--copies", "0"], "must be >= 1"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message, capsys, npz_dataset):
    assert main(args[:1] + ["--dataset", str(npz_dataset)] + args[1:]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nndl: error: ") and message in err and len(err.splitlines()) == 1


def test_cli_warns_about_large_rotations(npz_dataset, tmp_path, capsys):
    code = main(["expand", "--dataset", str(npz_dataset), "--transform", "affine:rotate=120",
                 "--out", str(tmp_path / "r.npz")])
    assert code == 0
    assert capsys.readouterr().err.startswith("nndl: warning: affine: rotations up to 120")


def test_accuracy_plot_is_written(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "plot_expansion", Path(__file__).parents[1] / "scripts" / "plot_expansion.py")
    plot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot)
    runs = []
    for name, expand in (("a", []), ("b", ["elastic"])):
        doc = {"config": {"sizes": [784, 10, 10], "train_size": 100, "eta": 0.5, "lmbda": 5.0,
                          "seed": 1, "expand": expand},
               "epochs": [{"epoch": e, "evaluation_accuracy": 0.9 + e / 100} for e in range(3)],
               "test_accuracy": 0.91}
        runs.append(tmp_path / f"{name}.json")
        runs[-1].write_text(json.dumps(doc))
    plot.plot_accuracy(runs, tmp_path / "acc.png")
    from PIL import Image
    assert Image.open(tmp_path / "acc.png").size[0] > 300


def test_blas_keeps_to_its_thread_limit_while_the_worker_distorts_and_is_restored_after():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads()
    assert before, "numpy's BLAS should be visible to threadpoolctl"
    x = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    y = np.zeros((40, 10), dtype=np.float32)
    expander = Expander("elastic:alpha=34,sigma=4", seed=0, blas_threads=1)
    seen = [blas_threads() for _ in expander.batches(x, y, np.arange(40), 10, epoch=0)]
    assert len(seen) == 4 and all(t == [1] * len(before) for t in seen)
    assert blas_threads() == before
    gen = expander.batches(x, y, np.arange(40), 10, epoch=1)
    next(gen)
    gen.close()                                    # leaving early lifts the limit too
    assert blas_threads() == before
    assert Expander("elastic:alpha=34,sigma=4", blas_threads=None).blas_threads is None
    with pytest.raises(ConfigError, match="blas_threads"):
        Expander("elastic:alpha=34,sigma=4", blas_threads=0)


def schedules(ex, seconds):
    """Feed ``ex.schedule`` epochs that last ``seconds[schedule]``; return
    the schedules it chose, one per epoch."""
    now, chosen = 0.0, []
    for _ in range(2 * expansion_stream.RETRY_EVERY + 6):
        choice = ex.schedule(now)
        chosen.append(choice)
        now += seconds[choice]
    return chosen


def test_the_stream_tries_bursts_and_keeps_the_faster_schedule():
    ex = Expander("elastic", seed=0, meter=quiet_meter(cores=2))
    ex.plan = plan_threads(2, 0.0)
    chosen = schedules(ex, {"overlap": 2.0, "burst": 1.0})
    assert chosen[:4] == ["overlap", "overlap", "burst", "burst"]   # two steady epochs each
    assert ex.seconds == {"overlap": 2.0, "burst": 1.0}
    later = chosen[4:]
    assert later.count("overlap") == 2 * (len(later) // expansion_stream.RETRY_EVERY)  # re-tried
    assert later.count("burst") > 0.8 * len(later)
    slow = Expander("elastic", seed=0, meter=quiet_meter(cores=2))
    slow.plan = plan_threads(2, 0.0)
    assert schedules(slow, {"overlap": 1.0, "burst": 3.0})[4:].count("overlap") > 30


@pytest.mark.parametrize("options,plan", [
    ({"trainer_threads": 1}, (2, 0.0)),          # a single-threaded trainer: overlap it
    ({}, (2, 1.2)),                              # one free core: nothing to burst with
    ({"threads": 1}, (2, 0.0)),                  # thread counts given: as given
    ({"prefetch": False}, (2, 0.0)),
])
def test_the_stream_bursts_only_for_a_blas_trainer_with_free_cores(options, plan):
    ex = Expander("elastic", seed=0, meter=quiet_meter(cores=2), **options)
    ex.plan = plan_threads(*plan, trainer=options.get("trainer_threads"))
    assert set(schedules(ex, {"overlap": 2.0, "burst": 1.0})) == {"overlap"}


def test_a_burst_epoch_has_every_free_core_and_no_worker_beside_it():
    from threadpoolctl import threadpool_info
    x, _ = flat_data(120)
    ex = Expander("elastic", seed=2, chunk_size=50, meter=quiet_meter(cores=2))
    ex.seconds = {"overlap": 2.0, "burst": 1.0}                      # bursts known faster
    ex._last = (0.0, "burst", "burst")
    images = ex.epoch_images(x, 3)
    assert ex._job is None                                           # nothing prepared beside it
    with ex.blas_limit():
        assert all(p["num_threads"] == 2 for p in threadpool_info() if p["user_api"] == "blas")
    np.testing.assert_array_equal(images, Expander("elastic", seed=2, chunk_size=50,
                                                   prefetch=False).epoch_images(x, 3))
    ex.close()
