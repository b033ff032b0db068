"""``device="auto" | "cpu" | "cuda"`` -> the kernel set, behind one small backend interface.

A backend allocates and copies arrays where its kernels run and exposes the kernels with the same
arguments on either device: the recurrent layer loops, a matrix product, column sums, the vector
operations of training (gradient norm, clipping, weight decay, mini-batch gathering) and the
optimizer updates. The layers, the network and the optimizers of :mod:`fastrnn` are written once
against it; :func:`backend_of` finds the backend of an array.

- ``"cpu"``: numpy arrays and the ``@njit`` kernels.
- ``"cuda"``: numba-cuda device arrays and the ``@cuda.jit`` kernels; also accepted in the CUDA
  simulator (``NUMBA_ENABLE_CUDASIM=1``), which is how CI runs the GPU kernels.
- ``"auto"``: ``"cuda"`` when numba-cuda is installed, a real GPU is usable and the model has a
  recurrent layer of at least ``CUDA_AUTO_MIN_GATE_UNITS`` gate units (gates x hidden size, see
  :mod:`.config`), else ``"cpu"``, silently; never the simulator. Below that size a recurrent step is
  too little work to pay for the GPU's launches and per-step synchronization, and the CPU kernels
  are faster.
"""

import functools
import importlib.util

import numpy as np

from . import config

_INSTALL_HINT = 'install the CUDA extra: pip install "fastrnn[cuda]"'


def _numba_cuda():
    """The ``numba.cuda`` module if the numba-cuda package is installed, else None.

    numba itself still ships a deprecated ``numba.cuda``; fastrnn's kernels need numba-cuda's.
    """
    if importlib.util.find_spec("numba_cuda") is None:
        return None
    from numba import cuda

    return cuda


@functools.lru_cache(maxsize=None)
def cuda_usable():
    """True when numba-cuda is installed, the simulator is off and a CUDA GPU can be used."""
    if config.CUDA_SIMULATOR:
        return False
    cuda = _numba_cuda()
    if cuda is None:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - driver errors mean "not usable"
        return False


def resolve_device(device, gate_units=None):
    """Map ``"auto"``, ``"cpu"`` or ``"cuda"`` to the device that runs: ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
    gate_units : int, optional
        The largest number of gate units (gates x hidden size) of the model's recurrent layers, for
        ``"auto"`` (see the module docstring); None: decide on the GPU's presence alone (a model
        without recurrent layers, such as a lone ``Linear``).

    Raises
    ------
    ValueError
        For another value.
    RuntimeError
        For ``"cuda"`` without numba-cuda or without a usable GPU (the message says what to install).
    """
    if device == "cpu":
        return "cpu"
    if device == "auto":
        large = gate_units is None or gate_units >= config.CUDA_AUTO_MIN_GATE_UNITS
        return "cuda" if large and cuda_usable() else "cpu"
    if device != "cuda":
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
    if config.CUDA_SIMULATOR:
        if _numba_cuda() is None:
            raise RuntimeError(f"device='cuda' in the CUDA simulator needs numba-cuda; {_INSTALL_HINT}.")
        return "cuda"
    if _numba_cuda() is None:
        raise RuntimeError(f"device='cuda' was requested, but numba-cuda is not installed; {_INSTALL_HINT} "
                           f"(or use device='cpu' or 'auto').")
    if not cuda_usable():
        raise RuntimeError("device='cuda' was requested, but no usable CUDA GPU was found (numba.cuda."
                           "is_available() is False: no GPU, or its driver is missing); use device='cpu' or "
                           "'auto'.")
    return "cuda"


def get_backend(device, gate_units=None):
    """The backend object for ``device`` (resolved first, see :func:`resolve_device`)."""
    if resolve_device(device, gate_units) == "cuda":
        return _cuda_backend()
    return CPU_BACKEND


def is_device_array(array):
    """True for numba-cuda device arrays (and the simulator's stand-ins for them)."""
    return not isinstance(array, np.ndarray) and (
        hasattr(array, "__cuda_array_interface__") or hasattr(array, "copy_to_host"))


def backend_of(array):
    """The backend whose arrays ``array`` is: CUDA for a device array, else the CPU."""
    return _cuda_backend() if is_device_array(array) else CPU_BACKEND


def _bind_losses_and_updates(backend, losses, updates):
    """Give ``backend`` the loss and optimizer-update kernels of its device, with the same arguments on
    both devices (each documented where it is defined: ``cpu/losses.py`` and ``cpu/updates.py``,
    ``cuda/losses.py`` and ``cuda/elementwise.py``):

    - ``squared_error(y_pred, y_true, weights=None)``, ``softmax_cross_entropy(logits, labels,
      weights=None)``, ``binary_cross_entropy(logits, targets, weights=None)``: ``(loss, gradient)``,
      the loss a Python float, the gradient an array of that device shaped like the predictions;
    - ``sgd_step``, ``adam_step``, ``adagrad_step``: the optimizers' updates, in place on flat buffers.

    Bound once, as attributes: a wrapper method importing its module cost ~1 us a call (measured on
    a 2-core Intel Xeon VM).
    """
    for name in ("squared_error", "softmax_cross_entropy", "binary_cross_entropy"):
        setattr(backend, name, getattr(losses, name))
    for name in ("sgd_step", "adam_step", "adagrad_step"):
        setattr(backend, name, getattr(updates, name))


class CPUBackend:
    """numpy arrays and the ``@njit`` kernels."""

    name = "cpu"

    def __init__(self):
        from . import cpu
        from .cpu import losses, updates
        from .cpu.linalg import matmul
        from .cpu.vector import sum_squares

        # the time loops (the contract of kernels/buffers.py), split over the cores by rows where
        # that applies (cpu/threads.py)
        self.layer_forward = cpu.threads.layer_forward
        self.layer_backward = cpu.threads.layer_backward
        _bind_losses_and_updates(self, losses, updates)
        self._sum_squares = sum_squares
        self._matmul = matmul

    def asarray(self, array, dtype):
        """``array`` (host or device) as a contiguous array of this backend."""
        if is_device_array(array):
            array = array.copy_to_host()
        return np.ascontiguousarray(array, dtype=dtype)

    def to_host(self, array):
        return np.asarray(array)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def copy(self, array):
        return np.array(array, copy=True)

    def assign(self, destination, source):
        """``destination[...] = source`` (source on the host or on this backend)."""
        destination[...] = source

    def matmul(self, a, b, out, trans_a=False, trans_b=False, bias=None):
        """``out = op(a) @ op(b) [+ bias]`` (through Numba's BLAS: see cpu/linalg.py)."""
        self._matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), out, trans_a, trans_b)
        if bias is not None:
            out += bias

    def column_sum(self, a, out):
        np.sum(a, axis=0, out=out)

    def gather_batch(self, x, index):
        """Time-major ``x[:, index]`` (a mini-batch), contiguous; ``x: (T, N, D)``, ``index: (B,)``.

        By ``np.take`` for integer indices: the same copy, ~3.5x faster than numpy's fancy indexing
        (measured on the 2-core development machine: 5.4 against 19 us for 32 of 128 sequences, T=50,
        D=16)."""
        if isinstance(index, np.ndarray) and index.dtype.kind in "iu":
            return np.take(x, index, axis=1)
        return np.ascontiguousarray(x[:, index])

    def gather_steps(self, src, index, dst, src_start=0, dst_start=0, width=None, accumulate=False):
        """``dst[t, b, dst_start:+width] (+)= src[index[t, b], b, src_start:+width]``.

        ``src``, ``dst``: (T, B, X) arrays of this backend; ``index``: (T, B) int64 host array. Reverses
        sequences in time within their lengths and moves one direction's features in or out of a
        bidirectional layer's output.
        """
        width = src.shape[2] - src_start if width is None else width
        taken = src[index, np.arange(index.shape[1])[None, :], src_start:src_start + width]
        if accumulate:
            dst[:, :, dst_start:dst_start + width] += taken
        else:
            dst[:, :, dst_start:dst_start + width] = taken

    def sum_squares(self, flat):
        return float(self._sum_squares(np.ascontiguousarray(flat)))  # no numpy BLAS: see cpu/vector.py

    def scale(self, flat, factor):
        flat *= factor

    def masked_axpy(self, y, x, mask, a):
        y[mask] += a * x[mask]

class CUDABackend:
    """numba-cuda device arrays and the ``@cuda.jit`` kernels."""

    name = "cuda"

    def __init__(self):
        from numba import cuda

        from . import cuda as gpu
        from .cuda import elementwise, losses
        from .cuda.transfer import upload

        self._cuda = cuda
        self._upload = upload
        self._gpu = gpu
        self._elementwise = elementwise
        self.layer_forward = gpu.layer_forward
        self.layer_backward = gpu.layer_backward
        _bind_losses_and_updates(self, losses, elementwise)

    def asarray(self, array, dtype):
        if is_device_array(array):
            if array.dtype != np.dtype(dtype):
                array = array.copy_to_host()
            else:
                return array
        return self._upload(array, dtype)

    def to_host(self, array):
        return array.copy_to_host() if is_device_array(array) else np.asarray(array)

    def empty(self, shape, dtype):
        return self._cuda.device_array(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        array = self._cuda.device_array(shape, dtype=dtype)
        self._elementwise.fill(array, 0)
        return array

    def copy(self, array):
        if not is_device_array(array):
            return self._upload(array)
        result = self._cuda.device_array(array.shape, dtype=array.dtype)
        result.copy_to_device(array)
        return result

    def assign(self, destination, source):
        if not is_device_array(source):
            source = np.ascontiguousarray(source, dtype=destination.dtype)
        if destination.size:
            destination.copy_to_device(source)

    def matmul(self, a, b, out, trans_a=False, trans_b=False, bias=None):
        self._gpu.matmul(a, b, out, trans_a=trans_a, trans_b=trans_b, bias1=bias)

    def column_sum(self, a, out):
        self._gpu.column_sum(a, out)

    def gather_batch(self, x, index):
        index = self._upload(index, np.int64)
        out = self._cuda.device_array((x.shape[0], index.shape[0], x.shape[2]), dtype=x.dtype)
        self._elementwise.gather_batch(x, index, out)
        return out

    def gather_steps(self, src, index, dst, src_start=0, dst_start=0, width=None, accumulate=False):
        width = src.shape[2] - src_start if width is None else width
        index = self._upload(index, np.int64)
        self._elementwise.gather_steps(src, index, dst, src_start, dst_start, width, accumulate)

    def sum_squares(self, flat):
        return self._elementwise.sum_squares(flat)

    def scale(self, flat, factor):
        self._elementwise.scale(flat, factor)

    def masked_axpy(self, y, x, mask, a):
        self._elementwise.masked_axpy(y, x, mask, a)


CPU_BACKEND = CPUBackend()


@functools.lru_cache(maxsize=None)
def _cuda_backend():
    return CUDABackend()
