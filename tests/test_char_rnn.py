"""CharRNN: the character-level language model's API, generation and perplexity."""

import pickle

import numpy as np
import pytest

from fastrnn import CharRNN
from fastrnn.exceptions import NotFittedError

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40


@pytest.fixture(scope="module")
def model():
    return CharRNN(hidden_sizes=(32,), seq_length=25, batch_size=8, max_iter=15, learning_rate_init=0.01,
                   random_state=0).fit(TEXT)


def test_learns_a_repetitive_text(model):
    assert model.vocabulary_ == sorted(set(TEXT))
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    # nearly deterministic text: perplexity far below uniform guessing over the vocabulary
    assert model.perplexity(TEXT[:300]) < 2.0 < len(model.vocabulary_)
    sample = model.sample(60, prime="the ", temperature=0.3, random_state=0)
    assert len(sample) == 60 and set(sample) <= set(model.vocabulary_)
    assert sum(word in {"the", "cat", "sat", "on", "mat.", "dog", "log."} for word in sample.split()) >= 5


def test_sampling_is_reproducible_and_follows_temperature(model):
    a = model.sample(50, prime="the", random_state=3)
    assert a == model.sample(50, prime="the", random_state=3)
    assert model.sample(0) == ""
    cold = model.sample(200, prime="the ", temperature=0.05, random_state=1)
    hot = model.sample(200, prime="the ", temperature=5.0, random_state=1)

    def seen_trigrams(sample):
        return np.mean([sample[i:i + 3] in TEXT for i in range(len(sample) - 2)])

    # a low temperature keeps to what the text does, a high one strays from it
    assert seen_trigrams(cold) > 0.95 and seen_trigrams(hot) < 0.8


def test_list_of_texts_pickling_and_clone(model):
    from sklearn.base import clone

    restored = pickle.loads(pickle.dumps(model))
    assert restored.sample(30, prime="the ", random_state=2) == model.sample(30, prime="the ", random_state=2)
    assert clone(model).get_params() == model.get_params()
    fitted = CharRNN(hidden_sizes=(8,), seq_length=10, max_iter=1, random_state=0).fit(["abc abc", "cab cab"])
    assert "\n" in fitted.vocabulary_  # the texts of a list are joined with newlines


def test_errors(model):
    with pytest.raises(NotFittedError):
        CharRNN().sample(5)
    with pytest.raises(ValueError, match="characters not seen in fit: 'Z'"):
        model.perplexity("the Zoo")
    with pytest.raises(ValueError, match="characters not seen in fit"):
        model.sample(5, prime="Q")
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        model.sample(5, temperature=0)
    with pytest.raises(ValueError, match="X must be a str or a non-empty list of str"):
        CharRNN().fit(np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 characters"):
        CharRNN().fit("a")
    with pytest.raises(ValueError, match="'seq_length' parameter of CharRNN must be an integer >= 1"):
        CharRNN(seq_length=0).fit("abc")


def test_generation_conditioned_on_a_vector():
    """The captioning shape: each text is written from its own feature vector, then stops."""
    rng = np.random.default_rng(0)
    phrases = ["a red apple", "a green leaf", "the blue sea", "some yellow sand"]
    kinds = rng.integers(4, size=400)
    features = np.eye(4)[kinds] + 0.05 * rng.normal(size=(400, 4))
    model = CharRNN(hidden_sizes=(32,), batch_size=16, max_iter=30, learning_rate_init=0.01, random_state=0)
    model.fit([phrases[k] for k in kinds], features=features)
    assert model.n_conditions_ == 4
    for k, phrase in enumerate(phrases):  # a new vector near class k writes phrase k and its end symbol
        vector = np.eye(4)[k] + 0.05 * rng.normal(size=4)
        assert model.sample(60, features=vector, temperature=0.3, random_state=k) == phrase
    assert model.perplexity(phrases, features=np.eye(4)) < 1.1
    assert model.perplexity(phrases, features=np.eye(4)[[1, 2, 3, 0]]) > 2.0  # the vector matters
    with pytest.raises(ValueError, match="fitted with features: pass the feature vector"):
        model.sample(5)
    with pytest.raises(ValueError, match="features must hold 4 values"):
        model.sample(5, features=np.ones(3))
    with pytest.raises(ValueError, match=r"features must have shape \(n_texts, n_features\) = \(2, ...\)"):
        CharRNN().fit(["ab", "cd"], features=np.ones((3, 2)))
    with pytest.raises(ValueError, match="fitted without features"):
        CharRNN(hidden_sizes=(4,), max_iter=1).fit("abcabc").sample(3, features=np.ones(2))
