"""Watching the cells: units of a character-level LSTM that track what the text is doing.

Karpathy, Johnson & Fei-Fei ("Visualizing and Understanding Recurrent Networks", 2015) found cells
of character-level LSTMs that count the position in a line, or switch on inside quotes, though no one
told the network about lines or quotes: tracking them helps it predict the next character. Here a
CharRNN (LSTM, one layer of 128 units) is trained on the docstrings of Python's standard library
(``fastrnn.datasets.load_python_docstrings``), and ``inspect`` reads its cell state ``c`` and hidden
state ``h`` at every character of held-out text. For each of three features of the text

- position in the line: characters since the last newline (the text is wrapped at about 72),
- inside parentheses: 1 between "(" and its ")" (the depth reset at a blank line), else 0,
- inside quotes or backticks: 1 between a pair of ``"``, ``'`` (not an apostrophe) or runs of
  backticks on one line, else 0,

the unit (of ``c`` or ``h``) whose activation correlates best with the feature (Pearson's r over the
held-out characters) is printed, with the same search over the untrained network's units as the
level that chance and the inputs alone reach (the same LSTM at its initial weights: same seed and
vocabulary, fitted one epoch on a short text with a learning rate of 1e-12). Saves
``watch_cells.png``: a few hundred held-out characters coloured by each feature's best unit
(its activation minus its mean over the held-out text, to which r is blind).

The position-in-line unit appears early (after 5 epochs, 280 updates, its |r| is already about 0.45);
the units for quotes and parentheses take longer to form.

The training text is the first ``--max-chars`` characters (at most 180 000) of the corpus; the
held-out text is always characters 180 000 to 190 000, so that every budget is scored on the same
text.

Run: python examples/watch_cells.py [--epochs 20] [--max-chars 180000] [--hidden-size 128] [--seq-length 100]
     (about 40 s with the defaults on 2 cores)
"""

import argparse
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastrnn import CharRNN  # noqa: E402
from fastrnn.datasets import load_python_docstrings  # noqa: E402
from fastrnn.exceptions import ConvergenceWarning  # noqa: E402
from fastrnn.plotting import plot_text_activation  # noqa: E402

HELD_OUT = slice(180_000, 190_000)
SHOWN = 260  # characters drawn per panel (at most; whole lines)


def text_features(text):
    """The three features of the docstring, one value per character of ``text``."""
    position, in_parentheses, in_quotes = (np.zeros(len(text)) for _ in range(3))
    column, depth = 0, 0
    backticks = double = single = False
    previous = "\n"
    for i, char in enumerate(text):
        following = text[i + 1] if i + 1 < len(text) else " "
        if char == "`" and previous != "`":  # a run of backticks opens or closes a literal
            backticks = not backticks
        elif char == '"':
            double = not double
        elif char == "'" and not (previous.isalpha() and following.isalpha()):  # not an apostrophe
            single = not single
        if char == "(":
            depth += 1
        position[i] = column
        in_parentheses[i] = depth > 0
        in_quotes[i] = backticks or double or single
        if char == ")":
            depth = max(depth - 1, 0)
        if char == "\n":
            column, backticks, double, single = 0, False, False, False
            depth = 0 if previous == "\n" else depth
        else:
            column += 1
        previous = char
    return {"position in line": position, "inside parentheses": in_parentheses,
            "inside quotes or backticks": in_quotes}


def best_units(model, text, features):
    """Per feature: (r, state name, unit) of the top layer's unit whose activation over ``text``
    correlates best (largest |r|) with the feature."""
    states = model.inspect(text)[-1]
    found = {}
    for name, feature in features.items():
        centred_feature = feature - feature.mean()
        candidates = []
        for state in ("c", "h"):
            activation = states[state][0]                        # (n_chars, H)
            centred = activation - activation.mean(axis=0)
            scale = np.sqrt((centred ** 2).sum(axis=0) * (centred_feature ** 2).sum())
            r = (centred * centred_feature[:, None]).sum(axis=0) / np.where(scale > 0, scale, np.inf)
            unit = int(np.argmax(np.abs(r)))
            candidates.append((float(r[unit]), state, unit))
        found[name] = max(candidates, key=lambda candidate: abs(candidate[0]))
    return found, states


def busiest_window(features, length):
    """Start of the ``length``-character window (starting a line) richest in both quotes and
    parentheses, to show all three features in one excerpt."""
    position = features["position in line"]
    starts = np.flatnonzero((position[:-length] == 0) & (position[1:1 - length] == 1))  # a line's first character
    quotes = [features["inside quotes or backticks"][s:s + length].mean() for s in starts]
    parentheses = [features["inside parentheses"][s:s + length].mean() for s in starts]
    return int(starts[np.argmax(np.minimum(quotes, parentheses))])


def main(epochs, max_chars, hidden_size, seq_length):
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    corpus = load_python_docstrings(HELD_OUT.stop)
    train = corpus[:min(max_chars, HELD_OUT.start)]
    vocabulary = set(train)
    held_out = "".join(char for char in corpus[HELD_OUT] if char in vocabulary)
    features = text_features(held_out)
    print(f"text: {len(train)} training characters; {len(held_out)} held-out characters, "
          f"{100 * features['inside parentheses'].mean():.0f}% inside parentheses, "
          f"{100 * features['inside quotes or backticks'].mean():.0f}% inside quotes or backticks")

    settings = dict(cell="lstm", hidden_sizes=(hidden_size,), seq_length=seq_length, batch_size=32, random_state=0)
    # the untrained control: the same initial weights (same seed and vocabulary), one epoch at step 1e-12
    untrained = CharRNN(max_iter=1, learning_rate_init=1e-12, **settings)
    untrained.fit(train[:5000] + "".join(sorted(vocabulary)))
    chance, _ = best_units(untrained, held_out, features)
    start = time.perf_counter()
    model = CharRNN(max_iter=epochs, learning_rate_init=0.003, **settings).fit(train)
    print(f"trained {model.n_iter_} epochs in {time.perf_counter() - start:.0f} s; held-out perplexity "
          f"{model.perplexity(held_out):.2f}")
    found, states = best_units(model, held_out, features)

    print(f"\nbest unit per feature (Pearson's r over the held-out text; among the {2 * hidden_size} units of c "
          f"and h):")
    for name, (r, state, unit) in found.items():
        print(f"{name:27s} unit {state}[{unit}]  r = {r:+.2f}   "
              f"untrained network's best |r| = {abs(chance[name][0]):.2f}")

    start = busiest_window(features, SHOWN)
    excerpt = held_out[start:start + SHOWN]
    excerpt = excerpt[:excerpt.rfind("\n") + 1] or excerpt  # whole lines
    figure, axes = plt.subplots(len(found), 1, figsize=(8.5, 2.2 * len(found)), layout="constrained")
    for ax, (name, (r, state, unit)) in zip(axes, found.items()):
        activation = states[state][0, :, unit]
        what = "cell state" if state == "c" else "hidden state"
        plot_text_activation(excerpt, activation[start:start + len(excerpt)] - activation.mean(), ax=ax, width=80,
                             title=f"{name}: unit {state}[{unit}], r = {r:+.2f} over {len(held_out)} held-out "
                                   f"characters", label=f"{what} {state}[{unit}] minus its mean")
    figure.suptitle(f"Single units of a character-level LSTM ({hidden_size} units) track the text's structure "
                    f"on held-out text")
    figure.savefig("watch_cells.png", dpi=100)
    print("saved watch_cells.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-chars", type=int, default=180_000, help="training characters (at most 180 000)")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--seq-length", type=int, default=100, help="characters per truncated-BPTT chunk")
    arguments = parser.parse_args()
    main(arguments.epochs, arguments.max_chars, arguments.hidden_size, arguments.seq_length)
