"""The GPU kernels give the CPU kernels' results: outputs, states and every gradient."""

import numpy as np
import pytest
from numba import cuda

from fastrnn.kernels import cpu
from fastrnn.kernels import cuda as gpu
from fastrnn.kernels.cuda import recurrent
from fastrnn.kernels.cells import CELL_CODES
from fastrnn.kernels.config import CUDA_SIMULATOR
from fastrnn.kernels.dispatch import get_backend
from helpers import inference_buffers, kernel_problem, on_backend, run_kernels

CPU = get_backend("cpu")

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def rel_error(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def problem(cell, n_steps, n_batch, n_in, hidden, dtype, seed=0, n_active=None):
    """A kernel problem (:func:`helpers.kernel_problem`) with all sequences running, or ``n_active``."""
    kind = CELL_CODES[cell]
    p = kernel_problem(kind, n_batch, n_steps, n_in, hidden, np.full(n_batch, n_steps), np.random.default_rng(seed),
                       dtype, weight_scale=0.3)
    return p if n_active is None else p._replace(n_active=np.asarray(n_active, np.int64))


def run_cpu(p):
    return run_kernels(on_backend(p, CPU), cpu.layer_forward, cpu.layer_backward)


def run_gpu(p, path):
    gpu_backend = get_backend("cuda")
    return run_kernels(on_backend(p, gpu_backend), gpu.layer_forward, gpu.layer_backward, gpu_backend, path=path)


@pytest.mark.parametrize("path", ["persistent", "per_step"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpu_kernels_match_cpu_kernels(cell, dtype, path):
    # 8 threads per block (conftest): an LSTM's 4*3 (GRU 3*3) gate units and an RNN's 10 units are
    # strided over them, the per-step kernels' 3*H (sequence, unit) pairs span several blocks;
    # 3 sequences: 3 blocks
    hidden = 3 if cell in ("lstm", "gru") else 10
    p = problem(cell, n_steps=3, n_batch=3, n_in=2, hidden=hidden, dtype=dtype)
    expected = run_cpu(p)
    got = run_gpu(p, path)
    for name in ("h", "c", "saved", "dh", "dc", "dx", "dw_ih", "dw_hh", "db_ih", "db_hh"):
        assert rel_error(got[name], expected[name]) < TOLERANCE[dtype], name
    assert rel_error(got["db_ih"], got["db_hh"]) > (0.01 if cell == "gru" else -1)  # GRU: b_hn's differs


@pytest.mark.parametrize("path", ["persistent", "per_step"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_gpu_kernels_match_cpu_kernels_on_variable_lengths(cell, path):
    # lengths 4, 3, 1 (sorted): 3, 3, 2, 1 sequences run at the four steps
    p = problem(cell, n_steps=4, n_batch=3, n_in=2, hidden=3, dtype=np.float64, n_active=[3, 2, 2, 1])
    expected = run_cpu(p)
    got = run_gpu(p, path)
    for name in ("h", "c", "saved", "dh", "dc", "dx", "dw_ih", "dw_hh", "db_ih", "db_hh"):
        assert rel_error(got[name], expected[name]) < 1e-10, name
    assert np.all(expected["dx"][3, 1:] == 0.0) and np.all(expected["h"][4, 2] == expected["h"][2, 2])


def test_persistent_kernels_with_weights_off_chip(monkeypatch):
    """Recurrent weights larger than the shared buffer are read from global memory instead."""
    monkeypatch.setattr(recurrent, "CUDA_MAX_SHARED_WEIGHTS", 8)  # read by the simulator at run time
    p = problem("lstm", n_steps=3, n_batch=2, n_in=2, hidden=3, dtype=np.float64)
    expected = run_cpu(p)
    got = run_gpu(p, "persistent")
    for name in ("h", "c", "dh", "dc", "dw_hh", "dx"):
        assert rel_error(got[name], expected[name]) < 1e-10, name


def test_matmul_with_transposes_bias_and_accumulation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(19, 7)), rng.normal(size=(7, 21))
    bias1, bias2 = rng.normal(size=21), rng.normal(size=21)
    out = cuda.to_device(np.ones((19, 21)))
    gpu.matmul(cuda.to_device(np.ascontiguousarray(a.T)), cuda.to_device(np.ascontiguousarray(b.T)), out,
               trans_a=True, trans_b=True, bias1=cuda.to_device(bias1), bias2=cuda.to_device(bias2),
               accumulate=True)
    np.testing.assert_allclose(out.copy_to_host(), a @ b + bias1 + bias2 + 1, rtol=1e-12)
    # a block of rows of op(a), as the per-step time loops use it, transposed or not
    rows = np.zeros((19, 21))
    for trans_a, stored in ((False, a), (True, np.ascontiguousarray(a.T))):
        out = cuda.to_device(np.zeros((19, 21)))
        gpu.matmul(cuda.to_device(stored), cuda.to_device(b), out, trans_a=trans_a, a_first=5, n_rows=9)
        rows[:9] = a[5:14] @ b
        np.testing.assert_allclose(out.copy_to_host(), rows, rtol=1e-12)  # rows from 9 on untouched
        with pytest.raises(ValueError, match="a_first"):
            gpu.matmul(cuda.to_device(stored), cuda.to_device(b), out, trans_a=trans_a, a_first=11, n_rows=9)
    with pytest.raises(ValueError, match="n_rows"):
        gpu.matmul(cuda.to_device(a), cuda.to_device(b), cuda.to_device(np.zeros((8, 21))), n_rows=9)
    sums = cuda.device_array(21)
    gpu.column_sum(cuda.to_device(b), sums)
    np.testing.assert_allclose(sums.copy_to_host(), b.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("path", ["persistent", "per_step"])
def test_gpu_forward_takes_inference_buffers(path):
    """The contract's one-step inference buffers are accepted and give the training pass's states."""
    p = problem("lstm", n_steps=3, n_batch=2, n_in=2, hidden=3, dtype=np.float64)
    expected = run_cpu(p)
    gpu_backend = get_backend("cuda")
    on_device = on_backend(p, gpu_backend)
    buffers = inference_buffers(p, gpu_backend)
    gpu.layer_forward(p.kind, on_device.x, on_device.weights, buffers, p.n_active, path=path)
    assert buffers.saved.shape[0] == 1
    for name, array in (("h", buffers.h), ("c", buffers.c)):
        assert rel_error(array.copy_to_host(), expected[name]) < 1e-10, name


def test_path_choice():
    assert gpu.choose_path(64) == "persistent"
    assert gpu.choose_path(512) == "per_step"
    with pytest.raises(ValueError, match="at most 256 hidden units"):
        gpu.choose_path(512, "persistent")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_updates_match_on_both_backends(dtype):
    """Each backend updates its own buffers (backend_of), with the same arguments and results."""
    from fastrnn.kernels.dispatch import backend_of, get_backend

    host_backend, device_backend = get_backend("cpu"), get_backend("cuda")
    rng = np.random.default_rng(0)
    updates = {"sgd_step": (2, (0.1, 0.9, True)), "adam_step": (3, (0.01, 0.9, 0.999, 1e-8, 2)),
               "adagrad_step": (2, (0.1, 1e-10))}
    for name, (n_buffers, scalars) in updates.items():
        host = [rng.normal(size=11).astype(dtype) for _ in range(n_buffers)]
        if name != "sgd_step":  # second moments and sums of squares are >= 0
            host[-1] = np.abs(host[-1])
        host.insert(1, rng.normal(size=11).astype(dtype))  # the gradient
        device = [cuda.to_device(a) for a in host]
        assert backend_of(host[0]) is host_backend and backend_of(device[0]) is device_backend
        getattr(host_backend, name)(*host, *scalars)
        getattr(device_backend, name)(*device, *scalars)
        for expected, buffer in zip(host, device):
            assert device_backend.to_host(buffer).dtype == dtype
            np.testing.assert_allclose(device_backend.to_host(buffer), expected, rtol=TOLERANCE[dtype] * 1e-2,
                                       atol=TOLERANCE[dtype] * 1e-2, err_msg=name)


def test_launch_configurations_are_cached_and_silence_only_the_low_occupancy_warning():
    import warnings

    from numba.core.errors import NumbaPerformanceWarning

    from fastrnn.kernels.cuda.launch import configured

    class Kernel:
        configured = 0

        def __getitem__(self, dims):
            Kernel.configured += 1
            warnings.warn(NumbaPerformanceWarning(f"Grid size {dims[0]} will likely result in GPU "
                                                  "under-utilization due to low occupancy."))
            return ("configured", dims)

    kernel = Kernel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert configured(kernel, 3, 32) == ("configured", (3, 32))
        assert configured(kernel, 3, 32) == ("configured", (3, 32))
        assert Kernel.configured == 1                           # made once per (kernel, grid, block)
        with pytest.warns(NumbaPerformanceWarning):             # the user's own launches still warn
            kernel[5, 32]


@pytest.mark.skipif(CUDA_SIMULATOR, reason="the simulator never warns about occupancy: a real GPU's check")
def test_a_fit_on_the_gpu_prints_no_occupancy_warnings():
    import warnings

    from numba.core.errors import NumbaPerformanceWarning

    from fastrnn import RNNRegressor

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 4, 2)), rng.normal(size=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumbaPerformanceWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        model = RNNRegressor(hidden_sizes=(3,), max_iter=2, batch_size=4, device="cuda", random_state=0).fit(X, y)
        model.predict(X)
