"""A layer's CPU work split over threads by rows gives what one thread gives."""

import multiprocessing
import sys

import numpy as np
import pytest

from helpers import kernel_problem, on_backend, run_kernels
from fastrnn.kernels import cells
from fastrnn.kernels.cpu import blas_threads, layer_backward, layer_forward, team, threads
from fastrnn.kernels.dispatch import get_backend


@pytest.mark.skipif(blas_threads.blas_threads() is None, reason="scipy's OpenBLAS cannot be held to one thread")
@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("ragged", [False, True])
def test_split_over_threads_matches_one_thread(monkeypatch, n_threads, cell, ragged):
    kind = cells.CELL_CODES[cell]
    rng = np.random.default_rng(n_threads)
    n_batch, n_steps = 13, 70  # every thread takes its weight gradients in several chunks, the last shorter
    lengths = np.sort(rng.integers(1, n_steps + 1, size=n_batch))[::-1] if ragged else np.full(n_batch, n_steps)
    monkeypatch.setattr(threads, "n_threads", lambda: n_threads)
    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)  # split however small
    assert threads.split_threads(n_batch, 1) == n_threads
    problem = kernel_problem(kind, n_batch, n_steps, 3, 5, lengths, rng)
    expected = run_kernels(on_backend(problem, get_backend("cpu")), layer_forward, layer_backward)
    got = run_kernels(problem, threads.layer_forward, threads.layer_backward)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


def test_batch_ranges_cover_the_batch_and_balance_the_steps():
    n_active = np.array([16, 16, 12, 8, 4, 2])  # rows 0-1 run 6 steps, ..., rows 12-15 run 2
    ranges = threads.batch_ranges(n_active, 16, 2)
    assert ranges[0][0] == 0 and ranges[-1][1] == 16
    assert all(a[1] == b[0] for a, b in zip(ranges[:-1], ranges[1:]))
    steps_of_row = np.array([np.count_nonzero(n_active > b) for b in range(16)])
    work = [steps_of_row[start:stop].sum() for start, stop in ranges]
    assert abs(work[0] - work[1]) <= steps_of_row.max()
    assert threads.batch_ranges(np.full(5, 16), 16, 1) == [(0, 16)]
    assert threads.batch_ranges(np.full(5, 13), 13, 3) == [(0, 4), (4, 8), (8, 13)]  # equal lengths: even cuts


def test_small_batches_and_passes_stay_in_one_thread(monkeypatch):
    monkeypatch.setattr(threads, "n_threads", lambda: 2)
    large = threads.MIN_SPLIT_WORK
    assert threads.split_threads(7, large) == 1
    assert threads.split_threads(8, large) == (1 if blas_threads.blas_threads() is None else 2)
    assert threads.split_threads(64, large - 1) == 1
    # LSTM layers: batch 8, T=20, hidden 32 (0.05 ms in one thread) stays; batch 32, T=50, hidden 64 splits
    assert threads.pass_work((20, 8, 4), (128, 32)) < large <= threads.pass_work((50, 32, 16), (256, 64))


@pytest.mark.skipif(blas_threads.blas_threads() is None, reason="scipy's OpenBLAS cannot be held to one thread")
def test_blas_thread_limit_is_undone_after_the_block():
    control = blas_threads.blas_threads()
    before = control.get()
    with control.limited_to(1):
        assert control.get() == 1
    assert control.get() == before
    with pytest.raises(RuntimeError):
        with control.limited_to(1):
            raise RuntimeError("inside")
    assert control.get() == before


@pytest.mark.skipif(blas_threads.blas_threads() is None, reason="scipy's OpenBLAS cannot be held to one thread")
def test_overlapping_blas_thread_limits_restore_the_count_from_before_the_first():
    control = blas_threads.blas_threads()
    before = control.get()
    control.set(2)
    try:
        first, second = control.limited_to(1), control.limited_to(1)
        first.__enter__()  # two threads' passes overlapping: one starts, the other starts, the first ends
        second.__enter__()
        first.__exit__(None, None, None)
        assert control.get() == 1  # the second block still runs
        second.__exit__(None, None, None)
        assert control.get() == 2
    finally:
        control.set(before)


def test_worker_errors_reach_the_caller():
    def fail(started):
        raise ValueError("from a worker")

    with pytest.raises(ValueError, match="from a worker"):
        threads.run_in_threads([(lambda started: None, ()), (fail, ())])
    # and the team still works after it
    out = np.zeros(2)
    threads.run_in_threads([(lambda k, started: out.__setitem__(k, 1), (0,)), (lambda k, started: out.__setitem__(k, 2), (1,))])
    assert list(out) == [1, 2]


@pytest.mark.parametrize("split", [False, True])
def test_backward_without_input_gradient_gives_the_same_weight_gradients(monkeypatch, split):
    kind = cells.LSTM
    rng = np.random.default_rng(5)
    monkeypatch.setattr(threads, "n_threads", lambda: 2 if split else 1)
    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
    problem = kernel_problem(kind, 12, 40, 3, 4, np.full(12, 40), rng)
    expected = run_kernels(on_backend(problem, get_backend("cpu")), threads.layer_forward, threads.layer_backward)
    got = run_kernels(problem, threads.layer_forward, threads.layer_backward, input_gradient=False)
    assert got["dx"] is None and expected["dx"] is not None
    for name in ("dh", "dc", "dw_ih", "dw_hh", "db_ih", "db_hh"):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def _split_forward_output(seed):
    """A layer forward pass split over two threads (module state as the parent left it)."""
    import fastrnn

    layer = fastrnn.LSTM(2, 3, dtype=np.float64, random_state=seed)
    out, _ = layer.forward(np.random.default_rng(seed).normal(size=(8, 5, 2)))
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method (Linux)")
@pytest.mark.skipif(blas_threads.blas_threads() is None, reason="scipy's OpenBLAS cannot be held to one thread")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # Python >= 3.12
def test_split_passes_run_in_a_forked_child(monkeypatch):
    monkeypatch.setattr(threads, "n_threads", lambda: 2)
    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
    expected = _split_forward_output(0)  # starts the worker team in this process
    assert team._team is not None
    # a forked child inherits the pool object without its threads; it must start its own, not hang
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_split_forward_output, (0,)).get(timeout=60)
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------ limited_threads, outside Dask
def test_limited_threads_nest_and_restore_the_count(monkeypatch):
    monkeypatch.setattr(threads.numba.config, "NUMBA_NUM_THREADS", 4)
    assert threads.n_threads() == 4
    with threads.limited_threads(3):
        assert threads.n_threads() == 3
        with threads.limited_threads(1):
            assert threads.n_threads() == 1
        assert threads.n_threads() == 3
        with pytest.raises(RuntimeError):
            with threads.limited_threads(2):
                raise RuntimeError("inside")
        assert threads.n_threads() == 3
    assert threads.n_threads() == 4


def test_limited_threads_never_exceed_numbas_thread_count(monkeypatch):
    monkeypatch.setattr(threads.numba.config, "NUMBA_NUM_THREADS", 3)
    with threads.limited_threads(8):
        assert threads.n_threads() == 3
        with threads.limited_threads(2):
            assert threads.n_threads() == 2


@pytest.mark.parametrize("n", [0, -1])
def test_limited_threads_need_one_thread(n):
    with pytest.raises(ValueError, match="at least one thread"):
        with threads.limited_threads(n):
            pass  # pragma: no cover


def test_a_thread_limit_holds_in_its_own_thread_only(monkeypatch):
    import threading

    monkeypatch.setattr(threads.numba.config, "NUMBA_NUM_THREADS", 4)
    seen = []
    with threads.limited_threads(1):
        other = threading.Thread(target=lambda: seen.append(threads.n_threads()))
        other.start()
        other.join()
        assert threads.n_threads() == 1
    assert seen == [4]


def test_not_in_a_dask_task_in_the_main_thread():
    pytest.importorskip("distributed")
    assert "distributed" in sys.modules
    assert not threads.in_dask_task()
    assert threads.n_threads() == max(1, int(threads.numba.config.NUMBA_NUM_THREADS))


def test_split_threads_respect_the_limit(monkeypatch):
    monkeypatch.setattr(threads.numba.config, "NUMBA_NUM_THREADS", 2)
    n_batch, work = 2 * threads.MIN_ROWS_PER_THREAD, threads.MIN_SPLIT_WORK  # just enough to split over 2
    split = 1 if blas_threads.blas_threads() is None else 2
    assert threads.split_threads(n_batch, work) == split
    with threads.limited_threads(1):
        assert threads.split_threads(n_batch, work) == 1
    with threads.limited_threads(2):
        assert threads.split_threads(n_batch, work) == split
    assert threads.split_threads(n_batch, work) == split
