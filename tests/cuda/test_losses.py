"""The CUDA backend's losses (``kernels/cuda/losses.py``) give the CPU backend's loss and gradient.

Tiny shapes: the simulator runs every thread as a Python thread. With 8 threads per block (conftest),
the (T, n) = (3, 5) entries span two blocks of the partial sums, and the gradients' elements several
blocks.
"""

import numpy as np
import pytest
from numba import cuda

from fastrnn.kernels import config
from fastrnn.kernels.cuda import losses as gpu_losses
from fastrnn.kernels.dispatch import CPU_BACKEND, get_backend, is_device_array
from helpers import loss_arguments, rel_error

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def arguments(name, shape, n_out, dtype, weighting, seed=0, scale=3.0):
    """Host arguments of loss ``name`` (:func:`helpers.loss_arguments`; ``scale=400`` for extreme logits)."""
    return loss_arguments(name, shape, n_out, dtype, weighting, seed, extreme=scale > 3.0)


def on_device(args):
    return [None if a is None else cuda.to_device(a) for a in args]


def assert_matches_cpu(name, args, dtype):
    expected_loss, expected_grad = getattr(CPU_BACKEND, name)(*args)
    loss, grad = getattr(get_backend("cuda"), name)(*on_device(args))
    assert type(loss) is float
    assert is_device_array(grad) and grad.dtype == np.dtype(dtype) and grad.shape == args[0].shape
    assert abs(loss - expected_loss) <= TOLERANCE[dtype] * abs(expected_loss), (loss, expected_loss)
    assert rel_error(grad.copy_to_host(), expected_grad) < TOLERANCE[dtype]
    return loss, grad.copy_to_host()


SHAPES = [pytest.param((5,), id="2d"), pytest.param((3, 5), id="3d")]
DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
WEIGHTS = [None, "mask", "fractional"]


@pytest.mark.parametrize("weighting", WEIGHTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_squared_error_matches_cpu(shape, dtype, weighting):
    assert_matches_cpu("squared_error", arguments("squared_error", shape, 3, dtype, weighting), dtype)


@pytest.mark.parametrize("n_classes", [4, 2], ids=["multiclass", "two-classes"])
@pytest.mark.parametrize("weighting", WEIGHTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_cross_entropy_matches_cpu(shape, dtype, weighting, n_classes):
    args = arguments("softmax_cross_entropy", shape, n_classes, dtype, weighting)
    assert_matches_cpu("softmax_cross_entropy", args, dtype)


@pytest.mark.parametrize("weighting", WEIGHTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_binary_cross_entropy_matches_cpu(shape, dtype, weighting):
    assert_matches_cpu("binary_cross_entropy", arguments("binary_cross_entropy", shape, 1, dtype, weighting), dtype)


@pytest.mark.parametrize("name, n_out", [("softmax_cross_entropy", 3), ("binary_cross_entropy", 1)])
def test_extreme_logits_stay_finite(name, n_out):
    """Logits of a few hundred: log-sum-exp with the maximum subtracted, the stable log-sigmoid."""
    args = arguments(name, (2, 3), n_out, np.float64, "mask", seed=4, scale=400.0)
    loss, grad = assert_matches_cpu(name, args, np.float64)
    assert np.isfinite(loss) and loss > 10 and np.all(np.isfinite(grad))


def test_every_entry_weighted_zero_gives_zero_loss_and_gradient():
    """The normalizer is at least 1 (as on the CPU), so an all-padding batch gives zeros, not NaN."""
    args = arguments("softmax_cross_entropy", (2, 3), 4, np.float64, "mask")
    args[2][...] = 0.0
    loss, grad = assert_matches_cpu("softmax_cross_entropy", args, np.float64)
    assert loss == 0.0 and not np.any(grad)


def test_strided_partial_sums_and_odd_block_sizes(monkeypatch):
    """More entries than the capped grid has threads (threads stride), more partials than threads in
    the final sum, and a block size that is not a power of two."""
    monkeypatch.setattr(config, "CUDA_LOSS_MAX_BLOCKS", 11)
    monkeypatch.setattr(config, "CUDA_THREADS_PER_BLOCK", 3)
    for name, n_out in [("squared_error", 2), ("softmax_cross_entropy", 3), ("binary_cross_entropy", 1)]:
        assert_matches_cpu(name, arguments(name, (8, 6), n_out, np.float64, "fractional", seed=5), np.float64)


def test_host_targets_are_accepted():
    logits, labels, weights = arguments("softmax_cross_entropy", (3, 5), 4, np.float64, "mask", seed=6)
    expected = CPU_BACKEND.softmax_cross_entropy(logits, labels, weights)
    loss, grad = get_backend("cuda").softmax_cross_entropy(cuda.to_device(logits), labels, weights)
    assert abs(loss - expected[0]) <= 1e-12 * expected[0]
    assert rel_error(grad.copy_to_host(), expected[1]) < 1e-12


def test_labels_out_of_range_give_nan_and_bad_shapes_raise():
    logits, labels, _ = arguments("softmax_cross_entropy", (5,), 4, np.float64, None)
    labels[2] = 4
    loss, _ = get_backend("cuda").softmax_cross_entropy(cuda.to_device(logits), cuda.to_device(labels))
    assert np.isnan(loss)
    with pytest.raises(ValueError, match="weights has 4 entries"):
        gpu_losses.squared_error(cuda.to_device(logits), cuda.to_device(logits), cuda.to_device(np.ones(4)))
    with pytest.raises(ValueError, match="one logit per entry"):
        gpu_losses.binary_cross_entropy(cuda.to_device(logits), cuda.to_device(np.ones(5)))
