"""The oracle itself: tests/reference.py's BPTT against central finite differences of its forward."""

import numpy as np
import pytest

import reference
from helpers import CELLS, central_differences, make_layer, make_problem, rel_error


@pytest.mark.parametrize("cell", CELLS)
def test_reference_bptt_matches_finite_differences(cell):
    p = make_problem(cell, n_samples=2, n_steps=3, n_features=2, hidden=3, n_layers=2, loss="every", seed=1)
    params = make_layer(cell, 2, 3, 2, random_state=3).state_dict()

    def loss():
        out, h_n, c_n, _ = reference.forward(cell, params, p["X"], p["h0"], p["c0"])
        value = np.sum(p["A"] * out) + np.sum(p["Bh"] * h_n)
        return value + (np.sum(p["Bc"] * c_n) if cell == "lstm" else 0.0)

    _, _, _, tape = reference.forward(cell, params, p["X"], p["h0"], p["c0"])
    grads = reference.backward(cell, params, tape, p["A"], p["Bh"], p["Bc"])
    for name, value in params.items():
        assert rel_error(grads[name], central_differences(loss, value)) < 1e-7, name
    assert rel_error(grads["input"], central_differences(loss, p["X"])) < 1e-7
    assert rel_error(grads["h0"], central_differences(loss, p["h0"])) < 1e-7
    if cell == "lstm":
        assert rel_error(grads["c0"], central_differences(loss, p["c0"])) < 1e-7
