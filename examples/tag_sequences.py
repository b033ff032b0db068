"""Many-to-many tagging: label every step of a sequence, using what came before it.

Each sequence is a random walk of 20 steps; the tag of a step says whether the walk is above its
starting point there ("up") or not ("down"). The tag at step t depends on every input up to t, so
the tagger (``output="sequence"``) must carry a running sum in its state.

Run: python examples/tag_sequences.py   (a few seconds)
"""

import warnings

import numpy as np

from fastrnn import RNNClassifier
from fastrnn.exceptions import ConvergenceWarning

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # a fixed budget of 40 epochs

rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 20, 1))
tags = np.where(np.cumsum(X[:, :, 0], axis=1) > 0, "up", "down")  # (n_samples, n_timesteps)

tagger = RNNClassifier(output="sequence", hidden_sizes=(16,), max_iter=40, learning_rate_init=0.01,
                       early_stopping=True, random_state=0)
tagger.fit(X[:800], tags[:800])
print(f"trained {tagger.n_iter_} epochs; best validation accuracy {tagger.best_validation_score_:.3f}")
print(f"per-step test accuracy: {tagger.score(X[800:], tags[800:]):.3f}")

predicted = tagger.predict(X[800:])
per_step = np.mean(predicted == tags[800:], axis=0)
print("accuracy by step:", " ".join(f"{a:.2f}" for a in per_step))
print("first test sequence:")
print("  truth    ", " ".join(t[0] for t in tags[800]))
print("  predicted", " ".join(t[0] for t in predicted[0]))

# the same model tags sequences of another length
longer = rng.normal(size=(5, 35, 1))
print("tags of a 35-step sequence:", "".join(t[0] for t in tagger.predict(longer)[0]))
