"""The network behind the estimators: stacked recurrent layers and a linear head on one flat buffer.

Each entry of ``hidden_sizes`` is one single-layer :class:`~fastrnn.layers.RNN`,
:class:`~fastrnn.layers.LSTM` or :class:`~fastrnn.layers.GRU` (sizes may differ), the top one feeds a
:class:`~fastrnn.layers.Linear` head, applied to the final states (``output="last"``) or to every step
(``output="sequence"``). Also here: the encoder-decoder network of Seq2Seq and the network whose
initial states come from a feature vector (CharRNN conditioned on a vector).

All parameters are views into one flat buffer, so clipping, weight decay, the optimizer and snapshots
of the best weights are single vector operations. ``params`` is the host buffer, the master copy
(pickled, read by users); ``active_params`` is the buffer the kernels use: the same array on the CPU,
a device copy after ``to("cuda")``, which training updates in place and :meth:`sync_to_host` copies
back. Arrays are time-major here: ``x: (T, B, D)``.
"""

from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from ._packing import active_counts
from ._stack import (PARAM_KINDS, affine_backward, affine_forward, final_cell_states, final_states, stack_backward,
                     stack_forward)
from ._workspace import Workspace
from .kernels import config as kernel_config
from .kernels.cpu.stream import network_state, packed_network, sequence_outputs, sequence_work_size, state_views
from .kernels.dispatch import get_backend, resolve_device
from .layers import GRU, LSTM, RNN, Linear


class NetworkTape(NamedTuple):
    """What a network's forward pass keeps for its backward pass and its final states."""

    layers: tuple          # StackTape of each recurrent layer, bottom first
    head_input: object     # what the head read: (B, n*H) final states or (T, B, H) every step
    conditions: object = None  # (B, C) feature vectors of a conditioned network, on the backend


class EncoderDecoderTape(NamedTuple):
    """The encoder's layer tapes and the decoder's network tape (teacher forcing)."""

    encoder: tuple
    decoder: NetworkTape


def carried_states(layer_tapes, backend):
    """Each (unidirectional, single-layer) layer's final ``(h, c)`` after the forward pass of its
    tape, as copies of shape (1, B, H) on ``backend`` (c None without a cell state): the ``states``
    that continue the sequences in a next forward pass."""
    states = []
    for tape in layer_tapes:
        h, c = final_states(tape)[0], final_cell_states(tape)[0]
        states.append((backend.copy(h).reshape(1, *h.shape),
                       backend.copy(c).reshape(1, *c.shape) if c.shape[1] else None))
    return states


class FlatParameterModules:
    """Modules whose parameters are views into one flat buffer: device placement, gradients, the
    weight-decay mask and pickling, shared by the networks of the estimators.

    Subclasses build their modules, list them in ``modules`` and call :meth:`_bind_modules`; they
    name in ``_pickled`` the attributes that pickling keeps besides the buffer, and in
    ``_module_attributes`` the attributes holding the modules (a module or a list of them), in the
    order of ``modules``.
    """

    _pickled = ()
    _module_attributes = ()
    _workspaces = None  # per module, while reusing_buffers() is active (never pickled)
    _reusing = False

    @contextmanager
    def reusing_buffers(self):
        """Within this block, the layers' forward and backward passes reuse the scratch arrays of the
        previous training step (see :mod:`fastrnn._workspace`); they are kept after the block, for
        the next step, until :meth:`release_buffers`. Training loops only: outputs computed inside
        are overwritten by the next step."""
        if self._workspaces is None:
            self._workspaces = [Workspace() for _ in self.modules]
        self._reusing = True
        try:
            yield self
        finally:
            self._reusing = False

    def release_buffers(self):
        """Free the scratch arrays kept for training."""
        self._workspaces = None

    def _workspace(self, k):
        """The workspace of module ``k`` inside :meth:`reusing_buffers`, else None (fresh arrays)."""
        return self._workspaces[k] if self._reusing else None

    def _bind_modules(self):
        self.params = np.concatenate([m._flat for m in self.modules])
        self._slices = []
        offset = 0
        for module in self.modules:
            piece = slice(offset, offset + module.n_parameters)
            module._bind(self.params[piece])
            self._slices.append(piece)
            offset = piece.stop
        self.device = None
        self.to("cpu")

    @property
    def largest_gate_units(self):
        """The largest number of gate units (gates x hidden size) of the recurrent modules: what
        ``device="auto"`` decides on."""
        return max((module._auto_gate_units or 0 for module in self.modules), default=0)

    def to(self, device):
        """Compute on ``device`` ("auto", "cpu" or "cuda"); uploads the parameters to a GPU.

        ``"auto"`` is resolved with the largest number of gate units
        (:func:`~fastrnn.kernels.dispatch.resolve_device`).
        Gradients, the weight-decay mask and the per-module parameter views are made on that device.
        Calling it again re-uploads, so edits of the host parameters are picked up.
        """
        device = resolve_device(device, self.largest_gate_units if device == "auto" else None)
        if device == "cpu" and self.device == "cpu":
            return self  # the host buffer is already the active one
        backend = get_backend(device)
        self.backend = backend
        self.device = device
        self.active_params = self.params if backend.name == "cpu" else backend.asarray(self.params, self.dtype)
        self.grad = backend.zeros(self.params.shape, self.dtype)
        self._param_views = [module._views(self.active_params[piece]) for module, piece in zip(self.modules, self._slices)]
        self._grad_views = [module._views(self.grad[piece]) for module, piece in zip(self.modules, self._slices)]
        # weight matrices get L2 weight decay, biases do not (as in scikit-learn's MLP)
        mask = np.zeros(self.params.size, dtype=np.bool_)
        for module, piece in zip(self.modules, self._slices):
            for name, view in module._views(mask[piece]).items():
                view[...] = name.startswith("weight")
        self.weight_mask = mask if backend.name == "cpu" else backend.asarray(mask, np.bool_)
        self._weight_blocks = [view.reshape(view.size) for views in self._param_views
                               for name, view in views.items() if name.startswith("weight")]
        return self

    def named_modules(self):
        """``(name, module)`` of every module in the order of the flat buffer, named by the attribute
        that holds it (``"layers.0"``, ``"head"``, ``"bridges.1"``, ``"encoder.0"`` ...): the module
        paths of the matching ``torch.nn.Module`` (``ModuleList`` entries by index)."""
        named = []
        for attribute in self._module_attributes:
            value = getattr(self, attribute)
            if isinstance(value, list):
                named += [(f"{attribute}.{k}", module) for k, module in enumerate(value)]
            else:
                named.append((attribute, value))
        return named

    def named_parameters(self):
        """Every parameter under its dotted name (``"layers.0.weight_ih_l0"``, ``"head.bias"`` ...),
        as live views into the host buffer, in the buffer's order: the ``state_dict`` keys of the
        matching ``torch.nn.Module``. Call :meth:`sync_to_host` first after training on a GPU."""
        return {f"{prefix}.{name}": view for prefix, module in self.named_modules()
                for name, view in module.params.items()}

    def sync_to_host(self):
        """Copy the device parameters into the host master buffer (no-op on the CPU)."""
        if self.backend.name != "cpu":
            self.params[...] = self.backend.to_host(self.active_params)

    def weight_sum_squares(self):
        """Sum of squares of the weight matrices (for the L2 term of the loss)."""
        return sum(self.backend.sum_squares(block) for block in self._weight_blocks)

    def __getstate__(self):
        self.sync_to_host()
        state = {k: v for k, v in self.__dict__.items() if k in self._pickled or k in ("params", "_slices")}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # rebind the modules to the unpickled buffer itself, without writing to it (it may be a
        # read-only memory map); compute on the CPU until an estimator moves the network
        for module, piece in zip(self.modules, self._slices):
            module._bind(self.params[piece], copy=False)
        self.device = None
        self.to("cpu")


#: the empty initial state of the packed inference pass (zeros), per item size
_NO_STATES = {4: np.zeros(0, dtype=np.float32), 8: np.zeros(0, dtype=np.float64)}


class SequenceNetwork(FlatParameterModules):
    """Recurrent layers + linear head with one flat parameter buffer.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
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
    bidirectional : bool
        Bidirectional layers: each feeds both directions' states to the next, and with
        output="last" the head reads the top layer's two final states (the forward direction's at
        the last step, the reverse direction's at the first).
    """

    _pickled = ("output", "dtype", "layers", "head")
    _module_attributes = ("layers", "head")

    def __init__(self, cell, nonlinearity, n_features, hidden_sizes, n_outputs, output, dtype, rng,
                 bidirectional=False):
        self.output = output
        self.dtype = dtype
        self.layers = []
        n_in = n_features
        for size in hidden_sizes:
            options = dict(bidirectional=bidirectional, dtype=dtype, random_state=rng, device="cpu")
            if cell == "lstm":
                layer = LSTM(n_in, size, **options)
            elif cell == "gru":
                layer = GRU(n_in, size, **options)
            else:
                layer = RNN(n_in, size, nonlinearity=nonlinearity, **options)
            self.layers.append(layer)
            n_in = layer.output_size
        self.head = Linear(n_in, n_outputs, dtype=dtype, random_state=rng, device="cpu")
        self._bind_modules()

    @property
    def modules(self):
        return self.layers + [self.head]

    def packs_inference(self, n_batch):
        """Whether inference on ``n_batch`` sequences runs through :meth:`packed_forward`: on the CPU,
        unidirectional layers, at most ``PACKED_INFERENCE_MAX_ROWS`` sequences
        (:mod:`fastrnn.kernels.config`)."""
        return (self.backend.name == "cpu" and not self.layers[0].bidirectional
                and n_batch <= kernel_config.PACKED_INFERENCE_MAX_ROWS)

    def _packed_views(self):
        """``(layers, head weight, head bias)`` views of the parameters, as ``pack_network`` takes them."""
        *layer_views, head = self._param_views
        return ([tuple(views[f"{name}_l0"] for name in PARAM_KINDS) for views in layer_views], head["weight"],
                head["bias"])

    def packed_forward(self, x, states=None, lengths=None):
        """Raw outputs for host ``x: (T, B, D)`` through the packed network
        (:func:`fastrnn.kernels.cpu.stream.sequence_outputs`: every layer and the head in one compiled
        call, a sequence at a time), as :meth:`forward` with ``train=False`` returns them (on padded
        steps of output="sequence", not written). ``states`` and ``lengths`` as for :meth:`forward`.
        The packed parameters are reused while the parameters are unchanged
        (:func:`fastrnn.kernels.cpu.stream.packed_network`); values agree with :meth:`forward`'s to
        rounding (the products are summed in another order)."""
        kind = self.layers[0]._kind
        weights, layout = packed_network(kind, self.active_params, self._packed_views)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        n_steps, n_batch, _ = x.shape
        initial = _NO_STATES[x.dtype.itemsize]
        if states is not None:
            initial = network_state(layout, n_batch, self.dtype)
            for (h, c), (h0, c0) in zip(state_views(kind, layout, initial, n_batch), states):
                h[...] = h0[0]
                if c is not None:
                    c[...] = c0[0]
        if lengths is None:
            n_active = np.empty(n_steps, dtype=np.int64)
            n_active.fill(n_batch)
        else:
            n_active = active_counts(lengths, n_steps)
        every_step = self.output == "sequence"
        out = np.empty((n_steps if every_step else 1, n_batch, self.head.out_features), dtype=self.dtype)
        work = np.empty(sequence_work_size(kind, layout, n_steps, n_batch, x.dtype.itemsize), dtype=self.dtype)
        sequence_outputs(kind, x, n_active, weights, layout, initial, work, out, every_step)
        return out if every_step else out[0]

    def config(self):
        """The constructor's arguments but ``rng``, as plain values (read from the modules, so
        networks pickled by older versions have it too): ``SequenceNetwork(**config, rng=rng)``
        rebuilds this architecture."""
        first = self.layers[0]
        return {"cell": "rnn" if first.n_gates == 1 else first._cell,
                "nonlinearity": getattr(first, "nonlinearity", "tanh"),
                "n_features": first.input_size, "hidden_sizes": [layer.hidden_size for layer in self.layers],
                "n_outputs": self.head.out_features, "output": self.output, "dtype": np.dtype(self.dtype).name,
                "bidirectional": first.bidirectional}

    def forward(self, x, states=None, lengths=None, train=True):
        """Raw outputs (logits or values) on the backend for time-major ``x: (T, B, D)``, and the tape.

        ``states``: None (zeros) or, per layer, ``(h0, c0)`` with h0, c0 of shape (1, B, H_k) on the
        host or the backend (c0 None for RNN and GRU; unidirectional layers only). ``lengths``: None,
        or the (B,) lengths of a padded batch sorted in decreasing order. Returns ``(outputs, tape)``:
        outputs ``(B, n_outputs)`` for output="last" (from each sequence's final state), ``(T, B,
        n_outputs)`` for output="sequence" (garbage on padded steps); the :class:`NetworkTape` holds
        what :meth:`backward` needs, unless ``train`` is False (prediction: less memory and time, and
        no backward).
        """
        backend = self.backend
        n_batch = x.shape[1]
        sequence = x
        tapes = []
        for k, layer in enumerate(self.layers):
            if states is None:
                h0 = np.zeros((layer.num_directions, n_batch, layer.hidden_size), dtype=self.dtype)
                c0 = h0 if layer.has_cell_state else None
            else:
                h0, c0 = states[k]
            tape = stack_forward(layer, sequence, h0, c0, self._param_views[k], backend, lengths,
                                 self._workspace(k), train)
            tapes.append(tape)
            sequence = tape.output
        top = self._concatenate_features(final_states(tapes[-1])) if self.output == "last" else sequence
        outputs = affine_forward(top, self._param_views[len(self.layers)], backend)
        return outputs, NetworkTape(tuple(tapes), top)

    def final_states(self, tape):
        """Each layer's final ``(h, c)`` after the forward pass of ``tape``, as copies of shape
        (1, B, H_k) on the backend (c None without a cell state): the ``states`` that continue the
        sequences in the next forward (stateful training and prediction over chunks of time).
        Unidirectional only."""
        return carried_states(tape.layers, self.backend)

    def _concatenate_features(self, arrays):
        """(B, H) arrays on the backend side by side as one (B, n*H) array (the first one itself if alone)."""
        if len(arrays) == 1:
            return arrays[0]
        n_batch, hidden = arrays[0].shape
        out = self.backend.empty((1, n_batch, hidden * len(arrays)), self.dtype)
        index = np.zeros((1, n_batch), dtype=np.int64)
        for k, array in enumerate(arrays):
            self.backend.gather_steps(array.reshape(1, n_batch, hidden), index, out, 0, k * hidden, hidden)
        return out.reshape(n_batch, hidden * len(arrays))

    def backward(self, tape, d_outputs):
        """Write dL/d(params) into ``self.grad`` given the forward pass's ``tape`` and dL/d(outputs)
        (a backend array).

        Returns each layer's ``(dh0, dc0)``, the gradients of its initial state, (num_directions, B, H)
        on the backend (dc0 None without a cell state).
        """
        backend = self.backend
        n_layers = len(self.layers)
        d_top = affine_backward(tape.head_input, self._param_views[n_layers], d_outputs, self._grad_views[n_layers],
                                backend)
        top, top_tape = self.layers[-1], tape.layers[-1]
        n_steps, n_batch = top_tape.n_steps, top_tape.n_batch
        d_final = None
        if self.output == "last":  # the head read the final states: the gradient enters there
            d_sequence = backend.zeros((n_steps, n_batch, top.output_size), self.dtype)
            d_final = backend.empty((top.num_directions, n_batch, top.hidden_size), self.dtype)
            index = np.zeros((1, n_batch), dtype=np.int64)
            for direction in range(top.num_directions):
                backend.gather_steps(d_top.reshape(1, n_batch, top.output_size), index,
                                     d_final[direction].reshape(1, n_batch, top.hidden_size),
                                     direction * top.hidden_size, 0, top.hidden_size)
        else:
            d_sequence = d_top
        d_initial = [None] * n_layers
        for k in range(n_layers - 1, -1, -1):
            layer = self.layers[k]
            zeros = np.zeros((layer.num_directions, n_batch, layer.hidden_size), dtype=self.dtype)
            dh_n = d_final if k == n_layers - 1 and d_final is not None else zeros
            d_sequence, dh0, dc0 = stack_backward(layer, tape.layers[k], d_sequence, dh_n,
                                                  zeros if layer.has_cell_state else None, self._grad_views[k],
                                                  input_gradient=k > 0)
            d_initial[k] = (dh0, dc0)
        return d_initial


class EncoderDecoderNetwork(FlatParameterModules):
    """Encoder and decoder stacks of recurrent layers and a linear head, on one flat buffer.

    The encoder reads the input sequences (variable lengths, the batch sorted by decreasing input
    length); each encoder layer's final state starts the decoder layer of the same depth; the
    decoder reads its own input sequence (teacher forcing in training, its own previous outputs when
    generating) and the head maps every decoder step to outputs. The decoder runs every step of the
    batch's longest output: a step depends only on earlier ones, so steps past a sequence's end do not
    change its outputs, and a loss that gives them zero weight gives them no gradient.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    n_encoder_inputs, n_decoder_inputs : int
        Features per step of the two input sequences.
    hidden_sizes : tuple of int
        Units of each layer, the same in the encoder and the decoder.
    n_outputs : int
        Outputs of the head per decoder step.
    dtype : float32 or float64
    rng : numpy Generator
    """

    _pickled = ("dtype", "encoder", "decoder", "head")
    _module_attributes = ("encoder", "decoder", "head")

    def __init__(self, cell, n_encoder_inputs, n_decoder_inputs, hidden_sizes, n_outputs, dtype, rng):
        self.dtype = dtype
        make = {"lstm": LSTM, "gru": GRU}.get(cell, RNN)
        self.encoder, self.decoder = [], []
        for stack, n_in in ((self.encoder, n_encoder_inputs), (self.decoder, n_decoder_inputs)):
            for size in hidden_sizes:
                stack.append(make(n_in, size, dtype=dtype, random_state=rng, device="cpu"))
                n_in = size
        self.head = Linear(hidden_sizes[-1], n_outputs, dtype=dtype, random_state=rng, device="cpu")
        self._bind_modules()

    @property
    def modules(self):
        return self.encoder + self.decoder + [self.head]

    def config(self):
        """The constructor's arguments but ``rng``, as plain values (see :meth:`SequenceNetwork.config`)."""
        first = self.encoder[0]
        return {"cell": "rnn" if first.n_gates == 1 else first._cell, "n_encoder_inputs": first.input_size,
                "n_decoder_inputs": self.decoder[0].input_size,
                "hidden_sizes": [layer.hidden_size for layer in self.encoder],
                "n_outputs": self.head.out_features, "dtype": np.dtype(self.dtype).name}

    def encode(self, x, lengths, train=True):
        """Run the encoder over time-major ``x: (T, B, D)`` with the (B,) ``lengths`` sorted in
        decreasing order; returns ``(states, tapes)``: each layer's final ``(h, c)`` (1, B, H) on the
        backend, and the encoder layers' tapes. ``train``: keep what :meth:`backward` needs (False
        when predicting)."""
        backend = self.backend
        sequence = x
        n_batch = x.shape[1]
        tapes = []
        for k, layer in enumerate(self.encoder):
            zeros = np.zeros((1, n_batch, layer.hidden_size), dtype=self.dtype)
            tape = stack_forward(layer, sequence, zeros, zeros if layer.has_cell_state else None,
                                 self._param_views[k], backend, lengths, self._workspace(k), train)
            tapes.append(tape)
            sequence = tape.output
        return carried_states(tapes, backend), tuple(tapes)

    def decode(self, y_in, states, train=True):
        """Decoder outputs ``(T, B, n_outputs)`` on the backend for time-major decoder inputs, from
        ``states`` (one ``(h, c)`` per layer), and the decoder's :class:`NetworkTape` (its final
        states follow in :meth:`decoder_states`). ``train`` as in :meth:`encode`."""
        backend = self.backend
        sequence = y_in
        offset = len(self.encoder)
        tapes = []
        for k, layer in enumerate(self.decoder):
            h0, c0 = states[k]
            tape = stack_forward(layer, sequence, h0, c0, self._param_views[offset + k], backend,
                                 workspace=self._workspace(offset + k), train=train)
            tapes.append(tape)
            sequence = tape.output
        return affine_forward(sequence, self._param_views[-1], backend), NetworkTape(tuple(tapes), sequence)

    def forward(self, x, lengths, y_in, train=True):
        """Teacher forcing: encode ``x`` (as :meth:`encode`), decode ``y_in`` from its final states;
        returns the decoder's outputs and an :class:`EncoderDecoderTape`."""
        states, encoder_tapes = self.encode(x, lengths, train)
        outputs, decoder_tape = self.decode(y_in, states, train)
        return outputs, EncoderDecoderTape(encoder_tapes, decoder_tape)

    def decoder_states(self, tape):
        """The decoder's final states after the :meth:`decode` that made ``tape`` (to continue
        generating step by step)."""
        return carried_states(tape.layers, self.backend)

    def backward(self, tape, d_outputs):
        """Write dL/d(params) into ``self.grad`` after :meth:`forward` (teacher forcing), given
        dL/d(outputs) of the decoder (zero on steps past each output's end)."""
        backend = self.backend
        decoder_tape = tape.decoder
        d_sequence = affine_backward(decoder_tape.head_input, self._param_views[-1], d_outputs, self._grad_views[-1],
                                     backend)
        offset = len(self.encoder)
        d_states = [None] * len(self.decoder)
        for k in range(len(self.decoder) - 1, -1, -1):
            layer = self.decoder[k]
            n_batch = decoder_tape.layers[k].n_batch
            zeros = np.zeros((1, n_batch, layer.hidden_size), dtype=self.dtype)
            d_sequence, dh0, dc0 = stack_backward(layer, decoder_tape.layers[k], d_sequence, zeros,
                                                  zeros if layer.has_cell_state else None,
                                                  self._grad_views[offset + k], input_gradient=k > 0)
            d_states[k] = (dh0, dc0)
        top = tape.encoder[-1]
        d_sequence = backend.zeros((top.n_steps, top.n_batch, self.encoder[-1].hidden_size), self.dtype)
        for k in range(len(self.encoder) - 1, -1, -1):  # the final states received the decoder's dh0, dc0
            dh_n, dc_n = d_states[k]
            d_sequence, _, _ = stack_backward(self.encoder[k], tape.encoder[k], d_sequence, dh_n, dc_n,
                                              self._grad_views[k], input_gradient=k > 0)


class ConditionedSequenceNetwork(SequenceNetwork):
    """A :class:`SequenceNetwork` whose initial states are computed from a feature vector per sequence.

    Layer k starts from ``h_0 = W_k f + b_k`` (a learned :class:`~fastrnn.layers.Linear` "bridge" per
    layer; the LSTM's ``c_0`` is zero), so a sequence can be generated from a vector: the captioning
    shape of the recurrent models (features of an image, a class, any vector, then tokens step by
    step). Unidirectional layers. ``n_conditions``: length of the feature vector; the other
    parameters as :class:`SequenceNetwork`.
    """

    _pickled = SequenceNetwork._pickled + ("bridges",)
    _module_attributes = ("layers", "head", "bridges")

    def packs_inference(self, n_batch):
        """Never: the packed network has no bridges (its states start from zeros or given states)."""
        return False

    def __init__(self, cell, nonlinearity, n_features, hidden_sizes, n_outputs, output, dtype, rng, n_conditions):
        self.bridges = [Linear(n_conditions, size, dtype=dtype, random_state=rng, device="cpu")
                        for size in hidden_sizes]
        super().__init__(cell, nonlinearity, n_features, hidden_sizes, n_outputs, output, dtype, rng)

    @property
    def modules(self):
        return self.layers + [self.head] + self.bridges

    def config(self):
        """The constructor's arguments but ``rng`` (see :meth:`SequenceNetwork.config`)."""
        config = super().config()
        del config["bidirectional"]
        return dict(config, n_conditions=self.bridges[0].in_features)

    def initial_states(self, conditions):
        """Each layer's ``(h0, c0)`` (1, B, H) on the backend from the (B, n_conditions) ``conditions``
        (a backend array)."""
        backend = self.backend
        offset = len(self.layers) + 1
        states = []
        for k, layer in enumerate(self.layers):
            h0 = affine_forward(conditions, self._param_views[offset + k], backend)
            h0 = h0.reshape(1, h0.shape[0], h0.shape[1])
            c0 = backend.zeros(h0.shape, self.dtype) if layer.has_cell_state else None
            states.append((h0, c0))
        return states

    def forward(self, x, conditions, lengths=None, train=True):
        """Outputs for time-major ``x: (T, B, D)`` starting from the states of ``conditions`` (B, C),
        and the tape (which keeps the conditions for the bridges' gradients)."""
        conditions = self.backend.asarray(conditions, self.dtype)
        outputs, tape = super().forward(x, self.initial_states(conditions), lengths, train)
        return outputs, tape._replace(conditions=conditions)

    def backward(self, tape, d_outputs):
        """Gradients of every parameter, the bridges' included (through the initial states)."""
        d_initial = super().backward(tape, d_outputs)
        offset = len(self.layers) + 1
        for k, (dh0, _) in enumerate(d_initial):
            affine_backward(tape.conditions, self._param_views[offset + k], dh0.reshape(dh0.shape[1], dh0.shape[2]),
                            self._grad_views[offset + k], self.backend)
        return d_initial

    def continue_from(self, x, states, lengths=None):
        """Outputs from explicit ``states`` (one ``(h, c)`` per layer), for generating step by step
        (nothing kept for a backward pass), and the tape."""
        return SequenceNetwork.forward(self, x, states, lengths, train=False)


NETWORK_CLASSES = {cls.__name__: cls for cls in (SequenceNetwork, ConditionedSequenceNetwork, EncoderDecoderNetwork)}


def build_network(name, config, rng):
    """A new network of class ``name`` (a key of :data:`NETWORK_CLASSES`) from its ``config()``-style
    arguments, its weights drawn from ``rng``: how the estimators build theirs on a first fit, and how
    a saved model is rebuilt."""
    config = dict(config, dtype=np.dtype(config["dtype"]).type, hidden_sizes=tuple(config["hidden_sizes"]))
    return NETWORK_CLASSES[name](**config, rng=rng)
