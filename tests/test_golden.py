"""The recorded fixed-seed float64 fits (``golden.py``) reproduce: predictions, loss curves, epochs
and final weights of every estimator and of the layers, to 1e-8 relative."""

import numpy as np
import pytest

from golden import CASES, GOLDEN_FILE, run_case
from helpers import rel_error

RECORDED = np.load(GOLDEN_FILE)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_reproduces_the_recorded_results(name):
    got = run_case(name)
    expected = {key.split("/", 1)[1]: RECORDED[key] for key in RECORDED.files if key.split("/", 1)[0] == name}
    assert expected, f"no recorded arrays for {name}: run python tests/golden.py"
    assert sorted(got) == sorted(expected)
    for key, value in got.items():
        assert value.shape == expected[key].shape, (name, key)
        assert rel_error(value, expected[key]) < 1e-8, (name, key)
