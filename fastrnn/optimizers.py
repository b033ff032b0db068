"""Stochastic optimizers that update flat parameter buffers in place.

An optimizer is built once for a list of flat parameter arrays (``RNN._flat``, ``Linear._flat``,
...) and then called with one gradient array per parameter array. Kept apart from the models and
the losses, as in scikit-learn's ``neural_network``.
"""

import numpy as np

__all__ = ["SGD", "Adam", "Adagrad"]


class _Optimizer:
    def __init__(self, params, learning_rate):
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
        self.params = list(params)
        self.learning_rate = float(learning_rate)
        self.t = 0  # number of steps taken

    def step(self, grads):
        """Update every parameter array in place from its gradient.

        Parameters
        ----------
        grads : list of arrays
            One gradient per parameter array, same shapes, in the same order.
        """
        if len(grads) != len(self.params):
            raise ValueError(f"grads must hold {len(self.params)} arrays, got {len(grads)}.")
        self.t += 1
        for index, (param, grad) in enumerate(zip(self.params, grads)):
            self._update(index, param, grad)


class SGD(_Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``v = momentum * v - lr * g``; plain momentum adds ``v``, Nesterov adds ``momentum * v - lr * g``.

    Parameters
    ----------
    params : list of arrays
        Flat parameter buffers, updated in place.
    learning_rate : float, default 0.01
    momentum : float in [0, 1), default 0.9
    nesterov : bool, default True
    """

    def __init__(self, params, learning_rate=0.01, momentum=0.9, nesterov=True):
        super().__init__(params, learning_rate)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocities = [np.zeros_like(p) for p in self.params]

    def _update(self, index, param, grad):
        velocity = self.velocities[index]
        velocity *= self.momentum
        velocity -= self.learning_rate * grad
        if self.nesterov:
            param += self.momentum * velocity - self.learning_rate * grad
        else:
            param += velocity


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, in PyTorch's form (``torch.optim.Adam``).

    Parameters
    ----------
    params : list of arrays
        Flat parameter buffers, updated in place.
    learning_rate : float, default 0.001
    beta_1, beta_2 : floats in [0, 1), defaults 0.9 and 0.999
    epsilon : float, default 1e-8
    """

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(params, learning_rate)
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}.")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.first_moments = [np.zeros_like(p) for p in self.params]
        self.second_moments = [np.zeros_like(p) for p in self.params]

    def _update(self, index, param, grad):
        m, v = self.first_moments[index], self.second_moments[index]
        m *= self.beta_1
        m += (1.0 - self.beta_1) * grad
        v *= self.beta_2
        v += (1.0 - self.beta_2) * grad * grad
        # PyTorch's form: epsilon is added after the second moment's bias correction
        denominator = np.sqrt(v) / np.sqrt(1.0 - self.beta_2 ** self.t) + self.epsilon
        param -= (self.learning_rate / (1.0 - self.beta_1 ** self.t)) * m / denominator


class Adagrad(_Optimizer):
    """Adagrad (Duchi et al., 2011): per-parameter steps scaled by accumulated squared gradients.

    Parameters
    ----------
    params : list of arrays
        Flat parameter buffers, updated in place.
    learning_rate : float, default 0.01
    epsilon : float, default 1e-10
    """

    def __init__(self, params, learning_rate=0.01, epsilon=1e-10):
        super().__init__(params, learning_rate)
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.sums = [np.zeros_like(p) for p in self.params]

    def _update(self, index, param, grad):
        accumulated = self.sums[index]
        accumulated += grad * grad
        param -= self.learning_rate * grad / (np.sqrt(accumulated) + self.epsilon)
