"""The forward pass for inference (one step of gate activations and input projections, overwritten
at every step: nothing kept for BPTT) gives the training forward pass's states, and a backward pass
after it is refused."""

import numpy as np
import pytest

from helpers import inference_buffers, kernel_problem, make_layer, on_backend
from fastrnn._stack import final_states, stack_backward, stack_forward
from fastrnn.kernels import cells
from fastrnn.kernels.cpu.blas_threads import blas_threads
from fastrnn.kernels.cpu import column_slabs, forward_steps, layer_forward, projection_bias, threads
from fastrnn.kernels.dispatch import get_backend

CPU = get_backend("cpu")


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("ragged", [False, True])
def test_inference_states_match_the_training_forward(monkeypatch, cell, ragged):
    kind = cells.CELL_CODES[cell]
    rng = np.random.default_rng(5)
    n_batch, n_steps, n_in, hidden = 11, 8, 3, 8
    lengths = np.sort(rng.integers(1, n_steps + 1, size=n_batch))[::-1] if ragged else np.full(n_batch, n_steps)
    problem = kernel_problem(kind, n_batch, n_steps, n_in, hidden, lengths, rng)
    expected = on_backend(problem, CPU)
    layer_forward(kind, expected.x, expected.weights, expected.forward, expected.n_active)

    one_thread = inference_buffers(problem, CPU)
    assert one_thread.saved.shape[0] == one_thread.gx.shape[0] == 1 and not one_thread.for_backward
    layer_forward(kind, problem.x, problem.weights, one_thread, problem.n_active)
    monkeypatch.setattr(threads, "n_threads", lambda: 2)
    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
    assert threads.split_threads(n_batch, 1) == (1 if blas_threads() is None else 2)
    split = inference_buffers(problem, CPU)
    threads.layer_forward(kind, problem.x, problem.weights, split, problem.n_active)
    # the loop itself with both products by slabs of 4 columns and blocks of 3 rows
    w = problem.weights
    a = inference_buffers(problem, CPU)
    forward_steps(kind, problem.x, column_slabs(w.w_ih, True, 4), projection_bias(kind, w.b_ih, w.b_hh),
                  column_slabs(w.w_hh, True, 4), w.b_hh, a.h, a.c, a.saved, a.gx, a.gh, problem.n_active, 0, n_batch, 3,
                  np.zeros(1, np.int64))
    for name, got in [("one thread", one_thread), ("two threads", split), ("slabs", a)]:
        for state in ("h", "c"):
            np.testing.assert_allclose(getattr(got, state), getattr(expected.forward, state), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name} {state}")


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
    training_tape = stack_forward(layer, x_tm, h0, c0, params, backend, lengths)
    assert training_tape.for_backward
    inference_tape = stack_forward(layer, x_tm, h0, c0, params, backend, lengths, train=False)
    assert not inference_tape.for_backward
    np.testing.assert_allclose(inference_tape.output, training_tape.output, rtol=1e-13, atol=1e-13)
    for got, expected in zip(final_states(inference_tape), final_states(training_tape)):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    with pytest.raises(RuntimeError, match="inference"):
        stack_backward(layer, inference_tape, np.ones_like(inference_tape.output), np.zeros((4, 4, 5)), c0,
                       layer._views(np.zeros_like(layer._flat)))
