"""GPU tests: they run in the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is imported,
as ``.ci/run`` does) or on a real GPU, and are skipped otherwise."""

import os

import pytest

numba_cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install fastrnn[cuda])")

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
if not SIMULATOR and not numba_cuda.is_available():
    pytest.skip("no GPU, and the CUDA simulator is off (NUMBA_ENABLE_CUDASIM=1 turns it on)",
                allow_module_level=True)


def _strict_simulator():
    """Make the simulator's device arrays refuse to reshape as a real GPU's refuse.

    numba-cuda's device arrays reshape and ravel only arrays it calls contiguous, and it calls an
    array with a zero stride non-contiguous even on an axis of length 1 (``x[np.newaxis]``), where
    numpy calls it contiguous; the simulator's arrays wrap numpy arrays, which reshape anything,
    copying where needed. Without this, code that works only in the simulator would pass here and
    raise "operation requires copying" on a GPU.
    """
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    def contiguous(array):
        # numba-cuda's rule (cudadrv/dummyarray.py, Array._compute_layout) is numpy's, which skips
        # axes of length 1, except that any zero stride means broadcasting
        flags = array.flags
        return array.size == 0 or (0 not in array.strides and (flags.c_contiguous or flags.f_contiguous))

    def without_copy(method):
        def strict(self, *args, **kwargs):
            shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            if not (method == "reshape" and tuple(shape) == self._ary.shape) and not contiguous(self._ary):
                raise NotImplementedError("operation requires copying")
            return FakeCUDAArray(getattr(self._ary, method)(*args, **kwargs))

        strict.__name__ = method
        return strict

    def strict_setitem(self, key, value):
        # a device array's assignment reshapes a device value to the target's number of dimensions
        if isinstance(value, FakeCUDAArray):
            target = self._ary[key]
            value.reshape((1,) * (target.ndim - value._ary.ndim) + value._ary.shape)
            value = value._ary
        self._ary[key] = value

    FakeCUDAArray.reshape, FakeCUDAArray.ravel = without_copy("reshape"), without_copy("ravel")
    FakeCUDAArray.__setitem__ = strict_setitem

if SIMULATOR:
    _strict_simulator()


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Few threads per block, so that the kernels' strided loops and multi-block launches run."""
    from fastrnn.kernels import config

    monkeypatch.setattr(config, "CUDA_THREADS_PER_BLOCK", 8 if SIMULATOR else config.CUDA_THREADS_PER_BLOCK)
