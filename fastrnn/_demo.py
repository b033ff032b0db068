"""``python -m fastrnn demo``: train a small LSTM forecaster with the layer API and print the loss falling.

The series is built in: a noisy signal with two seasonal periods (12 and 40 steps) and a slow
trend, generated from a fixed seed. Each sample is a window of 24 values; the target is the next
value. The model is ``LSTM(1, 32)`` followed by ``Linear(32, 1)`` on the last hidden state, trained
with Adam on the half mean squared error, with the gradient norm clipped at 1.
"""

import time

import numpy as np

from .layers import LSTM, Linear
from .losses import squared_error
from .optimizers import Adam


def builtin_series(n_steps=800, seed=0):
    """A reproducible noisy seasonal series of length ``n_steps`` (float64)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)
    return (np.sin(2 * np.pi * t / 12) + 0.5 * np.sin(2 * np.pi * t / 40) + 0.002 * t
            + 0.1 * rng.normal(size=n_steps))


def _windows(series, window):
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], window)
    return X[:, :, np.newaxis].copy(), series[window:, np.newaxis].copy()


def run(epochs=30, hidden=32, window=24, batch_size=32, seed=0, out=print):
    """Train on the built-in series; print one line per epoch and the test RMSE against baselines.

    Returns
    -------
    dict with ``loss_curve`` (list of training losses per epoch) and ``test_rmse``.
    """
    series = builtin_series()
    n_train = int(0.8 * len(series))
    mean, std = series[:n_train].mean(), series[:n_train].std()
    scaled = (series - mean) / std
    X_train, y_train = _windows(scaled[:n_train], window)
    X_test, y_test = _windows(scaled[n_train - window:], window)
    rng = np.random.default_rng(seed)
    lstm = LSTM(1, hidden, random_state=rng)
    head = Linear(hidden, 1, random_state=rng)
    optimizer = Adam([lstm._flat, head._flat], learning_rate=0.01)
    out(f"fastrnn demo: LSTM({hidden}) forecaster, {len(X_train)} training windows of {window} steps")
    curve = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X_train))
        total = 0.0
        for first in range(0, len(order), batch_size):
            idx = order[first:first + batch_size]
            hidden_seq, _ = lstm.forward(X_train[idx])
            y_pred = head.forward(hidden_seq[:, -1])
            loss, d_pred = squared_error(y_pred, y_train[idx].astype(np.float32))
            head_grads = head.backward(d_pred)
            d_hidden = np.zeros_like(hidden_seq)
            d_hidden[:, -1] = head_grads["input"]
            lstm_grads = lstm.backward(d_hidden)
            flat_grads = [np.concatenate([lstm_grads[n].ravel() for n in lstm.params]),
                          np.concatenate([head_grads[n].ravel() for n in head.params])]
            norm = np.sqrt(sum(float(np.sum(g * g)) for g in flat_grads))
            if norm > 1.0:
                flat_grads = [g / norm for g in flat_grads]
            optimizer.step(flat_grads)
            total += loss * len(idx)
        curve.append(total / len(order))
        if epoch == 1 or epoch % 5 == 0 or epoch == epochs:
            out(f"  epoch {epoch:3d}  training loss {curve[-1]:.4f}")
    y_hat = head.forward(lstm.forward(X_test)[0][:, -1])
    rmse = float(np.sqrt(np.mean((y_hat - y_test) ** 2))) * std
    naive = float(np.sqrt(np.mean((X_test[:, -1] - y_test) ** 2))) * std
    out(f"trained in {time.perf_counter() - start:.1f} s; test RMSE {rmse:.3f} "
        f"(naive last-value forecast: {naive:.3f})")
    return {"loss_curve": curve, "test_rmse": rmse, "naive_rmse": naive}
