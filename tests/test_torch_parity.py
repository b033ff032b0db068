"""Outputs and gradients equal torch.nn.RNN / torch.nn.LSTM / torch.nn.GRU (batch_first=True) for the same weights."""

import numpy as np
import pytest

from helpers import CELLS, layer_state, make_layer, make_problem, rel_error

torch = pytest.importorskip("torch")


def torch_layer(cell, input_size, hidden, n_layers, bidirectional=False):
    options = dict(batch_first=True, bidirectional=bidirectional)
    if cell == "lstm":
        return torch.nn.LSTM(input_size, hidden, n_layers, **options).double()
    if cell == "gru":
        return torch.nn.GRU(input_size, hidden, n_layers, **options).double()
    return torch.nn.RNN(input_size, hidden, n_layers, nonlinearity=cell[4:], **options).double()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("n_samples,n_steps,n_features,hidden,n_layers,loss", [
    (1, 1, 1, 1, 1, "last"),
    (3, 7, 2, 5, 1, "every"),
    (2, 9, 4, 3, 3, "last"),
    (4, 12, 3, 6, 2, "every"),
])
def test_matches_torch(cell, n_samples, n_steps, n_features, hidden, n_layers, loss):
    p = make_problem(cell, n_samples, n_steps, n_features, hidden, n_layers, loss, seed=n_steps)
    ours = make_layer(cell, n_features, hidden, n_layers, np.float64, random_state=n_layers)
    theirs = torch_layer(cell, n_features, hidden, n_layers)
    theirs.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})

    out, state_n = ours.forward(p["X"], layer_state(cell, p["h0"], p["c0"]))
    grads = ours.backward(p["A"], layer_state(cell, p["Bh"], p["Bc"]))

    X = torch.tensor(p["X"], requires_grad=True)
    h0 = torch.tensor(p["h0"], requires_grad=True)
    if cell == "lstm":
        c0 = torch.tensor(p["c0"], requires_grad=True)
        t_out, (t_h, t_c) = theirs(X, (h0, c0))
        loss_value = (t_out * torch.from_numpy(p["A"])).sum() + (t_h * torch.from_numpy(p["Bh"])).sum() \
            + (t_c * torch.from_numpy(p["Bc"])).sum()
    else:
        t_out, t_h = theirs(X, h0)
        loss_value = (t_out * torch.from_numpy(p["A"])).sum() + (t_h * torch.from_numpy(p["Bh"])).sum()
    loss_value.backward()

    assert rel_error(out, t_out.detach().numpy()) < 1e-10
    h_n = state_n[0] if cell == "lstm" else state_n
    assert rel_error(h_n, t_h.detach().numpy()) < 1e-10
    if cell == "lstm":
        assert rel_error(state_n[1], t_c.detach().numpy()) < 1e-10
        assert rel_error(grads["state"][0], h0.grad.numpy()) < 1e-10
        assert rel_error(grads["state"][1], c0.grad.numpy()) < 1e-10
    else:
        assert rel_error(grads["state"], h0.grad.numpy()) < 1e-10
    for name, param in theirs.named_parameters():
        assert rel_error(grads[name], param.grad.numpy()) < 1e-10, name
    assert rel_error(grads["input"], X.grad.numpy()) < 1e-10


@pytest.mark.parametrize("cell", CELLS)
def test_weights_move_from_torch_by_name(cell):
    """A torch-initialized model loaded by name gives torch's outputs (float32)."""
    torch.manual_seed(0)
    theirs = torch_layer(cell, 3, 4, 2).float()
    ours = make_layer(cell, 3, 4, 2, np.float32)
    ours.load_state_dict(theirs.state_dict())
    X = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    out, _ = ours.forward(X)
    with torch.no_grad():
        t_out = theirs(torch.from_numpy(X))[0].numpy()
    assert rel_error(out, t_out) < 1e-5


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [6, 3, 1, 5]])
def test_bidirectional_and_packed_sequences_match_torch(cell, bidirectional, lengths):
    """Against torch with bidirectional=True and pack_padded_sequence(enforce_sorted=False)."""
    directions = 2 if bidirectional else 1
    p = make_problem(cell, 4, 6, 3, 4, 2, "every", seed=2, n_directions=directions)
    ours = make_layer(cell, 3, 4, 2, np.float64, random_state=5, bidirectional=bidirectional)
    theirs = torch_layer(cell, 3, 4, 2, bidirectional=bidirectional)
    theirs.load_state_dict({name: torch.from_numpy(value) for name, value in ours.state_dict().items()})
    if lengths is not None:
        for b, length in enumerate(lengths):
            p["A"][b, length:] = 0.0  # torch's padded output is a constant there: no gradient either way

    out, state_n = ours.forward(p["X"], layer_state(cell, p["h0"], p["c0"]), lengths=lengths)
    grads = ours.backward(p["A"], layer_state(cell, p["Bh"], p["Bc"]))

    X = torch.tensor(p["X"], requires_grad=True)
    h0 = torch.tensor(p["h0"], requires_grad=True)
    c0 = torch.tensor(p["c0"], requires_grad=True) if cell == "lstm" else None
    packed = X if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        X, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    t_out, t_state = theirs(packed, (h0, c0) if cell == "lstm" else h0)
    if lengths is not None:
        t_out = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, total_length=6)[0]
    t_h = t_state[0] if cell == "lstm" else t_state
    loss_value = (t_out * torch.from_numpy(p["A"])).sum() + (t_h * torch.from_numpy(p["Bh"])).sum()
    if cell == "lstm":
        loss_value = loss_value + (t_state[1] * torch.from_numpy(p["Bc"])).sum()
    loss_value.backward()

    assert rel_error(out, t_out.detach().numpy()) < 1e-10
    assert rel_error(state_n[0] if cell == "lstm" else state_n, t_h.detach().numpy()) < 1e-10
    for name, param in theirs.named_parameters():
        assert rel_error(grads[name], param.grad.numpy()) < 1e-10, name
    assert rel_error(grads["input"], X.grad.numpy()) < 1e-10
    assert rel_error(grads["state"][0] if cell == "lstm" else grads["state"], h0.grad.numpy()) < 1e-10
    if cell == "lstm":
        assert rel_error(grads["state"][1], c0.grad.numpy()) < 1e-10
