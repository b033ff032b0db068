"""fastrnn.data (windows, time split) and the shipped data sets."""

import numpy as np
import pytest

from fastrnn.data import make_windows, time_split
from fastrnn.datasets import load_airline_passengers, load_sunspots


def test_windows_of_a_univariate_series():
    X, y = make_windows(np.arange(10.0), window=4)
    assert X.shape == (6, 4, 1) and y.shape == (6,)
    np.testing.assert_array_equal(X[2, :, 0], [2, 3, 4, 5])
    assert y[2] == 6


def test_windows_with_horizon_stride_and_targets():
    series = np.stack([np.arange(20.0), 100 + np.arange(20.0)], axis=1)
    X, y = make_windows(series, window=5, horizon=3, stride=4)
    assert X.shape == (4, 5, 2) and y.shape == (4, 6)
    np.testing.assert_array_equal(X[1, :, 1], 100 + np.arange(4, 9))
    np.testing.assert_array_equal(y[1], [9, 109, 10, 110, 11, 111])  # step by step, all columns
    _, y0 = make_windows(series, window=5, horizon=2, targets=0)
    np.testing.assert_array_equal(y0[0], [5, 6])
    _, y_last = make_windows(series, window=5, targets=[1])
    assert y_last.shape == (15,) and y_last[0] == 105


def test_windows_do_not_alias_or_mutate_the_series():
    series = np.arange(10.0)
    X, y = make_windows(series, window=3)
    X[...] = -1
    y[...] = -1
    np.testing.assert_array_equal(series, np.arange(10.0))


@pytest.mark.parametrize("kwargs, message", [
    (dict(series=np.arange(5.0), window=5), "too few for window=5"),
    (dict(series=np.zeros((3, 2, 2)), window=1), "must be 1-D"),
    (dict(series=np.arange(5.0), window=0), "window must be an integer >= 1"),
    (dict(series=[1.0, np.nan, 2.0, 3.0], window=2), "series contains NaN"),
    (dict(series=np.zeros((10, 2)), window=2, targets=2), r"targets must be column indices in \[0, 2\)"),
])
def test_window_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_windows(**kwargs)


def test_time_split_keeps_order_and_gap():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    X_train, X_test, y_train, y_test = time_split(X, y, test_size=0.3)
    np.testing.assert_array_equal(y_train, np.arange(7))
    np.testing.assert_array_equal(y_test, [7, 8, 9])
    assert X_train.shape == (7, 2)
    y_train, y_test = time_split(y, test_size=2, gap=3)
    np.testing.assert_array_equal(y_train, np.arange(5))
    np.testing.assert_array_equal(y_test, [8, 9])
    with pytest.raises(ValueError, match="same length"):
        time_split(X, y[:5])
    with pytest.raises(ValueError, match="non-empty training part"):
        time_split(y, test_size=10)
    with pytest.raises(ValueError, match="test_size must be"):
        time_split(y, test_size=1.5)


def test_airline_passengers():
    data = load_airline_passengers()
    assert len(data) == 144 and data.period == 12
    assert data.values[:3].tolist() == [112.0, 118.0, 132.0]  # January-March 1949, Box & Jenkins
    assert data.values[-1] == 432.0  # December 1960
    assert str(data.time[0]) == "1949-01" and str(data.time[-1]) == "1960-12"
    assert "Box" in data.source


def test_sunspots():
    yearly = load_sunspots()
    assert len(yearly) == 309 and yearly.time[0] == 1700 and yearly.time[-1] == 2008
    assert yearly.values[0] == 5.0 and yearly.period == 11
    monthly = load_sunspots("monthly")
    assert len(monthly) == 3126 and str(monthly.time[0]) == "1749-01" and str(monthly.time[-1]) == "2009-06"
    assert monthly.values[0] == 58.0
    assert np.all(monthly.values >= 0) and "NOAA" in monthly.source
    with pytest.raises(ValueError, match="frequency must be"):
        load_sunspots("daily")


def test_pad_sequences():
    from fastrnn.data import pad_sequences

    X, lengths = pad_sequences([[1.0, 2.0, 3.0], np.array([4.0])])
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1])
    X, lengths = pad_sequences([np.ones((2, 3)), np.ones((4, 3))], dtype=np.float32, value=-1.0)
    assert X.shape == (2, 4, 3) and X.dtype == np.float32 and np.all(X[0, 2:] == -1.0)
    with pytest.raises(ValueError, match="non-empty list"):
        pad_sequences([])
    with pytest.raises(ValueError, match=r"sequences\[0\] contains NaN"):
        pad_sequences([[1.0, np.nan]])
