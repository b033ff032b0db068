"""The per-step products of the CPU time loops, cut into row blocks and column slabs, give the
products of whole matrices.

The loops' results are compared with whole products to rounding (1e-12 in float64); that the order of
the calls (block by block, or slab by slab over many blocks) leaves every bit as it was is checked on
:func:`slab_product` itself, which makes the same calls either way."""

import numpy as np
import pytest

import reference
from helpers import kernel_problem, layer_state, make_layer, make_problem, on_backend, rel_error
from fastrnn.kernels import cells
from fastrnn.kernels.buffers import backward_buffers, fresh_scratch
from fastrnn.kernels.cpu import (backward_steps, column_slabs, forward_steps, product_plan, projection_bias,
                                 recurrent, slab_width)
from fastrnn.kernels.cpu.recurrent import slab_product
from fastrnn.kernels.dispatch import get_backend

CPU = get_backend("cpu")


@pytest.mark.parametrize("transpose", [False, True])
def test_column_slabs_hold_the_operand_by_columns(transpose):
    w = np.arange(12 * 8, dtype=np.float64).reshape(12, 8)
    operand = w.T if transpose else w
    for width in (2, 4) if transpose else (2, 4, 8):
        slabs = column_slabs(w, transpose, width)
        assert slabs.shape == (operand.shape[1] // width, operand.shape[0], width)
        assert slabs.flags.c_contiguous
        np.testing.assert_array_equal(np.concatenate(list(slabs), axis=1), operand)
    # one slab of an untransposed contiguous operand is the operand itself, not a copy
    assert np.shares_memory(column_slabs(w, False, 8), w) and not np.shares_memory(column_slabs(w, True, 12), w)


def test_product_plan_keeps_each_call_on_the_small_matrix_path():
    limit = recurrent.SMALL_PRODUCT_LIMIT
    # small weights: blocks of rows by all columns, as many rows as the limit allows, cut evenly
    assert limit // (64 * 256) >= 32 and product_plan(32, 64, 256) == (32, 256)
    assert limit // (128 * 512) == 15 and product_plan(16, 128, 512) == (8, 512)  # 8 + 8, not 15 + 1
    assert product_plan(31, 128, 512) == (11, 512)  # 11 + 11 + 9
    # large weights: slabs of 64 columns, blocks of at most MAX_SLAB_ROWS rows, each call under the limit
    for n_rows, n_inner, n_cols in [(32, 256, 1024), (64, 512, 2048), (32, 1024, 256), (64, 2048, 512)]:
        rows, width = product_plan(n_rows, n_inner, n_cols)
        assert width == 64 and recurrent.MIN_BLOCK_ROWS <= rows <= recurrent.MAX_SLAB_ROWS
        assert rows * n_inner * width <= limit
    assert product_plan(32, 1000, 400) == (8, 50)  # the widest divisor of the columns in 32..64
    # by slabs, the rows that fit rounded down to a multiple of MIN_BLOCK_ROWS: 4, not the 7 that fit
    assert recurrent.MIN_BLOCK_ROWS == 4 and limit // (2048 * 64) == 7 and product_plan(64, 2048, 512) == (4, 64)
    assert slab_width(4 * 97) == 0  # none there: the columns stay whole, one call of all rows
    assert product_plan(32, 1000, 4 * 97) == (32, 4 * 97)
    assert product_plan(2, 512, 2048) == (2, 2048)  # too few rows for the small kernel: one call


def _loops(problem, input_width, forward_width, backward_width, block_rows, min_chunk_rows=128, ranges=None):
    """Forward and backward passes of one layer with the given slab widths, row blocks and
    weight-gradient chunks, on a copy of ``problem``; the batch rows in the given ``[(start, stop),
    ...]`` ranges, one after another, each with its own weight gradients, summed (as the threads run
    them; default: all rows in one range)."""
    p = on_backend(problem, CPU)
    kind, x, w, forward = p.kind, p.x, p.weights, p.forward
    ranges = ranges or [(0, x.shape[1])]
    started = np.zeros(1, np.int64)  # each loop counts it up as it starts (what a thread handing it out waits for)
    w_ih_slabs, w_hh_slabs = column_slabs(w.w_ih, True, input_width), column_slabs(w.w_hh, True, forward_width)
    bias, w_hh_backward = projection_bias(kind, w.b_ih, w.b_hh), column_slabs(w.w_hh, False, backward_width)
    for start, stop in ranges:
        forward_steps(kind, x, w_ih_slabs, bias, w_hh_slabs, w.b_hh, *forward, p.n_active, start, stop, block_rows,
                      started)
    assert started[0] == len(ranges)
    result = {k: v.copy() for k, v in zip(("h", "c", "saved"), forward)}
    backward = backward_buffers(kind, forward, x.shape[2], fresh_scratch(CPU, x.dtype), CPU, p.dh_n, p.dc_n)
    grads = [np.zeros_like(a) for a in w]
    for start, stop in ranges:
        part = [np.empty_like(a) for a in w]
        backward_steps(kind, x, w.w_ih, w_hh_backward, forward.h, forward.c, forward.saved, p.d_out, *backward,
                       *part, p.n_active, start, stop, block_rows, min_chunk_rows, started)
        for total, value in zip(grads, part):
            total += value
    assert started[0] == 2 * len(ranges)
    result.update(dh=backward.dh, dc=backward.dc, dx=backward.dx)
    result.update(zip(("dw_ih", "dw_hh", "db_ih", "db_hh"), grads))
    return result


def _arrays(kind, n_batch, n_steps, hidden, ragged, seed):
    """One layer's kernel problem (3 input features); sequences of random lengths when ``ragged``."""
    rng = np.random.default_rng(seed)
    lengths = np.sort(rng.integers(1, n_steps + 1, size=n_batch))[::-1] if ragged else np.full(n_batch, n_steps)
    return kernel_problem(kind, n_batch, n_steps, 3, hidden, lengths, rng)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("ragged", [False, True])
def test_time_loops_by_slabs_match_whole_products(cell, ragged):
    kind = cells.CELL_CODES[cell]
    n_batch, hidden = 7, 8
    arrays = _arrays(kind, n_batch, 9, hidden, ragged, seed=3)
    gate_units = cells.N_GATES[kind] * hidden
    whole = _loops(arrays, gate_units, gate_units, hidden, n_batch)
    # blocks of 3 rows (the last block of a step is shorter), slabs of 4 columns in all three products,
    # or in the input projection's or the recurrent products' only (the other operand whole, one slab
    # over several blocks)
    for widths in [(4, 4, 4), (4, gate_units, hidden), (gate_units, 4, 4)]:
        by_slabs = _loops(arrays, *widths, 3)
        for name, value in whole.items():
            np.testing.assert_allclose(by_slabs[name], value, rtol=1e-12, atol=1e-12, err_msg=f"{name} {widths}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slab_product_over_many_blocks_makes_the_calls_of_one_block_at_a_time_bit_for_bit(dtype):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(13, 40)).astype(dtype)
    scratch = np.empty((4, 32), dtype)
    for n_cols in (96, 32):  # 3 slabs, and one
        slabs = column_slabs(rng.normal(size=(40, n_cols)).astype(dtype), False, 32)
        by_blocks, slab_by_slab = np.empty((13, n_cols), dtype), np.empty((13, n_cols), dtype)
        for start in range(0, 13, 4):  # blocks of 4 rows, the last one shorter, one call each
            slab_product(a[start:start + 4], slabs, by_blocks[start:start + 4], scratch, 4)
        slab_product(a, slabs, slab_by_slab, scratch, 4)  # every block by slab 0, then by slab 1, ...
        assert slab_by_slab.tobytes() == by_blocks.tobytes()
        np.testing.assert_allclose(by_blocks, a @ np.concatenate(list(slabs), axis=1), rtol=1e-5)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_time_loops_by_slabs_over_two_ranges_of_ragged_rows_match_whole_products(cell):
    """Two ranges of rows run one after the other as two threads run them, the later one holding the
    sequences that end first, so that at some steps none of its rows runs; one step per
    weight-gradient chunk; every operand in slabs of 4 columns, taken slab by slab over a step's rows."""
    kind = cells.CELL_CODES[cell]
    n_batch, n_steps, hidden = 7, 5, 8
    arrays = kernel_problem(kind, n_batch, n_steps, 6, hidden, [5, 5, 4, 4, 2, 1, 1], np.random.default_rng(6))
    gate_units = cells.N_GATES[kind] * hidden
    whole = _loops(arrays, gate_units, gate_units, hidden, n_batch)
    for ranges in ([(0, 4), (4, 7)], [(4, 7), (0, 4)]):  # either range first: neither writes the other's rows
        by_slabs = _loops(arrays, 4, 4, 4, 3, min_chunk_rows=1, ranges=ranges)
        for name, value in whole.items():
            np.testing.assert_allclose(by_slabs[name], value, rtol=1e-12, atol=1e-12, err_msg=f"{name} {ranges}")


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("ragged", [False, True])
def test_weight_gradients_by_chunks_of_steps_match_one_chunk(cell, ragged):
    kind = cells.CELL_CODES[cell]
    n_batch, n_steps, hidden = 5, 11, 6
    arrays = _arrays(kind, n_batch, n_steps, hidden, ragged, seed=4)
    gate_units = cells.N_GATES[kind] * hidden
    widths = (gate_units, gate_units, hidden)
    one_chunk = _loops(arrays, *widths, n_batch, n_steps * n_batch)
    assert set(one_chunk) >= {"dx", "dw_ih", "dw_hh", "db_ih", "db_hh"}
    # chunks of one step, and of 3 steps (11 = 3 + 3 + 3 + 2: the oldest chunk is shorter), 2-row blocks
    for min_chunk_rows, block_rows in [(1, n_batch), (3 * n_batch, 2)]:
        by_chunks = _loops(arrays, *widths, block_rows, min_chunk_rows)
        for name, value in one_chunk.items():
            np.testing.assert_allclose(by_chunks[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


def test_chunks_outweigh_the_gradients_they_add_to():
    assert recurrent.chunk_rows(64) == recurrent.MIN_CHUNK_ROWS == 128
    assert recurrent.chunk_rows(512) == 512


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("n_samples", [6, 8])  # one thread; two threads of 4 rows where the split applies
def test_layer_large_enough_for_slabs_matches_reference(cell, n_samples):
    hidden = 320
    gate_units = cells.N_GATES[cells.CELL_CODES[cell]] * hidden
    assert product_plan(4, hidden, gate_units)[1] == 64 and product_plan(4, gate_units, hidden)[1] == 64
    p = make_problem(cell, n_samples, 3, 2, hidden, 1, "every", seed=1)
    layer = make_layer(cell, 2, hidden, 1, np.float64, random_state=1)
    out, state_n = layer.forward(p["X"], layer_state(cell, p["h0"], p["c0"]))
    grads = layer.backward(p["A"], layer_state(cell, p["Bh"], p["Bc"]))
    ref_out, _, _, tape = reference.forward(cell, layer.params, p["X"], p["h0"], p["c0"])
    ref_grads = reference.backward(cell, layer.params, tape, p["A"], p["Bh"], p["Bc"])
    assert rel_error(out, ref_out) < 1e-12
    for name in ("weight_hh_l0", "weight_ih_l0", "bias_hh_l0"):
        assert rel_error(grads[name], ref_grads[name]) < 1e-10, name
    state_grad = grads["state"][0] if cell == "lstm" else grads["state"]
    assert rel_error(state_grad, ref_grads["h0"]) < 1e-10
