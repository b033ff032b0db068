"""fastrnn.plotting: each function returns the promised Figure or Axes, with labelled axes, legends,
colorbars and log scales where promised, Okabe-Ito colours, NaN padding cut off, clear errors on bad
input, and a PNG that renders. Hand-made arrays stand in for inspect and gradient_flow; the last tests
plot what tiny fitted models return."""

import collections
import subprocess
import sys
import types
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.plotting import (plot_forecast, plot_gradient_flow, plot_internals, plot_loss_curve,  # noqa: E402
                              plot_text_activation, plot_training)

OKABE_ITO = {"#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#000000"}
GradientFlow = collections.namedtuple("GradientFlow", "norms distance step")
N_SAMPLES, N_STEPS, HIDDEN = 3, 12, 4
SHORT_LENGTH = 7  # sample 1 of the hand-made internals is NaN from this step on


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def rendered(figure, tmp_path, name="figure.png"):
    path = tmp_path / name
    figure.savefig(path, dpi=50)
    return path.stat().st_size > 0


def colour(line):
    return to_hex(line.get_color())


# ------------------------------------------------------------------------------------------- import
def test_importing_fastrnn_does_not_import_matplotlib(tmp_path):
    code = "import sys, fastrnn, fastrnn.plotting; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ----------------------------------------------------------------------------------- plot_training
def fitted_stand_in(n_epochs=6, validation=True, clip=1.0):
    losses = list(np.geomspace(1.0, 0.1, n_epochs))
    return types.SimpleNamespace(
        loss_curve_=losses, validation_loss_curve_=[1.2 * loss for loss in losses] if validation else None,
        baseline_loss_=0.8, grad_norm_curve_=list(np.geomspace(4.0, 0.5, n_epochs)),
        clipped_fraction_curve_=list(np.linspace(1.0, 0.0, n_epochs)), clip_grad_norm=clip)


def test_plot_training_draws_three_aligned_panels(tmp_path):
    figure = plot_training(fitted_stand_in())
    assert isinstance(figure, Figure)
    loss_ax, norm_ax, clip_ax = figure.axes
    assert clip_ax.get_xlabel() == "epoch"
    assert loss_ax.get_shared_x_axes().joined(loss_ax, clip_ax)
    assert all(ax.get_ylabel() for ax in figure.axes)
    assert all(ax.get_legend() is not None for ax in figure.axes)
    assert figure.get_suptitle() == "SimpleNamespace: loss 1 \u2192 0.1 in 6 epochs, 12% of the constant prediction's"
    assert rendered(figure, tmp_path)


def test_plot_training_loss_panel_has_validation_and_constant_prediction():
    loss_ax = plot_training(fitted_stand_in()).axes[0]
    training, validation, baseline = loss_ax.get_lines()
    assert [line.get_label() for line in loss_ax.get_lines()] == ["training loss", "validation loss",
                                                                  "constant prediction"]
    assert colour(training) == "#0072b2" and colour(validation) in OKABE_ITO
    assert baseline.get_linestyle() == "--" and list(baseline.get_ydata()) == [0.8, 0.8]
    assert loss_ax.get_yscale() == "log" and "log scale" in loss_ax.get_ylabel()


def test_plot_training_gradient_panel_is_log_with_the_clipping_threshold():
    norm_ax = plot_training(fitted_stand_in(clip=2.5)).axes[1]
    assert norm_ax.get_yscale() == "log" and "log scale" in norm_ax.get_ylabel()
    norms, threshold = norm_ax.get_lines()
    np.testing.assert_allclose(norms.get_ydata(), np.geomspace(4.0, 0.5, 6))
    assert threshold.get_linestyle() == ":" and list(threshold.get_ydata()) == [2.5, 2.5]
    assert "2.5" in threshold.get_label()


def test_plot_training_clipped_fraction_is_on_zero_to_one():
    clip_ax = plot_training(fitted_stand_in()).axes[2]
    assert clip_ax.get_ylim() == (0.0, 1.0)
    assert "0-1" in clip_ax.get_ylabel()


def test_plot_training_without_validation_or_clipping():
    figure = plot_training(fitted_stand_in(n_epochs=1, validation=False, clip=None), title="one epoch")
    loss_ax, norm_ax, clip_ax = figure.axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["training loss", "constant prediction"]
    assert len(norm_ax.get_lines()) == 1  # no threshold line
    assert "clipping is off" in clip_ax.get_lines()[0].get_label()
    assert figure.get_suptitle() == "one epoch"


def test_plot_training_refuses_an_unfitted_estimator():
    with pytest.raises(ValueError, match="fit it before plot_training"):
        plot_training(fastrnn.RNNRegressor())


# ---------------------------------------------------------------------------------- plot_internals
def hand_made_internals(names, bidirectional=False):
    """One layer of (N_SAMPLES, N_STEPS, HIDDEN) arrays: gates in 0..1, the rest signed; sample 1 is
    NaN past SHORT_LENGTH, as inspect pads a shorter sequence."""
    rng = np.random.default_rng(0)
    names = list(names) + ([name + "_reverse" for name in names] if bidirectional else [])
    states = {}
    for name in names:
        gate = name[0] in "ifozr"
        values = rng.uniform(0, 1, (N_SAMPLES, N_STEPS, HIDDEN)) if gate else rng.uniform(-2, 2, (N_SAMPLES, N_STEPS, HIDDEN))
        values[1, SHORT_LENGTH:] = np.nan
        states[name] = values
    return states


def heatmap_axes(figure):
    return [ax for ax in figure.axes if ax.get_images()]


def test_plot_internals_draws_one_heatmap_with_a_colorbar_per_name(tmp_path):
    lstm = hand_made_internals("ofighc")  # deliberately out of order
    figure = plot_internals([lstm, hand_made_internals("hrzn")])
    assert isinstance(figure, Figure)
    axes = heatmap_axes(figure)
    assert [ax.get_title(loc="left") for ax in axes] == ["hidden state h", "cell state c", "input gate i",
                                                         "forget gate f", "cell candidate g", "output gate o"]
    assert all(ax.images[0].colorbar is not None for ax in axes)
    assert len(figure.axes) == 2 * len(axes)  # one colorbar Axes each
    assert all(ax.get_ylabel() == "unit" for ax in axes) and axes[-1].get_xlabel() == "time step"
    assert axes[0].images[0].get_array().shape == (HIDDEN, N_STEPS)  # units on y, steps on x
    assert rendered(figure, tmp_path)


def test_plot_internals_colours_gates_sequential_and_states_diverging():
    axes = heatmap_axes(plot_internals([hand_made_internals("hcf")]))
    state, cell, gate = (ax.images[0] for ax in axes)
    assert gate.get_cmap().name.startswith("cividis") and gate.get_clim() == (0.0, 1.0)
    assert state.get_cmap().name.startswith("RdBu_r")
    low, high = cell.get_clim()
    assert low == -high and high > 1  # centred at 0, wide enough for values in [-2, 2]


def test_plot_internals_centres_bounded_values_on_minus_one_to_one():
    states = {"h": np.full((1, 5, 2), 0.25)}
    image = heatmap_axes(plot_internals(states))[0].images[0]  # one dict is one layer
    assert image.get_clim() == (-1.0, 1.0)


def test_plot_internals_cuts_the_nan_padding_and_labels_the_steps(tmp_path):
    figure = plot_internals([hand_made_internals("hrzn")], sample=1, step_labels="abc def")
    axes = heatmap_axes(figure)
    assert [ax.get_title(loc="left") for ax in axes] == ["hidden state h", "reset gate r", "update gate z",
                                                         "candidate n"]
    assert all(ax.images[0].get_array().shape == (HIDDEN, SHORT_LENGTH) for ax in axes)
    labels = [label.get_text() for label in axes[-1].get_xticklabels()]
    assert labels == ["a", "b", "c", "\u2423", "d", "e", "f"]  # the sequence's 7 steps; a space made visible
    assert rendered(figure, tmp_path)


def test_plot_internals_orders_the_reverse_direction_after_the_forward_one():
    figure = plot_internals([hand_made_internals("hr", bidirectional=True)], layer=-1)
    titles = [ax.get_title(loc="left") for ax in heatmap_axes(figure)]
    assert titles == ["hidden state h", "reset gate r", "hidden state h (reverse)", "reset gate r (reverse)"]


def test_plot_internals_draws_the_names_asked_for():
    figure = plot_internals([hand_made_internals("hcifgo")], names=["f", "c"], title="forget gate and cell")
    assert [ax.get_title(loc="left") for ax in heatmap_axes(figure)] == ["forget gate f", "cell state c"]
    assert figure.get_suptitle() == "forget gate and cell"


@pytest.mark.parametrize("kwargs, message", [
    ({"names": ["h", "q"]}, r"unknown name\(s\) \['q'\]"),
    ({"sample": N_SAMPLES}, "sample must be an int in"),
    ({"sample": -N_SAMPLES - 1}, "sample must be an int in"),
    ({"layer": 1}, "layer must be an int in"),
    ({"step_labels": "ab"}, "step_labels has 2 labels"),
])
def test_plot_internals_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_internals([hand_made_internals("hcifgo")], **kwargs)


def test_plot_internals_refuses_arrays_that_are_not_three_dimensional():
    with pytest.raises(ValueError, match=r"\(n_samples, n_timesteps, H\)"):
        plot_internals([{"h": np.zeros((5, 2))}])


# ------------------------------------------------------------------------------ plot_gradient_flow
def flow(rate, n_layers=2, step=9, per_sample=False):
    distance = np.arange(step, -1, -1)  # as gradient_flow orders them: t = 0 .. step
    norms = np.stack([rate ** distance * (layer + 1) for layer in range(n_layers)]).astype(float)
    if per_sample:
        norms = norms[:, None, :] * np.array([0.5, 1.0, 1.5, 2.0])[None, :, None]
    return GradientFlow(norms, distance, step)


def test_plot_gradient_flow_of_one_model(tmp_path):
    ax = plot_gradient_flow(flow(0.5))
    assert isinstance(ax, Axes)
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "mean \u2016dL/dh$_t$\u2016 (log scale)"
    assert "time steps" in ax.get_xlabel()
    (line,) = ax.get_lines()
    assert colour(line) == "#0072b2"
    np.testing.assert_array_equal(line.get_xdata(), np.arange(10))  # distance, ascending
    np.testing.assert_allclose(line.get_ydata(), 0.5 ** np.arange(10))
    assert ax.get_legend() is not None
    assert "9 steps back" in ax.get_title() and "0.002" in ax.get_title()  # 0.5 ** 9 = 0.00195
    assert rendered(ax.figure, tmp_path)


def test_plot_gradient_flow_compares_models_by_colour_and_line_style():
    ax = plot_gradient_flow({"RNN": flow(0.5), "LSTM": flow(0.95), "GRU": flow(0.9)}, layer=1)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["RNN", "LSTM", "GRU"]
    assert all(colour(line) in OKABE_ITO for line in lines)
    assert len({colour(line) for line in lines}) == 3
    assert len({line.get_linestyle() for line in lines}) == 3  # tells them apart in grey
    np.testing.assert_allclose(lines[0].get_ydata(), 2 * 0.5 ** np.arange(10))  # layer 1's norms
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["RNN", "LSTM", "GRU"]


def test_plot_gradient_flow_per_sample_draws_the_median_and_a_band():
    ax = plot_gradient_flow(flow(0.5, per_sample=True), layer=-1)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), 1.25 * 2 * 0.5 ** np.arange(10))  # median of the samples
    assert len(ax.collections) == 1  # the percentile band
    assert "percentile" in ax.get_legend().get_title().get_text()
    # one sample keeps its gradient, nineteen lose it: the line follows the many, inside the band
    norms = np.concatenate([np.full((1, 1, 10), 100.0), np.full((1, 19, 10), 1e-3)], axis=1)
    norms[:, :, -1] = 1.0  # distance 0
    ax = plot_gradient_flow(GradientFlow(norms, np.arange(9, -1, -1), 9))
    assert np.allclose(ax.get_lines()[0].get_ydata()[1:], 1e-3)
    assert "0.001" in ax.get_title()


def test_plot_gradient_flow_draws_on_the_axes_given():
    figure, given = plt.subplots()
    assert plot_gradient_flow(flow(0.5), ax=given, title="vanishes") is given
    assert given.get_title() == "vanishes"


@pytest.mark.parametrize("flows, kwargs, message", [
    ({}, {}, "flows is empty"),
    ({"a": np.ones(3)}, {}, "not a GradientFlow"),
    (flow(0.5), {"layer": 2}, "layer must be an int in"),
    (GradientFlow(np.ones((1, 4)), np.arange(3), 2), {}, "norms must be"),
])
def test_plot_gradient_flow_refuses_bad_input(flows, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_gradient_flow(flows, **kwargs)


# ---------------------------------------------------------------------------- plot_text_activation
def drawn_characters(ax):
    return {(round(text.get_position()[1]), round(text.get_position()[0])): text.get_text() for text in ax.texts}


def test_plot_text_activation_lays_out_characters_with_wrapping_and_newlines(tmp_path):
    text = "abcdef\nxy z"
    ax = plot_text_activation(text, np.linspace(-1, 1, len(text)), width=4)
    assert isinstance(ax, Axes)
    # rows: "abcd" | "ef↵" | "xy z" (the space is background only)
    assert drawn_characters(ax) == {(0, 0): "a", (0, 1): "b", (0, 2): "c", (0, 3): "d", (1, 0): "e", (1, 1): "f",
                                    (1, 2): "\u21b5", (2, 0): "x", (2, 1): "y", (2, 3): "z"}
    assert all(text.get_fontfamily() == ["monospace"] for text in ax.texts)
    grid = ax.images[0].get_array()
    assert grid.shape == (3, 4)
    assert grid[0, 0] == -1 and grid[2, 3] == 1 and np.ma.is_masked(grid[1, 3])  # no character there
    assert rendered(ax.figure, tmp_path)


def test_a_full_line_ending_in_a_newline_keeps_its_return_arrow_on_its_own_row():
    ax = plot_text_activation("abcd\nef", np.zeros(7), width=4)
    assert drawn_characters(ax) == {(0, 0): "a", (0, 1): "b", (0, 2): "c", (0, 3): "d", (0, 4): "\u21b5",
                                    (1, 0): "e", (1, 1): "f"}
    assert ax.images[0].get_array().shape == (2, 5)  # one margin column for the arrow, no empty row


def test_plot_text_activation_uses_a_diverging_map_centred_at_zero_with_a_colorbar():
    ax = plot_text_activation("hello", [0.0, 3.0, -1.0, 0.5, 2.0], label="cell 3")
    image = ax.images[0]
    assert image.get_cmap().name.startswith("RdBu_r") and image.get_clim() == (-3.0, 3.0)
    assert image.colorbar is not None and image.colorbar.ax.get_xlabel() == "cell 3"
    assert "cell 3" in ax.get_title()


def test_plot_text_activation_handles_a_few_thousand_characters(tmp_path):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("the quick brown fox\n"), size=2000))
    ax = plot_text_activation(text, np.tanh(np.cumsum(rng.normal(size=2000)) / 10), title="2000 characters")
    assert len(ax.texts) == sum(char != " " for char in text)
    assert ax.get_title() == "2000 characters"
    assert rendered(ax.figure, tmp_path)


@pytest.mark.parametrize("text, activation, width, message", [
    ("hello", np.zeros(4), 80, r"one value per character of text: shape \(5,\), got \(4,\)"),
    ("hello", np.zeros((5, 1)), 80, "one value per character"),
    ("", np.zeros(0), 80, "non-empty str"),
    (["h", "i"], np.zeros(2), 80, "non-empty str"),
    ("hello", np.zeros(5), 0, "width must be a positive int"),
])
def test_plot_text_activation_refuses_bad_input(text, activation, width, message):
    with pytest.raises(ValueError, match=message):
        plot_text_activation(text, activation, width=width)


# -------------------------------------------------------------------------------- the older plots
def test_plot_loss_curve_and_plot_forecast_still_draw(tmp_path):
    ax = plot_loss_curve(fitted_stand_in())
    assert len(ax.get_lines()) == 2 and ax.get_xlabel() == "epoch"
    time = np.arange(5)
    ax = plot_forecast(time, time * 1.0, time + 0.5, history=(time - 5, time * 1.0), baselines={"naive": time * 0.9},
                       title="forecast", unit="passengers")
    assert len(ax.get_lines()) == 4 and ax.get_ylabel() == "passengers"
    assert rendered(ax.figure, tmp_path)


# ------------------------------------------------------------------ what tiny fitted models return
@pytest.fixture(scope="module")
def sequences():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 8, 2))
    return X, X[:, :, 0].sum(axis=1)


@pytest.fixture(scope="module")
def fitted_lstm(sequences):
    X, y = sequences
    with warnings.catch_warnings():  # two epochs may end with a ConvergenceWarning
        warnings.simplefilter("ignore")
        return fastrnn.RNNRegressor(cell="lstm", hidden_sizes=(5, 3), max_iter=2, early_stopping=True,
                                    random_state=0).fit(X, y)


def test_plot_training_of_a_fitted_estimator(fitted_lstm, tmp_path):
    loss_ax, norm_ax, clip_ax = plot_training(fitted_lstm).axes
    training, validation, baseline = loss_ax.get_lines()
    np.testing.assert_allclose(validation.get_ydata(), fitted_lstm.validation_loss_curve_)
    assert baseline.get_ydata()[0] == fitted_lstm.baseline_loss_
    np.testing.assert_allclose(norm_ax.get_lines()[0].get_ydata(), fitted_lstm.grad_norm_curve_)
    assert norm_ax.get_lines()[1].get_ydata()[0] == fitted_lstm.clip_grad_norm
    assert rendered(loss_ax.figure, tmp_path)


def test_plot_internals_of_a_fitted_estimator(fitted_lstm, sequences, tmp_path):
    figure = plot_internals(fitted_lstm.inspect(sequences[0][:2]), sample=1, layer=-1)
    axes = heatmap_axes(figure)
    assert [ax.get_title(loc="left") for ax in axes] == ["hidden state h", "cell state c", "input gate i",
                                                         "forget gate f", "cell candidate g", "output gate o"]
    assert all(ax.images[0].get_array().shape == (3, 8) for ax in axes)  # top layer: 3 units, 8 steps
    assert rendered(figure, tmp_path)


def test_plot_internals_of_a_bidirectional_layer_with_lengths(tmp_path):
    gru = fastrnn.GRU(2, 4, bidirectional=True, random_state=0)
    internals = gru.inspect(np.random.default_rng(1).normal(size=(3, 9, 2)), lengths=[9, 5, 2])
    figure = plot_internals(internals, sample=1, step_labels="abcde")
    axes = heatmap_axes(figure)
    assert [ax.get_title(loc="left") for ax in axes][:4] == ["hidden state h", "reset gate r", "update gate z",
                                                             "candidate n"]
    assert axes[4].get_title(loc="left") == "hidden state h (reverse)"
    assert all(ax.images[0].get_array().shape == (4, 5) for ax in axes)  # sample 1's 5 steps, no padding
    assert rendered(figure, tmp_path)


def test_plot_gradient_flow_of_fitted_estimators(fitted_lstm, sequences, tmp_path):
    X, y = sequences
    flow_of_means = fitted_lstm.gradient_flow(X[:6], y[:6])
    per_sample = fitted_lstm.gradient_flow(X[:6], y[:6], per_sample=True)
    ax = plot_gradient_flow({"mean": flow_of_means, "per sample": per_sample}, layer=0)
    mean_line, per_sample_line = ax.get_lines()
    np.testing.assert_allclose(mean_line.get_ydata(), flow_of_means.norms[0][::-1])  # distance 0 first
    np.testing.assert_allclose(per_sample_line.get_ydata(), np.median(per_sample.norms[0], axis=0)[::-1])
    assert rendered(ax.figure, tmp_path)


def test_plot_text_activation_of_a_char_rnn_cell(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fastrnn.CharRNN(cell="lstm", hidden_sizes=(6,), seq_length=8, max_iter=2,
                                random_state=0).fit("the cat sat on the mat.\n" * 8)
    text = "the mat sat on the cat.\nthe cat"
    cell = model.inspect(text)[-1]["c"][0, :, 2]
    ax = plot_text_activation(text, cell, width=20, label="cell 2")
    assert len(ax.texts) == len(text) - text.count(" ")
    assert rendered(ax.figure, tmp_path)
