"""Exceptions and warnings of fastrnn.

scikit-learn is not a runtime dependency. When it is installed, its ``NotFittedError``,
``ConvergenceWarning`` and ``DataConversionWarning`` are used, so code that catches scikit-learn's
classes catches fastrnn's too; otherwise equivalent classes are defined here.
"""

try:  # pragma: no cover - which branch runs depends on the environment
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
except ImportError:  # pragma: no cover
    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before ``fit``."""

    class ConvergenceWarning(UserWarning):
        """The optimizer stopped at ``max_iter`` before converging."""

    class DataConversionWarning(UserWarning):
        """The input was converted to another shape or type."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the last weights with a finite loss are kept."""


__all__ = ["NotFittedError", "ConvergenceWarning", "DataConversionWarning", "TrainingDivergedError"]
