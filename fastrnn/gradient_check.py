"""Check backpropagation through time against central finite differences, in float64.

:func:`check_gradients` does for any layer or fitted estimator what fastrnn's own tests do for every
kernel: it computes the gradient of a loss with respect to every parameter by BPTT (the kernels'
backward pass) and by central differences, ``(L(w + eps) - L(w - eps)) / (2 eps)``, on a float64
copy of the model, and reports per parameter how far apart they are. Use it after changing or
extending a model, on a new device, or to see for yourself that BPTT is exact.

Central differences have an error of order ``eps**2`` (truncation) plus ``u * |L| / eps`` (rounding,
``u = 2.2e-16`` in float64): about 1e-10 relative to the loss for the default ``eps = 1e-6``, which
is why the check runs in float64 whatever the model's ``dtype``.
"""

from typing import NamedTuple

import numpy as np

from ._persistence import copy_with_dtype
from ._validation import as_generator, check_positive_int
from .kernels.dispatch import resolve_device

__all__ = ["check_gradients", "GradientCheckReport", "ParameterCheck"]


class ParameterCheck(NamedTuple):
    """The comparison for one parameter.

    Attributes
    ----------
    name : str
        The parameter's name (PyTorch's; dotted module paths for an estimator's network).
    shape : tuple of int
        Its shape.
    n_checked : int
        Entries compared (all of them, or a random subset of ``max_entries``).
    max_abs_error : float
        Largest ``|bptt - finite_difference|`` over the checked entries.
    max_rel_error : float
        Largest ``|bptt - fd| / max(|bptt|, |fd|)`` over the checked entries whose gradient is at
        least ``atol / rtol``, where the relative part of the tolerance rules (0 when there are none:
        a smaller gradient is judged by its absolute error, as finite differences resolve it only
        to about 1e-10).
    passed : bool
        Every checked entry satisfies ``|bptt - fd| <= atol + rtol * |fd|``.
    """

    name: str
    shape: tuple
    n_checked: int
    max_abs_error: float
    max_rel_error: float
    passed: bool


class GradientCheckReport:
    """What :func:`check_gradients` found: one :class:`ParameterCheck` per parameter.

    Attributes
    ----------
    parameters : list of ParameterCheck
        In the order of the model's parameters.
    loss : float
        The loss whose gradient was checked, at the model's weights.
    epsilon, rtol, atol : float
        The finite-difference step and the tolerances of ``passed``.
    device : str
        Where the forward and backward passes ran ("cpu" or "cuda").
    """

    def __init__(self, parameters, loss, epsilon, rtol, atol, device):
        self.parameters = parameters
        self.loss = loss
        self.epsilon, self.rtol, self.atol = epsilon, rtol, atol
        self.device = device

    @property
    def passed(self):
        """True when every checked entry of every parameter is within the tolerances."""
        return all(check.passed for check in self.parameters)

    @property
    def max_abs_error(self):
        """Largest absolute error over all parameters."""
        return max(check.max_abs_error for check in self.parameters)

    @property
    def max_rel_error(self):
        """Largest relative error over all parameters (see :class:`ParameterCheck`)."""
        return max(check.max_rel_error for check in self.parameters)

    def __str__(self):
        width = max(len("parameter"), *(len(check.name) for check in self.parameters))
        lines = [f"{'parameter':<{width}}  {'shape':>14}  {'checked':>7}  {'max abs err':>11}  {'max rel err':>11}",
                 "-" * (width + 53)]
        for check in self.parameters:
            flag = "" if check.passed else "  FAILED"
            lines.append(f"{check.name:<{width}}  {str(check.shape):>14}  {check.n_checked:>7}  "
                         f"{check.max_abs_error:11.3e}  {check.max_rel_error:11.3e}{flag}")
        verdict = "passed" if self.passed else "FAILED"
        lines.append(f"{verdict}: BPTT against central differences (eps={self.epsilon:g}) on {self.device}, "
                     f"float64, loss {self.loss:.6g}; |bptt - fd| <= {self.atol:g} + {self.rtol:g} * |fd|")
        return "\n".join(lines)

    def __repr__(self):
        return (f"GradientCheckReport(passed={self.passed}, max_abs_error={self.max_abs_error:.3e}, "
                f"max_rel_error={self.max_rel_error:.3e}, n_parameters={len(self.parameters)})")


def check_gradients(model, X, y=None, *, epsilon=1e-6, max_entries=20, rtol=1e-5, atol=1e-8, device=None,
                    random_state=0, **fit_params):
    """Compare every parameter's BPTT gradient with central finite differences, in float64.

    The model is not changed: the check runs on a float64 copy.

    - A **layer** (:class:`~fastrnn.RNN`, :class:`~fastrnn.LSTM`, :class:`~fastrnn.GRU`,
      :class:`~fastrnn.Linear`): the loss is a fixed random linear function of its outputs (and of
      its final states), ``sum(R * out) + sum(S * h_n)`` with ``R`` and ``S`` drawn from
      N(0, 1 / size), so every output and state carries gradient; ``y`` is unused.
    - A **fitted estimator**: the loss of its training objective (squared error or cross-entropy,
      without the L2 term) on the first mini-batch that ``fit`` would make from ``X, y``, with full
      BPTT (``bptt_steps`` is ignored): all of ``X`` for :class:`~fastrnn.RNNRegressor`,
      :class:`~fastrnn.RNNClassifier` and :class:`~fastrnn.Seq2Seq`; for :class:`~fastrnn.CharRNN`
      the first ``seq_length`` characters of each stream, or with ``features`` the first batch of
      ``batch_size`` texts that ``fit`` would draw.

    Parameters
    ----------
    model : layer or fitted estimator
    X : array-like
        Inputs, as the layer's ``forward`` or the estimator's ``fit`` takes them. Keep it small:
        each checked entry costs two forward passes.
    y : array-like, optional
        The estimator's targets (``Y`` for Seq2Seq); None for layers and CharRNN.
    epsilon : float, default 1e-6
        Step of the central differences.
    max_entries : int or None, default 20
        Entries checked per parameter, drawn at random without replacement; None checks them all.
    rtol, atol : float, defaults 1e-5 and 1e-8
        An entry passes when ``|bptt - fd| <= atol + rtol * |fd|``.
    device : {None, "cpu", "cuda"}
        Where the passes run; None: the model's own device setting, resolved.
    random_state : None, int or numpy Generator, default 0
        Draws the checked entries and a layer's loss weights.
    **fit_params
        Passed on: ``lengths`` (and ``state``) to a layer's ``forward``; ``features`` to CharRNN,
        ``initial_state`` to the regressor and classifier.

    Returns
    -------
    GradientCheckReport
        ``report.passed``, ``report.max_rel_error``, ``print(report)`` for a table.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(input_size=3, hidden_size=4, random_state=0)
    >>> report = fastrnn.check_gradients(lstm, np.random.default_rng(0).normal(size=(2, 5, 3)))
    >>> report.passed
    True
    """
    if not (isinstance(epsilon, (int, float)) and 0 < epsilon < 1):
        raise ValueError(f"epsilon must be a number in (0, 1), got {epsilon!r}.")
    if max_entries is not None:
        max_entries = check_positive_int(max_entries, "max_entries")
    rng = as_generator(random_state)
    from .layers import _Module

    if isinstance(model, _Module):
        problem = _LayerProblem(model, X, device, rng, fit_params)
    else:
        model._check_is_fitted()
        problem = _EstimatorProblem(model, X, y, device, fit_params)
    loss, gradient = problem.loss_and_gradient()
    flat = problem.parameters  # the float64 copy's flat parameter buffer, on the host
    checks = []
    for name, view in problem.named_parameters().items():
        offset = _offset_in(flat, view)
        entries = np.arange(view.size) if max_entries is None or view.size <= max_entries else \
            np.sort(rng.choice(view.size, size=max_entries, replace=False))
        analytic = gradient[offset + entries]
        numeric = np.array([_central_difference(problem, offset + k, epsilon) for k in entries])
        checks.append(_compare(name, view.shape, analytic, numeric, rtol, atol))
    return GradientCheckReport(checks, loss, epsilon, rtol, atol, problem.device)


def _offset_in(flat, view):
    """Where the view ``view`` starts in the 1-D buffer ``flat``."""
    return (view.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) // flat.itemsize


def _central_difference(problem, index, epsilon):
    flat = problem.parameters
    saved = flat[index]
    flat[index] = saved + epsilon
    plus = problem.loss()
    flat[index] = saved - epsilon
    minus = problem.loss()
    flat[index] = saved
    return (plus - minus) / (2 * epsilon)


def _compare(name, shape, analytic, numeric, rtol, atol):
    error = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    resolved = scale >= (atol / rtol if rtol > 0 else atol)  # where the relative part of the tolerance rules
    relative = float(np.max(error[resolved] / scale[resolved])) if resolved.any() else 0.0
    passed = bool(np.all(error <= atol + rtol * np.abs(numeric)))
    return ParameterCheck(name, tuple(shape), len(analytic), float(error.max(initial=0.0)), relative, passed)


class _LayerProblem:
    """A float64 copy of a layer and a random linear loss of its outputs and final states."""

    def __init__(self, layer, X, device, rng, forward_options):
        self.layer = copy_with_dtype(layer, np.float64)
        self.device = resolve_device(device or layer.device, layer._auto_gate_units)
        self.layer.to(self.device)
        self.X, self.options = X, forward_options
        self.parameters = self.layer._flat
        out, state = self._forward()
        # weights scaled so that the loss stays of order 1 whatever the sizes (the rounding error of
        # the differences grows with the loss)
        self.d_out = rng.normal(size=out.shape) / np.sqrt(out.size)
        self.d_state = None if state is None else \
            _map_state(state, lambda s: rng.normal(size=s.shape) / np.sqrt(s.size))

    def named_parameters(self):
        return self.layer.params

    def _forward(self):
        if not hasattr(self.layer, "hidden_size"):  # Linear
            if self.options:
                raise TypeError(f"Linear.forward takes no options; got {sorted(self.options)}.")
            return self.layer.forward(self.X), None
        return self.layer.forward(self.X, **self.options)

    def loss(self):
        out, state = self._forward()
        total = float(np.sum(self.d_out * out))
        if state is not None:
            total += sum(float(np.sum(w * s)) for w, s in zip(_flatten(self.d_state), _flatten(state)))
        return total

    def loss_and_gradient(self):
        loss = self.loss()
        grads = self.layer.backward(self.d_out) if self.d_state is None else \
            self.layer.backward(self.d_out, self.d_state)
        gradient = np.concatenate([grads[name].ravel() for name in self.layer.params])
        return loss, gradient


def _flatten(state):
    return list(state) if isinstance(state, tuple) else [state]


def _map_state(state, function):
    return tuple(function(s) for s in state) if isinstance(state, tuple) else function(state)


class _EstimatorProblem:
    """A float64 copy of a fitted estimator and the loss of its first training mini-batch on X, y."""

    def __init__(self, estimator, X, y, device, fit_params):
        from .estimators import CharRNN

        model = copy_with_dtype(estimator, np.float64)
        self.device = resolve_device(device or estimator.device, estimator.network_.largest_gate_units)
        overrides = dict(warm_start=True, device=self.device)  # keep the fitted network and vocabularies
        names = model.get_params()
        overrides.update({name: value for name, value in (("early_stopping", False), ("bptt_steps", None),
                                                            ("shuffle", False)) if name in names})
        if "batch_size" in names and not isinstance(model, CharRNN):  # one batch: all of X
            overrides["batch_size"] = 1 << 30
        model.set_params(**overrides)
        self.model = model
        self.data, _ = model._training_data(X, y, **fit_params)
        self.rng_state = model._rng.bit_generator.state
        self.network = model.network_
        self.parameters = self.network.params

    def named_parameters(self):
        return self.network.named_parameters()

    def _run(self, with_gradient):
        network, model = self.network, self.model
        network.to(self.device)  # a GPU copy of the (perturbed) host weights
        model._rng.bit_generator.state = self.rng_state  # the same first batch every time
        batch, _ = next(iter(model._epoch_batches(self.data)))
        found = {}

        def step(loss, n, backward):
            found["loss"] = float(loss)
            if with_gradient:
                backward()
                found["gradient"] = np.array(network.backend.to_host(network.grad), dtype=np.float64)
            return loss

        model._train_batch(self.data, batch, step)
        return found

    def loss(self):
        return self._run(with_gradient=False)["loss"]

    def loss_and_gradient(self):
        found = self._run(with_gradient=True)
        return found["loss"], found["gradient"]
