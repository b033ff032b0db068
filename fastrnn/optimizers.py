"""Stochastic optimizers that update flat parameter buffers in place, on the CPU or on a GPU.

An optimizer holds only its state (momentum, moments); each :meth:`step` receives the parameter
buffers and their gradients and updates them through the backend of the buffers
(:func:`fastrnn.kernels.dispatch.backend_of`: one compiled pass on the CPU, one kernel on a GPU).
The state lives where the parameters live and follows them when they move, so a model trained on a
GPU can be pickled (the state is pickled as numpy arrays) and trained on with a CPU. Kept apart from
the models and the losses, as in scikit-learn's ``neural_network``.
"""

import numpy as np

from .kernels.dispatch import backend_of

__all__ = ["SGD", "Adam", "Adagrad"]


class _Optimizer:
    _state_names = ()   # the state arrays kept per parameter buffer
    _config_names = ()  # the constructor's arguments, stored under the same attribute names

    def __init__(self, learning_rate):
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
        self.learning_rate = float(learning_rate)
        self.t = 0  # number of steps taken
        self.state = None  # per parameter buffer: a dict of state arrays

    def step(self, params, grads):
        """Update every parameter buffer in place from its gradient.

        Parameters
        ----------
        params : list of arrays
            Flat parameter buffers (numpy or device arrays), the same list at every step.
        grads : list of arrays
            One gradient per buffer, same shapes and devices, in the same order.
        """
        if len(grads) != len(params):
            raise ValueError(f"grads must hold {len(params)} arrays, got {len(grads)}.")
        if self.state is None:
            self.state = [{name: np.zeros(p.shape, dtype=p.dtype) for name in self._state_names} for p in params]
        self.t += 1
        for param, grad, state in zip(params, grads, self.state):
            backend = backend_of(param)
            for name, array in state.items():
                if backend_of(array) is not backend:  # the parameters moved: the state follows
                    state[name] = backend.asarray(array, param.dtype)
            self._update(backend, param, grad, state)

    def _update(self, backend, param, grad, state):
        """One buffer's update in place, by ``backend``'s kernels."""
        raise NotImplementedError

    def config(self):
        """The constructor's arguments: ``type(self)(**self.config())`` is this optimizer before its
        first step."""
        return {name: getattr(self, name) for name in self._config_names}

    def __getstate__(self):
        state = self.__dict__.copy()
        if self.state is not None:  # pickle numpy arrays, never device objects
            state["state"] = [{k: backend_of(v).to_host(v) for k, v in s.items()} for s in self.state]
        return state


class SGD(_Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``v = momentum * v - lr * g``; plain momentum adds ``v``, Nesterov adds ``momentum * v - lr * g``.

    Parameters
    ----------
    learning_rate : float, default 0.01
    momentum : float in [0, 1), default 0.9
    nesterov : bool, default True
    """

    _state_names = ("velocity",)
    _config_names = ("learning_rate", "momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=True):
        super().__init__(learning_rate)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, backend, param, grad, state):
        backend.sgd_step(param, grad, state["velocity"], self.learning_rate, self.momentum, self.nesterov)


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, in PyTorch's form (``torch.optim.Adam``).

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta_1, beta_2 : floats in [0, 1), defaults 0.9 and 0.999
    epsilon : float, default 1e-8
    """

    _state_names = ("first_moment", "second_moment")
    _config_names = ("learning_rate", "beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(learning_rate)
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}.")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, backend, param, grad, state):
        # PyTorch's form: epsilon is added after the second moment's bias correction
        backend.adam_step(param, grad, state["first_moment"], state["second_moment"], self.learning_rate,
                          self.beta_1, self.beta_2, self.epsilon, self.t)


class Adagrad(_Optimizer):
    """Adagrad (Duchi et al., 2011): per-parameter steps scaled by accumulated squared gradients.

    Parameters
    ----------
    learning_rate : float, default 0.01
    epsilon : float, default 1e-10
    """

    _state_names = ("sum_of_squares",)
    _config_names = ("learning_rate", "epsilon")

    def __init__(self, learning_rate=0.01, epsilon=1e-10):
        super().__init__(learning_rate)
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}.")
        self.epsilon = float(epsilon)

    def _update(self, backend, param, grad, state):
        backend.adagrad_step(param, grad, state["sum_of_squares"], self.learning_rate, self.epsilon)
