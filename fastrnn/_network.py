"""The network behind the estimators: stacked recurrent layers and a linear head on one flat buffer.

Each entry of ``hidden_sizes`` is one single-layer :class:`~fastrnn.layers.RNN` or
:class:`~fastrnn.layers.LSTM` (sizes may differ), the top one feeds a :class:`~fastrnn.layers.Linear`
head, applied to the last step (``output="last"``) or to every step (``output="sequence"``). All
parameters are views into one flat buffer ``params`` and all gradients into ``grad``, so clipping,
weight decay, the optimizer and snapshots of the best weights are single vector operations.
Arrays are time-major here: ``x: (T, B, D)``.
"""

import numpy as np

from .layers import LSTM, RNN, Linear


class SequenceNetwork:
    """Recurrent layers + linear head with one flat parameter buffer.

    Parameters
    ----------
    cell : {"rnn", "lstm"}
    nonlinearity : {"tanh", "relu"}
        Activation of the Elman cell (ignored for LSTM).
    n_features : int
        Inputs per time step.
    hidden_sizes : tuple of int
        Units of each stacked layer.
    n_outputs : int
        Outputs of the head per prediction.
    output : {"last", "sequence"}
    dtype : float32 or float64
    rng : numpy Generator
        Draws the initial weights.
    """

    def __init__(self, cell, nonlinearity, n_features, hidden_sizes, n_outputs, output, dtype, rng):
        self.output = output
        self.dtype = dtype
        self.layers = []
        n_in = n_features
        for size in hidden_sizes:
            if cell == "lstm":
                layer = LSTM(n_in, size, dtype=dtype, random_state=rng)
            else:
                layer = RNN(n_in, size, nonlinearity=nonlinearity, dtype=dtype, random_state=rng)
            self.layers.append(layer)
            n_in = size
        self.head = Linear(n_in, n_outputs, dtype=dtype, random_state=rng)
        self._bind_modules(np.concatenate([m._flat for m in self.modules]), copy=True)

    @property
    def modules(self):
        return self.layers + [self.head]

    def _bind_modules(self, params, copy):
        """Make every module's parameters views into ``params`` and allocate the matching gradient.

        ``copy``: write each module's current values into ``params`` first (False when ``params``
        already holds them, as after unpickling, where it may be a read-only memory map).
        """
        self.params = params
        self.grad = np.zeros_like(params)
        self._slices = []
        offset = 0
        for module in self.modules:
            piece = slice(offset, offset + module.n_parameters)
            module._bind(params[piece], copy=copy)
            self._slices.append(piece)
            offset = piece.stop
        # weight matrices get L2 weight decay, biases do not (as in scikit-learn's MLP)
        self.weight_mask = np.zeros(params.size, dtype=bool)
        for module, piece in zip(self.modules, self._slices):
            mask = module._views(self.weight_mask[piece])
            for name in mask:
                if name.startswith("weight"):
                    mask[name][...] = True

    def initial_state_template(self, n_samples):
        """Zero initial states: one (1, B, H_k) array (LSTM: a pair) per layer."""
        states = []
        for layer in self.layers:
            zeros = np.zeros((1, n_samples, layer.hidden_size), dtype=self.dtype)
            states.append((zeros, zeros) if layer.has_cell_state else (zeros, None))
        return states

    def forward(self, x, states=None):
        """Raw outputs (logits or values) for time-major ``x: (T, B, D)``.

        ``states``: None (zeros) or, per layer, ``(h0, c0)`` with h0, c0 of shape (1, B, H_k)
        (c0 None for RNN). Returns ``(B, n_outputs)`` for output="last", ``(T, B, n_outputs)`` for
        output="sequence". Keeps what :meth:`backward` needs.
        """
        if states is None:
            states = self.initial_state_template(x.shape[1])
        sequence = x
        for layer, (h0, c0) in zip(self.layers, states):
            sequence = layer._forward_time_major(sequence, h0, c0)[1:]
        top = sequence[-1] if self.output == "last" else sequence
        return self.head.forward(top)

    def backward(self, d_outputs):
        """Write dL/d(params) into ``self.grad`` given dL/d(outputs) of the last forward."""
        d_top = self.head._backward_into(d_outputs, self.grad[self._slices[-1]])
        top = self.layers[-1]
        n_steps, n_batch = top._cache["n_steps"], top._cache["n_samples"]
        if self.output == "last":
            d_sequence = np.zeros((n_steps, n_batch, top.hidden_size), dtype=self.dtype)
            d_sequence[-1] = d_top
        else:
            d_sequence = np.ascontiguousarray(d_top)
        for layer, piece in zip(reversed(self.layers), reversed(self._slices[:-1])):
            zeros = np.zeros((1, n_batch, layer.hidden_size), dtype=self.dtype)
            d_sequence, _, _ = layer._backward_time_major(
                d_sequence, zeros, zeros if layer.has_cell_state else None, self.grad[piece])

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in ("grad", "weight_mask", "_slices"):
            del state[name]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # bind to the unpickled buffer itself: an optimizer pickled along with the network holds it
        self._bind_modules(self.params, copy=False)
