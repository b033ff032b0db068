"""The four shapes of recurrent-network problems, a few lines each (after Karpathy's 2015 diagram).

- one-to-many: a start (here a prompt; a vector with ``CharRNN.fit(texts, features=...)``) in, a
  sequence out. A ``CharRNN`` (LSTM) learns the standard library's docstrings and writes text;
  scored by perplexity on held-out text against predicting each character by its frequency alone.
- many-to-one: a sequence in, one label out. An ``RNNClassifier`` on GunPoint (UCR archive, shipped
  with fastrnn: did an actor draw a gun or point a finger, from 150 steps of the hand's position);
  test accuracy against always answering the majority class.
- many-to-many, aligned: one output per input step. An ``RNNClassifier(output="sequence")`` tags
  each step of a random walk "up" or "down" (above or below its start); per-step test accuracy
  against the best tag per step that ignores the inputs.
- many-to-many, unaligned: a sequence in, a sequence of another length out. A ``Seq2Seq`` (LSTM
  encoder and decoder) turns a sequence of 3 to 8 digits into the distinct digits it holds, in
  increasing order ([3, 1, 3, 0] -> [0, 1, 3]); exact-match accuracy on unseen sequences against
  the share that is already sorted and distinct.

Prints one line per shape with its score and what a model that ignores the inputs scores; saves
``four_shapes.png``, one panel each.

Run: python examples/four_shapes.py [--epochs-text 15] [--epochs-seq2seq 20]   (about 20 s with the
defaults on 2 cores)
"""

import argparse
import textwrap
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastrnn import CharRNN, RNNClassifier, Seq2Seq  # noqa: E402
from fastrnn.datasets import load_python_docstrings, load_sequence_classification  # noqa: E402
from fastrnn.exceptions import ConvergenceWarning  # noqa: E402


def main(epochs_text, epochs_seq2seq):
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # fixed budgets
    rng = np.random.default_rng(0)
    figure, axes = plt.subplots(2, 2, figsize=(10.5, 7))
    start = time.perf_counter()

    # one-to-many: a prompt in, text out
    text = load_python_docstrings(100_000)
    writer = CharRNN(hidden_sizes=(128,), seq_length=50, max_iter=epochs_text, learning_rate_init=0.003,
                     random_state=0).fit(text[:90_000])
    held_out = "".join(char for char in text[90_000:] if char in set(writer.vocabulary_))
    perplexity, unigram = writer.perplexity(held_out), float(np.exp(writer.baseline_loss_))
    sample = writer.sample(300, prime="Return the ", temperature=0.5, random_state=1)
    print(f"one-to-many   CharRNN writes text: held-out perplexity {perplexity:.2f} "
          f"(character frequencies alone: {unigram:.2f})")
    print(f"              'Return the {' '.join(sample.split())[:70]}...'")
    written = textwrap.fill("Return the " + " ".join(sample.split()), 58)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.02, 0.95, f"prompt 'Return the ', then {len(sample)} characters drawn at temperature 0.5:"
                    f"\n\n{written}", family="monospace", fontsize=9, va="top", transform=axes[0, 0].transAxes)
    axes[0, 0].set_title(f"One-to-many: text from a prompt (perplexity {perplexity:.1f})")

    # many-to-one: a sequence in, a label out
    data = load_sequence_classification("GunPoint")
    classifier = RNNClassifier(hidden_sizes=(32,), random_state=0).fit(data.X_train, data.y_train)
    accuracy = classifier.score(data.X_test, data.y_test)
    labels, counts = np.unique(data.y_train, return_counts=True)
    majority = float(np.mean(data.y_test == labels[np.argmax(counts)]))
    print(f"many-to-one   RNNClassifier, GunPoint: test accuracy {accuracy:.3f} (majority class: {majority:.3f})")
    predicted = classifier.predict(data.X_test)
    motions = {"1": "gun drawn", "2": "finger pointed"}
    for label, style in zip(labels, ("-", "--")):
        rows = np.flatnonzero(data.y_test == label)[:5]
        for k, row in enumerate(rows):
            right = predicted[row] == label
            axes[0, 1].plot(data.X_test[row, :, 0], linestyle=style, color="#0072B2" if right else "#D55E00",
                            linewidth=1, label=motions.get(label, label) if k == 0 else None)
    axes[0, 1].set(xlabel="time step", ylabel="x coordinate of the hand (z-normalised)",
                   title=f"Many-to-one: GunPoint (test accuracy {accuracy:.2f})")
    axes[0, 1].legend(title="blue: right, orange: wrong")

    # many-to-many, aligned: a tag per step
    walks = rng.normal(size=(1000, 20, 1))
    tags = np.where(np.cumsum(walks[:, :, 0], axis=1) > 0, "up", "down")
    tagger = RNNClassifier(output="sequence", hidden_sizes=(16,), max_iter=40, learning_rate_init=0.01,
                           random_state=0).fit(walks[:800], tags[:800])
    step_accuracy = tagger.score(walks[800:], tags[800:])
    blind = float(np.mean([max(np.mean(column == "up"), np.mean(column == "down")) for column in tags[800:].T]))
    print(f"many-to-many  RNNClassifier(output='sequence') tags a random walk: per-step test accuracy "
          f"{step_accuracy:.3f} (best tag ignoring the inputs: {blind:.3f})")
    walk, tagged = np.cumsum(walks[800, :, 0]), tagger.predict(walks[800:801])[0]
    axes[1, 0].plot(walk, color="0.5", label="random walk")
    for tag, marker in (("up", "^"), ("down", "v")):
        steps = np.flatnonzero(tagged == tag)
        axes[1, 0].plot(steps, walk[steps], marker, linestyle="none", label=f"tagged {tag!r}")
    axes[1, 0].axhline(0, color="black", linewidth=0.8)
    axes[1, 0].set(xlabel="time step", ylabel="position of the walk",
                   title=f"Many-to-many, aligned: tagging (accuracy {step_accuracy:.2f})")
    axes[1, 0].xaxis.get_major_locator().set_params(integer=True)
    axes[1, 0].legend()

    # many-to-many, unaligned: another sequence, of another length
    digits = [rng.integers(0, 10, rng.integers(3, 9)) for _ in range(3000)]
    distinct = [np.unique(sequence) for sequence in digits]
    translator = Seq2Seq(hidden_sizes=(64,), max_iter=epochs_seq2seq, random_state=0).fit(digits[:2500],
                                                                                        distinct[:2500])
    exact = translator.score(digits[2500:], distinct[2500:])
    copying = float(np.mean([np.array_equal(x, y) for x, y in zip(digits[2500:], distinct[2500:])]))
    print(f"many-to-many  Seq2Seq, digits -> their distinct digits in order: exact-match test accuracy {exact:.3f} "
          f"(copying the input: {copying:.3f})")
    outputs = translator.predict(digits[2500:2506])
    axes[1, 1].axis("off")
    lines = [f"{' '.join(map(str, x)):>16s}  \u2192  {' '.join(map(str, y))}" for x, y in zip(digits[2500:], outputs)]
    axes[1, 1].text(0.02, 0.95, "input digits      \u2192  Seq2Seq's output\n" + "\n".join(lines),
                    family="monospace", va="top", transform=axes[1, 1].transAxes)
    axes[1, 1].set_title(f"Many-to-many, unaligned: Seq2Seq\n(exact match {exact:.2f})")

    figure.suptitle("The four shapes of recurrent-network problems, each learned from examples")
    figure.tight_layout()
    figure.savefig("four_shapes.png", dpi=100)
    print(f"saved four_shapes.png ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-text", type=int, default=15, help="epochs of the CharRNN")
    parser.add_argument("--epochs-seq2seq", type=int, default=20, help="epochs of the Seq2Seq")
    arguments = parser.parse_args()
    main(arguments.epochs_text, arguments.epochs_seq2seq)
