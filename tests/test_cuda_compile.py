"""Every CUDA kernel compiles for a real GPU (PTX for sm_90, the H100), float32 and float64.

The CUDA simulator runs kernels as Python and cannot show that numba-cuda accepts them; compiling to
PTX needs only NVVM and NVRTC (from the ``cuda`` extra or a CUDA toolkit), not a GPU. Skipped in the
simulator and where the compiler libraries are missing.
"""

import os

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("the simulator cannot compile PTX", allow_module_level=True)
cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
from numba import types  # noqa: E402

from fastrnn.kernels.cuda import elementwise, linalg, losses, recurrent  # noqa: E402


def _compile(kernel, signature):
    try:
        return cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))[0]
    except Exception as exc:  # noqa: BLE001 - the library lookup raises several types
        if "nvvm" in str(exc).lower() or "nvrtc" in str(exc).lower() or "DynamicLibNotFound" in type(exc).__name__:
            pytest.skip(f"NVVM/NVRTC not found: {exc}")
        raise


def _signatures(dtype):
    a1, a2, a3 = types.Array(dtype, 1, "A"), types.Array(dtype, 2, "A"), types.Array(dtype, 3, "A")
    i64, b = types.int64, types.boolean
    ints = types.Array(i64, 1, "A")
    f1, f2 = types.Array(types.float64, 1, "A"), types.Array(types.float64, 2, "A")
    return {
        "matmul": (linalg._matmul_kernel, (a2, a2, a2, b, b, a1, a1, i64, b, dtype, i64, i64)),
        "column_sum": (linalg._column_sum_kernel, (a2, a1, dtype)),
        "transpose": (recurrent._transpose_kernel, (a2, a2)),
        "forward_persistent": (recurrent._forward_persistent, (i64, a3, a2, a1, a3, a3, a3, ints)),
        "backward_persistent": (recurrent._backward_persistent,
                                (i64, a2, a3, a3, a3, a3, a2, a2, a3, a3, ints, dtype)),
        "forward_pointwise": (recurrent._forward_pointwise, (i64, i64, i64, a3, a2, a3, a3, a3)),
        "backward_pointwise": (recurrent._backward_pointwise,
                               (i64, i64, i64, a3, a2, a2, a3, a3, a3, a3, a3)),
        "fill": (elementwise._fill_kernel, (a1, dtype)),
        "gather_batch": (elementwise._gather_kernel, (a3, ints, a3)),
        "gather_steps": (elementwise._gather_steps_kernel, (a3, types.Array(i64, 2, "A"), a3, i64, i64, i64, b)),
        "sum_squares": (elementwise._partial_sum_squares, (a1, types.Array(types.float64, 1, "A"))),
        "scale": (elementwise._scale_kernel, (a1, dtype)),
        "masked_axpy": (elementwise._masked_axpy_kernel, (a1, a1, types.Array(b, 1, "A"), dtype)),
        "sgd": (elementwise._sgd_kernel, (a1, a1, a1, dtype, dtype, b)),
        "adam": (elementwise._adam_kernel, (a1, a1, a1, a1, types.UniTuple(dtype, 7))),
        "adagrad": (elementwise._adagrad_kernel, (a1, a1, a1, dtype, dtype)),
        # losses (cuda/losses.py): float64 partial sums, totals and softmax row statistics
        "loss_finish": (losses._finish, (f2, i64, b, f1)),
        "squared_error_partials": (losses._squared_error_partials, (a2, a2, a1, b, f2)),
        "squared_error_gradient": (losses._squared_error_gradient, (a2, a2, a1, b, f1, a2)),
        "softmax_partials": (losses._softmax_partials, (a2, ints, a1, b, f2, f2)),
        "softmax_gradient": (losses._softmax_gradient, (a2, ints, a1, b, f2, f1, a2)),
        "binary_partials": (losses._binary_partials, (a1, a1, a1, b, f2)),
        "binary_gradient": (losses._binary_gradient, (a1, a1, a1, b, f1, a1)),
    }


@pytest.mark.parametrize("name", list(_signatures(types.float32)))
@pytest.mark.parametrize("dtype", [types.float32, types.float64], ids=["float32", "float64"])
def test_kernel_compiles_to_ptx_for_sm90(name, dtype):
    kernel, signature = _signatures(dtype)[name]
    ptx = _compile(kernel, signature)
    assert ".target sm_90" in ptx and ".entry" in ptx
    if name.endswith("persistent"):
        assert ".shared" in ptx and "bar.sync" in ptx  # state on chip, block barriers only
    if name.endswith("partials") or name == "loss_finish":
        assert ".shared" in ptx and "bar.sync" in ptx  # block reductions in shared memory
