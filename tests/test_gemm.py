"""The BLAS engine's fused weight update, W += alpha * d^T a in one gemm call.

It must give what NumPy gives, accept only arrays it can pass to BLAS as
they are, disappear when the library does not reproduce NumPy, and leave
the engine's training equal to the reference either way.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from nndl.engines import blas_engine, gemm
from nndl.regularization import L2

from test_fast import TOLERANCE, relative_error, train_pair


def numpy_blas():
    """The internal API (openblas, mkl, ...) of the BLAS NumPy loaded."""
    libs = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    return libs[0]["internal_api"] if libs else None


@pytest.fixture
def fresh_cache(monkeypatch):
    """Let each test look the library up again."""
    monkeypatch.setattr(gemm, "_CACHE", {})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_found_where_numpy_uses_openblas(dtype):
    if numpy_blas() != "openblas":
        pytest.skip("only NumPy's OpenBLAS (what the wheels from PyPI ship) is looked up")
    assert gemm.fused_update(dtype) is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k,alpha", [(800, 784, 100, -0.01), (30, 10, 7, 2.5), (1, 1, 1, -1.0)])
def test_update_equals_numpy(dtype, m, n, k, alpha):
    update = gemm.fused_update(dtype)
    if update is None:
        pytest.skip("NumPy's BLAS has no usable gemm here; the engine uses NumPy")
    rng = np.random.default_rng(k)
    w = rng.standard_normal((m, n)).astype(dtype)
    buf_d, buf_a = (rng.standard_normal((k + 3, c)).astype(dtype) for c in (m, n))
    d, a = buf_d[:k], buf_a[:k]                   # a final, shorter mini-batch
    expected = w + alpha * (d.astype(np.float64).T @ a.astype(np.float64))
    assert gemm.usable(w, d, a)
    update(w, d, a, alpha)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w, expected, rtol=tol, atol=tol * np.abs(expected).max())


def test_update_honours_row_strides():
    """Arrays whose rows are padded (views of wider buffers) go as they are."""
    update = gemm.fused_update(np.float32)
    if update is None:
        pytest.skip("NumPy's BLAS has no usable gemm here; the engine uses NumPy")
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((12, 20)).astype(np.float32)
    w, d, a = wide[:, :9], rng.standard_normal((5, 16)).astype(np.float32)[:, :12], \
        rng.standard_normal((5, 11)).astype(np.float32)[:, :9]
    outside = wide[:, 9:].copy()
    expected = w - 0.5 * (d.T @ a)
    assert gemm.usable(w, d, a)
    update(w, d, a, -0.5)
    np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(wide[:, 9:], outside)   # the padding is untouched


def test_usable_refuses_what_blas_cannot_take_as_is():
    w = np.zeros((4, 3), np.float32)
    d, a = np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32)
    assert gemm.usable(w, d, a)
    assert not gemm.usable(w, d.astype(np.float64), a)           # mixed dtypes
    assert not gemm.usable(w, d, np.zeros((3, 2), np.float32).T)  # columns not contiguous
    assert not gemm.usable(w, d, a[:, ::-1])                      # reversed columns
    assert not gemm.usable(w, d, np.zeros((2, 6), np.float32)[:, ::2])  # strided columns
    frozen = w.copy()
    frozen.flags.writeable = False
    assert not gemm.usable(frozen, d, a)


def test_a_library_that_disagrees_with_numpy_is_not_used(monkeypatch, fresh_cache):
    def wrong(w, d, a, alpha):
        w += 2 * alpha * (d.T @ a)
    monkeypatch.setattr(gemm, "_gemm_from_numpy_blas", lambda dtype: wrong)
    assert gemm.fused_update(np.float32) is None


def test_only_float32_and_float64_get_a_gemm():
    assert gemm.fused_update(np.float16) is None
    assert gemm.fused_update(np.int64) is None


def test_no_library_means_no_fused_update(monkeypatch, fresh_cache):
    monkeypatch.setattr(gemm, "_gemm_from_numpy_blas", lambda dtype: None)
    assert gemm.fused_update(np.float64) is None


@pytest.mark.parametrize("fused", [True, False], ids=["gemm-update", "numpy-update"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blas_engine_matches_reference_with_either_update(monkeypatch, fused, dtype):
    if not fused:
        monkeypatch.setattr(blas_engine, "fused_update", lambda dtype: None)
    elif gemm.fused_update(np.dtype(dtype)) is None:
        pytest.skip("NumPy's BLAS has no usable gemm here")
    calls = []
    original = blas_engine.BlasEngine._update
    monkeypatch.setattr(blas_engine.BlasEngine, "_update",
                        lambda self, *args: calls.append(self.fused is not None) or original(self, *args))
    (net, ref), _ = train_pair("blas", [36, 20, 15, 4], reg=L2(3.0), m=8, dtype=dtype)
    assert calls and set(calls) == {fused}
    assert relative_error(net, ref) < TOLERANCE[dtype]
