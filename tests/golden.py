"""Fixed-seed float64 fits of every estimator, recorded once and replayed by ``test_golden.py``.

A change to the training loop, the networks or the kernels that is meant to change no result must
reproduce these predictions and loss curves (to 1e-8 relative). ``python tests/golden.py`` rewrites
``tests/data/golden_fits.npz`` from the current code: run it only when a result is meant to change.
"""

import pathlib
import warnings

import numpy as np

import fastrnn

GOLDEN_FILE = pathlib.Path(__file__).parent / "data" / "golden_fits.npz"
SMALL = dict(dtype="float64", device="cpu", random_state=0)


def _series(n, steps, features, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, steps, features))


def _ragged(n, seed, features=2, longest=9):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(2, longest + 1)), features)) for _ in range(n)]


def _regressor(**options):
    X = _series(24, 7, 2, 1)
    y = X[:, :, 0].sum(axis=1) * 0.3 + X[:, -1, 1]
    settings = dict(hidden_sizes=(5,), max_iter=4, batch_size=8, **SMALL)
    settings.update(options)
    model = fastrnn.RNNRegressor(**settings)
    return model, X, y


def _cases():
    """name -> callable returning a dict of arrays (predictions, curves) for one fixed-seed fit."""
    cases = {}

    for cell in ("rnn", "lstm", "gru"):
        def regressor(cell=cell):
            model, X, y = _regressor(cell=cell)
            model.fit(X, y)
            return _record(model, predict=model.predict(X))
        cases[f"regressor_{cell}"] = regressor

    def regressor_relu_stacked():
        model, X, y = _regressor(cell="rnn", nonlinearity="relu", hidden_sizes=(4, 3), solver="sgd",
                                 learning_rate_init=0.01)
        model.fit(X, y)
        return _record(model, predict=model.predict(X))
    cases["regressor_relu_stacked_sgd"] = regressor_relu_stacked

    def regressor_bidirectional_sequence():
        X = _series(20, 6, 2, 2)
        y = np.cumsum(X[:, :, :1], axis=1)
        model = fastrnn.RNNRegressor(cell="lstm", hidden_sizes=(4,), bidirectional=True, output="sequence",
                                     max_iter=3, batch_size=6, alpha=1e-3, **SMALL).fit(X, y)
        return _record(model, predict=model.predict(X))
    cases["regressor_bidirectional_sequence"] = regressor_bidirectional_sequence

    def regressor_ragged_last():
        X = _ragged(18, 3)
        y = np.array([x[:, 0].sum() for x in X])
        model = fastrnn.RNNRegressor(cell="gru", hidden_sizes=(4,), max_iter=3, batch_size=5, **SMALL).fit(X, y)
        return _record(model, predict=model.predict(X))
    cases["regressor_ragged_last"] = regressor_ragged_last

    def regressor_ragged_sequence_bidirectional():
        X = _ragged(14, 4)
        y = [np.cumsum(x[:, 1]) for x in X]
        model = fastrnn.RNNRegressor(cell="rnn", hidden_sizes=(3,), output="sequence", bidirectional=True,
                                     max_iter=3, batch_size=4, solver="adagrad", learning_rate_init=0.05,
                                     **SMALL).fit(X, y)
        return _record(model, predict=np.concatenate(model.predict(X)))
    cases["regressor_ragged_sequence_bidirectional"] = regressor_ragged_sequence_bidirectional

    def regressor_early_stopping():
        model, X, y = _regressor(cell="lstm", early_stopping=True, max_iter=6, n_iter_no_change=2,
                                 learning_rate_init=0.01)
        model.fit(X, y)
        return _record(model, predict=model.predict(X), validation=model.validation_scores_,
                       validation_loss=model.validation_loss_curve_)
    cases["regressor_early_stopping"] = regressor_early_stopping

    def regressor_early_stopping_time_order():
        model, X, y = _regressor(cell="gru", early_stopping=True, shuffle=False, max_iter=4)
        model.fit(X, y)
        return _record(model, predict=model.predict(X), validation=model.validation_scores_)
    cases["regressor_early_stopping_time_order"] = regressor_early_stopping_time_order

    def regressor_stopped_by_tol():
        model, X, y = _regressor(cell="rnn", tol=10.0, n_iter_no_change=1, max_iter=20)
        model.fit(X, y)
        return _record(model, predict=model.predict(X))
    cases["regressor_stopped_by_tol"] = regressor_stopped_by_tol

    def regressor_bptt_sequence():
        X = _series(6, 12, 1, 5)
        y = np.cumsum(X[:, :, 0], axis=1) * 0.2
        model = fastrnn.RNNRegressor(cell="lstm", hidden_sizes=(4,), output="sequence", bptt_steps=5, max_iter=3,
                                     batch_size=3, **SMALL).fit(X, y)
        return _record(model, predict=model.predict(X))
    cases["regressor_bptt_sequence"] = regressor_bptt_sequence

    def regressor_bptt_last():
        X = _series(8, 10, 1, 6)
        y = X[:, -3:, 0].sum(axis=1)
        model = fastrnn.RNNRegressor(cell="gru", hidden_sizes=(4,), bptt_steps=4, max_iter=3, batch_size=4,
                                     **SMALL).fit(X, y)
        return _record(model, predict=model.predict(X))
    cases["regressor_bptt_last"] = regressor_bptt_last

    def regressor_initial_state_partial_fit():
        model, X, y = _regressor(cell="lstm")
        rng = np.random.default_rng(7)
        state = [(rng.normal(size=(24, 5)), rng.normal(size=(24, 5)))]
        for _ in range(3):
            model.partial_fit(X, y, initial_state=state)
        return _record(model, predict=model.predict(X, initial_state=state))
    cases["regressor_initial_state_partial_fit"] = regressor_initial_state_partial_fit

    def regressor_warm_start():
        model, X, y = _regressor(cell="gru", warm_start=True, max_iter=2)
        model.fit(X, y)
        model.fit(X, y * 0.5)
        return _record(model, predict=model.predict(X))
    cases["regressor_warm_start"] = regressor_warm_start

    def regressor_forecast():
        series = np.sin(np.arange(80) * 0.3)
        X, y = fastrnn.data.make_windows(series, window=8)
        model = fastrnn.RNNRegressor(cell="lstm", hidden_sizes=(4,), max_iter=3, batch_size=16, **SMALL).fit(X, y)
        return _record(model, predict=model.predict(X), forecast=model.forecast(X[-2:], steps=5))
    cases["regressor_forecast"] = regressor_forecast

    for cell in ("rnn", "lstm", "gru"):
        def classifier_binary(cell=cell):
            X = _series(26, 6, 2, 8)
            y = np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down")
            model = fastrnn.RNNClassifier(cell=cell, hidden_sizes=(5,), max_iter=4, batch_size=8, **SMALL).fit(X, y)
            return _record(model, proba=model.predict_proba(X))
        cases[f"classifier_binary_{cell}"] = classifier_binary

    def classifier_multiclass_early_stopping():
        X = _series(40, 5, 3, 9)
        y = np.argmax(X.sum(axis=1), axis=1)
        model = fastrnn.RNNClassifier(cell="lstm", hidden_sizes=(6,), max_iter=5, batch_size=10, early_stopping=True,
                                      n_iter_no_change=1, learning_rate_init=0.01, **SMALL).fit(X, y)
        return _record(model, proba=model.predict_proba(X), validation=model.validation_scores_,
                       validation_loss=model.validation_loss_curve_)
    cases["classifier_multiclass_early_stopping"] = classifier_multiclass_early_stopping

    def classifier_tagging_ragged_bidirectional():
        X = _ragged(16, 10)
        y = [(np.cumsum(x[:, 0]) > 0).astype(int) + (x[:, 1] > 1) for x in X]
        model = fastrnn.RNNClassifier(cell="gru", hidden_sizes=(4,), output="sequence", bidirectional=True,
                                      max_iter=3, batch_size=5, **SMALL).fit(X, y)
        return _record(model, proba=np.concatenate(model.predict_proba(X)))
    cases["classifier_tagging_ragged_bidirectional"] = classifier_tagging_ragged_bidirectional

    def classifier_partial_fit():
        X = _series(20, 5, 1, 11)
        y = (X[:, :, 0].mean(axis=1) > 0).astype(int)
        model = fastrnn.RNNClassifier(cell="rnn", hidden_sizes=(4,), batch_size=6, **SMALL)
        for _ in range(3):
            model.partial_fit(X, y, classes=[0, 1])
        return _record(model, proba=model.predict_proba(X))
    cases["classifier_partial_fit"] = classifier_partial_fit

    def char_rnn():
        text = "the cat sat on the mat. the dog sat on the log. " * 6
        model = fastrnn.CharRNN(cell="lstm", hidden_sizes=(8,), seq_length=10, batch_size=4, max_iter=3,
                                **SMALL).fit(text)
        probe = "the cat sat"
        return _record(model, perplexity=np.array([model.perplexity(probe)]),
                       sample=np.array([ord(ch) for ch in model.sample(20, prime="the ", random_state=1)]))
    cases["char_rnn"] = char_rnn

    def char_rnn_gru_warm_start():
        text = ["abcabcabd", "abdabdabc", "cabcab"]
        model = fastrnn.CharRNN(cell="gru", hidden_sizes=(6, 5), seq_length=4, batch_size=3, max_iter=2,
                                warm_start=True, solver="sgd", learning_rate_init=0.05, **SMALL)
        model.fit(text)
        model.fit(text)
        return _record(model, perplexity=np.array([model.perplexity("abcab")]))
    cases["char_rnn_gru_warm_start"] = char_rnn_gru_warm_start

    def char_rnn_conditioned():
        texts = ["red", "green", "blue", "red", "blue"]
        features = np.eye(3)[[0, 1, 2, 0, 2]] + np.random.default_rng(12).normal(scale=0.1, size=(5, 3))
        model = fastrnn.CharRNN(cell="lstm", hidden_sizes=(6,), batch_size=2, max_iter=3, **SMALL)
        model.fit(texts, features=features)
        return _record(model, perplexity=np.array([model.perplexity(texts, features=features)]),
                       sample=np.array([ord(ch) for ch in model.sample(6, features=features[1], random_state=0)]
                                       or [0]))
    cases["char_rnn_conditioned"] = char_rnn_conditioned

    def seq2seq_tokens():
        rng = np.random.default_rng(13)
        X = [rng.integers(0, 5, size=int(rng.integers(2, 6))) for _ in range(20)]
        Y = [x[::-1] for x in X]
        model = fastrnn.Seq2Seq(cell="gru", hidden_sizes=(6,), max_iter=3, batch_size=6, **SMALL).fit(X, Y)
        greedy = model.predict(X[:5])
        beam = model.predict(X[:5], beam_width=3)
        return _record(model, greedy=np.concatenate(greedy) if greedy else np.zeros(0),
                       greedy_lengths=np.array([len(g) for g in greedy]),
                       beam=np.concatenate(beam), beam_lengths=np.array([len(b) for b in beam]))
    cases["seq2seq_tokens"] = seq2seq_tokens

    def seq2seq_values():
        rng = np.random.default_rng(14)
        X = [rng.normal(size=(int(rng.integers(3, 7)), 2)) for _ in range(12)]
        Y = [np.full(4, x[:, 0].mean()) for x in X]
        model = fastrnn.Seq2Seq(cell="lstm", hidden_sizes=(5, 4), max_iter=3, batch_size=5, alpha=1e-3,
                                **SMALL).fit(X, Y)
        return _record(model, predict=np.stack(model.predict(X)))
    cases["seq2seq_values"] = seq2seq_values

    def layer_lstm_bidirectional_ragged():
        layer = fastrnn.LSTM(2, 4, num_layers=2, bidirectional=True, dtype=np.float64, random_state=0)
        X = _series(5, 6, 2, 15)
        lengths = np.array([6, 3, 5, 1, 4])
        out, (h_n, c_n) = layer.forward(X, lengths=lengths)
        grads = layer.backward(np.ones_like(out) * 0.1, (np.ones_like(h_n), None))
        return dict(out=out, h_n=h_n, c_n=c_n, d_input=grads["input"], d_h0=grads["state"][0],
                    d_w=np.concatenate([g.ravel() for k, g in grads.items() if k not in ("input", "state")]))
    cases["layer_lstm_bidirectional_ragged"] = layer_lstm_bidirectional_ragged

    def layer_gru_state():
        layer = fastrnn.GRU(3, 5, num_layers=2, dtype=np.float64, random_state=1)
        X = _series(4, 5, 3, 16)
        h0 = np.random.default_rng(17).normal(size=(2, 4, 5))
        out, h_n = layer.forward(X, h0)
        grads = layer.backward(out, h_n)
        return dict(out=out, h_n=h_n, d_input=grads["input"], d_h0=grads["state"],
                    d_w=np.concatenate([g.ravel() for k, g in grads.items() if k not in ("input", "state")]))
    cases["layer_gru_state"] = layer_gru_state

    return cases


def _record(model, **arrays):
    result = {key: np.asarray(value, dtype=np.float64) for key, value in arrays.items()}
    result["loss_curve"] = np.asarray(model.loss_curve_, dtype=np.float64)
    result["n_iter"] = np.array([model.n_iter_], dtype=np.float64)
    result["params"] = np.asarray(model.network_.params, dtype=np.float64)
    return result


CASES = _cases()


def run_case(name):
    """The arrays of one case, computed by the current code (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CASES[name]()


def record():
    """Write every case's arrays to :data:`GOLDEN_FILE`."""
    arrays = {}
    for name in CASES:
        for key, value in run_case(name).items():
            arrays[f"{name}/{key}"] = value
    GOLDEN_FILE.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN_FILE, **arrays)
    return arrays


if __name__ == "__main__":
    recorded = record()
    print(f"wrote {len(recorded)} arrays of {len(CASES)} cases to {GOLDEN_FILE}")
