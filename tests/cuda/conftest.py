"""GPU tests: they run in the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is imported,
as ``.ci/run`` does) or on a real GPU, and are skipped otherwise."""

import os

import pytest

numba_cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install fastrnn[cuda])")

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
if not SIMULATOR and not numba_cuda.is_available():
    pytest.skip("no GPU, and the CUDA simulator is off (NUMBA_ENABLE_CUDASIM=1 turns it on)",
                allow_module_level=True)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Few threads per block, so that the kernels' strided loops and multi-block launches run."""
    from fastrnn.kernels import config

    monkeypatch.setattr(config, "CUDA_THREADS_PER_BLOCK", 8 if SIMULATOR else config.CUDA_THREADS_PER_BLOCK)
