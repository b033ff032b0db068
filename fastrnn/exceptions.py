"""Exceptions and warnings of fastrnn.

scikit-learn is not a runtime dependency, and importing it costs 1-2 s (measured on the 2-core
development machine), so it is never imported with fastrnn. ``NotFittedError``,
``ConvergenceWarning`` and ``DataConversionWarning`` are resolved on first use (PEP 562 module ``__getattr__``): scikit-learn's own classes when it is
installed, so code that catches scikit-learn's classes catches fastrnn's too, else equivalent classes
defined here.
"""

import functools


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the last weights with a finite loss are kept."""


class _NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit``."""


class _ConvergenceWarning(UserWarning):
    """The optimizer stopped at ``max_iter`` before converging."""


class _DataConversionWarning(UserWarning):
    """The input was converted to another shape or type."""


_FALLBACKS = {"NotFittedError": _NotFittedError, "ConvergenceWarning": _ConvergenceWarning,
              "DataConversionWarning": _DataConversionWarning}


@functools.lru_cache(maxsize=None)
def _resolve(name):
    try:
        import sklearn.exceptions
    except ImportError:
        return _FALLBACKS[name]
    return getattr(sklearn.exceptions, name)


def __getattr__(name):
    if name in _FALLBACKS:
        return _resolve(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NotFittedError", "ConvergenceWarning", "DataConversionWarning", "TrainingDivergedError"]
