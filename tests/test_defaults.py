"""Defaults that learn: the baseline loss, the stopping rule on a plateau, the warning of a fit that
learned nothing, and the default settings on real data shipped with fastrnn."""

import warnings

import numpy as np
import pytest

from fastrnn import CharRNN, RNNClassifier, RNNRegressor, Seq2Seq
from fastrnn.data import make_windows
from fastrnn.datasets import load_airline_passengers, load_sequence_classification, load_sunspots
from fastrnn.estimators._baseline import cross_entropy_baseline, squared_error_baseline
from fastrnn.exceptions import ConvergenceWarning
from fastrnn.losses import softmax_cross_entropy, squared_error

from helpers import expected_stop


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


# ---------------------------------------------------------------------- the baseline loss
def test_squared_error_baseline_is_the_loss_of_the_best_constant():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(6, 4, 2)) * [1.0, 3.0] + [5.0, -1.0]  # (n, steps, outputs)
    weights = (rng.random((6, 4)) > 0.3).astype(float)                # padded steps weigh 0
    baseline = squared_error_baseline(targets, weights)
    mean = (weights[..., None] * targets).sum(axis=(0, 1)) / weights.sum()
    assert baseline == pytest.approx(squared_error(np.broadcast_to(mean, targets.shape), targets, weights)[0])
    for shift in ([0.1, 0.0], [0.0, -0.1]):  # any other constant does worse
        assert squared_error(np.broadcast_to(mean + shift, targets.shape), targets, weights)[0] > baseline
    assert squared_error_baseline(np.full((5, 1), 3.0)) == 0.0


def test_cross_entropy_baseline_is_the_loss_of_predicting_the_class_frequencies():
    labels = np.array([[0, 2, 2], [1, 2, 0]])
    weights = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    baseline = cross_entropy_baseline(labels, 4, weights)
    frequencies = np.array([2, 1, 2, 0]) / 5
    logits = np.log(np.maximum(frequencies, 1e-300))
    assert baseline == pytest.approx(softmax_cross_entropy(np.broadcast_to(logits, (2, 3, 4)), labels, weights)[0])
    assert baseline == pytest.approx(-np.sum(frequencies[:3] * np.log(frequencies[:3])))


def test_every_estimator_records_its_baseline_loss():
    X = np.random.default_rng(1).normal(size=(30, 6, 2))
    y = X[:, -1, 0] * 4.0 + 2.0
    regressor = _quiet(lambda: RNNRegressor(hidden_sizes=(3,), max_iter=1, random_state=0).fit(X, y))
    assert regressor.baseline_loss_ == pytest.approx(0.5 * np.var(y), rel=1e-5)
    labels = np.array(["a"] * 20 + ["b"] * 10)
    classifier = _quiet(lambda: RNNClassifier(hidden_sizes=(3,), max_iter=1, random_state=0).fit(X, labels))
    assert classifier.baseline_loss_ == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    text = "abababababac"
    char_rnn = _quiet(lambda: CharRNN(hidden_sizes=(3,), seq_length=4, batch_size=1, max_iter=1,
                                      random_state=0).fit(text))
    p = np.array([5, 5, 1]) / 11  # the targets: the text's characters after the first
    assert char_rnn.baseline_loss_ == pytest.approx(-np.sum(p * np.log(p)))
    pairs = [np.array([1, 2]), np.array([2, 1, 1])]
    seq2seq = _quiet(lambda: Seq2Seq(hidden_sizes=(3,), max_iter=1, random_state=0).fit(pairs, pairs))
    p = np.array([3, 2, 2]) / 7  # tokens 1, 2 and the end symbol of each output
    assert seq2seq.baseline_loss_ == pytest.approx(-np.sum(p * np.log(p)))


# ---------------------------------------------------------------------- the stopping rule
def _absolute_tol_stop(losses, tol, n_iter_no_change):
    """The epoch at which scikit-learn's MLP rule (absolute tol on the training loss, counted in
    epochs) would have stopped a fit with these epoch losses."""
    best, count = np.inf, 0
    for epoch, loss in enumerate(losses, start=1):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            return epoch
    return len(losses)


def test_tol_is_a_fraction_of_the_baseline_so_small_targets_are_not_stopped_early():
    series = load_sunspots("yearly").values
    X, y = make_windows(series / series.max() * 0.1, window=12)  # targets in [0, 0.1]: losses ~1e-4
    model = _quiet(lambda: RNNRegressor(hidden_sizes=(16,), random_state=0).fit(X, y))
    updates = model._optimizer.t // model.n_iter_
    assert model.n_iter_ == expected_stop(model.loss_curve_, model.baseline_loss_, updates, 1e-4, 10, 200)
    # an absolute tol=1e-4 would have stopped within the first epochs, at the constant prediction's loss
    stop = _absolute_tol_stop(model.loss_curve_, 1e-4, 10)
    assert stop < 30 and model.loss_curve_[stop - 1] > 0.95 * model.baseline_loss_
    assert model.loss_curve_[-1] < 0.5 * model.baseline_loss_


def test_a_fit_on_a_plateau_at_chance_trains_on_until_the_loss_falls():
    """GunPoint (UCR) with the defaults: the loss stays at ln 2 for dozens of epochs of two updates.
    scikit-learn's rule (tol=1e-4 absolute, 10 epochs) stopped these fits there, at chance."""
    data = load_sequence_classification("GunPoint")
    scores = []
    for seed in (0, 1, 2):
        model = _quiet(lambda: RNNClassifier(hidden_sizes=(32,), random_state=seed).fit(data.X_train, data.y_train))
        plateau = np.flatnonzero(np.array(model.loss_curve_) < 0.95 * model.baseline_loss_)[0]
        assert plateau > 20  # more epochs than the old rule's patience at chance
        scores.append(model.score(data.X_test, data.y_test))
    assert np.mean(scores) > 0.7, scores


# ---------------------------------------------------------------------- the warning at chance
def test_a_fit_that_cannot_learn_says_so():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 8, 1))
    y = rng.integers(0, 2, size=400)  # labels unrelated to the sequences
    with pytest.warns(ConvergenceWarning, match=r"learned \(almost\) nothing.*baseline_loss_=0.69"):
        model = RNNClassifier(hidden_sizes=(4,), max_iter=15, random_state=0).fit(X, y)
    assert model.loss_curve_[-1] > 0.95 * model.baseline_loss_


def test_early_stopping_judges_the_model_on_the_held_out_data():
    data = load_sequence_classification("ItalyPowerDemand")
    shuffled = np.random.default_rng(0).permutation(data.y_train)
    with pytest.warns(ConvergenceWarning, match=r"its validation loss .* is not clearly below .* held-out loss"):
        RNNClassifier(hidden_sizes=(16,), early_stopping=True, validation_fraction=0.3,
                      random_state=0).fit(data.X_train, shuffled)


def test_a_fit_that_learns_does_not_warn():
    data = load_sequence_classification("JapaneseVowels")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = RNNClassifier(hidden_sizes=(32,), max_iter=400, random_state=0).fit(data.X_train, data.y_train)
    assert model.n_iter_ < 400 and model.loss_curve_[-1] < 0.2 * model.baseline_loss_


# ---------------------------------------------------------------------- default settings on real data
@pytest.mark.parametrize("name", ["ItalyPowerDemand", "BasicMotions", "JapaneseVowels"])
def test_default_classifier_learns_real_sequence_classification_problems(name):
    data = load_sequence_classification(name)
    model = _quiet(lambda: RNNClassifier(hidden_sizes=(32,), random_state=0).fit(data.X_train, data.y_train))
    chance = np.max(np.unique(data.y_test, return_counts=True)[1]) / len(data.y_test)
    assert model.score(data.X_test, data.y_test) > max(0.85, chance + 0.3)


def _naive_and_model_rmse(values, window, n_test, seed):
    X, y = make_windows(values, window=window)
    n_train = len(X) - n_test
    mean, scale = values[:n_train + window].mean(), values[:n_train + window].std()
    model = _quiet(lambda: RNNRegressor(hidden_sizes=(32,), random_state=seed).fit(
        (X[:n_train] - mean) / scale, (y[:n_train] - mean) / scale))
    predicted = model.predict((X[n_train:] - mean) / scale) * scale + mean
    naive = X[n_train:, -1]  # the last value of each window
    truth = y[n_train:]
    return np.sqrt(np.mean((predicted - truth) ** 2)), np.sqrt(np.mean((naive - truth) ** 2))


@pytest.mark.parametrize("name", ["airline_passengers", "sunspots_yearly"])
def test_default_regressor_beats_the_naive_forecast_on_the_shipped_series(name):
    if name == "airline_passengers":
        values, window, n_test = np.log(load_airline_passengers().values), 24, 24
    else:
        values, window, n_test = load_sunspots("yearly").values, 22, 60
    model_rmse, naive_rmse = _naive_and_model_rmse(values, window, n_test, seed=0)
    assert model_rmse < 0.8 * naive_rmse


# ---------------------------------------------------------------------- column order of a 2-D X
def test_lag_columns_newest_first_are_flagged_and_the_pipeline_fix_reads_them_oldest_first():
    pd = pytest.importorskip("pandas")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    values = np.log(load_airline_passengers().values)
    X, y = make_windows(values - values.mean(), window=6)
    steps = X[:, :, 0]  # (n_samples, 6): columns are time steps, oldest first
    lags = pd.DataFrame(steps[:, ::-1], columns=[f"lag_{k}" for k in range(1, 7)])  # newest first
    settings = dict(hidden_sizes=(4,), max_iter=3, dtype="float64", random_state=0)
    with pytest.warns(UserWarning, match=r"lags in increasing order \(lag_1, lag_2, ...\)") as record:
        _quiet(lambda: RNNRegressor(**settings).fit(lags, y))
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        fixed = make_pipeline(FunctionTransformer(np.fliplr), RNNRegressor(**settings)).fit(lags, y)
        RNNRegressor(**settings).fit(lags.iloc[:, ::-1], y)  # oldest first by name: no warning
        direct = RNNRegressor(**settings).fit(steps, y)
    np.testing.assert_allclose(fixed.predict(lags), direct.predict(steps), rtol=1e-12)


def test_constant_targets_have_a_zero_baseline_and_no_warning_at_chance():
    X = np.random.default_rng(4).normal(size=(37, 5, 1))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = RNNRegressor(hidden_sizes=(3,), dtype="float64", max_iter=5, random_state=0).fit(X, np.full(37, 0.1))
    assert model.baseline_loss_ == 0.0  # although the float64 mean of 0.1 is not exactly 0.1
    assert not any("learned (almost) nothing" in str(w.message) for w in record)


def test_a_model_fitted_before_the_stopping_rule_keeps_training():
    X = np.random.default_rng(5).normal(size=(16, 4, 1))
    y = X[:, -1, 0]
    model = _quiet(lambda: RNNRegressor(hidden_sizes=(3,), max_iter=2, warm_start=True, random_state=0).fit(X, y))
    for name in ("_best_training_loss", "_updates_without_improvement"):  # what an older fastrnn did not record
        delattr(model, name)
    model.partial_fit(X, y)
    for name in ("_best_training_loss", "_updates_without_improvement"):
        delattr(model, name)
    _quiet(lambda: model.fit(X, y))
    assert model.n_iter_ == 5
