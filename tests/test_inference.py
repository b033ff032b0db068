"""The forward pass for inference (one step of gate activations and input projections, overwritten
at every step: nothing kept for BPTT) gives the training forward pass's states, and a backward pass
after it is refused."""

import numpy as np
import pytest

from helpers import make_layer
from fastrnn.kernels import cells
from fastrnn.kernels.cpu.blas_threads import blas_threads
from fastrnn.kernels.cpu import column_slabs, forward_steps, layer_forward, projection_bias, threads
from fastrnn.kernels.dispatch import get_backend
from test_cpu_threads import _layer_arrays


def _infer_arrays(kind, a):
    """Copies of the training arrays with gx and saved cut to one step."""
    b = {k: v.copy() for k, v in a.items()}
    b["saved"], b["gx"] = b["saved"][:1], b["gx"][:1]
    return b


def _infer(run, kind, a):
    run(kind, a["x"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], a["h"], a["c"], a["saved"], a["gx"], a["gh"],
        a["n_active"])


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("ragged", [False, True])
def test_inference_states_match_the_training_forward(monkeypatch, cell, ragged):
    kind = cells.CELL_CODES[cell]
    rng = np.random.default_rng(5)
    n_batch, n_steps, n_in, hidden = 11, 8, 3, 8
    lengths = np.sort(rng.integers(1, n_steps + 1, size=n_batch))[::-1] if ragged else np.full(n_batch, n_steps)
    arrays = _layer_arrays(kind, n_batch, n_steps, n_in, hidden, lengths, rng)
    expected = {k: v.copy() for k, v in arrays.items()}
    layer_forward(kind, expected["x"], expected["w_ih"], expected["w_hh"], expected["b_ih"], expected["b_hh"],
                  expected["h"], expected["c"], expected["saved"], expected["gx"], expected["gh"], expected["n_active"])

    one_thread = _infer_arrays(kind, arrays)
    _infer(layer_forward, kind, one_thread)
    monkeypatch.setattr(threads, "n_threads", lambda: 2)
    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
    assert threads.split_threads(n_batch, 1) == (1 if blas_threads() is None else 2)
    split = _infer_arrays(kind, arrays)
    _infer(threads.layer_forward, kind, split)
    # the loop itself with both products by slabs of 4 columns and blocks of 3 rows
    a = _infer_arrays(kind, arrays)
    forward_steps(kind, a["x"], column_slabs(a["w_ih"], True, 4), projection_bias(kind, a["b_ih"], a["b_hh"]),
                  column_slabs(a["w_hh"], True, 4), a["b_hh"], a["h"], a["c"], a["saved"], a["gx"], a["gh"],
                  a["n_active"], 0, n_batch, 3)
    for name, got in [("one thread", one_thread), ("two threads", split), ("slabs", a)]:
        for state in ("h", "c"):
            np.testing.assert_allclose(got[state], expected[state], rtol=1e-12, atol=1e-12, err_msg=f"{name} {state}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_layer_forward_for_inference_gives_the_same_outputs_and_refuses_backward(cell):
    layer = make_layer(cell, 2, 5, 2, np.float64, random_state=0, bidirectional=True)
    backend = get_backend("cpu")
    rng = np.random.default_rng(0)
    x_tm = rng.normal(size=(6, 4, 2))
    h0 = np.zeros((4, 4, 5))
    c0 = h0 if cell == "lstm" else None
    params = layer._backend_params(backend)
    lengths = np.array([6, 5, 3, 1])
    training = backend.to_host(layer._forward_time_major(x_tm, h0, c0, params, backend, lengths)).copy()
    states = [s.copy() for s in layer._final_states_on_backend()]
    inference = backend.to_host(layer._forward_time_major(x_tm, h0, c0, params, backend, lengths,
                                                          keep_for_backward=False))
    np.testing.assert_allclose(inference, training, rtol=1e-13, atol=1e-13)
    for got, expected in zip(layer._final_states_on_backend(), states):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    with pytest.raises(RuntimeError, match="inference"):
        layer._backward_time_major(np.ones_like(inference), np.zeros((4, 4, 5)), c0,
                                   layer._views(np.zeros_like(layer._flat)))
