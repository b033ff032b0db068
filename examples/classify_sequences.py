"""Many-to-one classification that needs memory: did a marker occur anywhere in a noise sequence?

Each sequence is 30 steps of Gaussian noise; in half of them one random step carries a +3 spike.
The label is whether the spike occurred, wherever it was, so a model must remember the whole
sequence. A memoryless model that looks at one step (here: the last one) is near chance, an Elman RNN
learns it only partly, the gated cells (LSTM, GRU) solve it.

Run: python examples/classify_sequences.py   (a few seconds)
"""

import warnings

import numpy as np

from fastrnn import RNNClassifier
from fastrnn.exceptions import ConvergenceWarning

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # a fixed budget of 40 epochs

rng = np.random.default_rng(0)
n, n_steps = 1200, 30
X = rng.normal(scale=0.5, size=(n, n_steps, 1))
has_marker = rng.integers(0, 2, n).astype(bool)
where = rng.integers(0, n_steps, n)
X[np.flatnonzero(has_marker), where[has_marker], 0] += 3.0
y = np.where(has_marker, "marker", "noise")  # labels may be strings

X_train, X_test, y_train, y_test = X[:1000], X[1000:], y[:1000], y[1000:]
models = {}
for cell in ("lstm", "gru", "rnn"):
    clf = RNNClassifier(cell=cell, hidden_sizes=(16,), max_iter=40, n_iter_no_change=40,  # all 40 epochs:
                        learning_rate_init=0.01, random_state=0)  # not stopped on the loss plateau before learning
    models[cell] = clf.fit(X_train, y_train)
    print(f"{cell.upper():4s}: test accuracy {clf.score(X_test, y_test):.3f} after {clf.n_iter_} epochs; "
          f"mean gradient norm in the last epoch {clf.grad_norm_curve_[-1]:.3f}, "
          f"clipped steps {100 * clf.clipped_fraction_curve_[-1]:.0f}%")
print("(the Elman RNN's gradient fades through 30 steps of tanh, so it learns the long-range dependency only "
      "partly; the LSTM's cell state and the GRU's update gate carry it)")

memoryless = np.where(X_test[:, -1, 0] > 1.5, "marker", "noise")
print(f"memoryless rule on the last step: accuracy {np.mean(memoryless == y_test):.3f}")
lstm = models["lstm"]
print(f"LSTM probabilities of the first 3 test sequences (columns {lstm.classes_.tolist()}), "
      f"true labels {y_test[:3].tolist()}:")
print(np.round(lstm.predict_proba(X_test[:3]), 3))
