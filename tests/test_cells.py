"""Each cell's two forms agree: the row form the CPU runs (``forward_step``/``backward_step``, passes over
rows that LLVM vectorizes) and the unit form the GPU threads run (``unit_forward``/``unit_backward``,
one unit at a time), on the CPU, so that neither can drift from the other unnoticed. Also: the GRU's
bias split, and the float32 fast tanh both forms share."""

import numpy as np
import pytest

from fastrnn.kernels import cells
from fastrnn.kernels.cells import CELL_CODES, GRU, HAS_CELL_STATE, LSTM, N_CARRY, N_GATES, N_SAVED
from fastrnn.kernels.cells.activations import tanh_in_place
from fastrnn.kernels.cpu import layer_forward, projection_bias
from fastrnn.kernels.buffers import LayerWeights, forward_buffers, fresh_scratch
from fastrnn.kernels.dispatch import get_backend

N_BATCH = 5
# float64: both forms use the library tanh and exp; float32: the same fast tanh. LLVM may contract
# (FMA) the vectorized passes differently from the one-unit code: an ulp or two of float64, a few of
# float32 (values here are of order 1; float32's ulp at 1 is 1.2e-7)
TOLERANCE = {np.float64: dict(rtol=1e-14, atol=1e-14), np.float32: dict(rtol=1e-6, atol=1e-6)}


def step_arrays(kind, hidden, dtype, seed):
    rng = np.random.default_rng(seed)
    gates, width = N_GATES[kind] * hidden, hidden if HAS_CELL_STATE[kind] else 0
    arrays = dict(
        gx=rng.uniform(-2, 2, (N_BATCH, gates)), gh=rng.uniform(-2, 2, (N_BATCH, gates)),
        h_prev=rng.uniform(-1, 1, (N_BATCH, hidden)), c_prev=rng.uniform(-2, 2, (N_BATCH, width)),
        d_out=rng.normal(size=(N_BATCH, hidden)), dh=rng.normal(size=(N_BATCH, hidden)),
        dc=rng.normal(size=(N_BATCH, N_CARRY[kind] * hidden)),
    )
    arrays = {name: np.ascontiguousarray(a, dtype=dtype) for name, a in arrays.items()}
    if kind != LSTM:  # the GRU's carry is written by the step, never read; the RNN has none
        arrays["dc"][...] = np.nan
    return arrays


def row_form(kind, a, hidden):
    h, c = np.empty_like(a["h_prev"]), np.empty_like(a["c_prev"])
    saved = np.empty((N_BATCH, N_SAVED[kind] * hidden), a["gx"].dtype)
    cells.forward_step(kind, a["gx"], a["gh"], a["h_prev"], a["c_prev"], h, c, saved)
    dc, d_gates, d_gates_x = a["dc"].copy(), np.empty_like(a["gx"]), np.empty_like(a["gx"])
    cells.backward_step(kind, a["d_out"], a["dh"], dc, a["h_prev"], a["c_prev"], h, saved, d_gates,
                        d_gates_x if kind == GRU else d_gates)
    return dict(h=h, c=c, saved=saved, dc=dc, d_gates=d_gates, d_gates_x=d_gates_x if kind == GRU else d_gates)


def unit_form(kind, a, hidden):
    h, c = np.empty_like(a["h_prev"]), np.empty_like(a["c_prev"])
    saved = np.empty((N_BATCH, N_SAVED[kind] * hidden), a["gx"].dtype)
    returned = np.empty_like(h)
    for b in range(N_BATCH):
        for j in range(hidden):
            returned[b, j] = cells.unit_forward(kind, a["gx"][b], a["gh"][b], a["h_prev"][b], a["c_prev"][b], h[b],
                                                c[b], saved[b], hidden, j)
    np.testing.assert_array_equal(returned, h)
    dc, d_gates, d_gates_x = a["dc"].copy(), np.empty_like(a["gx"]), np.empty_like(a["gx"])
    for b in range(N_BATCH):
        for j in range(hidden):
            cells.unit_backward(kind, a["d_out"][b], a["dh"][b], dc[b], a["h_prev"][b], a["c_prev"][b], h[b], saved[b],
                                d_gates[b], (d_gates_x if kind == GRU else d_gates)[b], hidden, j)
    return dict(h=h, c=c, saved=saved, dc=dc, d_gates=d_gates, d_gates_x=d_gates_x if kind == GRU else d_gates)


@pytest.mark.parametrize("hidden", [1, 3, 8, 17])
@pytest.mark.parametrize("cell", list(CELL_CODES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_form_and_unit_form_agree(cell, dtype, hidden):
    kind = CELL_CODES[cell]
    a = step_arrays(kind, hidden, dtype, seed=hidden)
    rows, units = row_form(kind, a, hidden), unit_form(kind, a, hidden)
    for name in rows:
        assert rows[name].dtype == dtype
        np.testing.assert_allclose(units[name], rows[name], err_msg=name, **TOLERANCE[dtype])
    assert np.isfinite(rows["d_gates"]).all() and np.isfinite(rows["h"]).all()


@pytest.mark.parametrize("cell", list(CELL_CODES))
def test_recurrent_bias_block_is_the_grus_b_hn_only(cell):
    kind = CELL_CODES[cell]
    assert cells.recurrent_bias_block(kind, 7) == ((14, 21) if cell == "gru" else (0, 0))


@pytest.mark.parametrize("cell", list(CELL_CODES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_projection_bias_follows_the_split(cell, dtype):
    kind, hidden = CELL_CODES[cell], 4
    rng = np.random.default_rng(0)
    b_ih, b_hh = (rng.normal(size=N_GATES[kind] * hidden).astype(dtype) for _ in range(2))
    start, stop = cells.recurrent_bias_block(kind, hidden)
    expected = b_ih + b_hh
    expected[start:stop] = b_ih[start:stop]
    bias = projection_bias(kind, b_ih, b_hh)
    assert bias.dtype == dtype
    np.testing.assert_array_equal(bias, expected)


def test_gru_layer_puts_b_hn_inside_the_reset_gates_product():
    """The definition of the split: gx's n block is W_in x + b_in, the saved recurrent half
    W_hn h_{t-1} + b_hn (so that n = tanh(gx_n + r * gh_n))."""
    hidden, n_in, n_steps = 3, 2, 4
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n_steps, N_BATCH, n_in))
    w_ih, w_hh = rng.normal(size=(3 * hidden, n_in)), rng.normal(size=(3 * hidden, hidden))
    b_ih, b_hh = rng.normal(size=3 * hidden), rng.normal(size=3 * hidden)
    buffers = forward_buffers(GRU, n_steps, N_BATCH, hidden, fresh_scratch(get_backend("cpu"), np.float64))
    h, saved, gx = buffers.h, buffers.saved, buffers.gx
    h[0] = rng.normal(size=(N_BATCH, hidden))
    layer_forward(GRU, x, LayerWeights(w_ih, w_hh, b_ih, b_hh), buffers, np.full(n_steps, N_BATCH, np.int64))
    n_block = slice(2 * hidden, 3 * hidden)
    np.testing.assert_allclose(gx[..., n_block], x @ w_ih[n_block].T + b_ih[n_block], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(saved[..., 3 * hidden:], h[:-1] @ w_hh[n_block].T + b_hh[n_block], rtol=1e-12,
                               atol=1e-12)
    r = saved[..., :hidden]
    np.testing.assert_allclose(saved[..., n_block], np.tanh(gx[..., n_block] + r * saved[..., 3 * hidden:]),
                               rtol=1e-12, atol=1e-12)


def test_fast_tanh_is_within_1e6_of_tanh():
    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    y = x.copy()
    tanh_in_place(y, False)
    assert y.dtype == np.float32
    assert np.max(np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64)))) < 1e-6
