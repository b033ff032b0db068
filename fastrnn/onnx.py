"""Export of fitted :class:`~fastrnn.RNNRegressor` and :class:`~fastrnn.RNNClassifier` to ONNX.

:func:`export` writes a graph built from ONNX's own recurrent operators: one ``RNN``, ``LSTM`` or
``GRU`` node per recurrent layer of ``network_``, then the linear head and, for a classifier, the
probabilities and the predicted label. The graph runs in any ONNX runtime without fastrnn.

The layers hold PyTorch's parameters (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, and ``..._reverse`` for the reverse direction); ONNX orders the gates differently
and stacks the directions, so the weights are rearranged here:

===========  ==================  ==================================
cell         PyTorch gate order  ONNX gate order
===========  ==================  ==================================
LSTM         i, f, g, o          i, o, f, c (c is PyTorch's g)
GRU          r, z, n             z, r, h (h is PyTorch's n)
Elman RNN    one block           one block
===========  ==================  ==================================

ONNX's ``W`` is (num_directions, gates*H, input), ``R`` (num_directions, gates*H, H) and ``B``
(num_directions, 2*gates*H): the input biases then the recurrent ones. The GRU uses
``linear_before_reset=1``, PyTorch's form (the reset gate multiplies ``W_hn h + b_hn``).

``onnx`` is imported only when :func:`export` runs (``pip install "fastrnn[onnx]"``).
"""

import json

import numpy as np

from ._files import write_atomically

__all__ = ["export", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17
"""Opset of the exported graph unless ``opset`` is given: one that every onnxruntime of the ``onnx``
extra (1.18 and later, up to opset 21) runs."""

_MIN_OPSET = 14  # the recurrent operators' ``layout`` attribute (and Squeeze's axes input, opset 13)

# PyTorch's gate blocks in ONNX's order: ONNX block k is PyTorch block _ONNX_GATE_ORDER[cell][k]
_ONNX_GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}

_BATCH, _TIME = "batch", "time"  # names of the graph's dynamic axes


def export(model, path, *, lengths=False, opset=None):
    """Write a fitted RNNRegressor or RNNClassifier as an ONNX model.

    The graph is made of ONNX's ``RNN`` / ``LSTM`` / ``GRU`` operators (one per recurrent layer), a
    linear head and, for a classifier, the probabilities and the predicted label. It computes in
    float32, whatever the model's ``dtype``: the weights are stored as float32 (onnxruntime's CPU
    recurrent operators run float32 only). It starts every sequence from zero states (the
    ``initial_state`` of ``predict`` is not exported).

    Parameters
    ----------
    model : RNNRegressor or RNNClassifier
        A fitted estimator (any ``cell``, ``nonlinearity``, ``hidden_sizes``, ``output``,
        ``bidirectional``).
    path : str, os.PathLike or binary file object
        Where to write. A path is written through a temporary file in the same folder, renamed
        into place at the end, so a failed export leaves nothing at ``path``. A file object (opened
        in binary mode) receives the serialized model through its ``write``.
    lengths : bool, default False
        Add a second input ``lengths`` (int32, shape (batch,)): the number of steps of each
        sequence of a zero-padded batch, each in 1..time. Every sequence is then read to its own
        end, as fastrnn reads a list of sequences of different lengths: the final states are taken
        at each sequence's last step and the reverse direction starts there. Without it every
        sequence runs all the steps of ``X``.
    opset : int, optional
        ONNX opset of the default domain, from 14 to the newest that the installed ``onnx`` knows;
        default :data:`DEFAULT_OPSET` (17).

    Returns
    -------
    onnx.ModelProto
        The model that was written (checked with ``onnx.checker.check_model(..., full_check=True)``).

    Raises
    ------
    ImportError
        If ``onnx`` is not installed.
    TypeError
        If ``model`` is not an RNNRegressor or RNNClassifier (CharRNN and Seq2Seq are not exported).
    fastrnn.exceptions.NotFittedError
        If ``model`` is not fitted.
    ValueError
        If ``opset`` is out of range.

    Notes
    -----
    Inputs of the graph:

    - ``X``: float32 (batch, time, n_features), batch and time dynamic. Always 3-D: a batch of
      univariate series of shape (n_samples, n_timesteps) is ``X[:, :, None]``.
    - ``lengths`` (with ``lengths=True``): int32 (batch,).

    Outputs, equal to what the estimator returns for the same (padded) ``X``, to float32 rounding:

    - RNNRegressor: ``predictions``, shaped as ``predict``: (batch,) or (batch, n_outputs) for
      output="last", (batch, time) or (batch, time, n_outputs) for output="sequence".
    - RNNClassifier: ``probabilities``, as ``predict_proba``: (batch, n_classes) or (batch, time,
      n_classes); and ``label``, as ``predict``: (batch,) or (batch, time). ``label`` holds the
      class labels when ONNX can store their type (numbers, booleans, strings), else (for example
      labels that are Python objects other than strings, or bytes) the index of the class in
      ``classes_`` (int64); the model's metadata ``label_output`` says which ("class" or
      "class_index").

    With output="sequence" and ``lengths``, the steps past a sequence's end hold the head's value of
    a zero state (``predict`` cuts them off).

    The model's metadata (``metadata_props``) holds the fastrnn version, the estimator's class, its
    ``get_params()`` as JSON and, for a classifier, ``classes_`` as JSON when representable.

    Examples
    --------
    >>> import numpy as np, onnxruntime, fastrnn, fastrnn.onnx  # doctest: +SKIP
    >>> X = np.random.default_rng(0).normal(size=(32, 10, 2)).astype(np.float32)
    >>> model = fastrnn.RNNRegressor(hidden_sizes=(8,), max_iter=3).fit(X, X[:, -1, 0])  # doctest: +SKIP
    >>> proto = fastrnn.onnx.export(model, "model.onnx")  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession("model.onnx")  # doctest: +SKIP
    >>> predictions, = session.run(None, {"X": X})  # doctest: +SKIP
    >>> np.abs(predictions - model.predict(X)).max() < 1e-5  # doctest: +SKIP
    True
    """
    onnx = _import_onnx()
    _check_exportable(model)
    opset = _check_opset(onnx, DEFAULT_OPSET if opset is None else opset)
    proto = _build_model(onnx, model, lengths, opset)
    onnx.checker.check_model(proto, full_check=True)
    _write(proto.SerializeToString(), path)
    return proto


# ---------------------------------------------------------------------- checks
def _import_onnx():
    """The ``onnx`` package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError('fastrnn.onnx.export needs the onnx package: pip install "fastrnn[onnx]" '
                          '(onnx and onnxruntime).') from exc
    return onnx


def _check_exportable(model):
    """TypeError unless ``model`` is an RNNRegressor or RNNClassifier; NotFittedError unless fitted."""
    from .estimators import RNNClassifier, RNNRegressor

    if not isinstance(model, (RNNRegressor, RNNClassifier)):
        raise TypeError(
            f"fastrnn.onnx.export exports RNNRegressor and RNNClassifier only, got {type(model).__name__}. "
            f"For the other estimators (CharRNN, Seq2Seq), the recurrent layers of their fitted network_ "
            f"(fastrnn.LSTM / GRU / RNN) hold the weights under PyTorch's names "
            f"(network_.named_parameters()), from which a graph can be built by hand.")
    model._check_is_fitted()


def _check_opset(onnx, opset):
    """``opset`` as an int, if the recurrent operators' form used here exists in it and onnx knows it."""
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not _MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an integer from {_MIN_OPSET} to {newest} (the newest this onnx "
                         f"{onnx.__version__} knows), got {opset!r}.")
    return int(opset)


# ---------------------------------------------------------------------- weights
def _cell_name(layer):
    """ONNX operator of a fastrnn layer: "LSTM", "GRU" or "RNN"."""
    from .layers import GRU, LSTM

    if isinstance(layer, LSTM):
        return "LSTM"
    if isinstance(layer, GRU):
        return "GRU"
    return "RNN"


def _onnx_gate_order(array, cell, hidden):
    """``array: (gates*H, ...)`` with PyTorch's gate blocks, its blocks in ONNX's order (same shape)."""
    blocks = [array[k * hidden:(k + 1) * hidden] for k in _ONNX_GATE_ORDER[cell]]
    return np.concatenate(blocks, axis=0)


def _recurrent_weights(layer):
    """ONNX's ``W, R, B`` of one single-layer fastrnn layer, float32.

    Returns W (dirs, gates*H, n_in), R (dirs, gates*H, H) and B (dirs, 2*gates*H), the directions
    forward first.
    """
    cell, hidden = _cell_name(layer), layer.hidden_size
    suffixes = ("", "_reverse")[:layer.num_directions]
    params = layer.params

    def stacked(kind):  # (dirs, gates*H, ...) in ONNX's gate order
        return np.stack([_onnx_gate_order(params[f"{kind}_l0{suffix}"], cell, hidden) for suffix in suffixes])

    W = stacked("weight_ih")                                            # (dirs, gates*H, n_in)
    R = stacked("weight_hh")                                            # (dirs, gates*H, H)
    B = np.concatenate([stacked("bias_ih"), stacked("bias_hh")], axis=1)  # (dirs, 2*gates*H)
    return W.astype(np.float32), R.astype(np.float32), B.astype(np.float32)


def _recurrent_attributes(layer):
    """Attributes of the ONNX recurrent node of ``layer``."""
    attributes = {"hidden_size": layer.hidden_size, "layout": 0,
                  "direction": "bidirectional" if layer.bidirectional else "forward"}
    cell = _cell_name(layer)
    if cell == "GRU":
        attributes["linear_before_reset"] = 1
    elif cell == "RNN":
        attributes["activations"] = [layer.nonlinearity.capitalize()] * layer.num_directions  # Tanh / Relu
    return attributes


# ---------------------------------------------------------------------- graph
class _Graph:
    """Nodes and initializers of a graph under construction, with unique names."""

    def __init__(self, onnx, reserved=()):
        self.onnx = onnx
        self.nodes = []
        self.initializers = []
        self._names = set(reserved)  # the graph inputs' names

    def _unique(self, name):
        candidate, k = name, 1
        while candidate in self._names:
            candidate, k = f"{name}_{k}", k + 1
        self._names.add(candidate)
        return candidate

    def constant(self, name, array):
        """Add ``array`` as an initializer; returns its name."""
        name = self._unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def element_type(self, name):
        """The ONNX element type of the initializer ``name``."""
        return next(tensor.data_type for tensor in self.initializers if tensor.name == name)

    def node(self, op, inputs, outputs, **attributes):
        """Add an ``op`` node; ``outputs`` are base names ('' for an output not produced); returns
        the unique output names."""
        outputs = [self._unique(name) if name else "" for name in outputs]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, name=self._unique(op), **attributes))
        return outputs

    def one(self, op, inputs, output, **attributes):
        """Add a node with a single output; returns its name."""
        return self.node(op, inputs, [output], **attributes)[0]


def _recurrent_layer(graph, layer, k, x_name, lengths_name, need_sequence, need_final):
    """Add the recurrent node of layer ``k`` reading time-major ``x_name`` (T, B, n_in).

    Returns the names of ``Y`` (T, dirs, B, H) and ``Y_h`` (dirs, B, H); '' for one not asked for.
    """
    cell = _cell_name(layer)
    W, R, B = _recurrent_weights(layer)
    inputs = [x_name, graph.constant(f"layers.{k}.W", W), graph.constant(f"layers.{k}.R", R),
              graph.constant(f"layers.{k}.B", B)]
    if lengths_name:
        inputs.append(lengths_name)
    outputs = [f"layers.{k}.Y" if need_sequence else "", f"layers.{k}.Y_h" if need_final else ""]
    while outputs and not outputs[-1]:
        outputs.pop()  # trailing optional outputs are left out
    names = graph.node(cell, inputs, outputs, **_recurrent_attributes(layer)) + ["", ""]
    return names[0], names[1]


def _sequence_features(graph, y_name, k):
    """``Y`` (T, dirs, B, H) as (T, B, dirs*H), the directions side by side (forward first)."""
    steps_first = graph.one("Transpose", [y_name], f"layers.{k}.Y_steps", perm=[0, 2, 1, 3])  # (T, B, dirs, H)
    shape = graph.constant(f"layers.{k}.features_shape", np.array([0, 0, -1], dtype=np.int64))
    return graph.one("Reshape", [steps_first, shape], f"layers.{k}.output")                  # (T, B, dirs*H)


def _final_features(graph, y_h_name, k):
    """``Y_h`` (dirs, B, H) as (B, dirs*H), forward direction first: the final states the head reads."""
    batch_first = graph.one("Transpose", [y_h_name], f"layers.{k}.Y_h_batch", perm=[1, 0, 2])  # (B, dirs, H)
    shape = graph.constant(f"layers.{k}.final_shape", np.array([0, -1], dtype=np.int64))
    return graph.one("Reshape", [batch_first, shape], f"layers.{k}.final_states")             # (B, dirs*H)


def _recurrent_stack(graph, layers, lengths_name, output):
    """Add every recurrent layer over the graph input ``X`` (B, T, D).

    Returns what the head reads: the top layer's final states (B, dirs*H) for output="last", its
    states at every step, batch-first (B, T, dirs*H), for output="sequence".
    """
    sequence = graph.one("Transpose", ["X"], "X_time_major", perm=[1, 0, 2])  # (T, B, D)
    for k, layer in enumerate(layers):
        top = k == len(layers) - 1
        read_final = top and output == "last"
        y_name, y_h_name = _recurrent_layer(graph, layer, k, sequence, lengths_name,
                                            need_sequence=not read_final, need_final=read_final)
        if read_final:
            return _final_features(graph, y_h_name, k)
        sequence = _sequence_features(graph, y_name, k)                       # (T, B, dirs*H)
    return graph.one("Transpose", [sequence], "top_states", perm=[1, 0, 2])   # (B, T, dirs*H)


def _head(graph, head, features):
    """The linear head over the last axis of ``features`` (..., n_in): (..., n_out) raw outputs."""
    weight_t = graph.constant("head.weight_t", head.params["weight"].T.astype(np.float32))  # (n_in, n_out)
    bias = graph.constant("head.bias", head.params["bias"].astype(np.float32))              # (n_out,)
    product = graph.one("MatMul", [features, weight_t], "head.product")
    return graph.one("Add", [product, bias], "raw_outputs")


# ---------------------------------------------------------------------- outputs
def _leading_axes(output):
    """Names of the outputs' axes before the last: (batch,) or, for output="sequence", (batch, time)."""
    return [_BATCH] if output == "last" else [_BATCH, _TIME]


def _regressor_outputs(graph, model, raw):
    """``predictions`` from the raw outputs (..., n_out): the last axis squeezed when n_outputs_ == 1.
    Returns [(name, element type, shape)] of the graph outputs."""
    shape = _leading_axes(model.network_.output)
    if model.n_outputs_ == 1:
        axes = graph.constant("last_axis", np.array([-1], dtype=np.int64))
        graph.one("Squeeze", [raw, axes], "predictions")
    else:
        graph.one("Identity", [raw], "predictions")
        shape = shape + [model.n_outputs_]
    return [("predictions", graph.onnx.TensorProto.FLOAT, shape)]


def _probabilities(graph, model, raw):
    """``probabilities`` (..., n_classes) from the logits (..., n_out), as ``predict_proba``: the
    softmax over the classes; for two classes, of the single logit z, [1 - sigmoid(z), sigmoid(z)]
    computed as the softmax of [0, z] (the same values, exact in both tails: onnxruntime's Sigmoid
    rounds sigmoid(-40) to 0 and is off by 1e-5 relative at 5, its Softmax is not)."""
    logits = raw
    if len(model.classes_) == 2:
        shape = graph.one("Shape", [raw], "logit_shape")
        zeros = graph.one("ConstantOfShape", [shape], "zero_logit")  # float32 zeros (..., 1)
        logits = graph.one("Concat", [zeros, raw], "binary_logits", axis=-1)  # (..., 2)
    return graph.one("Softmax", [logits], "probabilities", axis=-1)


def _label_classes(classes):
    """``classes_`` as an array ONNX can hold (numbers, booleans, strings as an object array), or
    None when it cannot (other Python objects, bytes)."""
    if classes.dtype.kind in "biuf":
        return classes
    if classes.dtype.kind == "O" and len({type(c) for c in classes.tolist()}) == 1:
        as_numbers = np.array(classes.tolist())  # numbers or booleans of one type (labels from pandas)
        if as_numbers.dtype.kind in "biuf":
            return as_numbers
    if classes.dtype.kind == "U" or (classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes)):
        return np.array([str(c) for c in classes], dtype=object)
    return None


def _classifier_outputs(graph, model, raw):
    """``probabilities`` and ``label`` (a class of ``classes_``, or its index where ONNX cannot hold
    the labels). Returns [(name, element type, shape)] of the graph outputs."""
    onnx = graph.onnx
    steps = _leading_axes(model.network_.output)
    probabilities = _probabilities(graph, model, raw)
    classes = _label_classes(model.classes_)
    index_name = "label" if classes is None else "class_index"
    index = graph.one("ArgMax", [probabilities], index_name, axis=-1, keepdims=0)  # first on ties, as np.argmax
    label_type = onnx.TensorProto.INT64
    if classes is not None:
        table = graph.constant("classes", classes)  # (n_classes,)
        graph.one("Gather", [table, index], "label", axis=0)
        label_type = graph.element_type(table)
    return [("probabilities", onnx.TensorProto.FLOAT, steps + [len(model.classes_)]),
            ("label", label_type, steps)]


# ---------------------------------------------------------------------- model
def _build_model(onnx, model, lengths, opset):
    """The ModelProto of a fitted, checked estimator."""
    from .estimators import RNNClassifier

    network = model.network_
    network.sync_to_host()  # the host weights are the master copy (a no-op after a fit on the CPU)
    graph = _Graph(onnx, reserved=("X", "lengths"))
    features = _recurrent_stack(graph, network.layers, "lengths" if lengths else "", network.output)
    raw = _head(graph, network.head, features)
    is_classifier = isinstance(model, RNNClassifier)
    outputs = (_classifier_outputs if is_classifier else _regressor_outputs)(graph, model, raw)
    inputs = [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT,
                                                 [_BATCH, _TIME, model.n_features_in_])]
    if lengths:
        inputs.append(onnx.helper.make_tensor_value_info("lengths", onnx.TensorProto.INT32, [_BATCH]))
    graph_proto = onnx.helper.make_graph(
        graph.nodes, f"fastrnn_{type(model).__name__}", inputs,
        [onnx.helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in outputs],
        graph.initializers)
    opset_imports = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph_proto, opset_imports=opset_imports, producer_name="fastrnn",
                                   producer_version=_fastrnn_version(), doc_string=_description(model))
    proto.ir_version = onnx.helper.find_min_ir_version_for(opset_imports)  # readable by the most runtimes
    onnx.helper.set_model_props(proto, _metadata(model, is_classifier, lengths))
    return proto


def _fastrnn_version():
    from . import __version__

    return __version__


def _description(model):
    """The model's doc string: what it is and what its inputs are."""
    return (f"{type(model).__name__} (cell={model.cell!r}, hidden_sizes={tuple(model.hidden_sizes)}, "
            f"output={model.output!r}, bidirectional={bool(model.bidirectional)}) exported by fastrnn "
            f"{_fastrnn_version()}. Input X: float32 (batch, time, {model.n_features_in_}); computed in float32.")


def _json_or_none(value):
    """``value`` as JSON, or None when it is not representable."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return None


def _metadata(model, is_classifier, lengths):
    """metadata_props of the model: strings only."""
    params = {}
    for name, value in model.get_params().items():
        params[name] = value if _json_or_none(value) is not None else repr(value)
    metadata = {"fastrnn_version": _fastrnn_version(), "estimator": type(model).__name__,
                "params": json.dumps(params), "dtype": str(np.dtype(model.network_.dtype)),
                "computed_in": "float32", "lengths_input": str(bool(lengths)).lower()}
    if is_classifier:
        classes = _json_or_none(model.classes_.tolist())
        if classes is not None:
            metadata["classes"] = classes
        metadata["label_output"] = "class" if _label_classes(model.classes_) is not None else "class_index"
    return metadata


# ---------------------------------------------------------------------- writing
def _write(data, path):
    """Write the bytes ``data`` to a binary file object, or to a path atomically (a temporary file in
    the same folder, then renamed), leaving nothing behind on failure."""
    if hasattr(path, "write"):
        path.write(data)
    else:
        write_atomically(path, lambda file: file.write(data))
