"""Subnormal values are flushed to zero inside the compiled time loops, and only there.

The loops set the flush-to-zero and denormals-are-zero modes at their start and put the caller's
modes back at their end (:mod:`fastrnn.kernels.cpu.denormals`): a gradient that decays into the
subnormal range inside BPTT becomes zero, while numpy and the user's code keep computing with
subnormals after any fit, prediction or stream step.
"""

import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn.exceptions import ConvergenceWarning
from fastrnn.kernels.cpu import denormals, threads

SUBNORMAL = np.float32(1e-39)  # below float32's smallest normal, 1.18e-38

pytestmark = pytest.mark.skipif(not denormals.X86, reason="the float mode is set on x86 processors only")


def _subnormals_kept():
    """Whether this thread still computes with subnormals (no FTZ, no DAZ)."""
    return (np.array([SUBNORMAL]) * np.float32(1.0))[0] == SUBNORMAL and np.float32(1e-30) * np.float32(1e-9) != 0


@pytest.mark.parametrize("split", [False, True])
def test_the_callers_float_mode_comes_back(monkeypatch, split):
    if split:  # the batch over the worker threads too
        monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
        monkeypatch.setattr(threads, "n_threads", lambda: 2)
    assert _subnormals_kept()
    X = np.random.default_rng(0).normal(size=(16, 6, 2)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastrnn.RNNRegressor(hidden_sizes=(4,), max_iter=2, device="cpu").fit(X, X[:, -1, 0])
    model.predict(X)
    model.predict(X[:1])  # the packed network
    model.stream().step(X[0, 0])
    assert _subnormals_kept()


@pytest.mark.parametrize("cell", [fastrnn.LSTM, fastrnn.GRU, fastrnn.RNN])
def test_gradients_below_the_normal_range_are_zero_in_the_loops(cell):
    layer = cell(3, 4, random_state=0)  # float32
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
    out, _ = layer.forward(x)
    grads = layer.backward(np.full(out.shape, SUBNORMAL, dtype=np.float32))
    assert not any(np.any(g) for g in grads.values())  # every parameter's and the input's
    layer.forward(x)
    grads = layer.backward(np.full(out.shape, 1e-3, dtype=np.float32))  # normal values go through
    assert all(np.all(np.isfinite(g)) for g in grads.values()) and np.any(grads["input"])
    assert _subnormals_kept()
