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

from typing import NamedTuple

import numpy as np

from .kernels.cells import CELL_CODES, HAS_CELL_STATE, N_GATES
from .kernels.dispatch import get_backend, resolve_device
from ._persistence import SaveMixin
from ._packing import padding_mask, sort_by_length
from ._stack import (DIRECTION_SUFFIXES, PARAM_KINDS, StackTape, affine_backward, affine_forward,
                     final_cell_states, final_states, stack_backward, stack_forward)
from .inspection import check_unidirectional, gradient_flow, stack_internals
from ._validation import (
    as_generator,
    check_array_shape,
    check_choice,
    check_float_dtype,
    check_lengths,
    check_positive_int,
    check_sequences,
    check_step,
)

__all__ = ["RNN", "LSTM", "GRU", "Linear"]


class _LayerCall(NamedTuple):
    """What a recurrent module's public ``forward`` keeps for its ``backward``."""

    tape: StackTape
    order: object     # (B,) int64 sort by decreasing length, or None (no lengths given)
    inverse: object   # (B,) int64 undoing ``order``, or None
    was_2d: bool      # X was a batch of univariate series (the input gradient is 2-D too)


class _LinearCall(NamedTuple):
    """What :meth:`Linear.forward` keeps for :meth:`Linear.backward`."""

    input: object     # (..., in_features) on the backend
    params: dict
    backend: object


class _Module(SaveMixin):
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
        self._last_call = None

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
        self._last_call = None
        return self

    #: what device="auto" decides on (:func:`~fastrnn.kernels.dispatch.resolve_device`): a recurrent
    #: layer's gate units; None for a module without recurrence (a usable GPU is then taken)
    _auto_gate_units = None

    @property
    def _backend(self):
        return get_backend(self.device, self._auto_gate_units)

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
        self._last_call = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_last_call"] = None
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
    def _auto_gate_units(self):
        return self.n_gates * self.hidden_size

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
            for suffix in DIRECTION_SUFFIXES[:self.num_directions]:
                named_shapes += [(f"{kind}_l{layer}{suffix}", shape) for kind, shape in zip(PARAM_KINDS, shapes)]
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
        self._last_call = None

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
        tape = stack_forward(self, x_tm, h0, c0, self._backend_params(backend), backend,
                             None if lengths is None else lengths[order])
        out = backend.to_host(tape.output).transpose(1, 0, 2)
        if lengths is not None:
            out = out[inverse]
            out[padding_mask(lengths, n_steps).T] = 0.0
        else:
            order = inverse = None
        self._last_call = _LayerCall(tape, order, inverse, was_2d)
        return np.ascontiguousarray(out), self._final_state()

    __call__ = forward

    def _final_state(self):
        """Final state (host copies, original batch order) as RNN/GRU ``h_n`` or LSTM ``(h_n, c_n)``."""
        call = self._last_call
        to_host = call.tape.backend.to_host
        unsort = (lambda a: a) if call.inverse is None else (lambda a: np.ascontiguousarray(a[:, call.inverse]))
        h_n = unsort(np.stack([to_host(h) for h in final_states(call.tape)]))
        if self.has_cell_state:
            return h_n, unsort(np.stack([to_host(c) for c in final_cell_states(call.tape)]))
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

    # ------------------------------------------------------------------ inspection
    def inspect(self, X, lengths=None):
        """The states and gate activations of every layer at every step, for inputs ``X``.

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, input_size)
            As in :meth:`forward` (from zero initial states).
        lengths : array-like of int, (n_samples,), optional
            As in :meth:`forward`; steps past a sequence's length are NaN.

        Returns
        -------
        list of dict
            One dict per layer (``num_layers``), bottom first: name -> float64 array (n_samples,
            n_timesteps, hidden_size). ``"h"`` (the hidden state after each step), the LSTM's
            ``"c"``, the gate activations (LSTM ``"i", "f", "g", "o"``; GRU ``"r", "z", "n"``,
            as in the class docstring); for a bidirectional layer also the reverse direction's
            under the same names with ``"_reverse"``, at each time step.
        """
        previous = self._last_call  # inspecting does not replace what a next backward() differentiates
        try:
            self.forward(X, lengths=lengths)
            call = self._last_call
        finally:
            self._last_call = previous
        sorted_lengths = None if call.order is None else \
            check_lengths(lengths, call.tape.n_batch, call.tape.n_steps)[call.order]
        return stack_internals(self, call.tape, call.order, sorted_lengths)

    def gradient_flow(self, X, step=-1, per_sample=False):
        """How much of the gradient of the outputs at ``step`` reaches each earlier step.

        The loss is the sum of the top layer's outputs at ``step`` for each sample; the result holds
        ``||dL/dh_t||`` for every step ``t <= step`` and every layer, computed by BPTT (see
        :mod:`fastrnn.inspection`).

        Parameters
        ----------
        X : array-like, (n_samples, n_timesteps, input_size)
            Inputs, from zero initial states.
        step : int, default -1
            The step of the loss (negative counts from the end).
        per_sample : bool, default False
            Keep one row per sample instead of the mean over samples.

        Returns
        -------
        GradientFlow
            ``norms`` (num_layers, step + 1), or (num_layers, n_samples, step + 1); ``distance``
            ``step - t``; ``step``.

        Raises
        ------
        ValueError
            For a bidirectional layer (the reverse direction reads the steps after ``step``).
        """
        check_unidirectional(self.bidirectional)
        x, _ = check_sequences(X, self.input_size, self.dtype)
        step = check_step(step, x.shape[1])
        backend = self._backend
        return gradient_flow(self._single_layers(backend), x.transpose(1, 0, 2), step, np.ones_like, backend,
                             per_sample)

    def _single_layers(self, backend):
        """Each layer of the stack as a one-layer module of the same cell, with its parameter views on
        ``backend``, bottom first."""
        options = dict(nonlinearity=self.nonlinearity) if self.n_gates == 1 else {}
        single = []
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.output_size
            module = type(self)(n_in, self.hidden_size, dtype=self.dtype, device="cpu", **options)
            module.load_state_dict({f"{kind}_l0": self.params[f"{kind}_l{layer}"] for kind in PARAM_KINDS})
            single.append((module, module._backend_params(backend)))
        return single

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
        call = self._last_call
        if call is None:
            raise RuntimeError("backward() was called before forward(): run forward(X) first.")
        n_samples, n_steps = call.tape.n_batch, call.tape.n_steps
        state_shape = (self.num_layers * self.num_directions, n_samples, self.hidden_size)
        out_shape = (n_samples, n_steps, self.output_size)
        order, inverse = call.order, call.inverse
        if d_out is None:
            d_out_tm = np.zeros((n_steps, n_samples, self.output_size), dtype=self.dtype)
        else:
            d_out = check_array_shape(_to_numpy(d_out), "d_out", out_shape, self.dtype)
            d_out_tm = np.ascontiguousarray((d_out if order is None else d_out[order]).transpose(1, 0, 2))
        dh_n, dc_n = self._check_d_state(d_state, state_shape)
        if order is not None:
            dh_n = dh_n[:, order]
            dc_n = None if dc_n is None else dc_n[:, order]
        backend = call.tape.backend
        grad_flat = backend.empty(self._flat.shape, self.dtype)
        dx_tm, dh0, dc0 = stack_backward(self, call.tape, d_out_tm, dh_n, dc_n, self._views(grad_flat))
        grads = self._views(backend.to_host(grad_flat))
        unsort = (lambda a, axis: a) if inverse is None else (lambda a, axis: np.take(a, inverse, axis=axis))
        d_input = np.ascontiguousarray(unsort(backend.to_host(dx_tm), 1).transpose(1, 0, 2))
        grads["input"] = d_input[:, :, 0] if call.was_2d else d_input
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
        Where the kernels run: "auto" is a usable GPU for a layer of at least 768 gate units
        (gates x hidden_size; smaller layers run faster on the CPU), else the CPU; "cuda" without a
        usable GPU raises.

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
        Where the kernels run: "auto" is a usable GPU for a layer of at least 768 gate units
        (gates x hidden_size; smaller layers run faster on the CPU), else the CPU; "cuda" without a
        usable GPU raises.

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
        Where the kernels run: "auto" is a usable GPU for a layer of at least 768 gate units
        (gates x hidden_size; smaller layers run faster on the CPU), else the CPU; "cuda" without a
        usable GPU raises.

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
        self._last_call = None

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
        H = backend.asarray(H, self.dtype)
        params = self._backend_params(backend)
        out = affine_forward(H, params, backend)
        self._last_call = _LinearCall(H, params, backend)
        return backend.to_host(out)

    __call__ = forward

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
        call = self._last_call
        if call is None:
            raise RuntimeError("backward() was called before forward(): run forward(H) first.")
        d_out = np.asarray(d_out, dtype=self.dtype)
        expected = call.input.shape[:-1] + (self.out_features,)
        if d_out.shape != expected:
            raise ValueError(f"d_out must have shape {expected}, got {d_out.shape}.")
        backend = call.backend
        grad_flat = backend.empty(self._flat.shape, self.dtype)
        d_input = affine_backward(call.input, call.params, backend.asarray(d_out, self.dtype), self._views(grad_flat),
                                  backend)
        grads = self._views(backend.to_host(grad_flat))
        grads["input"] = backend.to_host(d_input)
        return grads

    def __repr__(self):
        device = "" if self.device == "auto" else f", device={self.device!r}"
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype={np.dtype(self.dtype).name}{device})")

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
