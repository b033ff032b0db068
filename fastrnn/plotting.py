"""matplotlib figures for fitted models: the loss curves and a forecast against the truth.

Each function draws on ``ax`` when given, else on a new pyplot figure, and returns the Axes.
"""

import numpy as np

__all__ = ["plot_loss_curve", "plot_forecast"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(8, 4)).add_subplot()


def plot_loss_curve(estimator, ax=None):
    """Training loss per epoch (and the validation loss, with early stopping) of a fitted estimator.

    Parameters
    ----------
    estimator : fitted RNNRegressor or RNNClassifier
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    epochs = np.arange(1, len(estimator.loss_curve_) + 1)
    ax.plot(epochs, estimator.loss_curve_, label="training loss")
    if getattr(estimator, "validation_loss_curve_", None):
        ax.plot(epochs, estimator.validation_loss_curve_, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    return ax


def plot_forecast(time, truth, forecast, history=None, baselines=None, ax=None, title=None, unit=None):
    """A forecast against the truth, with optional history and baselines.

    Parameters
    ----------
    time : (n,) array
        Time stamps of ``truth`` and ``forecast``.
    truth, forecast : (n,) arrays
    history : tuple (time, values), optional
        Observations before the forecast period, drawn in grey.
    baselines : dict of str -> (n,) array, optional
        Other forecasts to compare with, drawn dashed.
    ax : matplotlib Axes, optional
    title, unit : str, optional
        Axes title and y-axis label.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    if history is not None:
        ax.plot(history[0], history[1], color="0.6", label="history")
    ax.plot(time, truth, color="black", label="truth")
    for name, values in (baselines or {}).items():
        ax.plot(time, values, linestyle="--", linewidth=1, label=name)
    ax.plot(time, forecast, color="tab:red", linewidth=2, label="forecast")
    if title:
        ax.set_title(title)
    if unit:
        ax.set_ylabel(unit)
    ax.legend()
    return ax
