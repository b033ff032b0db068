"""Stacked recurrent layers over the kernels: parameters with PyTorch's names, forward and backward.

The layers are the low-level API: they hold parameters, run the forward pass over a batch of
sequences and, after it, backpropagate through time given the gradient of a loss with respect to
the outputs. Losses, optimizers and the training loop live elsewhere (``losses``, ``optimizers``,
the estimators).

Parameters are stored in one flat buffer (``_flat``); ``params`` maps PyTorch's names to views into
it, so an optimizer can update every parameter in one pass and weights move to and from
``torch.nn.RNN`` / ``torch.nn.LSTM`` / ``torch.nn.GRU`` by name through ``state_dict`` / ``load_state_dict``.

``device`` ("auto", "cpu", "cuda") picks the kernels (:mod:`fastrnn.kernels.dispatch`); it is resolved
when the layer runs, so a layer pickled on a GPU machine runs on a CPU-only one with "auto". The
host buffer is the master copy of the parameters: ``forward`` on the GPU uploads it once per call,
inputs and results are numpy arrays on either device.
"""

import numpy as np

from .kernels.cells import CELL_CODES, HAS_CELL_STATE, N_CARRY, N_GATES, N_SAVED
from .kernels.dispatch import get_backend, resolve_device
from ._packing import active_counts, full_lengths, identity_index, padding_mask, reversal_index, sort_by_length
from ._validation import (
    as_generator,
    check_array_shape,
    check_choice,
    check_float_dtype,
    check_lengths,
    check_positive_int,
    check_sequences,
)

__all__ = ["RNN", "LSTM", "GRU", "Linear"]

_PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_DIRECTION_SUFFIXES = ("", "_reverse")  # PyTorch's names of the two directions' parameters


class _Module:
    """Parameters in one flat buffer with named views; state_dict, load_state_dict and pickling.

    Subclasses set ``dtype`` and call :meth:`_init_parameters` with their layout, a list of
    ``(name, shape, offset)`` in state_dict order.
    """

    def _init_parameters(self, layout, device):
        resolve_device(device)  # a clear error now if the device cannot be used
        self.device = device
        self._layout = layout
        n_params = sum(int(np.prod(shape)) for _, shape, _ in layout)
        self._flat = np.zeros(n_params, dtype=self.dtype)
        self.params = self._views(self._flat)
        self._cache = None

    def _bind(self, flat, copy=True):
        """Make ``params`` views into ``flat`` (a slice of a larger buffer), first copying the current
        values there unless ``copy`` is False (``flat`` already holds them, and may be read-only)."""
        if copy:
            flat[...] = self._flat
        self._flat = flat
        self.params = self._views(flat)

    @staticmethod
    def _layout_from_shapes(named_shapes):
        layout, offset = [], 0
        for name, shape in named_shapes:
            layout.append((name, shape, offset))
            offset += int(np.prod(shape))
        return layout

    @property
    def n_parameters(self):
        """Total number of scalar parameters."""
        return self._flat.size

    def to(self, device):
        """Run on ``device`` ("auto", "cpu" or "cuda") from now on; returns self.

        Raises
        ------
        RuntimeError
            For "cuda" without numba-cuda or a usable GPU.
        """
        resolve_device(device)
        self.device = device
        self._cache = None
        return self

    @property
    def _backend(self):
        return get_backend(self.device)

    def _backend_params(self, backend):
        """Named parameter views on ``backend`` (the host views, or a device copy of the buffer)."""
        if backend.name == "cpu":
            return self.params
        return self._views(backend.asarray(self._flat, self.dtype))

    def _views(self, flat):
        """Dict of named views into a flat buffer laid out like the parameters."""
        return {
            name: flat[offset:offset + int(np.prod(shape))].reshape(shape)
            for name, shape, offset in self._layout
        }

    def state_dict(self):
        """Return a copy of the parameters as a dict of numpy arrays with PyTorch's names.

        Returns
        -------
        dict of str -> ndarray
            Copies, in PyTorch's order, so editing them does not change the layer.
        """
        return {name: array.copy() for name, array in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters from a dict of arrays (numpy, PyTorch CPU tensors, nested lists).

        Parameters
        ----------
        state_dict : mapping of str -> array-like
            Exactly the names and shapes of :attr:`params`. Values are converted to the layer's
            dtype; the mapping itself is not modified.

        Raises
        ------
        KeyError
            If names are missing or unexpected.
        ValueError
            If a shape is wrong or a value is not finite.
        """
        expected = set(self.params)
        given = set(state_dict)
        if given != expected:
            missing = sorted(expected - given)
            unexpected = sorted(given - expected)
            raise KeyError(
                f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}."
            )
        converted = {
            name: check_array_shape(_to_numpy(state_dict[name]), f"state_dict[{name!r}]",
                                    self.params[name].shape, self.dtype)
            for name in self.params
        }
        for name, array in converted.items():
            self.params[name][...] = array
        self._cache = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = None
        del state["params"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.params = self._views(self._flat)


class _RecurrentLayer(_Module):
    """A stack of ``num_layers`` recurrent layers of one cell type (base of :class:`RNN`, :class:`LSTM`, :class:`GRU`).

    With ``bidirectional=True`` every layer runs a second recurrence over the reversed sequence (each
    sequence reversed within its own length); the two directions' hidden states are concatenated,
    forward first, and feed the next layer, as in PyTorch.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers, bidirectional, dtype, random_state, device):
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional must be True or False, got {bidirectional!r}.")
        self.bidirectional = bool(bidirectional)
        self.dtype = check_float_dtype(dtype)
        self.random_state = random_state
        self._cell = cell
        self._kind = CELL_CODES[cell]
        self._init_parameters(self._param_layout(), device)
        self.reset_parameters(random_state)

    # ------------------------------------------------------------------ parameters
    @property
    def n_gates(self):
        """Number of gate blocks of size ``hidden_size`` (RNN 1, LSTM 4, GRU 3)."""
        return N_GATES[self._kind]

    @property
    def has_cell_state(self):
        """True for cells with a second state (the LSTM's ``c``)."""
        return HAS_CELL_STATE[self._kind]

    @property
    def num_directions(self):
        """2 for a bidirectional layer, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
        """Features per step of the output: ``num_directions * hidden_size``."""
        return self.num_directions * self.hidden_size

    def _param_layout(self):
        """List of ``(name, shape, offset)`` in PyTorch's state_dict order."""
        gate_units = self.n_gates * self.hidden_size
        named_shapes = []
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.output_size
            shapes = ((gate_units, n_in), (gate_units, self.hidden_size), (gate_units,), (gate_units,))
            for suffix in _DIRECTION_SUFFIXES[:self.num_directions]:
                named_shapes += [(f"{kind}_l{layer}{suffix}", shape) for kind, shape in zip(_PARAM_KINDS, shapes)]
        return self._layout_from_shapes(named_shapes)

    def reset_parameters(self, random_state=None):
        """Draw every weight and bias from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch initializes them.

        Parameters
        ----------
        random_state : None, int, numpy Generator or RandomState
            Seed; the same seed gives the same weights in float32 and float64 (drawn in float64).
        """
        rng = as_generator(random_state)
        bound = 1.0 / np.sqrt(self.hidden_size)
        self._flat[:] = rng.uniform(-bound, bound, size=self._flat.size)
        self._cache = None

    # ------------------------------------------------------------------ forward
    def forward(self, X, state=None, lengths=None):
        """Run the stacked layers over a batch of sequences.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, input_size)
            Batch-first input. A 2-D array (n_samples, n_timesteps) is a batch of univariate
            series and needs ``input_size == 1``.
        state : optional
            Initial state; None means zeros. RNN and GRU: ``h_0`` of shape
            (num_layers * num_directions, n_samples, hidden_size); LSTM: a pair ``(h_0, c_0)`` of
            that shape. Rows are ordered layer by layer, forward direction first (PyTorch's order).
        lengths : array-like of int, (n_samples,), optional
            Steps of each sequence of a padded batch (each in 1..n_timesteps). Every sequence then
            gives exactly what it gives alone: the steps past its length are ignored (whatever they
            hold), its outputs there are zero, its final state is taken at its own last step, and
            the reverse direction starts from that step. None: every sequence runs all steps.

        Returns
        -------
        out : (n_samples, n_timesteps, num_directions * hidden_size) ndarray
            Hidden states of the top layer at every step (both directions concatenated, forward
            first).
        state_n : ndarray or tuple of ndarrays
            Final state, in the same form as ``state``.
        """
        x, was_2d = check_sequences(X, self.input_size, self.dtype)
        n_samples, n_steps = x.shape[:2]
        h0, c0 = self._check_state(state, n_samples)
        if lengths is not None:
            lengths = check_lengths(lengths, n_samples, n_steps)
            order, inverse = sort_by_length(lengths)
            x, h0 = x[order], h0[:, order]
            c0 = None if c0 is None else c0[:, order]
        x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, D)
        backend = self._backend
        out_tm = self._forward_time_major(x_tm, h0, c0, self._backend_params(backend), backend,
                                          None if lengths is None else lengths[order])
        out = backend.to_host(out_tm).transpose(1, 0, 2)
        if lengths is not None:
            out = out[inverse]
            out[padding_mask(lengths, n_steps).T] = 0.0
            self._cache.update(order=order, inverse=inverse)
        self._cache["was_2d"] = was_2d
        return np.ascontiguousarray(out), self._final_state()

    __call__ = forward

    def _forward_time_major(self, x_tm, h0, c0, params, backend, lengths=None, workspace=None,
                            keep_for_backward=True):
        """Forward pass on time-major input ``x_tm: (T, B, D)`` with named ``params`` on ``backend``.

        ``h0``, ``c0``: (L * num_directions, B, H) on the host or the backend (c0 None without a cell
        state). ``lengths``: None, or the (B,) lengths sorted in decreasing order (host int64).
        ``workspace``: None (fresh arrays), or a :class:`~fastrnn._workspace.Workspace` whose arrays
        this pass and the next backward reuse (training loops: the result is then overwritten by the
        next call). Keeps what backward needs, unless ``keep_for_backward`` is False (inference:
        the gate activations and input projections of one step are overwritten at every step, see
        :func:`fastrnn.kernels.cpu.layer_forward`; a backward pass then raises). Returns the top
        layer's output ``(T, B, num_directions * H)`` on the backend (on padded steps it holds the
        carried state, not zeros).
        """
        scratch = _scratch(workspace, backend, self.dtype)
        x_tm = backend.asarray(x_tm, self.dtype)  # contiguous: the kernels reshape (T, B, D) to (T*B, D)
        n_steps, n_batch, _ = x_tm.shape
        if lengths is None:
            lengths = full_lengths(n_batch, n_steps)
        n_active = active_counts(lengths, n_steps)
        reverse = reversal_index(lengths, n_steps) if self.bidirectional else None
        hidden = self.hidden_size
        gate_units = self.n_gates * hidden
        cell_width = hidden if self.has_cell_state else 0
        saved_width = N_SAVED[self._kind] * hidden
        runs = []  # one (input, h, c, saved, gx) per layer and direction, in state order
        layer_input = x_tm
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                run = len(runs)
                p = self._layer_params(params, layer, direction)
                if direction == 0:
                    run_input = layer_input
                else:
                    run_input = self._gather_time(layer_input, reverse,
                                                  scratch("reversed", layer, shape=layer_input.shape), backend)
                h = scratch("h", run, shape=(n_steps + 1, n_batch, hidden))
                c = scratch("c", run, shape=(n_steps + 1, n_batch, cell_width))
                backend.assign(h[0], h0[run])
                if cell_width:
                    backend.assign(c[0], c0[run])
                gh = scratch("gh", shape=(n_batch, gate_units))
                if keep_for_backward:
                    saved = scratch("saved", run, shape=(n_steps, n_batch, saved_width))
                    gx = scratch("gx", run, shape=(n_steps, n_batch, gate_units))
                    backend.layer_forward(self._kind, run_input, *p, h, c, saved, gx, gh, n_active)
                else:  # one step of each, shared by the runs
                    saved = scratch("saved", shape=(1, n_batch, saved_width))
                    gx = scratch("gx", shape=(1, n_batch, gate_units))
                    backend.layer_infer(self._kind, run_input, *p, h, c, saved, gx, gh, n_active)
                runs.append((run_input, h, c, saved, gx))
            if self.bidirectional:
                layer_input = scratch("output", layer, shape=(n_steps, n_batch, 2 * hidden))
                backend.gather_steps(runs[-2][1][1:], identity_index(n_steps, n_batch), layer_input, 0, 0, hidden)
                backend.gather_steps(runs[-1][1][1:], reverse, layer_input, 0, hidden, hidden)
            else:
                layer_input = runs[-1][1][1:]
        self._cache = {"runs": runs, "n_samples": n_batch, "n_steps": n_steps, "backend": backend,
                       "params": params, "n_active": n_active, "reverse": reverse, "order": None,
                       "inverse": None, "scratch": scratch, "for_backward": keep_for_backward}
        return layer_input

    @staticmethod
    def _gather_time(array, index, out, backend):
        """``out[t, b] = array[index[t, b], b]`` (time reversal) into ``out: (T, B, X)``; returns it."""
        backend.gather_steps(array, index, out)
        return out

    def _final_states_on_backend(self):
        """The final hidden states of the last forward, one (B, H) array per layer and direction."""
        return [h[h.shape[0] - 1] for _, h, _, _, _ in self._cache["runs"]]

    def _final_state(self):
        """Final state (host copies, original batch order) as RNN/GRU ``h_n`` or LSTM ``(h_n, c_n)``."""
        to_host = self._cache["backend"].to_host
        runs = self._cache["runs"]
        inverse = self._cache["inverse"]
        unsort = (lambda a: a) if inverse is None else (lambda a: np.ascontiguousarray(a[:, inverse]))
        h_n = unsort(np.stack([to_host(h[-1]) for _, h, _, _, _ in runs]))
        if self.has_cell_state:
            return h_n, unsort(np.stack([to_host(c[-1]) for _, _, c, _, _ in runs]))
        return h_n

    def _check_state(self, state, n_samples):
        """Validate an initial state; return (h0, c0) arrays of shape (L*dirs, B, H) (c0 None without cell state)."""
        shape = (self.num_layers * self.num_directions, n_samples, self.hidden_size)
        if state is None:
            zeros = np.zeros(shape, dtype=self.dtype)
            return zeros, (zeros if self.has_cell_state else None)
        if self.has_cell_state:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError(f"state must be a pair (h_0, c_0) of arrays of shape {shape}, got {type(state).__name__}.")
            return (check_array_shape(_to_numpy(state[0]), "state[0] (h_0)", shape, self.dtype),
                    check_array_shape(_to_numpy(state[1]), "state[1] (c_0)", shape, self.dtype))
        return check_array_shape(_to_numpy(state), "state (h_0)", shape, self.dtype), None

    @staticmethod
    def _layer_params(params, layer, direction=0):
        suffix = _DIRECTION_SUFFIXES[direction]
        return tuple(params[f"{kind}_l{layer}{suffix}"] for kind in _PARAM_KINDS)

    # ------------------------------------------------------------------ backward
    def backward(self, d_out, d_state=None):
        """Backpropagate through time after :meth:`forward`.

        Parameters
        ----------
        d_out : array-like or None, (n_samples, n_timesteps, num_directions * hidden_size)
            dL/d(out) at every step; zero (or None for all steps) where a step has no loss. Values
            on the padded steps of a variable-length batch are ignored.
        d_state : optional
            dL/d(state_n): RNN and GRU an array (num_layers * num_directions, n_samples,
            hidden_size); LSTM a pair ``(dh_n, dc_n)`` (either may be None). None means zero.

        Returns
        -------
        dict
            The gradient of every parameter under its name in :attr:`params`, plus ``"input"``
            (shape of the X given to forward; zero on padded steps) and ``"state"`` (shape of the
            initial state: an array for RNN and GRU, a pair for LSTM).
        """
        if self._cache is None:
            raise RuntimeError("backward() was called before forward(): run forward(X) first.")
        n_samples, n_steps = self._cache["n_samples"], self._cache["n_steps"]
        state_shape = (self.num_layers * self.num_directions, n_samples, self.hidden_size)
        out_shape = (n_samples, n_steps, self.output_size)
        order, inverse = self._cache["order"], self._cache["inverse"]
        if d_out is None:
            d_out_tm = np.zeros((n_steps, n_samples, self.output_size), dtype=self.dtype)
        else:
            d_out = check_array_shape(_to_numpy(d_out), "d_out", out_shape, self.dtype)
            d_out_tm = np.ascontiguousarray((d_out if order is None else d_out[order]).transpose(1, 0, 2))
        dh_n, dc_n = self._check_d_state(d_state, state_shape)
        if order is not None:
            dh_n = dh_n[:, order]
            dc_n = None if dc_n is None else dc_n[:, order]
        backend = self._cache["backend"]
        grad_flat = backend.empty(self._flat.shape, self.dtype)
        dx_tm, dh0, dc0 = self._backward_time_major(d_out_tm, dh_n, dc_n, self._views(grad_flat))
        grads = self._views(backend.to_host(grad_flat))
        unsort = (lambda a, axis: a) if inverse is None else (lambda a, axis: np.take(a, inverse, axis=axis))
        d_input = np.ascontiguousarray(unsort(backend.to_host(dx_tm), 1).transpose(1, 0, 2))
        grads["input"] = d_input[:, :, 0] if self._cache["was_2d"] else d_input
        dh0 = np.ascontiguousarray(unsort(backend.to_host(dh0), 1))
        grads["state"] = (dh0, np.ascontiguousarray(unsort(backend.to_host(dc0), 1))) if self.has_cell_state else dh0
        return grads

    def _check_d_state(self, d_state, shape):
        """Validate dL/d(state_n); return (dh_n, dc_n) arrays of shape (L*dirs, B, H), zeros where absent."""
        def one(value, name):
            if value is None:
                return np.zeros(shape, dtype=self.dtype)
            return check_array_shape(_to_numpy(value), name, shape, self.dtype)

        if self.has_cell_state:
            if d_state is None:
                d_state = (None, None)
            if not isinstance(d_state, (tuple, list)) or len(d_state) != 2:
                raise ValueError(f"d_state must be a pair (dh_n, dc_n) of arrays of shape {shape} or None.")
            return one(d_state[0], "d_state[0] (dh_n)"), one(d_state[1], "d_state[1] (dc_n)")
        return one(d_state, "d_state"), None

    def _backward_time_major(self, d_out_tm, dh_n, dc_n, grads, input_gradient=True):
        """BPTT on time-major arrays after :meth:`_forward_time_major`, on its backend.

        ``d_out_tm``: (T, B, num_directions * H); ``grads``: named views (on the backend) that receive
        the parameter gradients; ``dh_n``, ``dc_n``: (L * num_directions, B, H) on the host or the
        backend. Returns dx (T, B, D), dh_0 and dc_0 (or None), on the backend; dx is None with
        ``input_gradient=False`` (the bottom layer of a network, fed by data: its product is skipped).
        """
        cache = self._cache
        if not cache["for_backward"]:
            raise RuntimeError("backward needs a forward pass that kept its activations; the last one was run "
                               "for inference (keep_for_backward=False).")
        backend, params, runs = cache["backend"], cache["params"], cache["runs"]
        n_active, reverse, scratch = cache["n_active"], cache["reverse"], cache["scratch"]
        hidden = self.hidden_size
        d_layer_out = backend.asarray(d_out_tm, self.dtype)
        n_steps, n_batch = d_layer_out.shape[:2]
        dh0 = backend.empty((len(runs), n_batch, hidden), self.dtype)
        dc0 = backend.empty(dh0.shape, self.dtype) if self.has_cell_state else None
        is_gru = self._kind == CELL_CODES["gru"]
        for layer in range(self.num_layers - 1, -1, -1):
            d_layer_input = None
            for direction in range(self.num_directions):
                run = layer * self.num_directions + direction
                run_input, h, c, saved, gx = runs[run]
                w_ih, w_hh, _, _ = self._layer_params(params, layer, direction)
                dw_ih, dw_hh, db_ih, db_hh = self._layer_params(grads, layer, direction)
                if self.bidirectional:  # this direction's features, in its own time order
                    d_run_out = scratch("d_out", shape=(n_steps, n_batch, hidden))
                    index = identity_index(n_steps, n_batch) if direction == 0 else reverse
                    backend.gather_steps(d_layer_out, index, d_run_out, direction * hidden, 0, hidden)
                else:
                    d_run_out = d_layer_out
                dh = backend.copy(backend.asarray(dh_n[run], self.dtype))
                if self.has_cell_state:
                    dc = backend.copy(backend.asarray(dc_n[run], self.dtype))
                else:
                    dc = backend.empty((n_batch, N_CARRY[self._kind] * hidden), self.dtype)
                dx = scratch("dx", run, shape=run_input.shape) if input_gradient or layer > 0 else None
                # the forward's projection buffer gx is no longer needed: it holds the gate gradients
                # (the GRU's two sets differ, and the second needs a buffer of its own)
                d_gates_x = scratch("d_gates_x", shape=gx.shape) if is_gru else gx
                backend.layer_backward(self._kind, run_input, w_ih, w_hh, h, c, saved, d_run_out, dh, dc,
                                       gx, d_gates_x, dx, dw_ih, dw_hh, db_ih, db_hh, n_active)
                backend.assign(dh0[run], dh)
                if self.has_cell_state:
                    backend.assign(dc0[run], dc)
                if direction == 0 or dx is None:
                    d_layer_input = dx
                else:  # the reverse direction saw its input reversed in time
                    backend.gather_steps(dx, reverse, d_layer_input, accumulate=True)
            d_layer_out = d_layer_input
        return d_layer_out, dh0, dc0

    def _repr_args(self):
        device = "" if self.device == "auto" else f", device={self.device!r}"
        bidirectional = ", bidirectional=True" if self.bidirectional else ""
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"num_layers={self.num_layers}{bidirectional}, dtype={np.dtype(self.dtype).name}{device}")

    def __repr__(self):
        return f"{type(self).__name__}({self._repr_args()})"


class RNN(_RecurrentLayer):
    """Elman recurrent layers: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Parameters
    ----------
    input_size : int
        Features per time step of the input.
    hidden_size : int
        Units of every layer.
    num_layers : int, default 1
        Stacked layers; layer k reads layer k-1's hidden sequence.
    nonlinearity : {"tanh", "relu"}, default "tanh"
        Activation ``act``.
    bidirectional : bool, default False
        Also run every layer over the reversed sequences; outputs of the two directions are
        concatenated (forward first), parameters of the reverse direction end in ``_reverse``.
    dtype : float32 or float64, default float32
        Precision of parameters and computations.
    random_state : None, int, numpy Generator or RandomState
        Seed of the initial weights (uniform in +-1/sqrt(hidden_size), as in PyTorch).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the kernels run: "auto" is a usable GPU, else the CPU; "cuda" without one raises.

    Attributes
    ----------
    params : dict of str -> ndarray
        Live parameters with PyTorch's names and shapes: ``weight_ih_l{k}`` (hidden_size, D_k),
        ``weight_hh_l{k}`` (hidden_size, hidden_size), ``bias_ih_l{k}`` and ``bias_hh_l{k}``
        (hidden_size,).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> rnn = fastrnn.RNN(input_size=3, hidden_size=8, random_state=0)
    >>> out, h_n = rnn.forward(np.ones((2, 5, 3)))
    >>> out.shape, h_n.shape
    ((2, 5, 8), (1, 2, 8))
    >>> grads = rnn.backward(np.ones_like(out))
    >>> grads["weight_hh_l0"].shape
    (8, 8)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bidirectional=False,
                 dtype=np.float32, random_state=None, device="auto"):
        self.nonlinearity = check_choice(nonlinearity, "nonlinearity", {"tanh", "relu"})
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bidirectional, dtype,
                         random_state, device)

    def _repr_args(self):
        return super()._repr_args() + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RecurrentLayer):
    """Long short-term memory layers (gate order i, f, g, o, as PyTorch).

    ``i, f, o = sigmoid(W_i* x_t + b_i* + W_h* h_{t-1} + b_h*)``, ``g = tanh(...)``,
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.

    Parameters
    ----------
    input_size : int
        Features per time step of the input.
    hidden_size : int
        Units of every layer.
    num_layers : int, default 1
        Stacked layers; layer k reads layer k-1's hidden sequence.
    bidirectional : bool, default False
        Also run every layer over the reversed sequences; outputs of the two directions are
        concatenated (forward first), parameters of the reverse direction end in ``_reverse``.
    dtype : float32 or float64, default float32
        Precision of parameters and computations.
    random_state : None, int, numpy Generator or RandomState
        Seed of the initial weights (uniform in +-1/sqrt(hidden_size), as in PyTorch).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the kernels run: "auto" is a usable GPU, else the CPU; "cuda" without one raises.

    Attributes
    ----------
    params : dict of str -> ndarray
        Live parameters with PyTorch's names and shapes: ``weight_ih_l{k}`` (4*hidden_size, D_k),
        ``weight_hh_l{k}`` (4*hidden_size, hidden_size), ``bias_ih_l{k}`` and ``bias_hh_l{k}``
        (4*hidden_size,).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(input_size=3, hidden_size=8, num_layers=2, random_state=0)
    >>> out, (h_n, c_n) = lstm.forward(np.ones((2, 5, 3)))
    >>> out.shape, h_n.shape, c_n.shape
    ((2, 5, 8), (2, 2, 8), (2, 2, 8))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dtype=np.float32,
                 random_state=None, device="auto"):
        super().__init__("lstm", input_size, hidden_size, num_layers, bidirectional, dtype, random_state, device)


class GRU(_RecurrentLayer):
    """Gated recurrent unit layers, in PyTorch's form and gate order (r, z, n).

    ``r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)``, ``z`` likewise,
    ``n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

    Parameters
    ----------
    input_size : int
        Features per time step of the input.
    hidden_size : int
        Units of every layer.
    num_layers : int, default 1
        Stacked layers; layer k reads layer k-1's hidden sequence.
    bidirectional : bool, default False
        Also run every layer over the reversed sequences; outputs of the two directions are
        concatenated (forward first), parameters of the reverse direction end in ``_reverse``.
    dtype : float32 or float64, default float32
        Precision of parameters and computations.
    random_state : None, int, numpy Generator or RandomState
        Seed of the initial weights (uniform in +-1/sqrt(hidden_size), as in PyTorch).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the kernels run: "auto" is a usable GPU, else the CPU; "cuda" without one raises.

    Attributes
    ----------
    params : dict of str -> ndarray
        Live parameters with PyTorch's names and shapes: ``weight_ih_l{k}`` (3*hidden_size, D_k),
        ``weight_hh_l{k}`` (3*hidden_size, hidden_size), ``bias_ih_l{k}`` and ``bias_hh_l{k}``
        (3*hidden_size,).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> gru = fastrnn.GRU(input_size=3, hidden_size=8, random_state=0)
    >>> out, h_n = gru.forward(np.ones((2, 5, 3)))
    >>> out.shape, h_n.shape
    ((2, 5, 8), (1, 2, 8))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dtype=np.float32,
                 random_state=None, device="auto"):
        super().__init__("gru", input_size, hidden_size, num_layers, bidirectional, dtype, random_state, device)


class Linear(_Module):
    """Affine map ``y = x W^T + b`` over the last axis: the output head of the estimators.

    Parameters
    ----------
    in_features : int
        Size of the last axis of the input.
    out_features : int
        Size of the last axis of the output.
    dtype : float32 or float64, default float32
    random_state : None, int, numpy Generator or RandomState
        Seed of the initial weights: U(-1/sqrt(in_features), 1/sqrt(in_features)) for weight and
        bias, as ``torch.nn.Linear``.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the products run.

    Attributes
    ----------
    params : dict of str -> ndarray
        ``weight`` (out_features, in_features) and ``bias`` (out_features,), PyTorch's names.
    """

    def __init__(self, in_features, out_features, dtype=np.float32, random_state=None, device="auto"):
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.dtype = check_float_dtype(dtype)
        self.random_state = random_state
        self._init_parameters(self._layout_from_shapes(
            [("weight", (self.out_features, self.in_features)), ("bias", (self.out_features,))]), device)
        self.reset_parameters(random_state)

    def reset_parameters(self, random_state=None):
        """Draw weight and bias from U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        bound = 1.0 / np.sqrt(self.in_features)
        self._flat[:] = as_generator(random_state).uniform(-bound, bound, size=self._flat.size)
        self._cache = None

    def forward(self, H):
        """Apply the map.

        Parameters
        ----------
        H : (..., in_features) array
            Trusted input (the estimators pass hidden states); no validation beyond the shape.

        Returns
        -------
        (..., out_features) ndarray
        """
        H = np.asarray(H, dtype=self.dtype)
        if H.shape[-1] != self.in_features:
            raise ValueError(f"H must have {self.in_features} features on its last axis, got shape {H.shape}.")
        backend = self._backend
        out = self._forward_on(backend.asarray(H, self.dtype), self._backend_params(backend), backend)
        return backend.to_host(out)

    __call__ = forward

    def _forward_on(self, H, params, backend):
        """``H @ W^T + b`` for ``H: (..., in_features)`` on ``backend`` with named ``params`` there."""
        rows = H.reshape(-1, self.in_features) if H.ndim != 2 else H
        out = backend.empty((rows.shape[0], self.out_features), self.dtype)
        backend.matmul(rows, params["weight"], out, trans_b=True, bias=params["bias"])
        self._cache = {"H": H, "params": params, "backend": backend}
        return out.reshape(H.shape[:-1] + (self.out_features,)) if H.ndim != 2 else out

    def backward(self, d_out):
        """Gradients after :meth:`forward`.

        Parameters
        ----------
        d_out : (..., out_features) array
            dL/d(output).

        Returns
        -------
        dict
            ``weight``, ``bias`` and ``input`` (dL/dH, shape of H).
        """
        if self._cache is None:
            raise RuntimeError("backward() was called before forward(): run forward(H) first.")
        d_out = np.asarray(d_out, dtype=self.dtype)
        expected = self._cache["H"].shape[:-1] + (self.out_features,)
        if d_out.shape != expected:
            raise ValueError(f"d_out must have shape {expected}, got {d_out.shape}.")
        backend = self._cache["backend"]
        grad_flat = backend.empty(self._flat.shape, self.dtype)
        d_input = self._backward_into(backend.asarray(d_out, self.dtype), self._views(grad_flat))
        grads = self._views(backend.to_host(grad_flat))
        grads["input"] = backend.to_host(d_input)
        return grads

    def _backward_into(self, d_out, grads):
        """Write the parameter gradients into the named views ``grads``; return dL/dH (on the backend)."""
        H, params, backend = self._cache["H"], self._cache["params"], self._cache["backend"]
        H_rows = H.reshape(-1, self.in_features) if H.ndim != 2 else H
        d_rows = d_out.reshape(-1, self.out_features) if d_out.ndim != 2 else d_out
        backend.matmul(d_rows, H_rows, grads["weight"], trans_a=True)
        backend.column_sum(d_rows, grads["bias"])
        d_input = backend.empty(H_rows.shape, self.dtype)
        backend.matmul(d_rows, params["weight"], d_input)
        return d_input.reshape(H.shape) if H.ndim != 2 else d_input

    def __repr__(self):
        device = "" if self.device == "auto" else f", device={self.device!r}"
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype={np.dtype(self.dtype).name}{device})")

def _scratch(workspace, backend, dtype):
    """``scratch(*name, shape=...)``: an uninitialized array of ``dtype`` on ``backend``, from
    ``workspace`` under that name when one is given (reused by the next batch), else a fresh one."""
    if workspace is None:
        return lambda *name, shape: backend.empty(shape, dtype)
    return lambda *name, shape: workspace.array(name, shape, dtype, backend)


def _to_numpy(value):
    """Accept numpy arrays, nested lists and CPU tensors of other libraries (via ``.detach()`` if present)."""
    detach = getattr(value, "detach", None)
    if callable(detach):
        value = detach()
        cpu = getattr(value, "cpu", None)
        if callable(cpu):
            value = cpu()
        value = value.numpy()
    return value
