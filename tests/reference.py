"""Naive float64 reference of stacked Elman RNN, LSTM and GRU layers: forward and BPTT, from the equations.

Deliberately slow and obvious: one sample at a time, one step at a time, column vectors, no shared
code with the kernels. Used only by the tests, as the oracle.

Parameters use PyTorch's names: ``weight_ih_l{k}`` (G*H, D_k), ``weight_hh_l{k}`` (G*H, H),
``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,). LSTM gate order in the stacked rows: i, f, g, o; GRU: r, z,
n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) and h' = (1 - z) * n + z * h (PyTorch's form).
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _activation(cell, z):
    if cell == "rnn_tanh":
        return np.tanh(z)
    if cell == "rnn_relu":
        return np.maximum(z, 0.0)
    raise ValueError(cell)


def _layer_params(params, k):
    return (np.asarray(params[f"weight_ih_l{k}"], np.float64), np.asarray(params[f"weight_hh_l{k}"], np.float64),
            np.asarray(params[f"bias_ih_l{k}"], np.float64), np.asarray(params[f"bias_hh_l{k}"], np.float64))


def forward(cell, params, X, h0, c0=None):
    """Forward pass of ``num_layers = len(h0)`` stacked layers.

    X: (n_samples, n_timesteps, n_features); h0, c0: (num_layers, n_samples, hidden).
    Returns out (n_samples, n_timesteps, hidden), h_n, c_n (None for RNN) and a tape for backward.
    """
    X = np.asarray(X, np.float64)
    n_layers, n_samples, hidden = h0.shape
    n_steps = X.shape[1]
    out = np.zeros((n_samples, n_steps, hidden))
    h_n = np.zeros(h0.shape)
    c_n = np.zeros(h0.shape) if cell == "lstm" else None
    tape = []  # tape[s][k][t] = what step t of layer k needs for sample s
    for s in range(n_samples):
        layer_input = [X[s, t] for t in range(X.shape[1])]
        sample_tape = []
        for k in range(n_layers):
            W_ih, W_hh, b_ih, b_hh = _layer_params(params, k)
            h = h0[k, s].astype(np.float64)
            c = c0[k, s].astype(np.float64) if cell == "lstm" else None
            steps = []
            outputs = []
            for x in layer_input:
                z = W_ih @ x + b_ih + W_hh @ h + b_hh
                if cell == "gru":
                    a_x = W_ih @ x + b_ih
                    a_h = W_hh @ h + b_hh
                    ax_r, ax_z, ax_n = np.split(a_x, 3)
                    ah_r, ah_z, ah_n = np.split(a_h, 3)
                    r = sigmoid(ax_r + ah_r)
                    u = sigmoid(ax_z + ah_z)  # the update gate z
                    n = np.tanh(ax_n + r * ah_n)
                    h_new = (1.0 - u) * n + u * h
                    steps.append(dict(x=x, h_prev=h, r=r, u=u, n=n, ah_n=ah_n, h=h_new))
                elif cell == "lstm":
                    i, f, g, o = np.split(z, 4)
                    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
                    c_new = f * c + i * g
                    h_new = o * np.tanh(c_new)
                    steps.append(dict(x=x, h_prev=h, c_prev=c, i=i, f=f, g=g, o=o, c=c_new, h=h_new))
                    c = c_new
                else:
                    h_new = _activation(cell, z)
                    steps.append(dict(x=x, h_prev=h, h=h_new, z=z))
                h = h_new
                outputs.append(h)
            sample_tape.append(steps)
            h_n[k, s] = h
            if cell == "lstm":
                c_n[k, s] = c
            layer_input = outputs
        out[s] = np.array(layer_input)
        tape.append(sample_tape)
    return out, h_n, c_n, tape


def backward(cell, params, tape, d_out, dh_n, dc_n=None):
    """BPTT through the tape of :func:`forward`.

    d_out: (n_samples, n_timesteps, hidden) dL/d(out); dh_n, dc_n: (num_layers, n_samples, hidden).
    Returns a dict of parameter gradients plus "input" and "h0" (and "c0" for LSTM).
    """
    n_layers, n_samples, hidden = dh_n.shape
    grads = {name: np.zeros(np.shape(value)) for name, value in params.items()}
    n_steps = d_out.shape[1]
    n_features = tape[0][0][0]["x"].shape[0]
    d_input = np.zeros((n_samples, n_steps, n_features))
    dh0 = np.zeros(dh_n.shape)
    dc0 = np.zeros(dh_n.shape)
    for s in range(n_samples):
        d_layer_out = [d_out[s, t].astype(np.float64) for t in range(n_steps)]
        for k in range(n_layers - 1, -1, -1):
            W_ih, W_hh, _, _ = _layer_params(params, k)
            dh_next = dh_n[k, s].astype(np.float64)
            dc_next = dc_n[k, s].astype(np.float64) if cell == "lstm" else None
            dx = [None] * n_steps
            for t in range(n_steps - 1, -1, -1):
                st = tape[s][k][t]
                dh = d_layer_out[t] + dh_next
                dh_direct = 0.0
                if cell == "gru":
                    r, u, n = st["r"], st["u"], st["n"]
                    dn = dh * (1.0 - u) * (1.0 - n ** 2)
                    du = dh * (st["h_prev"] - n) * u * (1.0 - u)
                    dr = dn * st["ah_n"] * r * (1.0 - r)
                    dz = np.concatenate([dr, du, dn])  # w.r.t. W_ih x + b_ih
                    dz_h = np.concatenate([dr, du, r * dn])  # w.r.t. W_hh h + b_hh
                    dh_direct = dh * u
                elif cell == "lstm":
                    i, f, g, o, c = st["i"], st["f"], st["g"], st["o"], st["c"]
                    dc = dc_next + dh * o * (1.0 - np.tanh(c) ** 2)
                    do = dh * np.tanh(c)
                    di = dc * g
                    dg = dc * i
                    df = dc * st["c_prev"]
                    dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)])
                    dc_next = dc * f
                elif cell == "rnn_tanh":
                    dz = dh * (1.0 - st["h"] ** 2)
                else:
                    dz = dh * (st["h"] > 0)
                if cell != "gru":
                    dz_h = dz  # the input and recurrent pre-activations enter as one sum
                grads[f"weight_ih_l{k}"] += np.outer(dz, st["x"])
                grads[f"weight_hh_l{k}"] += np.outer(dz_h, st["h_prev"])
                grads[f"bias_ih_l{k}"] += dz
                grads[f"bias_hh_l{k}"] += dz_h
                dx[t] = W_ih.T @ dz
                dh_next = W_hh.T @ dz_h + dh_direct
            dh0[k, s] = dh_next
            if cell == "lstm":
                dc0[k, s] = dc_next
            d_layer_out = dx
        d_input[s] = np.array(d_layer_out)
    grads["input"] = d_input
    grads["h0"] = dh0
    if cell == "lstm":
        grads["c0"] = dc0
    return grads
