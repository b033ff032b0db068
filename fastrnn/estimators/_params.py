"""Parameters of the estimators: one table of rules, and scikit-learn's estimator API over them.

Every estimator declares its parameters in its own ``__init__`` (which only stores them, as
scikit-learn requires); :class:`EstimatorParams` reads their names from that signature and checks each
value against :data:`PARAMETER_RULES` in :meth:`~EstimatorParams._validate_params`, at the start of
every ``fit``. A parameter has one rule, whichever estimator takes it.
"""

import functools
import inspect
import numbers

import numpy as np

from .. import exceptions
from ..kernels.dispatch import resolve_device


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


# name -> (check, description of what is expected); one table for every parameter
PARAMETER_RULES = {
    "cell": (lambda v: v in ("rnn", "lstm", "gru"), "one of 'rnn', 'lstm', 'gru'"),
    "hidden_sizes": (lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(_is_int(s) and s >= 1 for s in v),
                     "a non-empty tuple of integers >= 1"),
    "nonlinearity": (lambda v: v in ("tanh", "relu"), "one of 'tanh', 'relu'"),
    "output": (lambda v: v in ("last", "sequence"), "one of 'last', 'sequence'"),
    "bidirectional": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "bptt_steps": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an integer >= 1"),
    "seq_length": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "max_output_length": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an integer >= 1"),
    "device": (lambda v: v in ("auto", "cpu", "cuda"), "one of 'auto', 'cpu', 'cuda'"),
    "dtype": (lambda v: v in ("float32", "float64", np.float32, np.float64), "'float32' or 'float64'"),
    "solver": (lambda v: v in ("sgd", "adam", "adagrad"), "one of 'sgd', 'adam', 'adagrad'"),
    "learning_rate_init": (lambda v: _is_real(v) and v > 0, "a float > 0"),
    "batch_size": (lambda v: v == "auto" or (_is_int(v) and v >= 1), "'auto' or an integer >= 1"),
    "max_iter": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "shuffle": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "alpha": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "clip_grad_norm": (lambda v: v is None or (_is_real(v) and v > 0), "None or a float > 0"),
    "tol": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "n_iter_no_change": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "early_stopping": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "validation_fraction": (lambda v: _is_real(v) and 0 < v < 1, "a float in (0, 1)"),
    "momentum": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "nesterovs_momentum": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "beta_1": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "beta_2": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "epsilon": (lambda v: _is_real(v) and v > 0, "a float > 0"),
    "random_state": (lambda v: v is None or _is_int(v) or isinstance(v, (np.random.RandomState, np.random.Generator)),
                     "None, an int, a numpy RandomState or Generator"),
    "warm_start": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    "verbose": (lambda v: isinstance(v, (bool, np.bool_)) or (_is_int(v) and v >= 0), "a bool or an integer >= 0"),
}


class EstimatorParams:
    """scikit-learn's estimator API (``get_params``, ``set_params``, ``repr``, fitted checks, tags)
    over the parameters of the subclass's ``__init__``, validated by :data:`PARAMETER_RULES`."""

    # ------------------------------------------------------------------ scikit-learn estimator API
    @classmethod
    def _get_param_names(cls):
        return list(_init_parameter_names(cls))

    def _store_parameters(self, values):
        """The body of every ``__init__``: each parameter of its signature stored unchanged under its
        own name (``values`` is the ``__init__``'s ``locals()``), as scikit-learn requires; checks
        happen at ``fit``."""
        for name in self._get_param_names():
            setattr(self, name, values[name])

    def get_params(self, deep=True):
        """Parameters of this estimator (scikit-learn's API).

        Parameters
        ----------
        deep : bool
            Unused: the estimator holds no sub-estimators.

        Returns
        -------
        dict of str -> value
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters (scikit-learn's API); they are checked at the next ``fit``.

        Returns
        -------
        self
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name].default
            same = value is default
            if not same:
                try:
                    same = bool(np.all(value == default)) and type(value) is type(default)
                except Exception:  # noqa: BLE001 - arbitrary user values
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _base_tags(self):
        from sklearn.utils import Tags, TargetTags  # only called by scikit-learn itself

        tags = Tags(estimator_type=None, target_tags=TargetTags(required=True))
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.non_deterministic = self.random_state is None
        return tags

    def _check_is_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise exceptions.NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 f"appropriate arguments before using this estimator.")

    def _validate_params(self):
        """Check every parameter against its rule, and that ``device`` can be used here."""
        self._check_parameter_rules()
        resolve_device(self.device)  # RuntimeError for "cuda" without numba-cuda or a GPU

    def _check_parameter_rules(self):
        """Check every parameter against :data:`PARAMETER_RULES` (a ``ValueError`` naming the first
        that breaks its rule); the device is not resolved (a model saved on a GPU machine loads anywhere)."""
        for name in self._get_param_names():
            check, expected = PARAMETER_RULES[name]
            value = getattr(self, name)
            try:
                ok = bool(check(value))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"The {name!r} parameter of {type(self).__name__} must be {expected}; "
                                 f"got {value!r}.")

    @property
    def _float_type(self):
        """numpy float type of the weights and computations (``dtype``)."""
        return np.float64 if self.dtype in ("float64", np.float64) else np.float32


@functools.lru_cache(maxsize=None)
def _init_parameter_names(cls):
    """Sorted names of ``cls.__init__``'s parameters, read once per class (``inspect.signature``
    takes ~40 us on the development machine, paid at every ``fit`` and ``partial_fit`` call by the parameter checks)."""
    return tuple(sorted(name for name in inspect.signature(cls.__init__).parameters if name != "self"))
