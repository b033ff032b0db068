"""fastrnn.onnx.export: onnxruntime runs the exported graph and gives what predict / predict_proba give."""

import io
import json
import os
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastrnn  # noqa: E402
from fastrnn import exceptions  # noqa: E402
from fastrnn.data import pad_sequences  # noqa: E402
from fastrnn.onnx import DEFAULT_OPSET, export  # noqa: E402

TOLERANCE = 1e-5
CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]
MAX_ERRORS = {}  # largest difference seen per case, printed with -s (pytest -s -k onnx)


def fitted(estimator, X, y):
    """``estimator`` fitted on ``X, y`` (a few epochs; whether it converged does not matter here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        return estimator.fit(X, y)


def regressor(**params):
    options = dict(hidden_sizes=(5, 4), max_iter=3, random_state=0, device="cpu")
    return fastrnn.RNNRegressor(**{**options, **params})


def classifier(**params):
    options = dict(hidden_sizes=(6,), max_iter=3, random_state=0, device="cpu")
    return fastrnn.RNNClassifier(**{**options, **params})


def inputs(n_samples=24, n_steps=8, n_features=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n_samples, n_steps, n_features)).astype(np.float32)


def ragged_inputs(lengths=(7, 3, 12, 5, 1, 9, 4, 12, 2, 6), n_features=2, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(length, n_features)).astype(np.float32) for length in lengths]


def session_of(model_proto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run(model, X, lengths=None, **export_options):
    """Export ``model`` (in memory) and run the graph on X; the outputs by name."""
    proto = export(model, io.BytesIO(), lengths=lengths is not None, **export_options)
    feeds = {"X": np.asarray(X, np.float32)}
    if lengths is not None:
        feeds["lengths"] = np.asarray(lengths, np.int32)
    session = session_of(proto)
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def assert_close(got, expected, case):
    assert got.shape == np.shape(expected), (got.shape, np.shape(expected))
    error = float(np.max(np.abs(got - expected))) if got.size else 0.0
    MAX_ERRORS[case] = max(error, MAX_ERRORS.get(case, 0.0))
    assert error <= TOLERANCE, f"{case}: max error {error:.3g}"


@pytest.fixture(scope="module", autouse=True)
def report_max_errors():
    yield
    if MAX_ERRORS:
        print("\nlargest |onnxruntime - fastrnn| per case:")
        for case, error in sorted(MAX_ERRORS.items()):
            print(f"  {case}: {error:.3g}")


# ---------------------------------------------------------------------- regressor
@pytest.mark.parametrize("cell, nonlinearity", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_regressor_matches_predict(cell, nonlinearity, bidirectional, output):
    X = inputs()
    y = X[:, -1, 0] if output == "last" else np.cumsum(X[:, :, 0], axis=1)
    model = fitted(regressor(cell=cell, nonlinearity=nonlinearity, bidirectional=bidirectional, output=output), X, y)
    got = run(model, X)["predictions"]
    assert got.dtype == np.float32
    assert_close(got, model.predict(X), f"regressor {cell}-{nonlinearity} bidirectional={bidirectional} {output}")


@pytest.mark.parametrize("output", ["last", "sequence"])
def test_regressor_with_several_outputs_and_one_layer(output):
    X = inputs(n_features=2)
    y = X[:, -1, :] if output == "last" else X
    model = fitted(regressor(cell="gru", hidden_sizes=(7,), output=output), X, y)
    assert_close(run(model, X)["predictions"], model.predict(X), f"regressor 2 outputs {output}")


def test_float64_model_is_exported_in_float32():
    X = inputs().astype(np.float64)
    model = fitted(regressor(cell="lstm", dtype="float64", bidirectional=True), X, X[:, -1, 0])
    proto = export(model, io.BytesIO())
    weights = [tensor for tensor in proto.graph.initializer if tensor.name.endswith((".W", ".R", ".B", "weight_t"))]
    assert len(weights) == 7 and {tensor.data_type for tensor in weights} == {onnx.TensorProto.FLOAT}
    assert_close(run(model, X)["predictions"], model.predict(X), "regressor lstm float64")


# ---------------------------------------------------------------------- ragged batches
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_ragged_batch_with_lengths(cell, bidirectional, output):
    X = ragged_inputs()
    y = [x[-1, 0] for x in X] if output == "last" else [np.cumsum(x[:, 0]) for x in X]
    model = fitted(regressor(cell=cell, bidirectional=bidirectional, output=output), X, y)
    padded, lengths = pad_sequences(X, dtype=np.float32)
    got = run(model, padded, lengths)["predictions"]
    expected = model.predict(X)
    case = f"ragged {cell} bidirectional={bidirectional} {output}"
    if output == "last":
        assert_close(got, expected, case)
    else:  # one array per sequence, compared on its own steps
        for row, (sequence, length) in enumerate(zip(expected, lengths)):
            assert_close(got[row, :length], sequence, case)


def test_ragged_tagging_classifier_with_lengths():
    X = ragged_inputs(seed=2)
    y = [np.where(x[:, 0] > 0.5, "high", np.where(x[:, 0] < -0.5, "low", "mid")) for x in X]
    model = fitted(classifier(cell="lstm", output="sequence", bidirectional=True, hidden_sizes=(4, 3)), X, y)
    padded, lengths = pad_sequences(X, dtype=np.float32)
    got = run(model, padded, lengths)
    for row, length in enumerate(lengths):
        assert_close(got["probabilities"][row, :length], model.predict_proba(X)[row], "ragged tagging classifier")
        assert got["label"][row, :length].tolist() == model.predict(X)[row].tolist()


def test_without_lengths_every_step_is_read():
    """Without the lengths input the padded steps are read too: predict on the padded array itself."""
    padded, _ = pad_sequences(ragged_inputs(), dtype=np.float32)
    model = fitted(regressor(cell="gru", bidirectional=True), padded, padded[:, -1, 0])
    assert_close(run(model, padded)["predictions"], model.predict(padded), "padded batch without lengths")


# ---------------------------------------------------------------------- classifier
@pytest.mark.parametrize("cell, nonlinearity", CELLS)
@pytest.mark.parametrize("labels", [("down", "up"), (3, 7), ("a", "b", "c"), (-1, 0, 1, 5)])
def test_classifier_matches_predict_proba_and_predict(cell, nonlinearity, labels):
    X = inputs(n_samples=30)
    y = np.asarray(labels)[np.arange(len(X)) % len(labels)]
    model = fitted(classifier(cell=cell, nonlinearity=nonlinearity), X, y)
    got = run(model, X)
    assert_close(got["probabilities"], model.predict_proba(X), f"classifier {cell}-{nonlinearity} {len(labels)} classes")
    assert got["label"].tolist() == model.predict(X).tolist()


@pytest.mark.parametrize("labels", [(False, True), (0.0, 2.0, 5.0), (np.uint8(3), np.uint8(9))])
def test_classifier_with_boolean_float_and_unsigned_labels(labels):
    X = inputs(n_samples=20)
    y = np.asarray(labels)[np.arange(20) % len(labels)]
    model = fitted(classifier(cell="gru"), X, y)
    got = run(model, X)
    assert got["label"].dtype == model.classes_.dtype
    assert got["label"].tolist() == model.predict(X).tolist()
    assert_close(got["probabilities"], model.predict_proba(X), f"classifier {model.classes_.dtype} labels")


@pytest.mark.parametrize("labels", [("neg", "pos"), (0, 1, 2)])
def test_tagging_classifier(labels):
    X = inputs(n_samples=20, n_steps=6)
    y = np.asarray(labels)[(X[:, :, 0] > 0).astype(int) + (X[:, :, 1] > 1).astype(int) * (len(labels) - 2)]
    model = fitted(classifier(cell="gru", output="sequence", bidirectional=True, hidden_sizes=(5, 4)), X, y)
    got = run(model, X)
    assert got["probabilities"].shape == (20, 6, len(labels))
    assert_close(got["probabilities"], model.predict_proba(X), f"tagging classifier {len(labels)} classes")
    assert got["label"].tolist() == model.predict(X).tolist()


def test_binary_probabilities_are_exact_for_large_logits():
    """Both columns come from their own sigmoid, so a tiny probability is not lost to 1 - p."""
    X = inputs(n_samples=20)
    model = fitted(classifier(cell="rnn"), X, np.where(X[:, -1, 0] > 0, "up", "down"))
    model.network_.head.params["bias"][...] = 40.0  # logits about 40: P(down) about 4e-18
    got = run(model, X)["probabilities"]
    expected = model.predict_proba(X)
    np.testing.assert_allclose(got[:, 0], expected[:, 0], rtol=1e-4)
    assert np.all(got[:, 0] > 0)


class OpaqueLabel:
    """A hashable, sortable label that is neither a number nor a string: ONNX cannot hold it."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, OpaqueLabel) and self.value == other.value

    def __lt__(self, other):
        return self.value < other.value

    def __hash__(self):
        return hash(self.value)


def opaque_labels(n):
    labels = np.empty(n, dtype=object)
    labels[:] = [OpaqueLabel(k % 3) for k in range(n)]
    return labels


@pytest.mark.parametrize("make_labels", [opaque_labels, lambda n: np.array([b"no", b"yes"] * (n // 2))])
def test_labels_onnx_cannot_hold_come_back_as_class_indices(make_labels):
    X = inputs(n_samples=20)
    y = make_labels(20)
    model = fitted(classifier(), X, y)
    proto = export(model, io.BytesIO())
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    assert metadata["label_output"] == "class_index" and "classes" not in metadata
    got = run(model, X)
    assert got["label"].dtype == np.int64
    assert model.classes_[got["label"]].tolist() == model.predict(X).tolist()


@pytest.mark.parametrize("values", [["cat", "dog", "emu", "cat"], [3, 7, 11, 3], [True, False, True, True]])
def test_labels_of_one_json_type_in_an_object_array_stay_labels(values):
    """As labels read from a pandas column come: strings, ints or booleans in an object array."""
    X = inputs(n_samples=20)
    y = np.empty(20, dtype=object)
    y[:] = values * 5
    model = fitted(classifier(), X, y)
    proto = export(model, io.BytesIO())
    assert {prop.key: prop.value for prop in proto.metadata_props}["label_output"] == "class"
    got = run(model, X)
    assert got["label"].tolist() == model.predict(X).tolist()
    assert [type(v) for v in got["label"].tolist()] == [type(v) for v in model.predict(X).tolist()]


# ---------------------------------------------------------------------- graph
def test_batch_and_time_axes_are_dynamic():
    model = fitted(regressor(cell="lstm", bidirectional=True), inputs(), inputs()[:, -1, 0])
    session = session_of(export(model, io.BytesIO()))
    for n_samples, n_steps in [(1, 5), (7, 5), (1, 11), (7, 11)]:
        X = inputs(n_samples=n_samples, n_steps=n_steps, seed=n_samples * n_steps)
        assert_close(session.run(None, {"X": X})[0], model.predict(X), "dynamic batch and time")


def test_written_file_passes_the_checker(tmp_path):
    model = fitted(classifier(cell="lstm", hidden_sizes=(4, 3)), inputs(n_samples=20), np.arange(20) % 3)
    path = tmp_path / "model.onnx"
    returned = export(model, path, lengths=True)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded == returned
    X_input, lengths_input = loaded.graph.input
    assert [d.dim_param or d.dim_value for d in X_input.type.tensor_type.shape.dim] == ["batch", "time", 3]
    assert lengths_input.type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert [op.version for op in loaded.opset_import] == [DEFAULT_OPSET]
    assert sorted(node.op_type for node in loaded.graph.node if node.op_type == "LSTM") == ["LSTM", "LSTM"]
    metadata = {prop.key: prop.value for prop in loaded.metadata_props}
    assert metadata["estimator"] == "RNNClassifier" and metadata["fastrnn_version"] == fastrnn.__version__
    assert json.loads(metadata["params"])["hidden_sizes"] == [4, 3]
    assert json.loads(metadata["classes"]) == [0, 1, 2]
    assert "RNNClassifier" in loaded.doc_string


def test_path_may_be_a_string_or_a_file_object(tmp_path):
    model = fitted(regressor(cell="rnn"), inputs(), inputs()[:, -1, 0])
    export(model, str(tmp_path / "a.onnx"))
    with open(tmp_path / "b.onnx", "wb") as file:
        export(model, file)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.onnx", "b.onnx"]


def test_opset_can_be_chosen():
    X = inputs()
    model = fitted(regressor(cell="gru"), X, X[:, -1, 0])
    got = run(model, X, opset=21)["predictions"]
    assert_close(got, model.predict(X), "opset 21")
    assert export(model, io.BytesIO(), opset=21).opset_import[0].version == 21
    for opset in (13, onnx.defs.onnx_opset_version() + 1, "17", 17.0):
        with pytest.raises(ValueError, match="opset"):
            export(model, io.BytesIO(), opset=opset)


# ---------------------------------------------------------------------- errors
def test_unfitted_model_raises_not_fitted_and_writes_nothing(tmp_path):
    with pytest.raises(exceptions.NotFittedError):
        export(fastrnn.RNNRegressor(), tmp_path / "model.onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("model", [fastrnn.CharRNN(), fastrnn.Seq2Seq(), fastrnn.LSTM(2, 3), "model"])
def test_other_models_raise_type_error(tmp_path, model):
    with pytest.raises(TypeError, match="RNNRegressor and RNNClassifier"):
        export(model, tmp_path / "model.onnx")
    assert os.listdir(tmp_path) == []


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    model = fitted(regressor(cell="rnn"), inputs(), inputs()[:, -1, 0])

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        export(model, tmp_path / "model.onnx")
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        export(model, tmp_path / "missing" / "model.onnx")
    assert os.listdir(tmp_path) == []


def test_missing_onnx_names_the_extra(monkeypatch):
    model = fitted(regressor(cell="rnn"), inputs(), inputs()[:, -1, 0])
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    with pytest.raises(ImportError, match=r'pip install "fastrnn\[onnx\]"'):
        export(model, io.BytesIO())
