"""PyTorch export and import of the fitted estimators: ``to_torch`` and ``from_torch``.

A fitted estimator becomes a plain ``torch.nn.Module``: a ``torch.nn.ModuleList`` of single-layer
``torch.nn.LSTM`` / ``GRU`` / ``RNN`` modules (``batch_first=True``, one per fastrnn layer) and a
``torch.nn.Linear`` head (plus the bridges of a conditioned CharRNN, or the encoder and decoder
stacks of Seq2Seq), laid out so that its ``state_dict()`` keys are the network's
``named_parameters()`` keys. fastrnn's layers already use PyTorch's parameter names, shapes and gate
orders, so the weights move by name in both directions.

PyTorch is optional: it is imported only when these functions run, and the ``torch.nn.Module``
subclasses are defined on first use (:func:`torch_module_classes`), so ``import fastrnn`` never
imports torch. The classes are also reachable as attributes of this module (for example
``fastrnn._torch_export.SequenceModule``), which lets pickle find them.
"""

import copy
import functools
from collections.abc import Mapping

import numpy as np

from .layers import GRU, LSTM

_MODULE_CLASS_NAMES = ("SequenceModule", "SequenceClassifierModule", "CharRNNModule", "ConditionedCharRNNModule",
                       "Seq2SeqModule")


def _import_torch():
    """The torch package, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch() needs PyTorch, which is not installed: pip install torch (the CPU build "
                          "is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu).") from None
    return torch


# ---------------------------------------------------------------------- building blocks (torch tensors)
def _torch_dtype(numpy_dtype):
    """torch.float32 or torch.float64 for a network's numpy float type."""
    torch = _import_torch()
    return torch.float64 if np.dtype(numpy_dtype) == np.float64 else torch.float32


def _torch_recurrent(layer, dtype):
    """A ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (one layer, batch_first) shaped as the fastrnn ``layer``."""
    torch = _import_torch()
    options = dict(input_size=layer.input_size, hidden_size=layer.hidden_size, batch_first=True,
                   bidirectional=layer.bidirectional, dtype=dtype)
    if isinstance(layer, LSTM):
        return torch.nn.LSTM(**options)
    if isinstance(layer, GRU):
        return torch.nn.GRU(**options)
    return torch.nn.RNN(nonlinearity=layer.nonlinearity, **options)


def _torch_stack(layers, dtype):
    """A ``torch.nn.ModuleList`` with one torch recurrent module per fastrnn layer: the one builder of
    every recurrent stack of the exported modules."""
    torch = _import_torch()
    return torch.nn.ModuleList([_torch_recurrent(layer, dtype) for layer in layers])


def _torch_linear(linear, dtype):
    """A ``torch.nn.Linear`` shaped as the fastrnn ``linear``."""
    torch = _import_torch()
    return torch.nn.Linear(linear.in_features, linear.out_features, dtype=dtype)


def _as_batch_first(x, n_features, like, name="x"):
    """``x`` (a tensor or array) as a (B, T, n_features) tensor with the dtype and device of the tensor
    ``like``; a 2-D (B, T) ``x`` is a batch of univariate series (n_features 1)."""
    torch = _import_torch()
    x = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    if x.dim() == 2 and n_features == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 3 or x.shape[-1] != n_features:
        raise ValueError(f"{name} must have shape (batch, steps, {n_features}) (batch first), got {tuple(x.shape)}.")
    return x


def _check_lengths(lengths, n_batch, n_steps):
    """None, or the (B,) sequence lengths as an int64 CPU tensor (what pack_padded_sequence takes),
    each in 1..n_steps."""
    if lengths is None:
        return None
    torch = _import_torch()
    lengths = torch.as_tensor(lengths).to("cpu")
    if lengths.dim() != 1 or lengths.shape[0] != n_batch:
        raise ValueError(f"lengths must hold one length per sequence, shape ({n_batch},); got {tuple(lengths.shape)}.")
    if lengths.is_floating_point() and not torch.equal(lengths, lengths.round()):
        raise ValueError("lengths must be integers.")
    lengths = lengths.to(torch.int64)
    if n_batch and (int(lengths.min()) < 1 or int(lengths.max()) > n_steps):
        raise ValueError(f"lengths must lie in 1..{n_steps} (the padded number of steps); got values from "
                         f"{int(lengths.min())} to {int(lengths.max())}.")
    return lengths


def _run_stack(rnns, x, states=None, lengths=None):
    """Run the torch recurrent modules ``rnns`` one after the other over ``x`` (B, T, D).

    ``states``: None (zeros) or one torch state per module (``h`` (dirs, B, H), an LSTM ``(h, c)``).
    ``lengths``: None (every sequence runs all steps) or (B,) int64 CPU lengths: each sequence is then
    read to its own end (packed, in any order), its final states are at its own last step and its
    outputs are zero past it. Returns the top module's outputs (B, T, dirs * H) and each module's
    final state, in torch's form.
    """
    torch = _import_torch()
    n_steps = x.shape[1]
    sequence = x
    finals = []
    for k, rnn in enumerate(rnns):
        state = None if states is None else states[k]
        if isinstance(rnn, torch.nn.LSTM) and state is not None:
            state = tuple(state)
        if lengths is None:
            sequence, final = rnn(sequence, state)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(sequence, lengths, batch_first=True,
                                                             enforce_sorted=False)
            packed_out, final = rnn(packed, state)
            sequence, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True,
                                                                 total_length=n_steps)
        finals.append(final)
    return sequence, finals


def _final_features(state):
    """(B, dirs * H) final hidden states of one module's torch ``state``: the forward direction's,
    then the reverse direction's (the head's input with output="last")."""
    torch = _import_torch()
    h_n = state[0] if isinstance(state, tuple) else state  # (dirs, B, H)
    return torch.cat(tuple(h_n), dim=-1)


def _zero_padding(outputs, lengths):
    """``outputs`` (B, T, n) with the steps past each sequence's length set to zero (unchanged
    without ``lengths``)."""
    if lengths is None:
        return outputs
    torch = _import_torch()
    steps = torch.arange(outputs.shape[1], device=outputs.device)
    valid = steps[None, :] < lengths.to(outputs.device)[:, None]  # (B, T)
    return outputs.masked_fill(~valid[..., None], 0.0)


# ---------------------------------------------------------------------- the module classes
@functools.lru_cache(maxsize=None)
def torch_module_classes():
    """The ``torch.nn.Module`` subclasses of the exported estimators, by name, defined on first use.

    Returns
    -------
    dict of str -> type
        ``SequenceModule`` (RNNRegressor), ``SequenceClassifierModule`` (RNNClassifier),
        ``CharRNNModule``, ``ConditionedCharRNNModule`` (CharRNN fitted with features) and
        ``Seq2SeqModule``.
    """
    torch = _import_torch()

    class SequenceModule(torch.nn.Module):
        """An RNNRegressor's network: ``layers`` (torch recurrent modules) and a ``head`` (torch.nn.Linear).

        ``forward(x, lengths=None)`` returns what ``predict`` returns for the same inputs. Attributes
        as on the estimator: ``output``, ``bidirectional``, ``n_features_in_``, ``n_outputs_``.
        """

        def __init__(self, network):
            super().__init__()
            dtype = _torch_dtype(network.dtype)
            self.layers = _torch_stack(network.layers, dtype)
            self.head = _torch_linear(network.head, dtype)
            self.output = network.output
            self.bidirectional = network.layers[0].bidirectional
            self.n_features_in_ = network.layers[0].input_size
            self.n_outputs_ = network.head.out_features

        def forward(self, x, lengths=None):
            """Outputs for ``x`` (B, T, n_features), or (B, T) for univariate series; ``lengths``:
            optional (B,) steps of each sequence of a padded batch. Returns (B,) / (B, n_outputs) for
            output="last", (B, T) / (B, T, n_outputs) for output="sequence" (zero past each length);
            the last axis is dropped when there is one output."""
            x = _as_batch_first(x, self.n_features_in_, self.head.weight)
            lengths = _check_lengths(lengths, x.shape[0], x.shape[1])
            sequence, finals = _run_stack(self.layers, x, lengths=lengths)
            if self.output == "last":
                outputs = self.head(_final_features(finals[-1]))  # (B, n_outputs)
            else:
                outputs = _zero_padding(self.head(sequence), lengths)  # (B, T, n_outputs)
            return outputs.squeeze(-1) if self.n_outputs_ == 1 else outputs

    class SequenceClassifierModule(SequenceModule):
        """An RNNClassifier's network: ``forward`` returns ``decision_function``'s logits (binary: the
        logit of ``classes_[1]``, last axis dropped; more classes: one logit per class), and
        ``predict_proba`` the class probabilities. ``classes_``: the estimator's labels."""

        def predict_proba(self, x, lengths=None):
            """Class probabilities (..., n_classes) from :meth:`forward`'s logits, columns as
            ``classes_`` (uniform, not zero, on padded steps)."""
            logits = self.forward(x, lengths)
            if self.n_outputs_ == 1:
                return torch.stack([torch.sigmoid(-logits), torch.sigmoid(logits)], dim=-1)
            return torch.softmax(logits, dim=-1)

    class CharRNNModule(torch.nn.Module):
        """A CharRNN's network: ``forward(x, state=None)`` maps one-hot characters (B, T, n_symbols)
        to the next character's logits (B, T, n_symbols) and the new state (a list with one torch
        state per layer: ``h`` (1, B, H), LSTM ``(h, c)``). ``vocabulary_``: the characters, in the
        order of the one-hot columns."""

        def __init__(self, network):
            super().__init__()
            dtype = _torch_dtype(network.dtype)
            self.layers = _torch_stack(network.layers, dtype)
            self.head = _torch_linear(network.head, dtype)
            self.n_symbols = network.head.out_features

        def forward(self, x, state=None):
            """Logits (B, T, n_symbols) for one-hot ``x`` (B, T, n_symbols), from ``state`` (None:
            zeros), and the state after the last step."""
            x = _as_batch_first(x, self.n_symbols, self.head.weight)
            sequence, finals = _run_stack(self.layers, x, state)
            return self.head(sequence), finals

    class ConditionedCharRNNModule(CharRNNModule):
        """A CharRNN fitted with features: the ``bridges`` (one torch.nn.Linear per layer) compute the
        initial states from a feature vector (h0 = bridge(features), LSTM c0 = 0). Symbol
        ``start_symbol`` (= ``len(vocabulary_)``) is the start symbol on the input side and the end
        symbol on the output side."""

        def __init__(self, network):
            super().__init__(network)
            dtype = _torch_dtype(network.dtype)
            self.bridges = torch.nn.ModuleList([_torch_linear(bridge, dtype) for bridge in network.bridges])
            self.n_conditions_ = network.bridges[0].in_features
            self.start_symbol = self.n_symbols - 1

        def initial_state(self, features):
            """Each layer's initial torch state for ``features`` (B, n_conditions)."""
            features = torch.as_tensor(features, dtype=self.head.weight.dtype, device=self.head.weight.device)
            if features.dim() != 2 or features.shape[1] != self.n_conditions_:
                raise ValueError(f"features must have shape (batch, {self.n_conditions_}), got "
                                 f"{tuple(features.shape)}.")
            states = []
            for rnn, bridge in zip(self.layers, self.bridges):
                h0 = bridge(features).unsqueeze(0)  # (1, B, H)
                states.append((h0, torch.zeros_like(h0)) if isinstance(rnn, torch.nn.LSTM) else h0)
            return states

        def forward(self, x, features=None, state=None):
            """Logits and new state as :class:`CharRNNModule`, starting from ``features`` (B,
            n_conditions) (a new text) or from ``state`` (continuing one): exactly one of them."""
            if (features is None) == (state is None):
                raise ValueError("pass either features (to start texts from their vectors) or state (to continue "
                                 "them), not both or neither.")
            return super().forward(x, self.initial_state(features) if state is None else state)

    class Seq2SeqModule(torch.nn.Module):
        """A Seq2Seq's network: ``encoder`` and ``decoder`` stacks and a ``head`` on every decoder step.

        ``encode(x, lengths=None)`` returns each encoder layer's final state (each sequence read to
        its own length), ``decode(y_in, states)`` the outputs (B, T, n_outputs) and the decoder's
        final states, ``forward(x, lengths, y_in)`` teacher forcing. Attributes as on the estimator:
        ``input_vocabulary_``, ``output_vocabulary_``, ``output_length_``.
        """

        def __init__(self, network):
            super().__init__()
            dtype = _torch_dtype(network.dtype)
            self.encoder = _torch_stack(network.encoder, dtype)
            self.decoder = _torch_stack(network.decoder, dtype)
            self.head = _torch_linear(network.head, dtype)
            self.n_encoder_inputs = network.encoder[0].input_size
            self.n_decoder_inputs = network.decoder[0].input_size

        def encode(self, x, lengths=None):
            """Each encoder layer's final torch state for ``x`` (B, T_in, n_encoder_inputs) and the
            optional (B,) ``lengths`` (None: every sequence has T_in steps)."""
            x = _as_batch_first(x, self.n_encoder_inputs, self.head.weight)
            _, finals = _run_stack(self.encoder, x, lengths=_check_lengths(lengths, x.shape[0], x.shape[1]))
            return finals

        def decode(self, y_in, states):
            """Outputs (B, T_out, n_outputs) for decoder inputs ``y_in`` (B, T_out, n_decoder_inputs)
            from ``states`` (one per layer), and the decoder's final states (to continue step by step)."""
            y_in = _as_batch_first(y_in, self.n_decoder_inputs, self.head.weight, "y_in")
            sequence, finals = _run_stack(self.decoder, y_in, states)
            return self.head(sequence), finals

        def forward(self, x, lengths, y_in):
            """Teacher forcing: decode ``y_in`` from the encoder's final states; returns the outputs."""
            return self.decode(y_in, self.encode(x, lengths))[0]

    classes = {cls.__name__: cls for cls in (SequenceModule, SequenceClassifierModule, CharRNNModule,
                                             ConditionedCharRNNModule, Seq2SeqModule)}
    for cls in classes.values():  # reachable as fastrnn._torch_export.<name>, so that pickle finds them
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return classes


def __getattr__(name):
    """The module classes as attributes of this module, defined (and torch imported) on first access."""
    if name in _MODULE_CLASS_NAMES:
        return torch_module_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _module_class_and_attributes(estimator):
    """The module class of ``estimator`` and the estimator attributes its module carries."""
    from ._network import ConditionedSequenceNetwork
    from .estimators import CharRNN, RNNClassifier, Seq2Seq

    classes = torch_module_classes()
    if isinstance(estimator, Seq2Seq):
        return classes["Seq2SeqModule"], ("input_vocabulary_", "output_vocabulary_", "output_length_")
    if isinstance(estimator, CharRNN):
        if isinstance(estimator.network_, ConditionedSequenceNetwork):
            return classes["ConditionedCharRNNModule"], ("vocabulary_",)
        return classes["CharRNNModule"], ("vocabulary_",)
    if isinstance(estimator, RNNClassifier):
        return classes["SequenceClassifierModule"], ("classes_",)
    return classes["SequenceModule"], ()


# ---------------------------------------------------------------------- import: checks and writes
def _state_dict_of(module):
    """The name -> tensor mapping of a torch module (or the mapping itself)."""
    if isinstance(module, Mapping):
        return module
    state_dict = getattr(module, "state_dict", None)
    if not callable(state_dict):
        raise TypeError(f"from_torch() takes a torch.nn.Module (or its state_dict), got {type(module).__name__}.")
    return state_dict()


def _as_float64_array(value):
    """A parameter value (a torch tensor on any device and of any float type, or an array) as float64
    numpy, never a view the caller could write through."""
    if hasattr(value, "detach"):
        value = value.detach().to("cpu").double().numpy()
    return np.array(value, dtype=np.float64)


def _checked_parameters(state_dict, expected, dtype, owner):
    """``state_dict``'s values converted to ``dtype`` after checking them against ``expected`` (name ->
    array of the right shape): the same keys, the same shapes, finite values; else a ValueError
    naming what differs (``owner``: the estimator's name, for the messages)."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(f"the module's state_dict does not match this {owner}'s network: missing keys {missing}, "
                         f"unexpected keys {unexpected}.")
    converted = {}
    for name, target in expected.items():
        array = _as_float64_array(state_dict[name])
        if array.shape != target.shape:
            raise ValueError(f"parameter {name!r} has shape {array.shape}; this {owner} expects {target.shape}.")
        if not np.isfinite(array).all():
            raise ValueError(f"parameter {name!r} contains NaN or infinity.")
        if array.size and np.abs(array).max() > np.finfo(dtype).max:
            raise ValueError(f"parameter {name!r} holds values too large for {np.dtype(dtype).name}.")
        converted[name] = array.astype(dtype)
    return converted


def _write_parameters(network, values):
    """Write ``values`` (name -> array) into ``network``'s host buffer and refresh its device copy."""
    for name, view in network.named_parameters().items():
        view[...] = values[name]
    if network.backend.name != "cpu":  # the kernels read a device copy: upload the new host values
        network.to(network.device)


# ---------------------------------------------------------------------- the mixin
class TorchExportMixin:
    """``to_torch`` and ``from_torch`` for the estimators."""

    def to_torch(self):
        """The fitted network as a PyTorch module, with copies of its weights.

        The module is made of plain PyTorch parts: a ``torch.nn.ModuleList`` of single-layer
        ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` modules (``batch_first=True``, one per entry of
        ``hidden_sizes``) and a ``torch.nn.Linear`` head, so its ``state_dict()`` keys are those of
        ``network_.named_parameters()`` (``"layers.0.weight_ih_l0"``, ``"head.bias"`` ...). It is in
        the model's dtype (float32 or float64), on the CPU, in eval mode.

        - RNNRegressor: ``forward(x, lengths=None)`` returns what ``predict`` returns: (B,) or
          (B, n_outputs) for output="last", (B, T) or (B, T, n_outputs) for output="sequence".
          ``x`` is (B, T, n_features) (batch first) or (B, T) for univariate series; ``lengths``
          reads each sequence of a padded batch to its own end, as ``predict`` does for a list of
          sequences of different lengths (sequence outputs are zero past each length).
        - RNNClassifier: ``forward`` returns what ``decision_function`` returns (two classes: the
          logit of ``classes_[1]``; more: one logit per class); ``predict_proba(x, lengths=None)``
          the probabilities; ``classes_`` the labels.
        - CharRNN: ``forward(x, state=None)`` takes one-hot characters (B, T, n_symbols) (columns
          in the order of ``vocabulary_``) and returns the logits of the next characters
          (B, T, n_symbols) and the new state, a list with one torch state per layer. Fitted with
          features: ``forward(x, features=None, state=None)``, the initial states computed from
          ``features`` (B, n_features) when no state is given; one-hot column ``len(vocabulary_)``
          is the start symbol (and, among the logits, the end symbol).
        - Seq2Seq: ``encode(x, lengths=None)`` returns each encoder layer's final state,
          ``decode(y_in, states)`` the outputs (B, T, n_outputs) and the new states,
          ``forward(x, lengths, y_in)`` teacher forcing. Tokens enter one-hot (columns in the order
          of ``input_vocabulary_`` / ``output_vocabulary_``); the decoder's input has one more
          column, the start token, and its outputs one more logit, the end token. Numeric values
          enter as they are; the decoder's input has one more column, the start flag (1 on its
          first step, whose values are zero), then each step holds the previous output.

        Returns
        -------
        torch.nn.Module
            Independent of the estimator: training either does not change the other.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ImportError
            If PyTorch is not installed.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from fastrnn import RNNRegressor
        >>> X = np.random.default_rng(0).normal(size=(32, 10, 2))
        >>> y = X[:, :, 0].sum(axis=1)
        >>> model = RNNRegressor(hidden_sizes=(16,), max_iter=5, random_state=0).fit(X, y)  # doctest: +SKIP
        >>> module = model.to_torch()  # doctest: +SKIP
        >>> with torch.no_grad():  # doctest: +SKIP
        ...     y_torch = module(torch.from_numpy(X).float()).numpy()
        >>> np.allclose(y_torch, model.predict(X), atol=1e-5)  # doctest: +SKIP
        True
        """
        self._check_is_fitted()
        torch = _import_torch()
        network = self.network_
        network.sync_to_host()
        module_class, attribute_names = _module_class_and_attributes(self)
        module = module_class(network)
        module.load_state_dict({name: torch.tensor(view) for name, view in network.named_parameters().items()})
        for name in attribute_names:
            setattr(module, name, copy.deepcopy(getattr(self, name)))
        return module.eval()

    def from_torch(self, module):
        """A new fitted estimator with the weights of a PyTorch module.

        The result is a deep copy of this estimator (same parameters, vocabularies, classes and
        optimizer state) whose network's weights are taken from ``module.state_dict()``, converted
        to the estimator's dtype. Neither this estimator nor ``module`` is changed. Typical use:
        fine-tune the module of :meth:`to_torch` in PyTorch, then bring the weights back.

        Parameters
        ----------
        module : torch.nn.Module or mapping
            Any module whose ``state_dict()`` has exactly the keys and shapes of
            ``network_.named_parameters()`` (such as one from :meth:`to_torch`), on any device and
            of any float dtype; or such a state dict itself.

        Returns
        -------
        estimator
            A new fitted estimator of the same class.

        Raises
        ------
        NotFittedError
            If this estimator is not fitted (its network gives the expected keys and shapes).
        ValueError
            If keys are missing or unexpected (named), or a parameter (named) has another shape,
            holds NaN or infinity, or values too large for the estimator's dtype.

        Examples
        --------
        >>> import torch
        >>> module = model.to_torch()  # doctest: +SKIP
        >>> with torch.no_grad():  # doctest: +SKIP
        ...     module.head.bias += 0.1
        >>> shifted = model.from_torch(module)  # doctest: +SKIP
        >>> shifted.predict(X) - model.predict(X)  # about 0.1 everywhere  # doctest: +SKIP
        """
        self._check_is_fitted()
        network = self.network_
        values = _checked_parameters(_state_dict_of(module), network.named_parameters(), network.dtype,
                                     type(self).__name__)
        imported = copy.deepcopy(self)
        _write_parameters(imported.network_, values)
        return imported
