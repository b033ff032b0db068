"""Behaviour of RNNRegressor and RNNClassifier: shapes, attributes, training controls, errors, learning."""

import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor
from fastrnn.data import make_windows, time_split
from fastrnn.exceptions import ConvergenceWarning, NotFittedError, TrainingDivergedError

SMALL = dict(hidden_sizes=(8,), max_iter=3, random_state=0)


@pytest.fixture(autouse=True)
def quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6, 3))
    y = X[:, :, 0].sum(axis=1)
    return X, y


def marker_task(n, n_steps=30, seed=0):
    """Is there a marker (a +3 spike) anywhere in a noise sequence? Needs memory of the whole sequence."""
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=0.5, size=(n, n_steps, 1))
    y = rng.integers(0, 2, n)
    where = rng.integers(0, n_steps, n)
    X[np.flatnonzero(y), where[y == 1], 0] += 3.0
    return X, y


# ---------------------------------------------------------------------------- shapes and attributes
@pytest.mark.parametrize("y_shape, pred_shape", [((40,), (40,)), ((40, 1), (40,)), ((40, 2), (40, 2))])
def test_regressor_last_output_shapes(data, y_shape, pred_shape):
    X, y = data
    target = np.broadcast_to(y[:, None], (40, 2))[:, :y_shape[1]] if len(y_shape) == 2 else y
    model = RNNRegressor(**SMALL).fit(X, target)
    assert model.predict(X).shape == pred_shape
    assert model.predict(X).dtype == np.float64
    assert model.n_outputs_ == (1 if len(y_shape) == 1 else y_shape[1])
    assert model.n_features_in_ == 3


def test_regressor_sequence_output_shapes_and_other_lengths(data):
    X, _ = data
    y_seq = np.cumsum(X[:, :, 0], axis=1)
    model = RNNRegressor(output="sequence", **SMALL).fit(X, y_seq)
    assert model.predict(X).shape == (40, 6)
    assert model.predict(X[:, :4]).shape == (40, 4)  # another length is legal for sequences
    model = RNNRegressor(output="sequence", **SMALL).fit(X, np.stack([y_seq, -y_seq], axis=-1))
    assert model.predict(X).shape == (40, 6, 2)
    assert np.isfinite(model.score(X, np.stack([y_seq, -y_seq], axis=-1)))


def test_fitted_attributes(data):
    X, y = data
    model = RNNRegressor(hidden_sizes=(8, 5), max_iter=4, batch_size=16, clip_grad_norm=0.01,
                         random_state=0).fit(X, y)
    assert model.n_iter_ == 4 == len(model.loss_curve_) == len(model.grad_norm_curve_)
    assert model.t_ == 4 * 40
    assert model.best_loss_ == min(model.loss_curve_)
    assert model.validation_scores_ is None and model.validation_loss_curve_ is None
    assert model.best_validation_score_ is None
    # a tiny clipping threshold clips every step, and the norms are recorded before clipping
    assert model.clipped_fraction_curve_ == [1.0] * 4
    assert min(model.grad_norm_curve_) > 0.01
    assert [layer.hidden_size for layer in model.network_.layers] == [8, 5]
    assert set(model.network_.layers[0].params) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    assert model.network_.head.params["weight"].shape == (1, 5)


def test_convergence_warning_at_max_iter(data):
    X, y = data
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(5\) reached"):
        model = RNNRegressor(hidden_sizes=(8,), max_iter=5, learning_rate_init=0.03, batch_size=8,
                             random_state=0).fit(X, y)
    assert model.loss_curve_[-1] < 0.5 * model.baseline_loss_  # it learned, but had not converged


def test_same_random_state_gives_bit_identical_weights(data):
    X, y = data
    a = RNNRegressor(hidden_sizes=(8,), max_iter=3, random_state=7).fit(X, y)
    b = RNNRegressor(hidden_sizes=(8,), max_iter=3, random_state=7).fit(X, y)
    c = RNNRegressor(hidden_sizes=(8,), max_iter=3, random_state=8).fit(X, y)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert not np.array_equal(a.network_.params, c.network_.params)


@pytest.mark.parametrize("solver, learning_rate", [("sgd", 0.2), ("adam", 0.01), ("adagrad", 0.05)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_solver_and_cell_reduces_the_loss(data, solver, learning_rate, cell):
    X, y = data
    model = RNNRegressor(cell=cell, solver=solver, hidden_sizes=(8,), max_iter=15,
                         learning_rate_init=learning_rate, random_state=0).fit(X / 2, y / 4)
    assert model.loss_curve_[-1] < 0.7 * model.loss_curve_[0]


def test_float64_models(data):
    X, y = data
    model = RNNRegressor(dtype="float64", **SMALL).fit(X, y)
    assert model.network_.params.dtype == np.float64


def test_verbose_prints_progress(data, capsys):
    X, y = data
    RNNRegressor(hidden_sizes=(4,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss" in err


# ---------------------------------------------------------------------------- warm start, partial_fit
def test_warm_start_continues_and_cold_start_restarts(data):
    X, y = data
    warm = RNNRegressor(hidden_sizes=(8,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    after_first = warm.network_.params.copy()
    warm.fit(X, y)
    assert warm.n_iter_ == 10 and len(warm.loss_curve_) == 10
    assert warm.loss_curve_[5] < warm.loss_curve_[0]  # it did not start from scratch

    cold = RNNRegressor(hidden_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cold.network_.params, after_first)
    cold.fit(X, y)  # refit without warm_start starts again
    np.testing.assert_array_equal(cold.network_.params, after_first)
    assert cold.n_iter_ == 5


def test_partial_fit_runs_one_epoch_per_call(data):
    X, y = data
    model = RNNRegressor(hidden_sizes=(8,), learning_rate_init=0.01, random_state=0)
    for _ in range(6):
        model.partial_fit(X, y)
    assert model.n_iter_ == 6 and len(model.loss_curve_) == 6 and model.t_ == 240
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_classifier_partial_fit_needs_classes_and_rejects_unknown_labels(data):
    X, y = data
    labels = np.where(y > 0, "up", "down")
    clf = RNNClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, labels)
    clf.partial_fit(X[:20], labels[:20], classes=["down", "flat", "up"])
    assert list(clf.classes_) == ["down", "flat", "up"]
    clf.partial_fit(X[20:], labels[20:])
    assert clf.predict_proba(X).shape == (40, 3)
    with pytest.raises(ValueError, match=r"labels not seen in fit.*\['sideways'\]"):
        clf.partial_fit(X[:2], ["up", "sideways"])


# ---------------------------------------------------------------------------- early stopping, divergence
def test_early_stopping_restores_the_best_weights():
    X, y = marker_task(120, n_steps=10)
    model = RNNClassifier(hidden_sizes=(8,), max_iter=200, learning_rate_init=0.05, early_stopping=True,
                          validation_fraction=0.25, n_iter_no_change=4, shuffle=False, random_state=0)
    model.fit(X, y)
    assert model.n_iter_ < 200
    assert len(model.validation_scores_) == len(model.validation_loss_curve_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None
    # shuffle=False holds out the last 25 % of the samples: the restored weights score the best value
    assert model.score(X[90:], y[90:]) == model.best_validation_score_


def test_early_stopping_validation_split_is_stratified():
    X, y = marker_task(40, n_steps=5)
    y = np.where(np.arange(40) < 36, 0, 1)  # 36 of class 0, 4 of class 1
    clf = RNNClassifier(hidden_sizes=(4,), max_iter=2, early_stopping=True, validation_fraction=0.25,
                        random_state=0)
    train, val = clf._validation_indices(y, np.random.default_rng(0))
    assert sorted(np.bincount(y[val]).tolist()) == [1, 9]
    assert len(set(train) | set(val)) == 40 and not set(train) & set(val)


def test_divergence_stops_with_a_clear_error_and_keeps_finite_weights(data):
    X, y = data
    model = RNNRegressor(cell="rnn", nonlinearity="relu", solver="sgd", learning_rate_init=1e4, momentum=0.0,
                         clip_grad_norm=None, hidden_sizes=(16,), max_iter=50, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"Training diverged at epoch \d+: the loss became"):
        model.fit(X * 100, y * 1e3)
    assert np.all(np.isfinite(model.network_.params))
    assert np.all(np.isfinite(model.predict(X)))


# ---------------------------------------------------------------------------- errors
def test_not_fitted_errors(data):
    X, _ = data
    for method in ("predict", "score", "forecast"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            args = (X, [0.0] * 40) if method == "score" else (X, 2) if method == "forecast" else (X,)
            getattr(RNNRegressor(), method)(*args)
    with pytest.raises(NotFittedError):
        RNNClassifier().predict_proba(X)


@pytest.mark.parametrize("X_bad, y_bad, error, message", [
    (np.zeros(5), np.zeros(5), ValueError, "X is 1-D.*Reshape your data"),
    (np.zeros((4, 3, 2, 1)), np.zeros(4), ValueError, "X must be 3-D"),
    (np.zeros((4, 3, 2)), np.zeros(5), ValueError, "inconsistent numbers of samples: 4 and 5"),
    (np.zeros((0, 3, 2)), np.zeros(0), ValueError, "0 samples"),
    (np.full((4, 3, 2), np.nan), np.zeros(4), ValueError, "X contains NaN or infinity"),
    (np.full((4, 3, 2), np.inf), np.zeros(4), ValueError, "X contains NaN or infinity"),
    (np.zeros((4, 3, 2)), np.array([0, 1, np.nan, 2]), ValueError, "y contains NaN or infinity"),
    (np.zeros((4, 3, 2)), np.zeros((4, 3, 2, 1)), ValueError, r"y must have shape \(n_samples,\)"),
    (np.zeros((4, 3, 2)), None, ValueError, "requires y to be passed"),
    ([[["a"]]], [1.0], ValueError, "X must contain real numbers"),
])
def test_bad_inputs_raise_clear_errors(X_bad, y_bad, error, message):
    with pytest.raises(error, match=message):
        RNNRegressor(**SMALL).fit(X_bad, y_bad)


def test_sparse_input_is_rejected():
    import scipy.sparse

    with pytest.raises(TypeError, match="sparse input is not supported"):
        RNNRegressor(**SMALL).fit(scipy.sparse.csr_matrix(np.ones((4, 3))), np.zeros(4))


def test_sequence_targets_must_match_time_steps(data):
    X, _ = data
    with pytest.raises(ValueError, match="y has 5 time steps but X has 6"):
        RNNRegressor(output="sequence", **SMALL).fit(X, np.zeros((40, 5)))
    with pytest.raises(ValueError, match="y has 5 time steps but X has 6"):
        RNNClassifier(output="sequence", **SMALL).fit(X, np.zeros((40, 5), dtype=int))


def test_changed_number_of_features_at_predict(data):
    X, y = data
    model = RNNRegressor(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"2 features per time step.*fitted with n_features_in_=3"):
        model.predict(X[:, :, :2])
    with pytest.raises(ValueError, match="2-D"):
        model.predict(X[:, :, 0])


@pytest.mark.parametrize("param, value, message", [
    ("hidden_sizes", (0,), "'hidden_sizes' parameter of RNNRegressor must be a non-empty tuple"),
    ("hidden_sizes", 8, "'hidden_sizes' parameter"),
    ("cell", "transformer", "'cell' parameter of RNNRegressor must be one of 'rnn', 'lstm', 'gru'"),
    ("solver", "lbfgs", "'solver' parameter"),
    ("learning_rate_init", 0.0, "'learning_rate_init' parameter of RNNRegressor must be a float > 0"),
    ("batch_size", 0, "'batch_size' parameter"),
    ("validation_fraction", 1.0, "'validation_fraction' parameter"),
    ("clip_grad_norm", -1.0, "'clip_grad_norm' parameter of RNNRegressor must be None or a float > 0"),
    ("output", "all", "'output' parameter"),
    ("dtype", "float16", "'dtype' parameter"),
    ("max_iter", 1.5, "'max_iter' parameter"),
])
def test_invalid_parameters_raise_at_fit(data, param, value, message):
    X, y = data
    model = RNNRegressor(**{**SMALL, param: value})  # __init__ accepts anything, as in scikit-learn
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


def test_device_parameter(data, monkeypatch):
    from fastrnn.kernels import dispatch

    X, y = data
    assert RNNRegressor(device="cpu", **SMALL).fit(X, y).predict(X).shape == (40,)
    if dispatch.cuda_usable() or dispatch.config.CUDA_SIMULATOR:
        pytest.skip("a GPU (or the simulator) is present: device='cuda' works here")
    # "auto" silently runs on the CPU when no GPU is usable, whatever the model's size
    assert dispatch.resolve_device("auto", 10**6) == "cpu"
    assert RNNRegressor(device="auto", **SMALL).fit(X, y).network_.device == "cpu"
    with pytest.raises(RuntimeError, match="device='cuda'.*(no usable CUDA GPU|numba-cuda is not installed)"):
        RNNRegressor(device="cuda", **SMALL).fit(X, y)
    monkeypatch.setattr(dispatch, "_numba_cuda", lambda: None)
    with pytest.raises(RuntimeError, match=r'numba-cuda is not installed; install the CUDA extra: pip install "fastrnn\[cuda\]"'):
        RNNRegressor(device="cuda", **SMALL).fit(X, y)


def test_auto_runs_small_models_on_the_cpu_even_with_a_gpu(data, monkeypatch):
    """device="auto" picks the GPU only for a recurrent layer of CUDA_AUTO_MIN_GATE_UNITS gate units
    or more (gates x hidden size): below, the CPU kernels are faster. A GPU is pretended here; the
    small models never touch it."""
    from fastrnn.kernels import config, dispatch

    monkeypatch.setattr(dispatch, "cuda_usable", lambda: True)
    large = config.CUDA_AUTO_MIN_GATE_UNITS
    assert dispatch.resolve_device("auto", large - 1) == "cpu"
    assert dispatch.resolve_device("auto", large) == "cuda"
    assert dispatch.resolve_device("auto") == "cuda"  # no recurrent layer: the GPU's presence decides
    assert dispatch.resolve_device("cpu", 10 * large) == "cpu"
    X, y = data
    under = large // 4 - 1                                   # LSTM units: 4 gates each
    model = RNNRegressor(device="auto", cell="lstm", **{**SMALL, "hidden_sizes": (4, under)})
    assert model.fit(X, y).network_.device == "cpu"
    assert model.network_.largest_gate_units == 4 * under
    assert fastrnn.LSTM(2, under)._backend is dispatch.CPU_BACKEND
    assert fastrnn.RNN(2, 4 * under)._backend is dispatch.CPU_BACKEND    # one gate: 4x the units
    sentinel = object()
    monkeypatch.setattr(dispatch, "_cuda_backend", lambda: sentinel)
    assert fastrnn.LSTM(2, under + 1)._backend is sentinel
    assert fastrnn.GRU(2, large // 3)._backend is sentinel
    assert fastrnn.Linear(2, 3)._backend is sentinel                     # no recurrence: a usable GPU
    monkeypatch.setattr(dispatch, "cuda_usable", lambda: False)
    assert dispatch.resolve_device("auto", large) == "cpu"


def test_classifier_label_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        RNNClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        RNNClassifier(**SMALL).fit(X, np.ones(40, dtype=int))
    with pytest.raises(ValueError, match="mixes labels of types"):
        RNNClassifier(**SMALL).fit(X, np.array(["a", 1] * 20, dtype=object))


def test_nothing_the_user_gave_is_mutated(data):
    X, y = data
    X_copy, y_copy = X.copy(), y.copy()
    model = RNNRegressor(**SMALL).fit(X, y)
    model.predict(X)
    model.score(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


# ---------------------------------------------------------------------------- initial state
def test_initial_state_changes_predictions_and_is_validated(data):
    X, y = data
    model = RNNRegressor(hidden_sizes=(8, 4), **{k: v for k, v in SMALL.items() if k != "hidden_sizes"})
    model.fit(X, y)
    zeros = [(np.zeros((40, 8)), np.zeros((40, 8))), (np.zeros((40, 4)), np.zeros((40, 4)))]
    ones = [(np.ones((40, 8)), np.ones((40, 8))), (np.ones((40, 4)), np.ones((40, 4)))]
    np.testing.assert_array_equal(model.predict(X, initial_state=zeros), model.predict(X))
    assert not np.allclose(model.predict(X, initial_state=ones), model.predict(X))
    with pytest.raises(ValueError, match="one entry per recurrent layer"):
        model.predict(X, initial_state=zeros[:1])
    with pytest.raises(ValueError, match=r"initial_state\[1\] \(c0\) must have shape \(40, 4\)"):
        model.predict(X, initial_state=[zeros[0], (np.zeros((40, 4)), np.zeros((40, 3)))])
    rnn = RNNRegressor(cell="rnn", **SMALL).fit(X, y, initial_state=[np.ones((40, 8))])
    assert rnn.predict(X, initial_state=[np.ones((40, 8))]).shape == (40,)


# ---------------------------------------------------------------------------- classifier outputs
def test_classifier_probabilities_and_string_labels(data):
    X, y = data
    labels = np.select([y < -1, y > 1], ["low", "high"], "mid")
    clf = RNNClassifier(**SMALL).fit(X, labels)
    assert list(clf.classes_) == ["high", "low", "mid"] and clf.n_outputs_ == 3
    proba = clf.predict_proba(X)
    assert proba.shape == (40, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    assert set(clf.predict(X)) <= {"low", "mid", "high"}
    binary = RNNClassifier(**SMALL).fit(X, y > 0)
    assert binary.n_outputs_ == 1 and binary.predict_proba(X).shape == (40, 2)
    assert binary.predict(X).dtype == bool
    # decision_function: the logits, scikit-learn's shapes (one column for two classes)
    logits = clf.decision_function(X)
    assert logits.shape == (40, 3)
    np.testing.assert_array_equal(clf.classes_[np.argmax(logits, axis=1)], clf.predict(X))
    np.testing.assert_allclose(logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)), clf.predict_log_proba(X))
    z = binary.decision_function(X)
    assert z.shape == (40,)
    np.testing.assert_array_equal(z > 0, binary.predict(X))
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), binary.predict_proba(X)[:, 1])


def test_tagging_output_shapes(data):
    X, _ = data
    tags = np.where(np.cumsum(X[:, :, 0], axis=1) > 0, "P", "N")
    tagger = RNNClassifier(output="sequence", **SMALL).fit(X, tags)
    assert tagger.predict(X).shape == (40, 6)
    assert tagger.predict_proba(X).shape == (40, 6, 2)
    assert 0.0 <= tagger.score(X, tags) <= 1.0


# ---------------------------------------------------------------------------- forecasting
def test_forecast_shapes_and_errors():
    series = np.sin(np.arange(200) * 0.3)
    X, y = make_windows(series, window=10)
    model = RNNRegressor(**SMALL).fit(X, y)
    assert model.forecast(X[-3:], 7).shape == (3, 7)
    assert model.forecast(X[-3:, :, 0], 7).shape == (3, 7)
    two = np.stack([series, np.cos(np.arange(200) * 0.3)], axis=1)
    X2, y2 = make_windows(two, window=10)
    assert RNNRegressor(**SMALL).fit(X2, y2).forecast(X2[-2:], 4).shape == (2, 4, 2)
    X3, y3 = make_windows(two, window=10, targets=0)
    with pytest.raises(ValueError, match="n_outputs_ == n_features_in_"):
        RNNRegressor(**SMALL).fit(X3, y3).forecast(X3[-2:], 4)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        model.forecast(X[-1:], 0)


def test_forecast_first_step_equals_predict():
    series = np.sin(np.arange(100) * 0.3)
    X, y = make_windows(series, window=10)
    model = RNNRegressor(**SMALL).fit(X, y)
    np.testing.assert_array_equal(model.forecast(X[:5], 3)[:, 0], model.predict(X[:5]))


# ---------------------------------------------------------------------------- learning (could fail)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_learn_the_marker_task_a_memoryless_model_cannot(cell):
    X, y = marker_task(900)
    X_train, X_test, y_train, y_test = X[:700], X[700:], y[:700], y[700:]
    clf = RNNClassifier(cell=cell, hidden_sizes=(16,), max_iter=40, learning_rate_init=0.01, random_state=0)
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.95
    # a memoryless model sees one step: the best it can do from the last step is about chance
    last = X_test[:, -1, 0] > 1.5
    assert np.mean(last == y_test) < 0.65


def test_lstm_forecasts_a_noisy_sine_wave():
    rng = np.random.default_rng(1)
    series = np.sin(np.arange(1500) * 2 * np.pi / 25) + 0.1 * rng.normal(size=1500)
    X, y = make_windows(series, window=25)
    X_train, X_test, y_train, y_test = time_split(X, y, test_size=0.2)
    model = RNNRegressor(hidden_sizes=(16,), max_iter=20, learning_rate_init=0.01, random_state=0)
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.95


def test_tagger_learns_a_running_parity_of_signs():
    """Per step: has the running sum of the inputs been positive? Needs memory at every step."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 15, 1))
    tags = (np.cumsum(X[:, :, 0], axis=1) > 0).astype(int)
    tagger = RNNClassifier(output="sequence", hidden_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                           random_state=0).fit(X[:500], tags[:500])
    assert tagger.score(X[500:], tags[500:]) > 0.9


# ---------------------------------------------------------------------------- variable lengths, bidirectional
def variable_length_marker_task(n, seed=0):
    """The marker task on sequences of 5 to 40 steps, as a list of 1-D arrays."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for _ in range(n):
        x = rng.normal(scale=0.5, size=rng.integers(5, 41))
        has_marker = rng.random() < 0.5
        if has_marker:
            x[rng.integers(0, x.size)] += 3.0
        sequences.append(x)
        labels.append(int(has_marker))
    return sequences, np.array(labels)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lists_of_sequences_of_different_lengths(bidirectional):
    X, y = variable_length_marker_task(700)
    clf = RNNClassifier(cell="gru", hidden_sizes=(16,), max_iter=25, learning_rate_init=0.01,
                        bidirectional=bidirectional, random_state=0).fit(X[:500], y[:500])
    assert clf.score(X[500:], y[500:]) > 0.95
    # each sequence is read to its own end: predicting it alone gives the same probabilities
    together = clf.predict_proba(X[500:520])
    alone = np.concatenate([clf.predict_proba(x[np.newaxis]) for x in X[500:520]])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_variable_lengths_with_early_stopping_and_a_regressor():
    X, _ = variable_length_marker_task(200, seed=1)
    y = np.array([x.sum() for x in X])
    model = RNNRegressor(hidden_sizes=(8,), max_iter=5, early_stopping=True, random_state=0).fit(X, y)
    assert model.predict(X).shape == (200,) and np.isfinite(model.score(X, y))


@pytest.mark.parametrize("estimator", ["regressor", "classifier"])
def test_variable_length_sequences_with_one_target_per_step(estimator):
    rng = np.random.default_rng(3)
    X = [rng.normal(size=rng.integers(5, 30)) for _ in range(400)]
    sums = [np.cumsum(x) for x in X]
    if estimator == "classifier":  # tagging with string labels: is the running sum positive?
        y = [np.where(s > 0, "up", "down") for s in sums]
        model = RNNClassifier(output="sequence", hidden_sizes=(16,), max_iter=15, learning_rate_init=0.01,
                              early_stopping=True, random_state=0)
    else:
        y = sums
        model = RNNRegressor(output="sequence", hidden_sizes=(16,), max_iter=15, learning_rate_init=0.01,
                             random_state=0)
    model.fit(X[:300], y[:300])
    assert model.score(X[300:], y[300:]) > 0.9
    predicted = model.predict(X[300:320])
    assert [p.shape for p in predicted] == [(x.size,) for x in X[300:320]]
    for x, p in zip(X[300:320], predicted):  # each sequence as if it were alone
        alone = model.predict(x[np.newaxis])[0]
        if estimator == "classifier":
            np.testing.assert_array_equal(p, alone)
        else:
            np.testing.assert_allclose(p, alone, atol=1e-5)
    with pytest.raises(ValueError, match=r"y\[1\] must hold one target per step of X\[1\]"):
        model.fit(X[:2], [y[0], y[1][:-1]])


def test_variable_lengths_errors():
    with pytest.raises(ValueError, match=r"X\[1\] must be a sequence"):
        RNNRegressor(max_iter=1).fit([np.zeros(3), np.zeros((0, 1))], [0.0, 1.0])
    with pytest.raises(ValueError, match="same number of features"):
        RNNRegressor(max_iter=1).fit([np.zeros((3, 2)), np.zeros((4, 1))], [0.0, 1.0])
    model = RNNRegressor(hidden_sizes=(4,), max_iter=1, bidirectional=True, random_state=0).fit(
        np.zeros((4, 3, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="initial_state is not supported with bidirectional=True"):
        model.predict(np.zeros((4, 3, 1)), initial_state=[np.zeros((4, 4))])


# ---------------------------------------------------------------------------- truncated BPTT
def test_truncated_bptt_trains_a_100000_step_series_in_bounded_memory():
    import tracemalloc

    rng = np.random.default_rng(0)
    t = np.arange(100_001)
    series = np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 7.3) + 0.1 * rng.normal(size=t.size)
    X, y = series[None, :-1], series[None, 1:]  # one series: predict each next value
    RNNRegressor(hidden_sizes=(4,), output="sequence", max_iter=1, device="cpu").fit(X[:, :20], y[:, :20])  # warm-up
    model = RNNRegressor(cell="gru", hidden_sizes=(16,), output="sequence", bptt_steps=100, max_iter=2,
                         learning_rate_init=0.01, device="cpu", random_state=0)
    tracemalloc.start()
    model.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # full BPTT keeps every step's activations: about 80 MB here; chunks of 100 steps need ~2 MB
    assert peak < 10e6
    assert model.score(X, y) > 0.9


def test_bptt_steps_covering_the_sequence_is_full_bptt_and_chunked_prediction_is_exact(data):
    X, y = data
    full = RNNRegressor(dtype="float64", bptt_steps=None, **SMALL).fit(X, y)
    covering = RNNRegressor(dtype="float64", bptt_steps=X.shape[1], **SMALL).fit(X, y)
    np.testing.assert_array_equal(full.network_.params, covering.network_.params)
    chunked = full.predict(X)
    np.testing.assert_allclose(full.set_params(bptt_steps=3).predict(X), chunked, rtol=1e-10, atol=1e-12)


def test_truncated_bptt_with_one_label_per_sequence_learns_from_the_last_chunk():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 30, 1))
    y = X[:, -3:, 0].mean(axis=1)  # depends on the last chunk only
    model = RNNRegressor(hidden_sizes=(16,), bptt_steps=10, max_iter=30, learning_rate_init=0.01, random_state=0)
    model.fit(X[:300], y[:300])
    assert model.score(X[300:], y[300:]) > 0.8


def test_truncated_bptt_errors():
    with pytest.raises(ValueError, match="bptt_steps .* needs unidirectional layers"):
        RNNRegressor(bptt_steps=2, bidirectional=True, max_iter=1).fit(np.zeros((4, 6, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="bptt_steps .* needs unidirectional layers"):
        RNNRegressor(bptt_steps=2, max_iter=1).fit([np.zeros(3), np.zeros(5)], [0.0, 1.0])
    with pytest.raises(ValueError, match="'bptt_steps' parameter of RNNRegressor must be None or an integer"):
        RNNRegressor(bptt_steps=0).fit(np.zeros((4, 6, 1)), np.zeros(4))
