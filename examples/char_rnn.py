"""One-to-many: a character-level language model that writes text, as in Karpathy's char-rnn.

The training text is built offline from the docstrings of Python's standard library
(fastrnn.datasets.load_python_docstrings: English technical prose, read from the running Python). The
model learns to predict every next character; it then generates text one character at a time, each
drawn character fed back as its next input. It is compared with a character bigram model (the next
character from the current one alone) by perplexity on held-out text: the bigram model knows one
character of context, the recurrent model all it has read.

Run: python examples/char_rnn.py [--epochs 10] [--max-chars 200000]   (about 25 s with the defaults)
"""

import argparse
import re
import time
import warnings

import numpy as np

from fastrnn import CharRNN
from fastrnn.datasets import load_python_docstrings
from fastrnn.exceptions import ConvergenceWarning


def bigram_perplexity(train, test, vocabulary):
    """Perplexity of an add-one smoothed character bigram model fitted on ``train``."""
    index = {ch: i for i, ch in enumerate(vocabulary)}
    counts = np.ones((len(vocabulary), len(vocabulary)))
    np.add.at(counts, ([index[c] for c in train[:-1]], [index[c] for c in train[1:]]), 1.0)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(np.exp(-np.mean(log_p[[index[c] for c in test[:-1]], [index[c] for c in test[1:]]])))


def word_like_share(sample, known_words):
    """Share of the sample's words (runs of letters, 3 or more) that occur in the training text."""
    words = re.findall(r"[A-Za-z]{3,}", sample)
    return sum(word.lower() in known_words for word in words) / max(len(words), 1)


def main(epochs, max_chars):
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    text = load_python_docstrings(max_chars)
    split = int(0.9 * len(text))
    train, test = text[:split], text[split:]
    vocabulary = sorted(set(train))
    test = "".join(ch for ch in test if ch in set(vocabulary))  # a character never seen cannot be scored
    print(f"text: {len(train)} training and {len(test)} test characters, {len(vocabulary)} distinct")

    start = time.perf_counter()
    model = CharRNN(cell="lstm", hidden_sizes=(128,), seq_length=50, max_iter=epochs, learning_rate_init=0.003,
                    random_state=0)
    model.fit(train)
    print(f"trained {model.n_iter_} epochs in {time.perf_counter() - start:.1f} s; "
          f"training loss {model.loss_curve_[0]:.3f} -> {model.loss_curve_[-1]:.3f} nats per character")

    perplexity = model.perplexity(test)
    bigram = bigram_perplexity(train, test, vocabulary)
    print(f"test perplexity: CharRNN {perplexity:.2f}, character bigram {bigram:.2f}")

    known_words = set(word.lower() for word in re.findall(r"[A-Za-z]{3,}", train))
    for temperature in (0.5, 1.0):
        sample = model.sample(400, prime="Return the ", temperature=temperature, random_state=1)
        print(f"\n--- sample at temperature {temperature} (words found in the training text: "
              f"{100 * word_like_share(sample, known_words):.0f}%) ---")
        print("Return the " + sample)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-chars", type=int, default=200_000)
    arguments = parser.parse_args()
    main(arguments.epochs, arguments.max_chars)
