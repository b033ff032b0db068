"""Exceptions and warnings of fastrnn.

scikit-learn is not a runtime dependency, and importing it costs 1-2 s (measured on the 2-core
development machine), so it is never imported with fastrnn. ``NotFittedError``,
``ConvergenceWarning`` and ``DataConversionWarning`` are resolved on first use (PEP 562 module ``__getattr__``): scikit-learn's own classes when it is
installed, so code that catches scikit-learn's classes catches fastrnn's too, else equivalent classes
defined here.
"""

import functools
import os
import sys


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def stacklevel_outside_fastrnn():
    """The ``stacklevel`` that makes a warning issued by the function calling this one point at the
    first frame outside fastrnn (the user's ``fit`` call), however deep inside fastrnn it is issued."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the last weights with a finite loss are kept."""


class WorkerLostError(RuntimeError):
    """A Dask worker holding part of a data-parallel fit was lost. The model keeps the weights of the
    last update that every worker completed."""


class _NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit``."""


class _ConvergenceWarning(UserWarning):
    """Training ended at ``max_iter`` before converging, or with a model no better than a constant
    prediction."""


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


__all__ = ["NotFittedError", "ConvergenceWarning", "DataConversionWarning", "TrainingDivergedError",
           "WorkerLostError"]
