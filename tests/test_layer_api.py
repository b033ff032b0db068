"""The layer API's contract: shapes, states, errors, state_dict, reproducibility, no mutation, pickling."""

import pickle

import numpy as np
import pytest

import fastrnn
from helpers import make_layer, rel_error


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(3, 5, 2))


def test_shapes_and_default_dtype(X):
    lstm = fastrnn.LSTM(2, 4, num_layers=2, random_state=0)
    out, (h_n, c_n) = lstm.forward(X)
    assert out.shape == (3, 5, 4) and out.dtype == np.float32
    assert h_n.shape == c_n.shape == (2, 3, 4)
    np.testing.assert_array_equal(out[:, -1], h_n[-1])
    rnn = fastrnn.RNN(2, 4, random_state=0)
    out, h_n = rnn(X)
    assert out.shape == (3, 5, 4) and h_n.shape == (1, 3, 4)


def test_parameter_names_and_shapes_follow_pytorch():
    lstm = fastrnn.LSTM(3, 5, num_layers=2)
    expected = {
        "weight_ih_l0": (20, 3), "weight_hh_l0": (20, 5), "bias_ih_l0": (20,), "bias_hh_l0": (20,),
        "weight_ih_l1": (20, 5), "weight_hh_l1": (20, 5), "bias_ih_l1": (20,), "bias_hh_l1": (20,),
    }
    assert {k: v.shape for k, v in lstm.params.items()} == expected
    assert list(lstm.state_dict()) == list(expected)
    assert lstm.n_parameters == sum(np.prod(s) for s in expected.values())
    rnn = fastrnn.RNN(3, 5)
    assert rnn.params["weight_ih_l0"].shape == (5, 3)


def test_initialization_is_uniform_in_pytorch_bounds_and_reproducible():
    a = fastrnn.LSTM(2, 16, random_state=42, dtype=np.float64)
    b = fastrnn.LSTM(2, 16, random_state=42, dtype=np.float32)
    c = fastrnn.LSTM(2, 16, random_state=43)
    for name in a.params:
        assert np.all(np.abs(a.params[name]) <= 0.25)  # 1 / sqrt(16)
        np.testing.assert_array_equal(a.params[name].astype(np.float32), b.params[name])
    assert not np.array_equal(a.params["weight_hh_l0"], c.params["weight_hh_l0"])
    assert a.params["weight_hh_l0"].std() > 0.1  # uniform on +-0.25 has std 0.144


def test_initial_state_is_used(X):
    lstm = fastrnn.LSTM(2, 3, dtype=np.float64, random_state=0)
    zeros = np.zeros((1, 3, 3))
    out_default, _ = lstm.forward(X)
    out_zero, _ = lstm.forward(X, (zeros, zeros))
    out_ones, _ = lstm.forward(X, (zeros + 1, zeros + 1))
    np.testing.assert_array_equal(out_default, out_zero)
    assert not np.allclose(out_zero, out_ones)


def test_2d_input_is_a_batch_of_univariate_series():
    rnn = fastrnn.RNN(1, 3, dtype=np.float64, random_state=0)
    X2 = np.random.default_rng(1).normal(size=(4, 6))
    out2, _ = rnn.forward(X2)
    grads2 = rnn.backward(np.ones_like(out2))
    out3, _ = rnn.forward(X2[:, :, None])
    grads3 = rnn.backward(np.ones_like(out3))
    np.testing.assert_array_equal(out2, out3)
    assert grads2["input"].shape == (4, 6)
    np.testing.assert_array_equal(grads2["input"], grads3["input"][:, :, 0])


def test_nested_lists_and_integer_inputs_are_accepted():
    rnn = fastrnn.RNN(2, 3, dtype=np.float64, random_state=0)
    X = [[[1, 2], [3, 4]], [[0, 1], [1, 0]]]
    out, _ = rnn.forward(X)
    np.testing.assert_array_equal(out, rnn.forward(np.array(X, dtype=float))[0])


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 5, 4)), r"4 features per time step.*expects 2"),
    (np.zeros((3, 5)), r"2-D.*univariate"),
    (np.zeros((3, 5, 2, 1)), r"must be 3-D"),
    (np.zeros((0, 5, 2)), r"0 samples"),
    (np.zeros((3, 0, 2)), r"0 time steps"),
    (np.full((3, 5, 2), np.nan), r"NaN or infinity"),
    (np.full((3, 5, 2), np.inf), r"NaN or infinity"),
    (np.array([["a", "b"]]), r"real numbers"),
    (np.zeros((1, 2, 2), dtype=complex), r"real numbers"),
    ([[[1.0, 2.0]], [[1.0]]], r"could not be read"),
])
def test_bad_input_raises_clear_value_error(bad, message):
    lstm = fastrnn.LSTM(2, 3)
    with pytest.raises(ValueError, match=message):
        lstm.forward(bad)


def test_bad_state_raises(X):
    lstm = fastrnn.LSTM(2, 3, num_layers=2)
    with pytest.raises(ValueError, match=r"pair \(h_0, c_0\)"):
        lstm.forward(X, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"state\[0\] \(h_0\) must have shape \(2, 3, 3\)"):
        lstm.forward(X, (np.zeros((1, 3, 3)), np.zeros((2, 3, 3))))
    with pytest.raises(ValueError, match=r"state\[1\] \(c_0\) contains NaN"):
        lstm.forward(X, (np.zeros((2, 3, 3)), np.full((2, 3, 3), np.nan)))
    rnn = fastrnn.RNN(2, 3)
    with pytest.raises(ValueError, match=r"state \(h_0\) must have shape \(1, 3, 3\)"):
        rnn.forward(X, np.zeros((1, 2, 3)))


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1"):
        fastrnn.LSTM(2, 0)
    with pytest.raises(ValueError, match="input_size must be an integer >= 1"):
        fastrnn.RNN(2.5, 3)
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1"):
        fastrnn.RNN(2, 3, num_layers=True)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        fastrnn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        fastrnn.LSTM(2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="random_state must be"):
        fastrnn.LSTM(2, 3, random_state="seed")


def test_backward_before_forward_and_bad_gradients_raise(X):
    lstm = fastrnn.LSTM(2, 3)
    with pytest.raises(RuntimeError, match=r"before forward"):
        lstm.backward(np.zeros((3, 5, 3)))
    lstm.forward(X)
    with pytest.raises(ValueError, match=r"d_out must have shape \(3, 5, 3\)"):
        lstm.backward(np.zeros((3, 4, 3)))
    with pytest.raises(ValueError, match=r"d_state\[1\] \(dc_n\) must have shape"):
        lstm.backward(None, (None, np.zeros((3,))))


def test_backward_with_only_a_final_state_loss(X):
    """d_out=None: the loss sits on the final state alone; equals passing zeros."""
    lstm = fastrnn.LSTM(2, 3, dtype=np.float64, random_state=0)
    out, (h_n, c_n) = lstm.forward(X)
    d_h = np.ones_like(h_n)
    g_none = lstm.backward(None, (d_h, None))
    g_zero = lstm.backward(np.zeros_like(out), (d_h, np.zeros_like(c_n)))
    for name in lstm.params:
        np.testing.assert_array_equal(g_none[name], g_zero[name])


def test_nothing_the_user_gave_is_mutated(X):
    lstm = fastrnn.LSTM(2, 3, num_layers=2, dtype=np.float64, random_state=0)
    h0 = np.ones((2, 3, 3))
    c0 = np.ones((2, 3, 3))
    d_out = np.ones((3, 5, 3))
    d_h = np.ones((2, 3, 3))
    copies = [a.copy() for a in (X, h0, c0, d_out, d_h)]
    lstm.forward(X, (h0, c0))
    lstm.backward(d_out, (d_h, d_h))
    for before, after in zip(copies, (X, h0, c0, d_out, d_h)):
        np.testing.assert_array_equal(before, after)


def test_outputs_do_not_alias_the_layer(X):
    lstm = fastrnn.LSTM(2, 3, dtype=np.float64, random_state=0)
    out, (h_n, _) = lstm.forward(X)
    out[...] = 0.0
    h_n[...] = 0.0
    grads = lstm.backward(np.ones((3, 5, 3)))
    out2, _ = lstm.forward(X)
    grads2 = lstm.backward(np.ones((3, 5, 3)))
    assert np.any(out2 != 0.0)
    np.testing.assert_array_equal(grads["weight_hh_l0"], grads2["weight_hh_l0"])


def test_state_dict_round_trip_and_errors():
    a = fastrnn.LSTM(2, 3, num_layers=2, random_state=0)
    b = fastrnn.LSTM(2, 3, num_layers=2, random_state=1)
    sd = a.state_dict()
    sd["weight_hh_l0"][...] = 0.5  # a copy: the layer is unchanged
    assert not np.all(a.params["weight_hh_l0"] == 0.5)
    b.load_state_dict(a.state_dict())
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    bad = a.state_dict()
    del bad["bias_hh_l1"]
    bad["bias_hh_l9"] = np.zeros(12)
    with pytest.raises(KeyError, match=r"missing keys \['bias_hh_l1'\].*unexpected keys \['bias_hh_l9'\]"):
        b.load_state_dict(bad)
    bad = a.state_dict()
    bad["weight_ih_l0"] = np.zeros((12, 3))
    with pytest.raises(ValueError, match=r"state_dict\['weight_ih_l0'\] must have shape \(12, 2\)"):
        b.load_state_dict(bad)
    bad = a.state_dict()
    bad["bias_ih_l0"] = np.full(12, np.inf)
    with pytest.raises(ValueError, match=r"state_dict\['bias_ih_l0'\] contains NaN"):
        b.load_state_dict(bad)


def test_pickle_round_trip_gives_identical_outputs(X):
    lstm = fastrnn.LSTM(2, 3, num_layers=2, random_state=0)
    lstm.forward(X)  # a filled cache must not be pickled
    clone = pickle.loads(pickle.dumps(lstm))
    assert clone._last_call is None
    np.testing.assert_array_equal(clone.forward(X)[0], lstm.forward(X)[0])
    # params are live views into the clone's own buffer, not into the original's
    assert np.shares_memory(clone.params["weight_hh_l0"], clone._flat)
    assert not np.shares_memory(clone.params["weight_hh_l0"], lstm._flat)
    clone.params["weight_hh_l0"][...] = 0.0
    assert not np.array_equal(clone.forward(X)[0], lstm.forward(X)[0])


def test_float32_and_float64_agree():
    X = np.random.default_rng(2).normal(size=(2, 30, 3))
    out32, _ = make_layer("lstm", 3, 8, 2, np.float32, random_state=4).forward(X)
    out64, _ = make_layer("lstm", 3, 8, 2, np.float64, random_state=4).forward(X)
    assert rel_error(out32, out64) < 1e-5


def test_repr():
    assert repr(fastrnn.RNN(2, 3, nonlinearity="relu")) == (
        "RNN(input_size=2, hidden_size=3, num_layers=1, dtype=float32, nonlinearity='relu')")
    assert repr(fastrnn.LSTM(2, 3, 2, dtype="float64")) == (
        "LSTM(input_size=2, hidden_size=3, num_layers=2, dtype=float64)")
