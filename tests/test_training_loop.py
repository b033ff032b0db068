"""The one training loop: every estimator behaves alike (warning, progress, stopping rule, warm start),
and the kernel contract's allocation helper hands out what the passes need."""

import io
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import exceptions
from fastrnn.kernels import cells
from fastrnn.kernels.buffers import backward_buffers, forward_buffers, fresh_scratch
from fastrnn.kernels.dispatch import get_backend

from helpers import expected_stop

CPU = get_backend("cpu")
TEXT = "the cat sat on the mat. " * 8


def _fits():
    """One small fit of every estimator (name -> callable(model options) -> fitted model)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 5, 2))
    pairs_x = [np.array([1, 2, 3]), np.array([3, 1]), np.array([2, 2, 1])]
    pairs_y = [x[::-1] for x in pairs_x]
    features = np.eye(2)[[0, 1, 0]]
    return {
        "regressor": lambda **o: fastrnn.RNNRegressor(hidden_sizes=(3,), **o).fit(X, X[:, -1, 0]),
        "classifier": lambda **o: fastrnn.RNNClassifier(hidden_sizes=(3,), **o).fit(X, X[:, -1, 0] > 0),
        "char_rnn": lambda **o: fastrnn.CharRNN(hidden_sizes=(4,), seq_length=8, **o).fit(TEXT),
        "char_rnn_conditioned": lambda **o: fastrnn.CharRNN(hidden_sizes=(4,), **o).fit(["ab", "ba", "ab"],
                                                                                       features=features),
        "seq2seq": lambda **o: fastrnn.Seq2Seq(hidden_sizes=(4,), **o).fit(pairs_x, pairs_y),
    }


FITS = _fits()


@pytest.mark.parametrize("name", sorted(FITS))
def test_every_estimator_warns_at_max_iter_and_records_the_same_curves(name):
    # after two epochs these small fits are still at the constant prediction's loss: the warning says so
    with pytest.warns(exceptions.ConvergenceWarning, match=r"learned \(almost\) nothing.*reached max_iter"):
        model = FITS[name](max_iter=2, random_state=0, tol=0.0)
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2
    assert len(model.grad_norm_curve_) == len(model.clipped_fraction_curve_) == 2
    assert model.t_ > 0 and np.isfinite(model.best_loss_) and model.baseline_loss_ > 0


@pytest.mark.parametrize("name", sorted(FITS))
def test_every_estimator_follows_the_stopping_rule(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        model = FITS[name](max_iter=400, random_state=0, tol=1e6, n_iter_no_change=2)
    # no epoch after the first improves by tol * baseline_loss_: the fit ends at the first epoch that
    # completes the patience in epochs and in updates once the loss is clearly below the baseline
    updates_per_epoch = model._optimizer.t // model.n_iter_
    expected = expected_stop(model.loss_curve_, model.baseline_loss_, updates_per_epoch, 1e6, 2, 400)
    assert model.n_iter_ == expected < 400


@pytest.mark.parametrize("name", sorted(FITS))
def test_every_estimator_shows_progress(name, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        FITS[name](max_iter=2, random_state=0, verbose=2)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], lines


@pytest.mark.parametrize("name", ["char_rnn", "seq2seq", "regressor"])
def test_warm_start_fit_starts_a_fresh_optimizer(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = FITS[name](max_iter=2, random_state=0, warm_start=True)
        steps = model._optimizer.t
        model.fit(*_fit_arguments(name))
    assert model._optimizer.t == steps  # the same number of updates, counted afresh
    assert model.n_iter_ == 4 and len(model.loss_curve_) == 4


def _fit_arguments(name):
    if name == "char_rnn":
        return (TEXT,)
    if name == "seq2seq":
        pairs_x = [np.array([1, 2, 3]), np.array([3, 1]), np.array([2, 2, 1])]
        return pairs_x, [x[::-1] for x in pairs_x]
    X = np.random.default_rng(0).normal(size=(12, 5, 2))
    return X, X[:, -1, 0]


def test_partial_fit_keeps_the_optimizer_and_never_warns():
    X = np.random.default_rng(1).normal(size=(10, 4, 1))
    model = fastrnn.RNNRegressor(hidden_sizes=(3,), batch_size=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", exceptions.ConvergenceWarning)
        for _ in range(3):
            model.partial_fit(X, X[:, -1, 0])
    assert model._optimizer.t == 6 and model.n_iter_ == 3


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_allocation_helper_shares_only_what_the_passes_allow(cell):
    kind = cells.CELL_CODES[cell]
    scratch = fresh_scratch(CPU, np.float64)
    forward = forward_buffers(kind, 5, 3, 4, scratch)
    gate_units = cells.N_GATES[kind] * 4
    assert forward.h.shape == (6, 3, 4) and forward.gx.shape == (5, 3, gate_units) and forward.for_backward
    assert forward.c.shape == (6, 3, 4 if cells.HAS_CELL_STATE[kind] else 0)
    backward = backward_buffers(kind, forward, 2, scratch, CPU, np.ones((3, 4)), np.ones((3, 4)))
    assert backward.d_gates is forward.gx  # the input projections are not needed once BPTT starts
    assert (backward.d_gates_x is backward.d_gates) == (kind != cells.GRU)  # the GRU's second set
    assert backward.dx.shape == (5, 3, 2) and backward.dc.shape == (3, cells.N_CARRY[kind] * 4)
    assert backward_buffers(kind, forward, 2, scratch, CPU, np.ones((3, 4)), input_gradient=False).dx is None
    inference = forward_buffers(kind, 5, 3, 4, scratch, train=False)
    assert inference.saved.shape[0] == inference.gx.shape[0] == 1 and not inference.for_backward
    with pytest.raises(RuntimeError, match="inference"):
        backward_buffers(kind, inference, 2, scratch, CPU, np.ones((3, 4)), np.ones((3, 4)))


@pytest.mark.parametrize("name", ["regressor", "char_rnn", "seq2seq"])
def test_convergence_warning_points_at_the_callers_fit(name):
    with pytest.warns(exceptions.ConvergenceWarning) as record:
        FITS[name](max_iter=1, random_state=0)
    assert record[0].filename == __file__


def test_partial_fit_of_an_early_stopping_model_trains_on_the_training_loss():
    X = np.random.default_rng(2).normal(size=(10, 4, 1))
    model = fastrnn.RNNRegressor(hidden_sizes=(3,), early_stopping=True, random_state=0)
    model.partial_fit(X, X[:, -1, 0]).partial_fit(X, X[:, -1, 0])
    assert model.n_iter_ == 2 and model.validation_scores_ == [] and np.isfinite(model.best_loss_)


def test_an_inference_tape_of_one_step_refuses_backward():
    """With one time step the inference buffers have the training shapes, but the runs of a stacked
    layer shared them: the tape says it was an inference pass."""
    from fastrnn._stack import stack_backward, stack_forward

    layer = fastrnn.LSTM(2, 3, num_layers=2, dtype=np.float64, random_state=0)
    x, h0 = np.ones((1, 2, 2)), np.zeros((2, 2, 3))
    tape = stack_forward(layer, x, h0, h0, layer.params, CPU, train=False)
    assert not tape.for_backward
    with pytest.raises(RuntimeError, match="inference"):
        stack_backward(layer, tape, np.ones((1, 2, 3)), h0, h0, layer._views(np.zeros_like(layer._flat)))
