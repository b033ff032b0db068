"""Long-range memory: the adding problem, where gated cells remember and the Elman RNN does not.

The adding problem (Hochreiter & Schmidhuber 1997, in the setup of Le, Jaitly & Hinton 2015): each
sequence has T steps of two features, a value drawn uniformly from [0, 1) and a marker that is 1 on
exactly two steps (one in each half); the target is the sum of the two marked values. Always
predicting 1 gives a mean squared error of 1/6 ≈ 0.167; to do better a model must keep the first
marked value in memory for up to T steps. The LSTM and the GRU get far below that baseline (published
for T = 100 and more: MSE < 0.01), the Elman RNN (tanh) stays at it: its gradient fades over the
distance between the markers and the target (see ``vanishing_gradients.py``).

Each cell has one layer of 32 units, trained with Adam (learning rate 0.01, mini-batches of 32,
gradients clipped to norm 1) on 10 000 sequences for at most 25 epochs, and is scored on 1000
new sequences. Prints the test MSE per cell and T (and the number of epochs and seconds), and saves
``adding_problem.png``: the test MSE against T, and the training loss per epoch at the middle T.
The LSTM's training loss sits at the baseline for thousands of updates before it falls: each line
also says from which epoch the training MSE is below half the baseline.

Run: python examples/adding_problem.py [--lengths 50 100 200] [--cells lstm gru rnn] [--n-train 10000]
     [--epochs 25] [--hidden-size 32]   (about 3 minutes with the defaults on 2 cores)
"""

import argparse
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _adding import BASELINE_MSE, CELL_NAMES as NAMES, adding_model, make_adding_problem  # noqa: E402
from fastrnn.exceptions import ConvergenceWarning  # noqa: E402
from fastrnn.plotting import LINE_STYLES, OKABE_ITO  # noqa: E402  (colour-blind-safe colours)



def main(lengths, cells, n_train, epochs, hidden_size):
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # a fixed budget of epochs
    print(f"adding problem: {n_train} training and 1000 test sequences per length, {hidden_size} units, "
          f"at most {epochs} epochs")
    print(f"baseline (always predict 1): test MSE {BASELINE_MSE:.3f}")
    mse, curves = {}, {}
    for n_steps in lengths:
        X, y = make_adding_problem(n_train, n_steps, random_state=n_steps)
        X_test, y_test = make_adding_problem(1000, n_steps, random_state=10_000 + n_steps)
        for cell in cells:
            start = time.perf_counter()
            model = adding_model(cell, hidden_size, epochs).fit(X, y)
            seconds = time.perf_counter() - start
            mse[cell, n_steps] = float(np.mean((model.predict(X_test) - y_test) ** 2))
            curves[cell, n_steps] = 2 * np.asarray(model.loss_curve_)  # half MSE -> MSE
            below = np.flatnonzero(curves[cell, n_steps] < 0.5 * BASELINE_MSE)
            plateau = f"training MSE below half the baseline from epoch {below[0] + 1}" if below.size else \
                "training MSE never below half the baseline"
            print(f"{NAMES[cell]:9s} T={n_steps:<4d} test MSE {mse[cell, n_steps]:.4f}  "
                  f"({model.n_iter_} epochs, {plateau}, {seconds:.0f} s)", flush=True)

    print("\ntest MSE (baseline 0.167)")
    print("     T " + "".join(f"{NAMES[cell]:>11s}" for cell in cells))
    for n_steps in lengths:
        print(f"{n_steps:6d} " + "".join(f"{mse[cell, n_steps]:11.4f}" for cell in cells))

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours, styles = dict(zip(cells, OKABE_ITO)), dict(zip(cells, LINE_STYLES))  # distinct in grey too
    for cell in cells:
        left.plot(lengths, [mse[cell, n] for n in lengths], marker="o", color=colours[cell],
                  linestyle=styles[cell], label=NAMES[cell])
    left.axhline(BASELINE_MSE, color="black", linestyle="--", linewidth=1, label="baseline: always predict 1")
    left.set_yscale("log")
    left.set_xticks(lengths)
    left.set_xlabel("sequence length T (steps)")
    left.set_ylabel("test mean squared error")
    left.set_title("Test error against sequence length")
    left.legend()
    middle = lengths[len(lengths) // 2]
    for cell in cells:
        curve = curves[cell, middle]
        right.plot(np.arange(1, len(curve) + 1), curve, color=colours[cell], linestyle=styles[cell],
                   label=NAMES[cell])
    right.axhline(BASELINE_MSE, color="black", linestyle="--", linewidth=1, label="baseline")
    right.set_yscale("log")
    right.set_xlabel("epoch")
    right.set_ylabel("training mean squared error")
    right.set_title(f"Training loss at T = {middle}")
    right.legend()
    figure.suptitle(f"Adding problem at T = {middle}: test MSE " + ", ".join(
        f"{NAMES[cell]} {mse[cell, middle]:.2g}" for cell in cells) + f" (always predicting 1: {BASELINE_MSE:.3f})")
    figure.tight_layout()
    figure.savefig("adding_problem.png", dpi=100)
    print("saved adding_problem.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200], help="sequence lengths T")
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=list(NAMES))
    parser.add_argument("--n-train", type=int, default=10_000, help="training sequences per length")
    parser.add_argument("--epochs", type=int, default=25, help="most epochs per fit")
    parser.add_argument("--hidden-size", type=int, default=32)
    arguments = parser.parse_args()
    main(arguments.lengths, arguments.cells, arguments.n_train, arguments.epochs, arguments.hidden_size)
