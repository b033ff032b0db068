"""``python -m fastrnn demo``: an LSTM forecaster of the monthly airline passengers, against baselines.

The data set is Box & Jenkins' Series G (international airline passengers, 1949-1960), shipped in
:mod:`fastrnn.datasets`. Each sample is a window of 24 months of log passengers and the target is
the next month. Windows are made relative to their last value (inputs ``log x - log x_last``, target
the next month's log change), so the model learns the seasonal shape of the changes and does not
have to extrapolate to passenger numbers beyond those it was trained on. The model is fitted on the
windows whose target lies in 1951-1958 and predicts each month of 1959-1960 one step ahead.

Baselines: the naive forecast (last month's value) and the seasonal naive forecast (the value 12
months earlier). The demo prints the test RMSE of all three and saves a plot of the forecasts.
"""

import time
import warnings

import numpy as np

from .data import make_windows
from .datasets import load_airline_passengers
from .estimators import RNNRegressor

WINDOW = 24
TEST_MONTHS = 24


def run(max_iter=300, seed=0, plot_path="fastrnn_demo.png", verbose=True, out=print):
    """Train the forecaster, print RMSEs against the baselines and save the plot.

    Parameters
    ----------
    max_iter : int
        Epoch limit (training also stops when the loss stops improving).
    seed : int
        ``random_state`` of the model.
    plot_path : str or None
        Where to save the PNG; None skips the plot.
    verbose : bool
        Show the estimator's progress bar.
    out : callable
        Receives each line of the report.

    Returns
    -------
    dict
        ``rmse`` (LSTM), ``naive_rmse``, ``seasonal_rmse`` in thousands of passengers, ``model``.
    """
    data = load_airline_passengers()
    log_values = np.log(data.values)
    X, y = make_windows(log_values, window=WINDOW)  # X: (120, 24, 1), y: (120,)
    last = X[:, -1, 0]
    X_rel, y_rel = X - last[:, None, None], y - last
    n_train = len(X) - TEST_MONTHS
    x_scale, y_scale = X_rel[:n_train].std(), y_rel[:n_train].std()
    test_time = data.time[WINDOW + n_train:]

    out(f"fastrnn demo: LSTM forecaster of {data.name.lower()}, 1949-1960 (Box & Jenkins' Series G)")
    out(f"training on {n_train} windows of {WINDOW} months with targets in "
        f"{data.time[WINDOW]}..{data.time[WINDOW + n_train - 1]}; "
        f"testing one step ahead on {test_time[0]}..{test_time[-1]}")
    model = RNNRegressor(cell="lstm", hidden_sizes=(32,), max_iter=max_iter, learning_rate_init=0.005,
                         batch_size=16, random_state=seed, verbose=verbose)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # the ConvergenceWarning is reported below in words instead; it is a UserWarning, and naming
        # exceptions.ConvergenceWarning would import scikit-learn (0.8 s of the demo's start)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X_rel[:n_train] / x_scale, y_rel[:n_train] / y_scale)
    seconds = time.perf_counter() - start
    stopped = "the loss stopped improving" if model.n_iter_ < max_iter else "max_iter was reached"
    out(f"trained {model.n_iter_} epochs in {seconds:.1f} s ({stopped})")

    forecast = np.exp(last[n_train:] + model.predict(X_rel[n_train:] / x_scale) * y_scale)
    truth = data.values[WINDOW + n_train:]
    naive = data.values[WINDOW + n_train - 1:-1]
    seasonal = data.values[WINDOW + n_train - data.period:len(data.values) - data.period]

    def rmse(prediction):
        return float(np.sqrt(np.mean((prediction - truth) ** 2)))

    result = {"rmse": rmse(forecast), "naive_rmse": rmse(naive), "seasonal_rmse": rmse(seasonal), "model": model}
    out(f"test RMSE, {data.unit}, {test_time[0]}..{test_time[-1]}:")
    out(f"  LSTM (fastrnn)                     {result['rmse']:7.1f}")
    out(f"  naive: last month's value          {result['naive_rmse']:7.1f}")
    out(f"  seasonal naive: 12 months earlier  {result['seasonal_rmse']:7.1f}")
    if plot_path:
        _save_plot(plot_path, data, test_time, truth, forecast, {"naive": naive, "seasonal naive": seasonal})
        out(f"saved the forecast plot to {plot_path}")
    return result


def _save_plot(path, data, test_time, truth, forecast, baselines):
    from matplotlib.figure import Figure

    from .plotting import plot_forecast

    figure = Figure(figsize=(9, 4.5), layout="constrained")
    ax = figure.add_subplot()
    history = (data.time[:len(data.values) - len(truth)], data.values[:len(data.values) - len(truth)])
    plot_forecast(test_time, truth, forecast, history=history, baselines=baselines, ax=ax, unit=data.unit,
                  title="Airline passengers: one-step-ahead forecasts, 1959-1960")
    figure.savefig(path, dpi=110)
