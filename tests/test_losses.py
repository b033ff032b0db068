"""The losses moved to the kernels layer (``fastrnn.kernels.cpu.losses``) give exactly what
``fastrnn.losses`` gave before the move, and the CPU backend's loss methods give exactly what the public
functions give: the same bits, dtypes and docstrings.

``data/losses_before_move.py`` is a verbatim copy of ``fastrnn/losses.py`` as it was before the move,
kept as the oracle. (Values and gradients against closed forms and finite differences are in
``test_training_parts.py``.)
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import fastrnn.losses as public
from fastrnn.kernels.cpu import losses as moved
from fastrnn.kernels.dispatch import CPU_BACKEND, get_backend

NAMES = ["squared_error", "softmax_cross_entropy", "binary_cross_entropy", "log_softmax", "log_sigmoid"]
LOSSES = ["squared_error", "softmax_cross_entropy", "binary_cross_entropy"]


def _load_before():
    path = Path(__file__).parent / "data" / "losses_before_move.py"
    spec = importlib.util.spec_from_file_location("losses_before_move", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BEFORE = _load_before()


def loss_arguments(name, shape, n_out, dtype, weighting, seed=0, target_dtype=None, extreme=False):
    """Arguments of loss ``name`` for entries ``shape`` (leading axes) and ``n_out`` outputs.

    weighting: None, "mask" (0/1, some zeros: padded steps) or "fractional" (values in [0, 2))."""
    rng = np.random.default_rng(seed)
    scale = 400.0 if extreme else 3.0
    target_dtype = dtype if target_dtype is None else target_dtype
    if name == "squared_error":
        args = [rng.normal(size=shape + (n_out,)).astype(dtype), rng.normal(size=shape + (n_out,)).astype(target_dtype)]
    elif name == "softmax_cross_entropy":
        args = [(rng.normal(size=shape + (n_out,)) * scale).astype(dtype), rng.integers(0, n_out, size=shape)]
    else:
        args = [(rng.normal(size=shape + (1,)) * scale).astype(dtype),
                rng.integers(0, 2, size=shape).astype(target_dtype)]
    if weighting == "mask":
        weights = (rng.random(shape) > 0.3).astype(dtype)
        weights.flat[0] = 0.0
        weights.flat[-1] = 1.0
    elif weighting == "fractional":
        weights = (rng.random(shape) * 2).astype(dtype)
    else:
        weights = None
    return args + [weights]


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


def test_public_module_keeps_its_names_and_docstrings():
    assert public.__all__ == BEFORE.__all__ == NAMES
    for name in NAMES:
        assert getattr(public, name) is getattr(moved, name)
        assert getattr(public, name).__doc__ == getattr(BEFORE, name).__doc__


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape, n_out, dtype, weighting", CASES)
def test_losses_give_what_they_gave_before_the_move(name, shape, n_out, dtype, weighting):
    args = loss_arguments(name, shape, n_out, dtype, weighting)
    assert_identical(getattr(public, name)(*args), getattr(BEFORE, name)(*args))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("extreme", [False, True], ids=["moderate", "extreme-logits"])
@pytest.mark.parametrize("dtype, target_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                                 (np.float32, np.int64)])
def test_mixed_dtypes_and_extreme_logits_give_what_they_gave_before(name, extreme, dtype, target_dtype):
    if name == "squared_error" and target_dtype == np.int64:
        target_dtype = np.float32
    args = loss_arguments(name, (4, 3), 5, dtype, "mask", seed=1, target_dtype=target_dtype, extreme=extreme)
    assert_identical(getattr(public, name)(*args), getattr(BEFORE, name)(*args))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_and_log_sigmoid_give_what_they_gave_before(dtype):
    z = (np.random.default_rng(2).normal(size=(3, 4, 5)) * 300).astype(dtype)
    for name in ("log_softmax", "log_sigmoid"):
        got, expected = getattr(public, name)(z), getattr(BEFORE, name)(z)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape, n_out, dtype, weighting", CASES)
def test_cpu_backend_methods_equal_the_public_functions(name, shape, n_out, dtype, weighting):
    args = loss_arguments(name, shape, n_out, dtype, weighting, seed=3)
    assert_identical(getattr(CPU_BACKEND, name)(*args), getattr(public, name)(*args))
    assert_identical(getattr(get_backend("cpu"), name)(*args[:2], weights=args[2]), getattr(public, name)(*args))
