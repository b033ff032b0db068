"""Forecast the yearly sunspot number with an LSTM, one year ahead and eleven years ahead.

Data: NOAA's yearly mean sunspot numbers 1700-2008, shipped with fastrnn. The last 60 years are the
test period. The model reads 20 years and predicts the next one; for the multi-year forecast its
predictions are fed back as inputs (``RNNRegressor.forecast``). Baselines: last year's value and the
value one solar cycle (11 years) earlier.

Run: python examples/forecast_sunspots.py   (about 10 seconds on 2 cores; writes sunspots.png)
"""

import numpy as np
from matplotlib.figure import Figure

from fastrnn import RNNRegressor
from fastrnn.data import make_windows, time_split
from fastrnn.datasets import load_sunspots
from fastrnn.plotting import plot_forecast

WINDOW, TEST_YEARS = 20, 60

data = load_sunspots("yearly")
mean, std = data.values[:-TEST_YEARS].mean(), data.values[:-TEST_YEARS].std()
scaled = (data.values - mean) / std
X, y = make_windows(scaled, window=WINDOW)  # X: (289, 20, 1), y: (289,)
X_train, X_test, y_train, y_test = time_split(X, y, test_size=TEST_YEARS)

model = RNNRegressor(hidden_sizes=(32,), max_iter=300, learning_rate_init=0.005, batch_size=16,
                     early_stopping=True, shuffle=True, n_iter_no_change=20, random_state=1)
model.fit(X_train, y_train)
print(f"trained {model.n_iter_} epochs; best validation R² {model.best_validation_score_:.3f}")

truth = y_test * std + mean
one_step = model.predict(X_test) * std + mean
naive = X_test[:, -1, 0] * std + mean
cycle = X_test[:, -11, 0] * std + mean


def rmse(prediction):
    return np.sqrt(np.mean((prediction - truth) ** 2))


print(f"one year ahead, test RMSE over {data.time[-TEST_YEARS]}-{data.time[-1]}:")
print(f"  LSTM                      {rmse(one_step):6.1f}")
print(f"  last year's value         {rmse(naive):6.1f}")
print(f"  value 11 years earlier    {rmse(cycle):6.1f}")

# eleven years ahead from the start of the test period, feeding predictions back
horizon = 11
multi = model.forecast(X_test[:1], horizon)[0] * std + mean
print(f"11-year forecast from {data.time[-TEST_YEARS]}: RMSE {np.sqrt(np.mean((multi - truth[:horizon]) ** 2)):.1f} "
      f"(repeating the last value: {np.sqrt(np.mean((naive[0] - truth[:horizon]) ** 2)):.1f})")

figure = Figure(figsize=(9, 4.5), layout="constrained")
plot_forecast(data.time[-TEST_YEARS:], truth, one_step, history=(data.time[:-TEST_YEARS], data.values[:-TEST_YEARS]),
              baselines={"11 years earlier": cycle}, ax=figure.add_subplot(), unit=data.unit,
              title="Yearly sunspot number: one-year-ahead LSTM forecasts")
figure.savefig("sunspots.png", dpi=110)
print("saved sunspots.png")
