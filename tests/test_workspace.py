"""Scratch arrays reused across training steps: the same results as fresh arrays, and kept only as
long as documented (partial_fit keeps them, fit and pickling drop them)."""

import pickle

import numpy as np
import pytest

import fastrnn
from fastrnn._workspace import Workspace
from fastrnn.kernels.dispatch import get_backend

pytestmark = pytest.mark.filterwarnings("ignore::fastrnn.exceptions.ConvergenceWarning")


def test_workspace_reuses_memory_and_grows():
    cpu = get_backend("cpu")
    workspace = Workspace()
    first = workspace.array(("h", 0), (4, 3, 5), np.float32, cpu)
    assert first.shape == (4, 3, 5) and first.flags.c_contiguous
    smaller = workspace.array(("h", 0), (2, 3, 5), np.float32, cpu)
    assert np.shares_memory(first, smaller) and smaller.flags.c_contiguous
    other_name = workspace.array(("h", 1), (2, 3, 5), np.float32, cpu)
    assert not np.shares_memory(first, other_name)
    other_dtype = workspace.array(("h", 0), (2, 3, 5), np.float64, cpu)
    assert other_dtype.dtype == np.float64 and not np.shares_memory(first, other_dtype)
    larger = workspace.array(("h", 0), (8, 3, 5), np.float32, cpu)
    assert not np.shares_memory(first, larger)
    assert workspace.nbytes == (8 * 15 + 2 * 15) * 4 + 30 * 8
    assert workspace.array("empty", (3, 0), np.float32, cpu).shape == (3, 0)
    workspace.release()
    assert workspace.nbytes == 0


class _FreshArrays(Workspace):
    """A workspace that never reuses: the reference behaviour."""

    def array(self, name, shape, dtype, backend):
        return np.full(shape, np.nan, dtype=dtype)  # garbage, as reused memory would be


@pytest.mark.parametrize("kwargs, ragged", [
    (dict(cell="lstm", hidden_sizes=(6, 5)), False),
    (dict(cell="gru", hidden_sizes=(5, 4), bidirectional=True), True),
    (dict(cell="rnn", hidden_sizes=(4,), output="sequence"), True),
])
def test_training_with_reused_buffers_matches_fresh_buffers(monkeypatch, kwargs, ragged):
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 9, size=20) if ragged else np.full(20, 8)
    X = [rng.normal(size=(n, 2)) for n in lengths]
    if kwargs.get("output") == "sequence":
        y = [x.sum(axis=1) for x in X]
    else:
        y = np.array([x[:, 0].sum() for x in X])
    if not ragged:
        X = np.stack(X)
    settings = dict(kwargs, dtype="float64", batch_size=6, max_iter=3, random_state=1, n_iter_no_change=10)

    reused = fastrnn.RNNRegressor(**settings).fit(X, y)
    monkeypatch.setattr(fastrnn._network, "Workspace", _FreshArrays)
    fresh = fastrnn.RNNRegressor(**settings).fit(X, y)

    np.testing.assert_array_equal(reused.network_.params, fresh.network_.params)
    assert reused.loss_curve_ == fresh.loss_curve_


def test_partial_fit_keeps_buffers_fit_and_pickle_drop_them():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 7, 2)), rng.normal(size=12)
    model = fastrnn.RNNRegressor(cell="lstm", hidden_sizes=(5,), batch_size=4, random_state=0)
    model.partial_fit(X, y)
    kept = model.network_._workspaces
    assert kept is not None and kept[0].nbytes > 0
    h_before = kept[0].array(("h", 0), (8, 4, 5), np.float32, get_backend("cpu"))
    model.predict(X)  # prediction allocates its own arrays: the training buffers are untouched
    assert model.network_._workspaces is kept
    assert np.shares_memory(h_before, kept[0].array(("h", 0), (8, 4, 5), np.float32, get_backend("cpu")))
    assert "_workspaces" not in pickle.loads(pickle.dumps(model)).network_.__dict__
    model.set_params(max_iter=2).fit(X, y)
    assert model.network_._workspaces is None

