"""GPU time loops of one recurrent layer: the same contract as :mod:`fastrnn.kernels.cpu`.

``layer_forward`` and ``layer_backward`` take the same arguments as their CPU twins, as numba-cuda
device arrays, and produce the same results. The cell math is the CPU's own: each thread calls
:func:`fastrnn.kernels.cells.unit_forward` / ``unit_backward`` for its (sequence, unit), the unit
forms that sit next to the CPU's row forms in each cell's module.

Which path runs when (``path="auto"``):

- **persistent** (hidden size <= ``CUDA_MAX_PERSISTENT_HIDDEN``, 256): one launch per layer and
  direction for the whole sequence. Block ``b`` owns sequence ``b``: its hidden state and the step's
  pre-activations stay in shared memory for all time steps, and so do the recurrent weights when they
  fit (``G*H*H <= CUDA_MAX_SHARED_WEIGHTS``: LSTM H <= 32, RNN H <= 64); larger ones are read from
  global memory through L1/L2, transposed so that a warp's loads coalesce. Threads stride over the
  ``G*H`` gate units (the recurrent product) and then over the ``H`` units (the cell), with two block
  barriers per step and no grid-wide barrier, so the simulator checks it faithfully. No per-step
  launch overhead: this is the path for the small hidden sizes and batches where per-step launches
  (microseconds each) would dominate.
- **per-step** (larger hidden sizes): per time step, one tiled product ``gh = h_{t-1} W_hh^T`` over
  the batch, which reads ``W_hh`` once per tile row rather than once per sequence, and one fused
  pointwise kernel with a thread per (sequence, unit).

Both paths compute the input projection of all steps as one product before the loop, and the weight
gradients as single products over all ``T*B`` rows after it (:func:`.linalg.matmul`), the bias
gradients as column sums.

Variable lengths follow the CPU's contract (``n_active``, sequences sorted by decreasing length): in
the persistent kernels a finished sequence's block only carries its state forward; the per-step path
runs its products and cell steps on the leading ``n_active[t]`` rows.
"""

from numba import cuda, njit
from numba.cuda import config as cuda_config

from .. import cells, config
from ..config import (CUDA_JIT_OPTIONS, CUDA_MAX_PERSISTENT_GATE_UNITS, CUDA_MAX_PERSISTENT_HIDDEN,
                      CUDA_MAX_SHARED_WEIGHTS)
from ..cache import drop_stale_cache, package_files
from ..cells import recurrent_bias_block
from ..cells.step import python_unit_forms
from .elementwise import fill
from .linalg import column_sum, matmul
from .launch import launch
from .transfer import upload

drop_stale_cache(__file__, [*package_files(cells.__file__), config.__file__])



@njit(inline="always")
def _stage_rows_jit(matrix, flat, tid, n_threads):
    """The block's threads copy a 2-D array row-major into the flat (shared) buffer ``flat``."""
    n_cols = matrix.shape[1]
    for index in range(tid, matrix.shape[0] * n_cols, n_threads):
        flat[index] = matrix[index // n_cols, index % n_cols]


if cuda_config.ENABLE_CUDASIM:
    # The simulator runs kernels as Python, with its own array objects that compiled CPU functions
    # cannot take: call the functions' Python source (their scalar helpers stay compiled).
    unit_forward, unit_backward = python_unit_forms()
    _stage_rows = _stage_rows_jit.py_func
else:
    # On a GPU the same @njit functions are compiled into the kernels by numba-cuda (a
    # @cuda.jit(device=True) helper would need a CUDA driver even to compile PTX).
    unit_forward, unit_backward = cells.unit_forward, cells.unit_backward
    _stage_rows = _stage_rows_jit


@cuda.jit(**CUDA_JIT_OPTIONS)
def _forward_persistent(kind, gx, w_hh_t, gh_bias, h, c, saved, n_active):
    """Block b runs sequence b through all steps. gx: (T, B, G*H) with the biases that enter it;
    w_hh_t: (H, G*H); gh_bias: (G*H,) the bias added to the recurrent product (GRU's b_hn, else 0);
    n_active: (T,) sequences running at each step."""
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    n_steps = gx.shape[0]
    gate_units = gx.shape[2]
    hidden = h.shape[2]
    h_shared = cuda.shared.array(CUDA_MAX_PERSISTENT_HIDDEN, dtype=gx.dtype)
    recurrent = cuda.shared.array(CUDA_MAX_PERSISTENT_GATE_UNITS, dtype=gx.dtype)
    w_shared = cuda.shared.array(CUDA_MAX_SHARED_WEIGHTS, dtype=gx.dtype)  # W_hh^T, row-major (H, G*H)
    weights_on_chip = hidden * gate_units <= CUDA_MAX_SHARED_WEIGHTS
    if weights_on_chip:
        _stage_rows(w_hh_t, w_shared, tid, n_threads)
    for u in range(tid, hidden, n_threads):
        h_shared[u] = h[0, b, u]
    cuda.syncthreads()
    for t in range(n_steps):
        if b >= n_active[t]:  # finished (the same branch for the whole block): carry the state
            for u in range(tid, hidden, n_threads):
                h[t + 1, b, u] = h_shared[u]
            for u in range(tid, c.shape[2], n_threads):
                c[t + 1, b, u] = c[t, b, u]
            continue
        for j in range(tid, gate_units, n_threads):
            acc = gh_bias[j]
            if weights_on_chip:
                for k in range(hidden):
                    acc += w_shared[k * gate_units + j] * h_shared[k]
            else:
                for k in range(hidden):
                    acc += w_hh_t[k, j] * h_shared[k]
            recurrent[j] = acc
        cuda.syncthreads()
        for u in range(tid, hidden, n_threads):
            h_shared[u] = unit_forward(kind, gx[t, b], recurrent, h_shared, c[t, b], h[t + 1, b], c[t + 1, b],
                                       saved[t, b], hidden, u)
        cuda.syncthreads()


@cuda.jit(**CUDA_JIT_OPTIONS)
def _backward_persistent(kind, w_hh, h, c, saved, d_out, dh, dc, d_gates, d_gates_x, n_active, zero):
    """Block b backpropagates sequence b through all steps; dh (B, H): in dL/dh_T, out dL/dh_0.
    ``zero``: 0 in the arrays' dtype, so that float32 sums stay float32."""
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    n_steps = d_out.shape[0]
    gate_units = w_hh.shape[0]
    hidden = w_hh.shape[1]
    dh_shared = cuda.shared.array(CUDA_MAX_PERSISTENT_HIDDEN, dtype=w_hh.dtype)
    dg_shared = cuda.shared.array(CUDA_MAX_PERSISTENT_GATE_UNITS, dtype=w_hh.dtype)
    w_shared = cuda.shared.array(CUDA_MAX_SHARED_WEIGHTS, dtype=w_hh.dtype)  # W_hh, row-major (G*H, H)
    weights_on_chip = hidden * gate_units <= CUDA_MAX_SHARED_WEIGHTS
    if weights_on_chip:
        _stage_rows(w_hh, w_shared, tid, n_threads)
    for u in range(tid, hidden, n_threads):
        dh_shared[u] = dh[b, u]
    cuda.syncthreads()
    for t in range(n_steps - 1, -1, -1):
        if b >= n_active[t]:  # a padded step: no gradient, the state's passes through
            for j in range(tid, gate_units, n_threads):
                d_gates[t, b, j] = zero
                d_gates_x[t, b, j] = zero
            continue
        for u in range(tid, hidden, n_threads):
            unit_backward(kind, d_out[t, b], dh_shared, dc[b], h[t, b], c[t, b], h[t + 1, b], saved[t, b], dg_shared,
                          d_gates_x[t, b], hidden, u)
        cuda.syncthreads()
        for j in range(tid, gate_units, n_threads):
            d_gates[t, b, j] = dg_shared[j]
        for k in range(tid, hidden, n_threads):
            acc = dc[b, k] if kind == cells.GRU else zero  # the GRU's direct path dL/dh_t * z
            if weights_on_chip:
                for j in range(gate_units):
                    acc += dg_shared[j] * w_shared[j * hidden + k]
            else:
                for j in range(gate_units):
                    acc += dg_shared[j] * w_hh[j, k]
            dh_shared[k] = acc
        cuda.syncthreads()
    for u in range(tid, hidden, n_threads):
        dh[b, u] = dh_shared[u]


@cuda.jit(**CUDA_JIT_OPTIONS)
def _forward_pointwise(kind, t, n_run, gx, gh, h, c, saved):
    """Step ``t`` of the per-step path for the first ``n_run`` sequences: a thread per (sequence,
    unit). Whole (T, B, X) arrays and the step index, not per-step views: making a device array view
    costs tens of microseconds in Python."""
    index = cuda.grid(1)
    hidden = h.shape[2]
    if index < n_run * hidden:
        b = index // hidden
        unit_forward(kind, gx[t, b], gh[b], h[t, b], c[t, b], h[t + 1, b], c[t + 1, b], saved[t, b], hidden,
                     index - b * hidden)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _backward_pointwise(kind, t, n_run, d_out, dh, dc, h, c, saved, d_gates, d_gates_x):
    """BPTT's step ``t`` of the per-step path, as :func:`_forward_pointwise`."""
    index = cuda.grid(1)
    hidden = dh.shape[1]
    if index < n_run * hidden:
        b = index // hidden
        unit_backward(kind, d_out[t, b], dh[b], dc[b], h[t, b], c[t, b], h[t + 1, b], saved[t, b], d_gates[t, b],
                      d_gates_x[t, b], hidden, index - b * hidden)


def choose_path(hidden, path="auto"):
    """"persistent" or "per_step" for a hidden size (see the module docstring)."""
    if path not in ("auto", "persistent", "per_step"):
        raise ValueError(f"path must be 'auto', 'persistent' or 'per_step', got {path!r}.")
    if path == "persistent" and hidden > CUDA_MAX_PERSISTENT_HIDDEN:
        raise ValueError(f"the persistent path holds at most {CUDA_MAX_PERSISTENT_HIDDEN} hidden units, got {hidden}.")
    if path == "auto":
        return "persistent" if hidden <= CUDA_MAX_PERSISTENT_HIDDEN else "per_step"
    return path


def _threads_for(work):
    """Threads per block: a multiple of 32 (a warp) covering ``work`` items, at most
    CUDA_THREADS_PER_BLOCK (which tests lower below 32)."""
    return max(1, min(config.CUDA_THREADS_PER_BLOCK, ((work + 31) // 32) * 32))


def _rows(array):
    """(T, B, X) device array viewed as (T*B, X)."""
    return array.reshape(array.shape[0] * array.shape[1], array.shape[2])


def layer_forward(kind, x, weights, buffers, n_active, path="auto"):
    """GPU twin of :func:`fastrnn.kernels.cpu.layer_forward` (same arguments, device arrays;
    ``n_active`` a host array).

    Inference buffers (one step of ``saved`` and ``gx``) are accepted: the GPU loops read the input
    projections of every step, computed before the loop, so such a call runs on arrays for every
    step allocated here. ``path`` picks the time-loop variant ("auto", "persistent", "per_step"); see
    the module docstring.
    """
    n_steps, n_batch, _ = x.shape
    w_ih, w_hh, b_ih, b_hh = weights
    h, c, saved, gx, gh = buffers
    hidden = h.shape[2]
    if saved.shape[0] != n_steps:  # inference buffers
        saved = cuda.device_array((n_steps, n_batch, saved.shape[2]), dtype=saved.dtype)
        gx = cuda.device_array((n_steps, n_batch, gx.shape[2]), dtype=gx.dtype)
    x_bias, h_bias = _split_recurrent_bias(kind, b_hh, hidden)
    matmul(_rows(x), w_ih, _rows(gx), trans_b=True, bias1=b_ih, bias2=x_bias)
    if choose_path(hidden, path) == "persistent":
        w_hh_t = cuda.device_array((w_hh.shape[1], w_hh.shape[0]), dtype=w_hh.dtype)
        transpose(w_hh, w_hh_t)
        launch(_forward_persistent, n_batch, _threads_for(w_hh.shape[0]))(kind, gx, w_hh_t, h_bias, h, c, saved,
                                                                         upload(n_active))
        return
    threads = config.CUDA_THREADS_PER_BLOCK
    h_rows = _rows(h)                                                     # ((T+1)*B, H)
    for t in range(n_steps):
        n_run = int(n_active[t])
        if n_run > 0:
            blocks = (n_run * hidden + threads - 1) // threads
            matmul(h_rows, w_hh, gh, trans_b=True, bias1=h_bias, a_first=t * n_batch, n_rows=n_run)
            launch(_forward_pointwise, blocks, threads)(kind, t, n_run, gx, gh, h, c, saved)
        if n_run < n_batch:  # finished sequences keep their state
            h[t + 1][n_run:].copy_to_device(h[t][n_run:])
            if c.shape[2]:
                c[t + 1][n_run:].copy_to_device(c[t][n_run:])


def _split_recurrent_bias(kind, b_hh, hidden):
    """(part of b_hh added to the input projection, part added to the recurrent product), as full
    (G*H,) device arrays with zeros elsewhere, split by :func:`fastrnn.kernels.cells.gru.recurrent_bias_block`
    (every cell but the GRU adds all of b_hh to the input projection)."""
    start, stop = recurrent_bias_block(kind, hidden)
    h_bias = cuda.device_array(b_hh.shape, dtype=b_hh.dtype)
    fill(h_bias, 0)
    if stop == start:
        return b_hh, h_bias
    x_bias = cuda.device_array(b_hh.shape, dtype=b_hh.dtype)
    x_bias.copy_to_device(b_hh)
    fill(x_bias[start:stop], 0)
    h_bias[start:stop].copy_to_device(b_hh[start:stop])
    return x_bias, h_bias


def layer_backward(kind, x, weights, forward, d_out, backward, grads, n_active, path="auto"):
    """GPU twin of :func:`fastrnn.kernels.cpu.layer_backward` (same arguments, device arrays)."""
    n_steps, n_batch, _ = x.shape
    w_ih, w_hh = weights.w_ih, weights.w_hh
    h, c, saved, _, _ = forward
    dh, dc, d_gates, d_gates_x, dx = backward
    dw_ih, dw_hh, db_ih, db_hh = grads
    hidden = w_hh.shape[1]
    gru = kind == cells.GRU
    d_gate_rows = _rows(d_gates)                                          # (T*B, G*H)
    if choose_path(hidden, path) == "persistent":
        launch(_backward_persistent, n_batch, _threads_for(w_hh.shape[0]))(
            kind, w_hh, h, c, saved, d_out, dh, dc, d_gates, d_gates_x, upload(n_active), w_hh.dtype.type(0))
    else:
        threads = config.CUDA_THREADS_PER_BLOCK
        for t in range(n_steps - 1, -1, -1):
            n_run = int(n_active[t])
            if n_run > 0:
                blocks = (n_run * hidden + threads - 1) // threads
                launch(_backward_pointwise, blocks, threads)(kind, t, n_run, d_out, dh, dc, h, c, saved, d_gates,
                                                             d_gates_x)
                if gru:  # dL/dh_{t-1} = direct path (in dc) + recurrent product
                    if n_run == n_batch:
                        dh.copy_to_device(dc)
                    else:
                        dh[:n_run].copy_to_device(dc[:n_run])
                matmul(d_gate_rows, w_hh, dh, accumulate=gru, a_first=t * n_batch, n_rows=n_run)
            if n_run < n_batch:  # padded steps: no gradient
                fill(d_gates[t][n_run:], 0)
                fill(d_gates_x[t][n_run:], 0)
    d_input_gate_rows = _rows(d_gates_x)
    matmul(d_input_gate_rows, _rows(x), dw_ih, trans_a=True)
    matmul(d_gate_rows, _rows(h[:n_steps]), dw_hh, trans_a=True)
    if dx is not None:
        matmul(d_input_gate_rows, w_ih, _rows(dx))
    column_sum(d_input_gate_rows, db_ih)
    column_sum(d_gate_rows, db_hh)


@cuda.jit(**CUDA_JIT_OPTIONS)
def _transpose_kernel(a, out):
    i, j = cuda.grid(2)
    if i < a.shape[0] and j < a.shape[1]:
        out[j, i] = a[i, j]


def transpose(a, out):
    """``out = a.T`` for 2-D device arrays (the persistent kernel reads ``W_hh`` transposed)."""
    tile = config.CUDA_TRANSPOSE_TILE
    blocks = ((a.shape[0] + tile - 1) // tile, (a.shape[1] + tile - 1) // tile)
    launch(_transpose_kernel, blocks, (tile, tile))(a, out)
