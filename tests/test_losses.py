"""The public ``fastrnn.losses`` are the kernels layer's CPU losses (``fastrnn.kernels.cpu.losses``), and
the CPU backend's loss methods give exactly what the public functions give: the same bits and dtypes.
(Values and gradients against closed forms, finite differences and PyTorch are in
``test_training_parts.py``; the GPU twins are compared with these in ``cuda/test_losses.py``.)
"""

import numpy as np
import pytest

import fastrnn.losses as public
from helpers import loss_arguments
from fastrnn.kernels.cpu import losses as moved
from fastrnn.kernels.dispatch import CPU_BACKEND, get_backend

NAMES = ["squared_error", "softmax_cross_entropy", "binary_cross_entropy", "log_softmax", "log_sigmoid"]
LOSSES = ["squared_error", "softmax_cross_entropy", "binary_cross_entropy"]


def assert_identical(got, expected):
    """Same loss (a Python float, equal bits) and same gradient (dtype, shape and bits)."""
    assert type(got[0]) is type(expected[0]) is float
    assert got[0] == expected[0] or (np.isnan(got[0]) and np.isnan(expected[0]))
    assert got[1].dtype == expected[1].dtype and got[1].shape == expected[1].shape
    np.testing.assert_array_equal(got[1], expected[1])


CASES = [
    pytest.param(shape, n_out, dtype, weighting, id=f"{len(shape) + 1}d-{n_out}-{np.dtype(dtype).name}-{weighting}")
    for shape, n_out in [((7,), 3), ((5, 4), 6), ((6, 3), 2)]
    for dtype in (np.float32, np.float64)
    for weighting in (None, "mask", "fractional")
]


def test_public_module_is_the_kernels_layers_losses():
    assert public.__all__ == NAMES
    for name in NAMES:
        assert getattr(public, name) is getattr(moved, name)
        assert getattr(public, name).__doc__


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape, n_out, dtype, weighting", CASES)
def test_cpu_backend_methods_equal_the_public_functions(name, shape, n_out, dtype, weighting):
    args = loss_arguments(name, shape, n_out, dtype, weighting, seed=3)
    assert_identical(getattr(CPU_BACKEND, name)(*args), getattr(public, name)(*args))
    assert_identical(getattr(get_backend("cpu"), name)(*args[:2], weights=args[2]), getattr(public, name)(*args))
