"""Seq2Seq: tokens and numeric sequences of any lengths, greedy decoding, errors."""

import pickle

import numpy as np
import pytest

from fastrnn import Seq2Seq
from fastrnn.exceptions import NotFittedError


@pytest.fixture(scope="module")
def reversal():
    """Reverse strings of 2-6 digits (tokens 10..19, so the vocabulary is not 0..n-1)."""
    rng = np.random.default_rng(0)
    X = [rng.integers(10, 20, rng.integers(2, 7)) for _ in range(2600)]
    Y = [x[::-1].copy() for x in X]
    model = Seq2Seq(hidden_sizes=(64,), max_iter=15, random_state=0).fit(X[:2400], Y[:2400])
    return model, X[2400:], Y[2400:]


def test_learns_to_reverse_token_sequences(reversal):
    model, X, Y = reversal
    np.testing.assert_array_equal(model.input_vocabulary_, np.arange(10, 20))
    assert model.score(X, Y) > 0.85  # exact matches of whole sequences
    predicted = model.predict(X[:20])
    assert all(p.dtype == model.output_vocabulary_.dtype for p in predicted)
    assert np.mean([p.size == y.size for p, y in zip(predicted, Y[:20])]) > 0.9  # lengths come out right


def test_outputs_longer_and_shorter_than_inputs():
    rng = np.random.default_rng(1)
    X = [rng.integers(0, 3, rng.integers(1, 5)) for _ in range(1500)]
    Y = [np.repeat(x, 2) if x[0] == 0 else x[:1] for x in X]  # doubled, or the first token only
    model = Seq2Seq(hidden_sizes=(48,), max_iter=20, random_state=0).fit(X[:1300], Y[:1300])
    assert model.score(X[1300:], Y[1300:]) > 0.8


def test_numeric_sequences_with_learned_and_given_lengths():
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(rng.integers(3, 8), 2)) for _ in range(900)]
    Y = [np.array([x[:, 0].mean(), x[:, 1].max(), x[:, 0].min()]) for x in X]
    model = Seq2Seq(hidden_sizes=(32,), max_iter=25, random_state=0).fit(X[:800], Y[:800])
    assert model.output_length_ == 3 and model.input_vocabulary_ is None
    assert model.score(X[800:], Y[800:]) > 0.8
    assert [p.shape for p in model.predict(X[800:802], output_lengths=[2, 5])] == [(2,), (5,)]


def test_pickle_and_reproducibility(reversal):
    model, X, _ = reversal
    restored = pickle.loads(pickle.dumps(model))
    for a, b in zip(restored.predict(X[:10]), model.predict(X[:10])):
        np.testing.assert_array_equal(a, b)


def test_errors(reversal):
    model, _, _ = reversal
    with pytest.raises(NotFittedError):
        Seq2Seq().predict([np.array([1, 2])])
    with pytest.raises(ValueError, match=r"X\[0\] holds tokens not seen in fit: \[3\]"):
        model.predict([np.array([3, 11])])
    with pytest.raises(ValueError, match="numeric values, but the model was fitted on integer tokens"):
        model.predict([np.array([1.5, 2.0])])
    with pytest.raises(ValueError, match="as many sequences"):
        Seq2Seq().fit([np.array([1])], [np.array([1]), np.array([2])])
    with pytest.raises(ValueError, match=r"X\[1\] must be a sequence"):
        Seq2Seq().fit([np.array([1]), np.array([], dtype=int)], [np.array([1]), np.array([2])])
    with pytest.raises(ValueError, match="pass output_lengths"):
        Seq2Seq(hidden_sizes=(4,), max_iter=1).fit([np.ones(2), np.ones(3)], [np.ones(2), np.ones(4)]).predict(
            [np.ones(2)])


def test_beam_search():
    rng = np.random.default_rng(4)
    X = [rng.integers(0, 10, rng.integers(2, 9)) for _ in range(1800)]
    Y = [x[::-1].copy() for x in X]
    model = Seq2Seq(hidden_sizes=(48,), max_iter=6, random_state=0).fit(X[:1500], Y[:1500])  # undertrained
    greedy = model.predict(X[1500:])
    x_pad, lengths = model._encoder_inputs(X[1500:1520], True, "X")
    order = np.argsort(-lengths, kind="stable")
    limit = np.full(20, 16)
    one_beam = model._decode_beam(x_pad[order], lengths[order], limit, 1)
    for k, i in enumerate(order):  # a beam of one is greedy decoding
        np.testing.assert_array_equal(one_beam[k], greedy[i])
    beam = model.predict(X[1500:], beam_width=4)

    def exact(predicted):
        return np.mean([np.array_equal(p, y) for p, y in zip(predicted, Y[1500:])])

    assert exact(beam) > exact(greedy)  # keeping 4 hypotheses finds more of the right outputs here
    with pytest.raises(ValueError, match="beam_width"):
        model.predict(X[:2], beam_width=0)
