"""The adding problem (Hochreiter & Schmidhuber 1997), shared by the examples that train on it.

Each sequence has ``n_steps`` steps of two features: a value drawn uniformly from [0, 1) and a 0/1
marker that is 1 on exactly two steps, one in the first half of the sequence and one in the second.
The target is the sum of the two marked values. Predicting the constant 1 (the targets' mean) gives a
mean squared error of 1/6 ≈ 0.167 (the variance of a sum of two uniform values): the baseline a model
must beat to show that it kept a value in memory over up to ``n_steps`` steps. The setup is that of
Le, Jaitly & Hinton (2015), "A simple way to initialize recurrent networks of rectified linear units".

Not an example on its own: ``adding_problem.py``, ``vanishing_gradients.py`` and
``exploding_gradients.py`` import it (Python puts the running script's folder on ``sys.path``).
"""

import numpy as np

from fastrnn import RNNRegressor

BASELINE_MSE = 1.0 / 6.0  # the variance of U(0,1) + U(0,1): the MSE of always predicting 1
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "Elman RNN"}  # "rnn": the Elman RNN with tanh


def make_adding_problem(n_samples, n_steps, random_state=0):
    """``X`` (n_samples, n_steps, 2) and ``y`` (n_samples,), float32, of the adding problem."""
    rng = np.random.default_rng(random_state)
    X = np.zeros((n_samples, n_steps, 2), np.float32)
    X[:, :, 0] = rng.uniform(0.0, 1.0, (n_samples, n_steps))
    half = n_steps // 2
    rows = np.arange(n_samples)
    first = rng.integers(0, half, n_samples)           # one marker in the first half,
    second = rng.integers(half, n_steps, n_samples)    # one in the second
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = X[rows, first, 0] + X[rows, second, 0]
    return X, y


def adding_model(cell, hidden_size=32, epochs=25, random_state=0, **parameters):
    """The regressor the examples train on the adding problem.

    One recurrent layer of ``hidden_size`` units (``cell``: "lstm", "gru" or "rnn", the Elman RNN
    with tanh), Adam at a learning rate of 0.01, mini-batches of 32, the gradient clipped to norm 1,
    at most ``epochs`` epochs. The LSTM's loss can sit at the baseline for thousands of updates
    (at T = 100 and more) before it falls (fastrnn's stopping rule does not end a fit on that
    plateau). ``parameters`` override any
    of these settings.
    """
    settings = dict(cell=cell, hidden_sizes=(hidden_size,), learning_rate_init=0.01, batch_size=32,
                    clip_grad_norm=1.0, max_iter=epochs, random_state=random_state)
    settings.update(parameters)
    return RNNRegressor(**settings)
