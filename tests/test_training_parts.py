"""Output layer, losses and optimizers: gradients against finite differences and against PyTorch."""

import numpy as np
import pytest

import fastrnn
from fastrnn.losses import binary_cross_entropy, softmax_cross_entropy, squared_error
from fastrnn.optimizers import SGD, Adagrad, Adam
from helpers import central_differences, fd_error, rel_error


def test_linear_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    head = fastrnn.Linear(4, 3, dtype=np.float64, random_state=0)
    H = rng.normal(size=(2, 5, 4))
    A = rng.normal(size=(2, 5, 3))
    head.forward(H)
    grads = head.backward(A)

    def loss():
        return np.sum(A * head.forward(H))

    for name, value in head.params.items():
        assert fd_error(grads[name], central_differences(loss, value)) < 1e-8
    assert fd_error(grads["input"], central_differences(loss, H)) < 1e-8


def test_linear_initialization_bounds_and_errors():
    head = fastrnn.Linear(16, 2, random_state=0)
    assert head.params["weight"].shape == (2, 16) and head.params["bias"].shape == (2,)
    assert np.all(np.abs(head._flat) <= 0.25)
    with pytest.raises(ValueError, match="4 features on its last axis"):
        fastrnn.Linear(4, 2).forward(np.zeros((3, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        fastrnn.Linear(4, 2).backward(np.zeros((3, 2)))


@pytest.mark.parametrize("weighted", [False, True])
def test_squared_error_value_and_gradient(weighted):
    rng = np.random.default_rng(1)
    y_pred, y_true = rng.normal(size=(4, 6, 2)), rng.normal(size=(4, 6, 2))
    weights = (rng.random((4, 6)) > 0.3).astype(float) if weighted else None
    loss, grad = squared_error(y_pred, y_true, weights)
    w = np.ones((4, 6)) if weights is None else weights
    expected = 0.5 * np.sum(w[..., None] * (y_pred - y_true) ** 2) / w.sum()
    assert loss == pytest.approx(expected, rel=1e-12)
    assert fd_error(grad, central_differences(lambda: squared_error(y_pred, y_true, weights)[0], y_pred)) < 1e-8


@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy_value_and_gradient(weighted):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 4, 5)) * 3
    labels = rng.integers(0, 5, size=(3, 4))
    weights = (rng.random((3, 4)) > 0.3).astype(float) if weighted else None
    loss, grad = softmax_cross_entropy(logits, labels, weights)
    w = np.ones((3, 4)) if weights is None else weights
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = -np.sum(w * np.log(np.take_along_axis(p, labels[..., None], -1)[..., 0])) / w.sum()
    assert loss == pytest.approx(expected, rel=1e-12)
    assert fd_error(grad, central_differences(lambda: softmax_cross_entropy(logits, labels, weights)[0], logits)) < 1e-8


def test_binary_cross_entropy_value_gradient_and_extreme_logits():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 1)) * 3
    targets = rng.integers(0, 2, size=6).astype(float)
    loss, grad = binary_cross_entropy(logits, targets)
    p = 1 / (1 + np.exp(-logits[:, 0]))
    assert loss == pytest.approx(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)), rel=1e-12)
    assert fd_error(grad, central_differences(lambda: binary_cross_entropy(logits, targets)[0], logits)) < 1e-8
    loss, grad = binary_cross_entropy(np.array([[800.0], [-800.0]]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(800.0) and np.all(np.isfinite(grad))


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        Adam(learning_rate=0)
    with pytest.raises(ValueError, match="beta_2 must be in"):
        Adam(beta_2=1.0)
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD(momentum=-0.1)
    with pytest.raises(ValueError, match="grads must hold 1 arrays"):
        Adam().step([np.zeros(3)], [np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match="param must be a C-contiguous array"):
        Adam().step([np.zeros((3, 4))[:, 1]], [np.zeros(3)])


@pytest.mark.parametrize("make", [lambda: SGD(0.05, momentum=0.9), lambda: Adam(0.01), lambda: Adagrad(0.1)],
                         ids=["sgd", "adam", "adagrad"])
def test_optimizers_update_float32_buffers_in_float32(make):
    """The compiled updates keep a float32 buffer float32 and follow the float64 trajectory to
    float32 rounding; the parameters change in place (views of them see the update)."""
    rng = np.random.default_rng(4)
    start, grads = rng.normal(size=(2, 50)), rng.normal(size=(6, 2, 50))
    runs = {}
    for dtype in (np.float32, np.float64):
        buffer = start.astype(dtype)
        view = buffer[1]
        optimizer = make()
        for g in grads:
            optimizer.step([buffer], [g.astype(dtype)])
        assert buffer.dtype == dtype and np.shares_memory(view, buffer)
        assert all(a.dtype == dtype for a in optimizer.state[0].values())
        runs[dtype] = buffer
    assert not np.allclose(runs[np.float64], start)
    np.testing.assert_allclose(runs[np.float32], runs[np.float64], rtol=1e-5, atol=1e-6)


torch = pytest.importorskip("torch")


def test_linear_matches_torch():
    theirs = torch.nn.Linear(4, 3).double()
    ours = fastrnn.Linear(4, 3, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    H = np.random.default_rng(2).normal(size=(5, 4))
    out = ours.forward(H)
    grads = ours.backward(np.ones_like(out))
    t_H = torch.tensor(H, requires_grad=True)
    theirs(t_H).sum().backward()
    assert rel_error(out, theirs(t_H).detach().numpy()) < 1e-12
    assert rel_error(grads["weight"], theirs.weight.grad.numpy()) < 1e-12
    assert rel_error(grads["input"], t_H.grad.numpy()) < 1e-12


@pytest.mark.parametrize("ours_factory, theirs_factory", [
    (lambda: SGD(0.05, momentum=0.0, nesterov=False), lambda p: torch.optim.SGD(p, lr=0.05)),
    (lambda: SGD(0.05, momentum=0.9, nesterov=False), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    (lambda: SGD(0.05, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    (lambda: Adam(0.01, 0.8, 0.95, 1e-6), lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95), eps=1e-6)),
    (lambda: Adagrad(0.1), lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10)),
], ids=["sgd", "momentum", "nesterov", "adam", "adagrad"])
def test_optimizers_follow_torch_trajectories(ours_factory, theirs_factory):
    """Minimize a quadratic 0.5 * ||A p - b||^2 for a few steps with both libraries."""
    rng = np.random.default_rng(3)
    A, b = rng.normal(size=(6, 4)), rng.normal(size=6)
    start = [rng.normal(size=4), rng.normal(size=3)]
    ours = [p.copy() for p in start]
    opt = ours_factory()
    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    t_opt = theirs_factory(theirs)
    A2, b2 = rng.normal(size=(5, 3)), rng.normal(size=5)
    for _ in range(8):
        grads = [A.T @ (A @ ours[0] - b), A2.T @ (A2 @ ours[1] - b2)]
        opt.step(ours, grads)
        t_opt.zero_grad()
        loss = 0.5 * ((torch.from_numpy(A) @ theirs[0] - torch.from_numpy(b)) ** 2).sum() \
            + 0.5 * ((torch.from_numpy(A2) @ theirs[1] - torch.from_numpy(b2)) ** 2).sum()
        loss.backward()
        t_opt.step()
    for p, t_p in zip(ours, theirs):
        assert rel_error(p, t_p.detach().numpy()) < 1e-12


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_network_gradients_match_finite_differences(cell, output, bidirectional):
    """The estimators' network (stacked layers of different sizes, head on the final states or on
    every step, a variable-length batch) against central differences of its loss, in float64."""
    from fastrnn._network import SequenceNetwork

    rng = np.random.default_rng(4)
    network = SequenceNetwork(cell, "tanh", 2, (3, 2), 2, output, np.float64, rng, bidirectional)
    lengths = np.array([5, 3, 1])  # sorted, as the estimators pass them
    x = rng.normal(size=(5, 3, 2))  # time-major
    weights = rng.normal(size=(3, 2) if output == "last" else (5, 3, 2))
    if output == "sequence":
        weights[np.arange(5)[:, None] >= lengths[None, :]] = 0.0  # no loss on padded steps

    def loss():
        return float(np.sum(weights * network.forward(x, lengths=lengths)[0]))

    _, tape = network.forward(x, lengths=lengths)
    network.backward(tape, weights)
    numeric = central_differences(loss, network.params)
    assert fd_error(network.grad, numeric) < 1e-6


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_encoder_decoder_gradients_match_finite_differences(cell):
    """Seq2Seq's network: the encoder (variable lengths) hands its final states to the decoder; every
    parameter's gradient, through both, against central differences in float64."""
    from fastrnn._network import EncoderDecoderNetwork

    rng = np.random.default_rng(5)
    network = EncoderDecoderNetwork(cell, 2, 3, (3, 2), 4, np.float64, rng)
    x = rng.normal(size=(5, 3, 2))  # encoder input, time-major
    lengths = np.array([5, 4, 2])
    y_in = rng.normal(size=(4, 3, 3))  # decoder input
    weights = rng.normal(size=(4, 3, 4))

    def loss():
        return float(np.sum(weights * network.forward(x, lengths, y_in)[0]))

    _, tape = network.forward(x, lengths, y_in)
    network.backward(tape, weights)
    assert fd_error(network.grad, central_differences(loss, network.params)) < 1e-6


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_conditioned_network_gradients_match_finite_differences(cell):
    """The captioning shape: initial states from a feature vector through learned bridges."""
    from fastrnn._network import ConditionedSequenceNetwork

    rng = np.random.default_rng(6)
    network = ConditionedSequenceNetwork(cell, "tanh", 2, (3, 2), 3, "sequence", np.float64, rng, 4)
    x = rng.normal(size=(4, 3, 2))
    conditions = rng.normal(size=(3, 4))
    lengths = np.array([4, 3, 1])
    weights = rng.normal(size=(4, 3, 3))
    weights[np.arange(4)[:, None] >= lengths[None, :]] = 0.0

    def loss():
        return float(np.sum(weights * network.forward(x, conditions, lengths)[0]))

    _, tape = network.forward(x, conditions, lengths)
    network.backward(tape, weights)
    assert fd_error(network.grad, central_differences(loss, network.params)) < 1e-6
