"""model.save / fastrnn.load: round trips, continued training, labels, devices, and files that must be refused."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import GRU, LSTM, RNN, CharRNN, Linear, RNNClassifier, RNNRegressor, Seq2Seq
from fastrnn.exceptions import ConvergenceWarning, NotFittedError

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
SMALL = dict(hidden_sizes=(5,), max_iter=3, random_state=0)


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 7, 2))
    return X, X[:, :, 0].sum(axis=1)


def same(a, b):
    """Deep equality of attribute values (arrays by value and dtype, generators by state)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and \
            all(x == y for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
    if isinstance(a, np.random.Generator):
        return same(a.bit_generator.state, b.bit_generator.state)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    return a == b and (type(a) is type(b) or isinstance(a, (float, np.floating, int, np.integer)))


def round_trip(model, tmp_path, name="model.fastrnn", **load_options):
    path = tmp_path / name
    assert model.save(path) == path
    return fastrnn.load(path, **load_options)


def assert_same_fitted_state(original, loaded):
    assert type(loaded) is type(original)
    assert same(original.get_params(), loaded.get_params())
    skipped = {"network_", "_optimizer"}
    assert set(vars(original)) - skipped == set(vars(loaded)) - skipped
    for name, value in vars(original).items():
        if name not in skipped:
            assert same(value, getattr(loaded, name)), name
    original_weights, loaded_weights = original.network_.named_parameters(), loaded.network_.named_parameters()
    assert list(original_weights) == list(loaded_weights)
    np.testing.assert_array_equal(original.network_.params, loaded.network_.params)
    assert loaded.network_.params.dtype == original.network_.params.dtype


# ---------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("options", [
    dict(cell="lstm"),
    dict(cell="gru", hidden_sizes=(4, 3), bidirectional=True, dtype="float64"),
    dict(cell="rnn", nonlinearity="relu", output="sequence", early_stopping=True),
])
def test_regressor_round_trip_predicts_bit_identically(series, tmp_path, options):
    X, y = series
    target = np.cumsum(X[:, :, 0], axis=1) if options.get("output") == "sequence" else y
    model = RNNRegressor(**{**SMALL, **options}).fit(X, target)
    loaded = round_trip(model, tmp_path)
    assert_same_fitted_state(model, loaded)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.score(X, target) == model.score(X, target)


@pytest.mark.parametrize("labels", [
    np.array(["down", "up"]),                              # numpy strings
    np.array([3, 7, 11]),                                  # ints, three classes
    np.array([False, True]),                               # bools
    np.array(["cat", "dog", "eel"], dtype=object),         # strings in an object array (as from pandas)
    np.array([0.0, 2.0]),                                  # integral floats
])
def test_classifier_labels_of_json_types_survive(series, tmp_path, labels):
    X, y = series
    y_labels = labels[np.digitize(y, np.quantile(y, np.linspace(0, 1, len(labels) + 1)[1:-1]))]
    model = RNNClassifier(**SMALL).fit(X, y_labels)
    loaded = round_trip(model, tmp_path)
    assert loaded.classes_.dtype == model.classes_.dtype
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert [type(v) for v in loaded.classes_.tolist()] == [type(v) for v in model.classes_.tolist()]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_labels_json_cannot_hold_exactly_are_refused_at_save_and_nothing_is_written(series, tmp_path):
    X, y = series
    labels = np.empty(len(y), dtype=object)
    labels[:] = [("a", 1) if v > 0 else ("b", 2) for v in y]
    model = RNNClassifier(**SMALL).fit(X, labels)
    with pytest.raises(ValueError, match=r"classes_ holds \('a', 1\) of type tuple.*strings, integers"):
        model.save(tmp_path / "tuples.fastrnn")
    assert os.listdir(tmp_path) == []


def test_tagging_on_ragged_sequences_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(n, 1)) for n in (5, 8, 3, 6)] * 3
    y = [np.where(x[:, 0] > 0, "P", "N") for x in X]
    model = RNNClassifier(output="sequence", **SMALL).fit(X, y)
    loaded = round_trip(model, tmp_path)
    for a, b in zip(model.predict_proba(X), loaded.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_char_rnn_plain_and_conditioned_round_trip(tmp_path):
    text = "the cat sat on the mat. $ {dict} " * 4
    model = CharRNN(hidden_sizes=(6,), seq_length=10, max_iter=2, random_state=0).fit(text)
    loaded = round_trip(model, tmp_path)
    assert_same_fitted_state(model, loaded)
    assert loaded.sample(30, prime="the ", random_state=3) == model.sample(30, prime="the ", random_state=3)
    assert loaded.perplexity(text) == model.perplexity(text)
    texts, features = ["one", "two", "three"], np.eye(3)
    conditioned = CharRNN(hidden_sizes=(6,), max_iter=2, random_state=0).fit(texts, features=features)
    loaded = round_trip(conditioned, tmp_path, "conditioned.fastrnn")
    assert_same_fitted_state(conditioned, loaded)
    assert loaded.sample(10, features=features[1], random_state=0) == \
        conditioned.sample(10, features=features[1], random_state=0)


@pytest.mark.parametrize("numeric", [False, True])
def test_seq2seq_round_trip(tmp_path, numeric):
    rng = np.random.default_rng(2)
    X = [rng.integers(1, 6, size=n) for n in (3, 4, 2, 5) * 3]
    Y = [x[::-1].astype(float) / 5 if numeric else x[::-1] for x in X]
    model = Seq2Seq(hidden_sizes=(6,), max_iter=2, random_state=0).fit(X, Y)
    loaded = round_trip(model, tmp_path)
    assert_same_fitted_state(model, loaded)
    lengths = dict(output_lengths=[len(y) for y in Y]) if numeric else {}
    for a, b in zip(model.predict(X, **lengths), loaded.predict(X, **lengths)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer", [
    RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, random_state=0),
    LSTM(3, 5, dtype=np.float64, random_state=np.random.default_rng(4)),
    GRU(2, 3, num_layers=3, random_state=1),
    Linear(4, 2, dtype=np.float64, random_state=0),
])
def test_layers_round_trip(tmp_path, layer):
    loaded = round_trip(layer, tmp_path)
    assert repr(loaded) == repr(layer)
    assert loaded.dtype == layer.dtype
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(loaded.params[name], value)
    x = np.random.default_rng(0).normal(size=(3, 4, getattr(layer, "input_size", 4)))
    np.testing.assert_array_equal(loaded.forward(x)[0], layer.forward(x)[0])


# ---------------------------------------------------------------------------------- continued training
@pytest.mark.parametrize("Estimator", [RNNRegressor, RNNClassifier])
def test_partial_fit_and_warm_start_continue_exactly_after_loading(series, tmp_path, Estimator):
    X, y = series
    target = y if Estimator is RNNRegressor else y > 0
    model = Estimator(**SMALL).fit(X, target)
    loaded = round_trip(model, tmp_path)
    model.partial_fit(X, target)
    loaded.partial_fit(X, target)
    np.testing.assert_array_equal(loaded.network_.params, model.network_.params)
    assert loaded._optimizer.t == model._optimizer.t
    loaded = round_trip(model, tmp_path, "again.fastrnn")
    for estimator in (model, loaded):
        estimator.set_params(warm_start=True, max_iter=2).fit(X, target)
    np.testing.assert_array_equal(loaded.network_.params, model.network_.params)
    assert loaded.loss_curve_ == model.loss_curve_


def test_char_rnn_and_seq2seq_warm_start_continue_exactly(tmp_path):
    text = "abcabcabd " * 10
    model = CharRNN(hidden_sizes=(5,), seq_length=8, max_iter=1, random_state=0, warm_start=True).fit(text)
    loaded = round_trip(model, tmp_path)
    model.fit(text)
    loaded.fit(text)
    np.testing.assert_array_equal(loaded.network_.params, model.network_.params)
    X = [np.array([1, 2, 3]), np.array([2, 3])] * 4
    model = Seq2Seq(hidden_sizes=(5,), max_iter=1, random_state=0, warm_start=True).fit(X, [x[::-1] for x in X])
    loaded = round_trip(model, tmp_path, "s2s.fastrnn")
    model.fit(X, [x[::-1] for x in X])
    loaded.fit(X, [x[::-1] for x in X])
    np.testing.assert_array_equal(loaded.network_.params, model.network_.params)


# ---------------------------------------------------------------------------------- devices, files, format
def test_device_is_kept_or_replaced(series, tmp_path):
    X, y = series
    model = RNNRegressor(**SMALL).fit(X, y)
    model.set_params(device="cuda")  # as a model trained on a GPU machine would be saved
    loaded = round_trip(model, tmp_path)
    assert loaded.device == "cuda"
    on_cpu = fastrnn.load(tmp_path / "model.fastrnn", device="cpu")
    assert on_cpu.device == "cpu"
    np.testing.assert_array_equal(on_cpu.predict(X), model.set_params(device="cpu").predict(X))
    layer = LSTM(2, 3, random_state=0)
    layer.device = "cuda"
    assert round_trip(layer, tmp_path, "layer.fastrnn").device == "cuda"
    with pytest.raises(ValueError, match="device must be None or one of"):
        fastrnn.load(tmp_path / "model.fastrnn", device="gpu")


def test_file_objects_and_identical_bytes(series, tmp_path):
    X, y = series
    model = RNNRegressor(**SMALL).fit(X, y)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(fastrnn.load(buffer).predict(X), model.predict(X))
    model.save(tmp_path / "a.fastrnn")
    model.save(tmp_path / "b.fastrnn")
    assert (tmp_path / "a.fastrnn").read_bytes() == (tmp_path / "b.fastrnn").read_bytes() == buffer.getvalue()


def test_weights_are_readable_without_fastrnn(series, tmp_path):
    """What the manual promises a reader in another language: JSON names the members, .npy holds them."""
    X, y = series
    model = RNNRegressor(cell="gru", **SMALL).fit(X, y)
    model.save(tmp_path / "m.fastrnn")
    with zipfile.ZipFile(tmp_path / "m.fastrnn") as archive:
        document = json.loads(archive.read("model.json"))
        weights = {name: np.load(io.BytesIO(archive.read(member)), allow_pickle=False)
                   for name, member in document["weights"].items()}
    assert document["format"] == "fastrnn-model" and document["class"] == "RNNRegressor"
    assert document["network"]["config"]["cell"] == "gru"
    assert list(weights) == list(model.network_.named_parameters())
    for name, value in model.network_.named_parameters().items():
        np.testing.assert_array_equal(weights[name], value)


def test_loading_never_unpickles(series, tmp_path, monkeypatch):
    X, y = series
    RNNClassifier(**SMALL).fit(X, np.where(y > 0, "a", "b")).save(tmp_path / "m.fastrnn")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert list(fastrnn.load(tmp_path / "m.fastrnn").classes_) == ["a", "b"]


def test_failed_save_leaves_no_partial_file(series, tmp_path, monkeypatch):
    X, y = series
    model = RNNRegressor(**SMALL).fit(X, y)
    path = tmp_path / "model.fastrnn"
    path.write_bytes(b"the previous file")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == b"the previous file"
    assert sorted(os.listdir(tmp_path)) == ["model.fastrnn"]


def test_save_errors(series, tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        RNNRegressor().save(tmp_path / "m.fastrnn")
    with pytest.raises(ValueError):  # NotFittedError is a ValueError
        CharRNN().save(tmp_path / "m.fastrnn")
    X, y = series
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RNNRegressor(**SMALL).fit(X, y).save(tmp_path / "missing-folder" / "m.fastrnn")


# ---------------------------------------------------------------------------------- refused files
@pytest.fixture
def saved(series, tmp_path):
    """A saved classifier, its document and members: material for hand-made hostile files."""
    X, y = series
    RNNClassifier(**SMALL).fit(X, np.where(y > 0, "a", "b")).save(tmp_path / "good.fastrnn")
    with zipfile.ZipFile(tmp_path / "good.fastrnn") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(members.pop("model.json")), members


def write_zip(path, document, members):
    with zipfile.ZipFile(path, "w") as archive:
        if document is not None:
            archive.writestr("model.json", document if isinstance(document, str) else json.dumps(document))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy_header(text):
    """The bytes of an .npy member whose header is ``text`` (a dict literal, however malformed)."""
    header = text.encode()
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def npy_bytes(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_missing_file_and_files_that_are_not_models(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="No fastrnn model file at"):
        fastrnn.load(tmp_path / "nothing.fastrnn")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes.txt.*not a fastrnn model file \(not a zip"):
        fastrnn.load(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="no model.json inside"):
        fastrnn.load(write_zip(tmp_path / "empty.zip", None, {"a.txt": b"x"}))
    with pytest.raises(ValueError, match="model.json is not valid JSON"):
        fastrnn.load(write_zip(tmp_path / "bad.zip", "{not json", {}))
    document, members = saved
    with pytest.raises(ValueError, match="does not say format 'fastrnn-model'"):
        fastrnn.load(write_zip(tmp_path / "other.zip", {**document, "format": "keras"}, members))
    with pytest.raises(ValueError, match="is a folder"):
        fastrnn.load(tmp_path)


def test_newer_format_version_is_refused(tmp_path, saved):
    document, members = saved
    path = write_zip(tmp_path / "future.fastrnn", {**document, "format_version": 99, "fastrnn_version": "9.0"},
                     members)
    with pytest.raises(ValueError, match=r"future.fastrnn.*format version 99, newer than this fastrnn .* upgrade"):
        fastrnn.load(path)


@pytest.mark.parametrize("name", ["Popen", "os.system", "builtins.eval", "SequenceNetwork", "Adam"])
def test_a_file_naming_another_class_is_refused(tmp_path, saved, name):
    document, members = saved
    path = write_zip(tmp_path / "hostile.fastrnn", {**document, "class": name}, members)
    with pytest.raises(ValueError, match=f"names the class '{name}', which is not a fastrnn model class"):
        fastrnn.load(path)


def test_hostile_contents_are_refused(tmp_path, saved):
    document, members = saved
    weight = "layers.0.weight_hh_l0"
    cases = {
        "object array": ({**document}, {**members, document["weights"][weight]: npy_bytes(
            np.array([os.system], dtype=object), allow_pickle=True)}, "array of Python objects.*never unpickles"),
        "network class": ({**document, "network": {**document["network"], "class": "Popen"}}, members,
                          "its network \\('Popen'"),
        "network output": ({**document, "network": {**document["network"], "config": {
            **document["network"]["config"], "output": "sequence"}}}, members, "is not the one its params"),
        "network size": ({**document, "network": {**document["network"], "config": {
            **document["network"]["config"], "hidden_sizes": [10 ** 7]}}}, members, "is not the one its params"),
        "parameter size": ({**document, "params": {**document["params"], "hidden_sizes": {"$tuple": [10 ** 7]}},
                            "network": {**document["network"], "config": {
                                **document["network"]["config"], "hidden_sizes": [10 ** 7]}}}, members,
                           "asks for a size 10000000 that the stored weight 'layers.0.weight_hh_l0'"),
        "classes and head": ({**document, "attributes": {**document["attributes"], "classes_": {
            "$object_array": ["a", "b", "c"], "shape": [3]}}}, members, "is not the one its params"),
        "no attributes": ({**document, "attributes": {}}, members, "lack the random generator|incomplete"),
        "no generator": ({**document, "attributes": {**document["attributes"], "_rng": 5}}, members,
                         "lack the random generator"),
        "huge number": ({**document, "params": {**document["params"], "learning_rate_init": "__1e400__"}},
                        members, "not valid JSON"),
        "optimizer class": ({**document, "optimizer": {**document["optimizer"], "class": "eval"}}, members,
                            "optimizer entry is malformed or names a class"),
        "attribute": ({**document, "attributes": {**document["attributes"], "predict": "boom"}}, members,
                      "sets the attribute 'predict'"),
        "dunder": ({**document, "attributes": {**document["attributes"], "__class__": "x"}}, members,
                   "sets the attribute '__class__'"),
        "tag": ({**document, "attributes": {**document["attributes"], "n_iter_": {"$eval": "1"}}}, members,
                "tagged '\\$eval'"),
        "generator": ({**document, "attributes": {**document["attributes"], "_rng": {"$generator": {"$dict": {
            "bit_generator": "os.system"}}}}}, members, "bit generator 'os.system'"),
        "parameter": ({**document, "params": {**document["params"], "exec": 1}}, members,
                      "do not fit RNNClassifier's constructor"),
        "parameter value": ({**document, "params": {**document["params"], "cell": "transformer"}}, members,
                            "'cell' parameter of RNNClassifier must be"),
        "shape": (document, {**members, document["weights"]["head.weight"]: npy_bytes(np.zeros((1, 9), np.float32))},
                  "weights\\['head.weight'\\] has shape \\(1, 9\\)"),
        "small shape": (document, {**members, document["weights"][weight]: npy_bytes(np.zeros((2, 2), np.float32))},
                        f"asks for a size 5 that the stored weight '{weight}'"),
        "not finite": (document, {**members, document["weights"]["head.bias"]: npy_bytes(
            np.full(1, np.nan, np.float32))}, "not finite"),
        "missing member": (document, {k: v for k, v in members.items() if k != document["weights"][weight]},
                           "missing from the archive"),
        "missing weight": ({**document, "weights": {k: v for k, v in document["weights"].items() if k != weight}},
                           members, f"needs the weight '{weight}', which the file does not hold"),
        "missing bias": ({**document, "weights": {k: v for k, v in document["weights"].items()
                                                  if k != "layers.0.bias_ih_l0"}},
                         members, "missing \\['layers.0.bias_ih_l0'\\]"),
    }
    cases.update({
        "float64 overflowing float32": (document, {**members, document["weights"]["head.bias"]: npy_bytes(
            np.full(1, 1e300))}, "not finite in the model's dtype"),
        "npy header": (document, {**members, document["weights"]["head.bias"]: npy_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), ")}, "head.bias.npy.*is damaged"),
        "npy shape": (document, {**members, document["weights"]["head.bias"]: npy_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000000000000,), }")},
                      "more than the member's size"),
        "object array shape": ({**document, "attributes": {**document["attributes"], "classes_": {
            "$object_array": [], "shape": [0, 10 ** 20]}}}, members, "malformed object array"),
        "object array bool shape": ({**document, "attributes": {**document["attributes"], "classes_": {
            "$object_array": ["a"], "shape": [True]}}}, members, "malformed object array"),
        "generator state": ({**document, "attributes": {**document["attributes"], "_rng": {"$generator": {"$dict": {
            "bit_generator": "PCG64", "state": {"$dict": {"state": 2 ** 200, "inc": 1}}, "has_uint32": 0,
            "uinteger": 0}}}}}, members, "invalid PCG64 state"),
        "random state key": ({**document, "attributes": {**document["attributes"], "_rng": {"$random_state": {
            "$dict": {"bit_generator": "MT19937", "state": {"$dict": {"key": [1, 2, 3], "pos": 0}}}}}}}, members,
            "invalid RandomState state"),
    })
    for case, (hostile_document, hostile_members, message) in cases.items():
        if isinstance(hostile_document, dict):
            hostile_document = json.dumps(hostile_document).replace('"__1e400__"', "1e400")
        path = write_zip(tmp_path / f"{case}.fastrnn", hostile_document, hostile_members)
        with pytest.raises(ValueError, match=message):
            fastrnn.load(path)


def test_truncated_and_corrupted_files_give_clear_errors(tmp_path, saved, series):
    X, y = series
    RNNRegressor(**SMALL).fit(X, y).save(tmp_path / "good.fastrnn")
    data = (tmp_path / "good.fastrnn").read_bytes()
    (tmp_path / "truncated.fastrnn").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="truncated.fastrnn.*not a fastrnn model file"):
        fastrnn.load(tmp_path / "truncated.fastrnn")
    with zipfile.ZipFile(tmp_path / "good.fastrnn") as archive:
        info = archive.getinfo("weights/head.weight.npy")
    corrupted = bytearray(data)
    corrupted[info.header_offset + 30 + len(info.filename) + 130] ^= 0xFF  # a byte of the array's data
    (tmp_path / "corrupted.fastrnn").write_bytes(bytes(corrupted))
    with pytest.raises(ValueError, match=r"corrupted.fastrnn.*weights/head.weight.npy.*is damaged"):
        fastrnn.load(tmp_path / "corrupted.fastrnn")


def test_random_damage_always_gives_a_clear_error(series):
    """Bytes changed or cut at random: every outcome is a model or a ValueError naming the file."""
    import random

    X, y = series
    buffer = io.BytesIO()
    RNNClassifier(**SMALL).fit(X, np.where(y > 0, "a", "b")).save(buffer)
    data = buffer.getvalue()
    chance = random.Random(0)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(chance.choice([1, 2, 4])):
            damaged[chance.randrange(len(damaged))] = chance.randrange(256)
        if chance.random() < 0.1:
            damaged = damaged[:chance.randrange(len(damaged))]
        try:
            fastrnn.load(io.BytesIO(bytes(damaged)))
        except ValueError as error:
            assert str(error).startswith("Cannot load the model file object"), str(error)


def test_a_generator_given_as_random_state_stays_the_generator_the_model_draws_from(series, tmp_path):
    X, y = series
    for random_state in (np.random.default_rng(7), np.random.RandomState(7)):
        model = RNNRegressor(**{**SMALL, "random_state": random_state}).fit(X, y)
        if isinstance(random_state, np.random.RandomState):
            random_state.standard_normal()  # leaves a cached Gaussian draw in the state
        loaded = round_trip(model, tmp_path)
        assert (loaded._rng is loaded.random_state) == (model._rng is model.random_state)
        assert same(loaded.random_state.bit_generator.state if hasattr(loaded.random_state, "bit_generator")
                    else loaded.random_state.get_state(legacy=False),
                    model.random_state.bit_generator.state if hasattr(model.random_state, "bit_generator")
                    else model.random_state.get_state(legacy=False))
        for estimator in (model, loaded):  # a partial fit, then a fit from scratch with the same generator
            estimator.partial_fit(X, y)
            estimator.fit(X, y)
        np.testing.assert_array_equal(loaded.network_.params, model.network_.params)


def test_files_get_the_permissions_of_the_umask(series, tmp_path):
    X, y = series
    previous = os.umask(0o022)
    try:
        RNNRegressor(**SMALL).fit(X, y).save(tmp_path / "m.fastrnn")
    finally:
        os.umask(previous)
    assert (os.stat(tmp_path / "m.fastrnn").st_mode & 0o777) == 0o644


def test_attributes_a_user_added_round_trip_and_a_changed_architecture_is_refused(series, tmp_path):
    X, y = series
    model = RNNRegressor(**SMALL).fit(X, y)
    model.Scaler_mean = 1.5
    assert round_trip(model, tmp_path).Scaler_mean == 1.5
    model.set_params(hidden_sizes=(9,))
    with pytest.raises(ValueError, match="changed after fit: set it back, or fit again"):
        model.save(tmp_path / "changed.fastrnn")
    assert not (tmp_path / "changed.fastrnn").exists()


def test_a_small_layer_file_cannot_ask_for_a_large_layer(tmp_path):
    LSTM(2, 3, random_state=0).save(tmp_path / "lstm.fastrnn")
    with zipfile.ZipFile(tmp_path / "lstm.fastrnn") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members.pop("model.json"))
    for change, message in ((dict(num_layers=10 ** 6), "needs the weight 'weight_hh_l999999'"),
                            (dict(hidden_size=10 ** 5), "asks for a size 100000")):
        path = write_zip(tmp_path / "big.fastrnn", {**document, "params": {**document["params"], **change}}, members)
        with pytest.raises(ValueError, match=message):
            fastrnn.load(path)
