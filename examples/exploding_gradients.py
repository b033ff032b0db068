"""Exploding gradients and gradient clipping: an Elman RNN whose recurrent weights are scaled up.

When the recurrent weight matrix of an Elman RNN is large, the product of the step Jacobians that
backpropagation through time multiplies together can grow with the distance instead of shrinking
(Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013, "On the difficulty of training
recurrent neural networks"). A plain gradient step then is huge, the weights it lands on give a still
larger gradient, and training blows up. Clipping the gradient's norm before the step (Pascanu et al.)
bounds the step and lets training go on.

The task is the adding problem (``adding_problem.py``) at T = 10 steps, where an Elman RNN (tanh,
32 units) trained with SGD (learning rate 0.1, Nesterov momentum 0.9, mini-batches of 32) does learn.
Three runs from the same start, one epoch of training on 5000 sequences (clipped to norm 1):

- control: the weights not scaled, no clipping;
- the recurrent weights (``weight_hh_l0``) multiplied by 3 in place, no clipping
  (``clip_grad_norm=None``);
- the same scaled weights, the gradient clipped to norm 1 (``clip_grad_norm=1.0``).

Each then trains for 15 more epochs, one ``partial_fit`` call per mini-batch so that every update's
gradient norm (before clipping) and loss are recorded. fastrnn stops a fit whose loss or gradient
is no longer finite with ``fastrnn.exceptions.TrainingDivergedError``, keeping the last weights that
gave a finite loss; the script catches it and reports the update. Adam would hide most of this: it
divides each step by a running scale of the gradient, so a huge gradient does not make a huge step.

Prints per run the largest gradient norm, the final training loss (MSE over the last 20 updates),
the test MSE and, for the unclipped run, where it diverged; saves ``exploding_gradients.png``
(gradient norm and training loss per update, log scales).

Run: python examples/exploding_gradients.py [--factor 3] [--epochs 15] [--n-train 5000]   (a few seconds)
"""

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _adding import BASELINE_MSE, adding_model, make_adding_problem  # noqa: E402
from fastrnn.exceptions import ConvergenceWarning, TrainingDivergedError  # noqa: E402
from fastrnn.plotting import OKABE_ITO  # noqa: E402  (colour-blind-safe colours)

N_STEPS = 10
BATCH = 32


def train(X, y, factor, clip, epochs):
    """Train one Elman RNN as the docstring says; returns (model, gradient norms and losses per update
    after the scaling, the update that diverged or None)."""
    model = adding_model("rnn", epochs=1, solver="sgd", learning_rate_init=0.1, batch_size=BATCH,
                         clip_grad_norm=1.0)
    model.fit(X, y)  # one epoch: the common start of the runs (same seed, data and updates)
    model.set_params(clip_grad_norm=clip)  # read at every update
    model.network_.layers[0].params["weight_hh_l0"] *= factor  # the host copy, which every fit uses
    start = len(model.loss_curve_)
    rng = np.random.default_rng(1)
    diverged = None
    try:
        for _ in range(epochs):
            order = rng.permutation(len(X))
            for first in range(0, len(X), BATCH):
                batch = order[first:first + BATCH]
                model.partial_fit(X[batch], y[batch])  # one update: one entry of each curve
    except TrainingDivergedError:
        diverged = len(model.loss_curve_) - start + 1  # this update's loss or gradient was not finite
    norms = np.asarray(model.grad_norm_curve_[start:])
    losses = 2 * np.asarray(model.loss_curve_[start:])  # half MSE -> MSE of the batch, before its update
    return model, norms, losses, diverged


def main(factor, epochs, n_train):
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # the one-epoch fit
    X, y = make_adding_problem(n_train, N_STEPS, random_state=N_STEPS)
    X_test, y_test = make_adding_problem(1000, N_STEPS, random_state=10_000 + N_STEPS)
    runs = {"control: weights not scaled, not clipped": (1.0, None),
            f"recurrent weights \u00d7{factor:g}, not clipped": (factor, None),
            f"recurrent weights \u00d7{factor:g}, clipped to norm 1": (factor, 1.0)}
    print(f"adding problem, T = {N_STEPS}, Elman RNN (tanh, 32 units), SGD; {n_train} training sequences, "
          f"1 epoch, then the recurrent weights scaled and {epochs} more epochs "
          f"(baseline MSE {BASELINE_MSE:.3f})")
    curves = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for label, (scale, clip) in runs.items():
            model, norms, losses, diverged = train(X, y, scale, clip, epochs)
            test_mse = float(np.mean((model.predict(X_test).astype(np.float64) - y_test) ** 2))
            final = float(np.mean(losses[-20:]))
            curves[label] = (norms, losses, diverged)
            clipped = "" if clip is None else f", {100 * np.mean(norms > clip):.0f}% of the updates clipped"
            outcome = (f"diverged at update {diverged} (TrainingDivergedError; the last weights with a finite loss "
                       f"kept)" if diverged else f"{len(norms)} updates")
            print(f"{label}: {outcome}; largest gradient norm {norms.max():.3g}{clipped}; final training MSE "
                  f"{final:.4g}; test MSE {test_mse:.4g}")

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    colours = ("0.5", OKABE_ITO[1], OKABE_ITO[0])  # the control in grey
    for colour, (label, (norms, losses, diverged)) in zip(colours, curves.items()):
        updates = np.arange(1, len(norms) + 1)
        left.plot(updates, norms, color=colour, linewidth=1, label=label)
        right.plot(updates, losses, color=colour, linewidth=1, label=label)
        if diverged:
            left.plot(updates[-1], norms[-1], "x", color=colour, markersize=10, markeredgewidth=2)
            right.plot(updates[-1], losses[-1], "x", color=colour, markersize=10, markeredgewidth=2,
                       label=f"diverged: stopped at update {diverged}")
    left.axhline(1.0, color="black", linestyle=":", linewidth=1, label="clipping threshold (norm 1)")
    right.axhline(BASELINE_MSE, color="black", linestyle="--", linewidth=1, label="baseline: always predict 1")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SGD update after the scaling (mini-batches of 32)")
    left.set_ylabel("gradient norm before clipping")
    left.set_title("Gradient norm per update")
    right.set_ylabel("training MSE of the mini-batch")
    right.set_title("Training loss per update")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    unclipped, clipped = list(curves.values())[1:]
    what = f" and the fit diverges at update {unclipped[2]}" if unclipped[2] else ""
    figure.suptitle(f"Elman RNN, recurrent weights \u00d7{factor:g}: without clipping the gradient norm reaches "
                    f"{unclipped[0].max():.1g}{what};\nclipped to norm 1, training goes on to MSE "
                    f"{np.mean(clipped[1][-20:]):.2g} (mean of the last 20 updates)")
    figure.tight_layout()
    figure.savefig("exploding_gradients.png", dpi=100)
    print("saved exploding_gradients.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=3.0, help="scale of the recurrent weights")
    parser.add_argument("--epochs", type=int, default=15, help="epochs after the scaling")
    parser.add_argument("--n-train", type=int, default=5000, help="training sequences")
    arguments = parser.parse_args()
    main(arguments.factor, arguments.epochs, arguments.n_train)
