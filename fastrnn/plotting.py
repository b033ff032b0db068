"""matplotlib figures for fitted models and their internals.

- :func:`plot_training`: training loss, mean gradient norm and clipped share per epoch (three panels).
- :func:`plot_internals`: heatmaps of a layer's hidden state, cell state and gates over one sequence,
  from ``inspect``.
- :func:`plot_gradient_flow`: the norm of the loss's gradient with respect to earlier hidden states
  against their distance to the loss, from ``gradient_flow``.
- :func:`plot_text_activation`: a text drawn character by character on a background coloured by one
  value per character (one unit's activation, say).
- :func:`plot_loss_curve` and :func:`plot_forecast`: loss curves; a forecast against the truth.

matplotlib is imported inside the functions, so ``import fastrnn`` does not import it. A function
that draws one panel draws on ``ax`` when given, else on a new pyplot figure, and returns the Axes;
one that draws several panels returns a new pyplot Figure. Lines use the Okabe-Ito palette (readable
with every common colour-vision deficiency) and distinct line styles (readable in grey); values in
0..1 use the sequential ``cividis`` map, signed values the diverging ``RdBu_r`` map centred at 0
(blue below 0, red above).
"""

from collections.abc import Mapping

import numpy as np

__all__ = ["plot_training", "plot_internals", "plot_gradient_flow", "plot_text_activation", "plot_loss_curve",
           "plot_forecast"]

# Okabe & Ito (2008), "Color Universal Design", in an order for lines on white: the yellow, too
# light for a thin line, comes last.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
SEQUENTIAL_CMAP = "cividis"
DIVERGING_CMAP = "RdBu_r"

# inspect's names, in the order plot_internals draws them, and what they are.
STATE_DESCRIPTIONS = {
    "h": "hidden state h",
    "c": "cell state c",
    "i": "input gate i",
    "f": "forget gate f",
    "g": "cell candidate g",
    "o": "output gate o",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "candidate n",
}
GATES = frozenset("ifozr")  # sigmoids: values in 0..1
REVERSE_SUFFIX = "_reverse"
MAX_LABELLED_STEPS = 60  # plot_internals labels every step up to this many steps
FEW_POINTS = 30  # lines with at most this many points get markers


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(8, 4), layout="constrained").add_subplot()


def _marker(n_points):
    return "o" if n_points <= FEW_POINTS else None


def _symmetric_limit(values):
    """The colour limit of a diverging map centred at 0: 1 when all values lie in [-1, 1] (the range
    of tanh, so that plots compare), else the largest magnitude."""
    largest = np.nanmax(np.abs(values)) if np.any(np.isfinite(values)) else 0.0
    return 1.0 if largest <= 1.0 else float(largest)


def _check_index(index, size, what):
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not -size <= index < size:
        raise ValueError(f"{what} must be an int in [{-size}, {size}), got {index!r}")
    return int(index) % size


# ---------------------------------------------------------------------------------------------------
# plot_training


def plot_training(estimator, title=None):
    """Training diagnostics of a fitted estimator against the epoch, in three aligned panels.

    Top: the training loss (and the validation loss with early stopping), with a dashed line at
    ``baseline_loss_``, the loss of the best constant prediction. Middle: the mean norm of the
    mini-batch gradients (before clipping) on a log scale, with a dotted line at ``clip_grad_norm``
    when clipping is on. Bottom: the share of the epoch's updates whose gradient was clipped.

    Parameters
    ----------
    estimator : fitted RNNRegressor, RNNClassifier, CharRNN or Seq2Seq
        Reads ``loss_curve_``, ``validation_loss_curve_``, ``baseline_loss_``, ``grad_norm_curve_``,
        ``clipped_fraction_curve_`` and ``clip_grad_norm``.
    title : str, optional
        Figure title. Default: the estimator's first and last loss, and the last as a share of the
        constant prediction's.

    Returns
    -------
    matplotlib Figure
        With three Axes sharing the epoch axis (``figure.axes[:3]``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    losses = getattr(estimator, "loss_curve_", None)
    if not losses:
        raise ValueError(f"{type(estimator).__name__} has no loss_curve_: fit it before plot_training")
    figure, (loss_ax, norm_ax, clip_ax) = plt.subplots(3, 1, sharex=True, figsize=(8, 7.5), layout="constrained")
    _draw_losses(loss_ax, estimator)
    _draw_gradient_norms(norm_ax, estimator)
    _draw_clipped_fraction(clip_ax, estimator)
    clip_ax.set_xlabel("epoch")
    clip_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title if title is not None else _training_finding(estimator))
    return figure


def _epochs(curve):
    return np.arange(1, len(curve) + 1)


def _draw_losses(ax, estimator):
    losses = np.asarray(estimator.loss_curve_, dtype=float)
    ax.plot(_epochs(losses), losses, color=OKABE_ITO[0], marker=_marker(len(losses)), markersize=3,
            label="training loss")
    validation = getattr(estimator, "validation_loss_curve_", None)
    if validation:
        ax.plot(_epochs(validation), validation, color=OKABE_ITO[1], linestyle="-.", marker=_marker(len(validation)),
                markersize=3, label="validation loss")
    baseline = getattr(estimator, "baseline_loss_", None)
    if baseline is not None and np.isfinite(baseline):
        ax.axhline(baseline, color=OKABE_ITO[6], linestyle="--", linewidth=1, label="constant prediction")
    drawn = np.concatenate([losses, validation or [], [] if baseline is None else [baseline]])
    if np.all(drawn[np.isfinite(drawn)] > 0):
        ax.set_yscale("log")
        ax.set_ylabel("loss (log scale)")
    else:
        ax.set_ylabel("loss")
    ax.set_title("loss per epoch", loc="left", fontsize="medium")
    ax.legend()


def _draw_gradient_norms(ax, estimator):
    norms = getattr(estimator, "grad_norm_curve_", None) or []
    ax.plot(_epochs(norms), norms, color=OKABE_ITO[2], marker=_marker(len(norms)), markersize=3,
            label="mean over the epoch's updates")
    clip = getattr(estimator, "clip_grad_norm", None)
    if clip is not None:
        ax.axhline(clip, color=OKABE_ITO[6], linestyle=":", linewidth=1.5, label=f"clip_grad_norm = {clip:g}")
    ax.set_yscale("log", nonpositive="mask")
    ax.set_ylabel("gradient norm (log scale)")
    ax.set_title("gradient norm before clipping", loc="left", fontsize="medium")
    ax.legend()


def _draw_clipped_fraction(ax, estimator):
    fractions = getattr(estimator, "clipped_fraction_curve_", None) or []
    clipping_on = getattr(estimator, "clip_grad_norm", None) is not None
    label = "clipped updates" if clipping_on else "clipped updates (clipping is off)"
    ax.plot(_epochs(fractions), fractions, color=OKABE_ITO[3], marker=_marker(len(fractions)), markersize=3,
            clip_on=False, label=label)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of updates (0-1)")
    ax.set_title("updates whose gradient was clipped", loc="left", fontsize="medium")
    ax.legend()


def _training_finding(estimator):
    losses = estimator.loss_curve_
    n_epochs = len(losses)
    finding = (f"{type(estimator).__name__}: loss {losses[0]:.3g} \u2192 {losses[-1]:.3g} in {n_epochs} "
               f"epoch{'s' if n_epochs > 1 else ''}")
    baseline = getattr(estimator, "baseline_loss_", None)
    if baseline is not None and np.isfinite(baseline) and baseline > 0 and np.isfinite(losses[-1]):
        finding += f", {losses[-1] / baseline:.0%} of the constant prediction's"
    return finding


# ---------------------------------------------------------------------------------------------------
# plot_internals


def plot_internals(internals, sample=0, layer=0, names=None, title=None, step_labels=None):
    """Heatmaps of one layer's states and gates over one sequence, one panel per name.

    Each panel shows the units (y) against the time steps (x), with a colorbar. Gates (``i``, ``f``,
    ``o``, ``r``, ``z``) use the sequential map on 0..1; the hidden state ``h``, the cell state
    ``c`` and the candidates ``g`` and ``n`` use the diverging map centred at 0, on [-1, 1] when the
    values lie in it, else on [-m, m] with m their largest magnitude. Steps past the sequence's own
    length (NaN in every shown array) are cut off; any other NaN is drawn light grey.

    Parameters
    ----------
    internals : list of dict of str -> (n_samples, n_timesteps, H) arrays, or one such dict
        What ``model.inspect(X)`` or ``layer.inspect(X)`` returns: one dict per recurrent layer.
    sample : int, default 0
        Which sequence (row of the arrays) to draw.
    layer : int, default 0
        Which layer (index into ``internals``; -1 is the top layer).
    names : list of str, optional
        The arrays to draw, in this order. Default: all of the layer's, in the order h, c, then the
        gates (i, f, g, o for the LSTM; r, z, n for the GRU), then the same with ``"_reverse"``.
    title : str, optional
        Figure title. Default: the layer, the sample and the number of steps.
    step_labels : sequence of str, optional
        One label per time step (the characters of a text, say), ``n_timesteps`` of them or as many
        as the sequence's own length; used as tick labels when there are at most 60 steps to show.

    Returns
    -------
    matplotlib Figure
        With one heatmap Axes per name, top to bottom, and a colorbar Axes for each.
    """
    import matplotlib.pyplot as plt

    layer, states = _layer_states(internals, layer)
    names = _names_to_draw(states, names)
    sample = _check_index(sample, states[names[0]].shape[0], "sample")
    rows = [np.asarray(states[name], dtype=float)[sample] for name in names]
    n_steps = max(_sequence_length(row) for row in rows)
    labels = _visible_step_labels(step_labels, rows[0].shape[0], n_steps)
    figure, axes = plt.subplots(len(names), 1, sharex=True, squeeze=False, layout="constrained",
                                figsize=(10, 0.9 + 1.7 * len(names)))
    for ax, name, row in zip(axes[:, 0], names, rows):
        _draw_state_heatmap(ax, name, row[:n_steps])
    _label_time_axis(axes[-1, 0], labels, n_steps)
    default = f"Layer {layer}, sample {sample}: {n_steps} steps"
    figure.suptitle(title if title is not None else default)
    return figure


def _layer_states(internals, layer):
    """(layer index, non-negative; the layer's dict of arrays), checked."""
    layers = [internals] if isinstance(internals, Mapping) else list(internals)
    if not layers or not all(isinstance(states, Mapping) for states in layers):
        raise ValueError("internals must be what inspect returns: a list of dicts, one per layer, of "
                         "(n_samples, n_timesteps, H) arrays")
    layer = _check_index(layer, len(layers), "layer")
    states = layers[layer]
    for name, values in states.items():
        if np.ndim(values) != 3:
            raise ValueError(f"internals[{layer}][{name!r}] must be an (n_samples, n_timesteps, H) array, "
                             f"got shape {np.shape(values)}")
    if not states:
        raise ValueError(f"internals[{layer}] holds no arrays")
    return layer, states


def _default_order(available):
    base = [name for name in STATE_DESCRIPTIONS if name in available]
    reverse = [name + REVERSE_SUFFIX for name in STATE_DESCRIPTIONS if name + REVERSE_SUFFIX in available]
    others = sorted(set(available) - set(base) - set(reverse))
    return base + reverse + others


def _names_to_draw(states, names):
    if names is None:
        return _default_order(states)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in states]
    if unknown or not names:
        raise ValueError(f"unknown name(s) {unknown} for this layer; it has {_default_order(states)}")
    return names


def _sequence_length(values):
    """Steps up to the last one with a finite value (at least 1): the sequence's own length."""
    finite_steps = np.flatnonzero(np.any(np.isfinite(values), axis=1))
    return int(finite_steps[-1]) + 1 if finite_steps.size else 1


def _visible_step_labels(step_labels, n_timesteps, n_steps):
    if step_labels is None:
        return None
    labels = list(step_labels)
    if len(labels) not in (n_timesteps, n_steps):
        raise ValueError(f"step_labels has {len(labels)} labels; expected one per time step ({n_timesteps}) "
                         f"or per step of the sequence ({n_steps})")
    return [_printable(str(label)) for label in labels[:n_steps]] if n_steps <= MAX_LABELLED_STEPS else None


def _printable(label):
    """Whitespace and control characters as visible symbols (a tick label " " would show nothing)."""
    visible = {" ": "\u2423", "\n": "\u21b5", "\t": "\u2192"}
    return "".join(visible.get(char, char if char.isprintable() else "\u00b7") for char in label)


def _base_name(name):
    return name[:-len(REVERSE_SUFFIX)] if name.endswith(REVERSE_SUFFIX) else name


def _describe(name):
    base = _base_name(name)
    description = STATE_DESCRIPTIONS.get(base, base)
    return description + (" (reverse)" if name.endswith(REVERSE_SUFFIX) else "")


def _colour_scale(name, values):
    """(colormap name, vmin, vmax) for the values of ``name``."""
    if _base_name(name) in GATES:
        return SEQUENTIAL_CMAP, 0.0, 1.0
    limit = _symmetric_limit(values)
    return DIVERGING_CMAP, -limit, limit


def _draw_state_heatmap(ax, name, values):
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    cmap_name, vmin, vmax = _colour_scale(name, values)
    cmap = matplotlib.colormaps[cmap_name].with_extremes(bad="0.85")
    image = ax.imshow(values.T, aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.figure.colorbar(image, ax=ax, label=name, pad=0.01)
    ax.set_ylabel("unit")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.set_title(_describe(name), loc="left", fontsize="medium")


def _label_time_axis(ax, labels, n_steps):
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("time step")
    if labels is None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return
    rotation = 90 if any(len(label) > 1 for label in labels) else 0
    ax.set_xticks(np.arange(n_steps), labels, rotation=rotation, fontfamily="monospace")


# ---------------------------------------------------------------------------------------------------
# plot_gradient_flow


def plot_gradient_flow(flows, layer=0, ax=None, title=None):
    """The norm of the loss's gradient with respect to each earlier hidden state, against its distance.

    One line per model: x is the distance from the hidden state to the loss's step (``step - t``,
    in time steps), y the mean over samples of ``||dL/dh_t||`` on a log scale. A straight falling
    line is a gradient that vanishes geometrically; a rising one explodes. With per-sample norms
    (``gradient_flow(..., per_sample=True)``) the line is their median and a shaded band spans
    their 10th to 90th percentiles (a mean over samples whose norms span decades is ruled by the
    few largest).

    Parameters
    ----------
    flows : GradientFlow or dict of str -> GradientFlow
        What ``gradient_flow`` returns (``norms`` of shape ``(n_layers, step + 1)`` or
        ``(n_layers, n_samples, step + 1)``, ``distance`` of shape ``(step + 1,)``, ``step``), or
        several of them by label, one line each.
    layer : int, default 0
        Which layer's hidden states (-1 is the top layer).
    ax : matplotlib Axes, optional
    title : str, optional
        Axes title. Default, for one flow: how large the gradient is at the largest distance
        relative to its size at the loss's step.

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.ticker import MaxNLocator

    labelled = _labelled_flows(flows)
    ax = _axes(ax)
    any_band = False
    for index, (label, flow) in enumerate(labelled):
        distance, mean, band = _flow_curve(flow, layer, label)
        ax.plot(distance, mean, color=OKABE_ITO[index % len(OKABE_ITO)],
                linestyle=LINE_STYLES[index % len(LINE_STYLES)], linewidth=2, marker=_marker(len(distance)),
                markersize=3, label=label)
        if band is not None:
            ax.fill_between(distance, band[0], band[1], color=OKABE_ITO[index % len(OKABE_ITO)], alpha=0.2,
                            linewidth=0)
            any_band = True
    ax.set_yscale("log", nonpositive="mask")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("distance to the loss, step \u2212 t (time steps)")
    ax.set_ylabel("mean \u2016dL/dh$_t$\u2016 (log scale)")
    ax.legend(title="per sample: median, shaded 10th-90th percentile" if any_band else None)
    ax.set_title(title if title is not None else _flow_finding(labelled, layer))
    return ax


def _labelled_flows(flows):
    if isinstance(flows, Mapping):
        labelled = [(str(label), flow) for label, flow in flows.items()]
    else:
        labelled = [("mean over samples", flows)]
    if not labelled:
        raise ValueError("flows is empty: pass a GradientFlow or a dict of label -> GradientFlow")
    for label, flow in labelled:
        if not (hasattr(flow, "norms") and hasattr(flow, "distance")):
            raise ValueError(f"flows[{label!r}] is a {type(flow).__name__}, not a GradientFlow (what "
                             "gradient_flow returns: norms, distance, step)")
    return labelled


def _flow_curve(flow, layer, label):
    """(distance ascending, the line: mean norm, or with per-sample norms their median, (10th, 90th
    percentile) or None) of one flow's layer."""
    norms = np.asarray(flow.norms, dtype=float)
    distance = np.asarray(flow.distance)
    if norms.ndim not in (2, 3) or norms.shape[-1] != distance.shape[0] or distance.ndim != 1:
        raise ValueError(f"flows[{label!r}]: norms must be (n_layers, step + 1) or (n_layers, n_samples, step + 1) "
                         f"and distance (step + 1,); got {norms.shape} and {distance.shape}")
    layer_norms = norms[_check_index(layer, norms.shape[0], "layer")]
    order = np.argsort(distance)
    if layer_norms.ndim == 1:
        return distance[order], layer_norms[order], None
    # per sample: the median, which stays inside its band (a mean over samples that span decades is
    # ruled by the few largest and can lie above the 90th percentile)
    band = np.nanpercentile(layer_norms, [10, 50, 90], axis=0)[:, order]
    return distance[order], band[1], band[[0, 2]]


def _flow_finding(labelled, layer):
    label, flow = labelled[0]
    layer = _check_index(layer, np.shape(flow.norms)[0], "layer")
    generic = f"Gradient of the loss with respect to earlier hidden states, layer {layer}"
    if len(labelled) > 1:
        return generic
    distance, mean, _ = _flow_curve(flow, layer, label)
    far, near = mean[-1], mean[0]
    if distance[-1] == distance[0] or not (np.isfinite(far) and np.isfinite(near) and near > 0):
        return generic
    steps = f"{distance[-1]} step{'s' if distance[-1] != 1 else ''}"
    return f"Layer {layer}: {steps} back the gradient is {far / near:.2g}\u00d7 its size at the loss"


# ---------------------------------------------------------------------------------------------------
# plot_text_activation

TEXT_FONT_SIZE = 9  # points, on a new figure
CELL_WIDTH = 0.75  # a character cell's width, in font sizes (a monospace glyph is 0.6 wide)
CELL_HEIGHT = 1.5  # a line's height, in font sizes


def plot_text_activation(text, activation, ax=None, title=None, width=80, label="activation"):
    """A text drawn character by character, each on a background coloured by its activation.

    After Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent Networks" (2015):
    the characters are laid out in a monospace grid, ``width`` to a line (a newline also ends a line,
    and is drawn as a return arrow), and each cell is coloured by the diverging map centred at 0
    (blue below 0, red above; on [-1, 1] when the values lie in it, else on [-m, m] with m their
    largest magnitude), with a colorbar. Spaces show only their background; NaN values none.

    Parameters
    ----------
    text : str
        The text, ``n_chars`` characters (a few thousand draw in a second or two).
    activation : (n_chars,) array
        One value per character, e.g. one unit of ``model.inspect(text)[-1]["c"][0, :, unit]``.
    ax : matplotlib Axes, optional
        Default: a new figure sized so that the characters are 9 pt.
    title : str, optional
        Axes title. Default: what the colours mean.
    width : int, default 80
        Characters per line.
    label : str, default "activation"
        The colorbar's label (say "cell 17 of layer 2").

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib

    values = _check_text_activation(text, activation, width)
    rows, columns = _text_grid_positions(text, width)
    n_rows = int(rows[-1]) + 1
    n_columns = max(width, int(columns.max()) + 1)  # width + 1 when a full line ends with a newline
    grid = np.full((n_rows, n_columns), np.nan)
    grid[rows, columns] = values
    if ax is None:
        ax, font_size = _text_axes(n_rows, n_columns), TEXT_FONT_SIZE
    else:
        font_size = _text_font_size(ax, n_rows, n_columns)
    limit = _symmetric_limit(values)
    cmap = matplotlib.colormaps[DIVERGING_CMAP].with_extremes(bad=(1, 1, 1, 0))
    image = ax.imshow(grid, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    _draw_characters(ax, text, rows, columns, values / limit, font_size)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(image, ax=ax, label=label, location="bottom", fraction=0.04, aspect=40, pad=0.02,
                       shrink=0.6)
    ax.set_title(title if title is not None else f"{label} per character (red above 0, blue below)")
    return ax


def _check_text_activation(text, activation, width):
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str, got {type(text).__name__}")
    if not isinstance(width, (int, np.integer)) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    values = np.asarray(activation, dtype=float)
    if values.shape != (len(text),):
        raise ValueError(f"activation must hold one value per character of text: shape ({len(text)},), "
                         f"got {values.shape}")
    return values


def _text_grid_positions(text, width):
    """(row, column) of each character: ``width`` characters to a line, and a newline ends its line
    (after a full line, in column ``width``: the grid has one margin column for return arrows)."""
    rows = np.empty(len(text), dtype=np.intp)
    columns = np.empty(len(text), dtype=np.intp)
    row = column = 0
    for index, char in enumerate(text):
        if column == width and char != "\n":  # a full line wraps; its newline takes the margin column
            row, column = row + 1, 0
        rows[index], columns[index] = row, column
        row, column = (row + 1, 0) if char == "\n" else (row, column + 1)
    return rows, columns


def _text_axes(n_rows, width):
    import matplotlib.pyplot as plt

    inches = TEXT_FONT_SIZE / 72
    figsize = (width * CELL_WIDTH * inches + 0.4, n_rows * CELL_HEIGHT * inches + 1.2)
    return plt.figure(figsize=figsize, layout="constrained").add_subplot()


def _text_font_size(ax, n_rows, width):
    """The largest font size (points, at most 12) whose glyphs fit the Axes' cells."""
    figure_width, figure_height = ax.figure.get_size_inches()
    box = ax.get_position()
    cell_width = box.width * figure_width * 72 / width
    cell_height = box.height * figure_height * 72 / n_rows
    return float(np.clip(min(cell_width / CELL_WIDTH, cell_height / CELL_HEIGHT), 2, 12))


def _draw_characters(ax, text, rows, columns, scaled_values, font_size):
    """One Text per visible character, white on the darkest backgrounds (|value| above 0.6 of the
    colour limit), black elsewhere. The Texts stay out of the layout's computations (thousands of
    them would slow it down)."""
    from matplotlib.font_manager import FontProperties

    font = FontProperties(family="monospace", size=font_size)
    for char, row, column, value in zip(text, rows, columns, scaled_values):
        if char == " ":
            continue
        colour = "white" if abs(value) > 0.6 else "black"
        ax.text(column, row, _printable(char), ha="center", va="center", fontproperties=font, color=colour,
                in_layout=False)


# ---------------------------------------------------------------------------------------------------
# loss curve and forecast


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
