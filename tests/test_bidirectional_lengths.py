"""Bidirectional layers and variable-length batches: exact values and gradients.

Checked three ways: against PyTorch (``bidirectional=True`` and packed sequences), against finite
differences in float64, and against each sequence run alone (a padded batch must give exactly what
its sequences give one by one, whatever the padding holds).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_gradients_match_finite_differences, layer_state, make_layer, make_problem, rel_error

SMOOTH_CELLS = ("rnn_tanh", "lstm", "gru")  # relu's kink makes finite differences unreliable


def gradients(layer, cell, p, lengths=None):
    out, state_n = layer.forward(p["X"], layer_state(cell, p["h0"], p["c0"]), lengths=lengths)
    return out, state_n, layer.backward(p["A"], layer_state(cell, p["Bh"], p["Bc"]))


@given(cell=st.sampled_from(SMOOTH_CELLS), bidirectional=st.booleans(), n_layers=st.integers(1, 2),
       data=st.data(), seed=st.integers(0, 2**16))
def test_float64_gradients_match_finite_differences(cell, bidirectional, n_layers, data, seed):
    n_samples, n_steps = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5))
    lengths = data.draw(st.lists(st.integers(1, n_steps), min_size=n_samples, max_size=n_samples))
    directions = 2 if bidirectional else 1
    p = make_problem(cell, n_samples, n_steps, 2, 3, n_layers, "every", seed, n_directions=directions)
    layer = make_layer(cell, 2, 3, n_layers, random_state=seed, bidirectional=bidirectional)
    _, _, grads = gradients(layer, cell, p, lengths)

    assert_gradients_match_finite_differences(layer, cell, p, grads, lengths)


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_gives_what_each_sequence_gives_alone(cell, bidirectional):
    lengths = [5, 2, 4, 1]
    directions = 2 if bidirectional else 1
    p = make_problem(cell, 4, 5, 2, 3, 2, "every", seed=3, n_directions=directions)
    for b, length in enumerate(lengths):  # garbage in the padding, which must be ignored
        p["X"][b, length:] = 1e3
        p["A"][b, length:] = 1e3
    layer = make_layer(cell, 2, 3, 2, random_state=1, bidirectional=bidirectional)
    out, state_n, grads = gradients(layer, cell, p, lengths)
    summed = {name: np.zeros_like(value) for name, value in layer.params.items()}
    for b, length in enumerate(lengths):
        alone = {key: (None if value is None else value[:, b:b + 1] if key in ("h0", "c0", "Bh", "Bc")
                       else value[b:b + 1, :length]) for key, value in p.items()}
        out_b, state_b, grads_b = gradients(layer, cell, alone)
        assert rel_error(out[b:b + 1, :length], out_b) < 1e-12
        assert np.all(out[b, length:] == 0.0)
        for got, expected in zip(state_n if cell == "lstm" else [state_n], state_b if cell == "lstm" else [state_b]):
            assert rel_error(got[:, b:b + 1], expected) < 1e-12
        assert rel_error(grads["input"][b:b + 1, :length], grads_b["input"]) < 1e-10
        assert np.all(grads["input"][b, length:] == 0.0)
        for got, expected in zip(grads["state"] if cell == "lstm" else [grads["state"]],
                                 grads_b["state"] if cell == "lstm" else [grads_b["state"]]):
            assert rel_error(got[:, b:b + 1], expected) < 1e-10
        for name in summed:
            summed[name] += grads_b[name]
    for name in summed:
        assert rel_error(grads[name], summed[name]) < 1e-10, name


def test_lengths_are_validated():
    layer = make_layer("lstm", 2, 3, 1)
    X = np.zeros((2, 4, 2))
    for bad, message in [([4], r"shape \(2,\)"), ([0, 4], r"1\.\.4"), ([5, 1], r"1\.\.4"), ([1.5, 2], "integers")]:
        with pytest.raises(ValueError, match=message):
            layer.forward(X, lengths=bad)


def test_bidirectional_shapes_names_and_state_order():
    layer = make_layer("gru", 2, 3, 2, bidirectional=True)
    assert list(layer.params)[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                                      "bias_hh_l0_reverse"]
    assert layer.params["weight_ih_l1"].shape == (9, 6)  # layer 1 reads both directions
    out, h_n = layer.forward(np.ones((4, 5, 2)))
    assert out.shape == (4, 5, 6) and h_n.shape == (4, 4, 3)
    np.testing.assert_array_equal(h_n[2], out[:, -1, :3])  # top layer, forward: its last step
    np.testing.assert_array_equal(h_n[3], out[:, 0, 3:])  # top layer, reverse: the first step
    with pytest.raises(ValueError, match="bidirectional must be True or False"):
        make_layer("gru", 2, 3, 1, bidirectional="yes")
