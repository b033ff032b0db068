"""Sequence to sequence: read dates written in words, write them in ISO 8601.

"23 November 2026", "Nov 23, 2026", "Monday 23/11/2026"... become "2026-11-23". Inputs and outputs are
character sequences of different lengths (given to the model as integer tokens: the characters'
code points). The encoder reads the written date to its end, its final state starts the decoder,
which writes the ISO date character by character until its end token. Printed: the exact-match
accuracy on dates never seen in training (every character of the output must be right).

Run: python examples/seq2seq_dates.py [--epochs 40] [--n-train 6000]   (about a minute with the defaults)
"""

import argparse
import datetime
import time
import warnings

import numpy as np

from fastrnn import Seq2Seq
from fastrnn.exceptions import ConvergenceWarning

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FORMATS = [
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    lambda d: f"{DAYS[d.weekday()]} {d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{DAYS[d.weekday()][:3]}, {d.day} {MONTHS[d.month - 1].lower()} {d.year}",
]


def written_dates(n, rng):
    """n random dates of 1950-2049, each written in a random format, and their ISO forms."""
    start = datetime.date(1950, 1, 1).toordinal()
    days = rng.integers(0, datetime.date(2049, 12, 31).toordinal() - start + 1, n)
    dates = [datetime.date.fromordinal(start + int(k)) for k in days]
    written = [FORMATS[rng.integers(len(FORMATS))](d) for d in dates]
    return written, [d.isoformat() for d in dates]


def to_tokens(texts):
    return [np.array([ord(ch) for ch in text], dtype=np.int64) for text in texts]


def to_text(tokens):
    return "".join(chr(int(code)) for code in tokens)


def main(epochs, n_train):
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rng = np.random.default_rng(0)
    written, iso = written_dates(n_train + 1000, rng)
    train_iso = set(iso[:n_train])
    test = [i for i in range(n_train, len(iso)) if iso[i] not in train_iso][:500]  # dates never seen in training
    X, Y = to_tokens(written), to_tokens(iso)

    start = time.perf_counter()
    model = Seq2Seq(cell="lstm", hidden_sizes=(128,), max_iter=epochs, batch_size=64, learning_rate_init=0.003,
                    random_state=0)
    model.fit(X[:n_train], Y[:n_train])
    print(f"trained {model.n_iter_} epochs on {n_train} pairs in {time.perf_counter() - start:.1f} s; "
          f"loss {model.loss_curve_[0]:.3f} -> {model.loss_curve_[-1]:.4f}")

    accuracy = model.score([X[i] for i in test], [Y[i] for i in test])
    print(f"exact-match accuracy on {len(test)} unseen dates: {accuracy:.3f}")
    predicted = model.predict([X[i] for i in test[:6]])
    for i, tokens in zip(test[:6], predicted):
        print(f"  {written[i]:32s} -> {to_text(tokens):12s} (true {iso[i]})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--n-train", type=int, default=6000)
    arguments = parser.parse_args()
    main(arguments.epochs, arguments.n_train)
