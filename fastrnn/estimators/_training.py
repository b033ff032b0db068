"""The one stochastic training loop of every estimator (scikit-learn's ``_fit_stochastic`` is the model).

:meth:`StochasticTraining._fit_stochastic` owns what every estimator's training shares: the epochs,
the optimizer, the gradient step (L2 penalty, gradient norm and clipping statistics, the last good
weights and the divergence stop), the curves, early stopping on a validation score with the best
weights restored, ``tol`` / ``n_iter_no_change``, the ``ConvergenceWarning``, the progress bar, the
scratch buffers, and ``warm_start`` / ``partial_fit``.

An estimator supplies only what differs, through three hooks:

- ``_epoch_batches(data)``: the mini-batches of one epoch, each with the weight its mean loss has in
  the epoch's mean (``data.total_weight`` in all);
- ``_train_batch(data, batch, step)``: one batch's forward pass, loss and backward pass, calling
  ``step(loss, n_samples, backward)`` (:class:`GradientStep`) for each parameter update it makes,
  returning the batch's mean loss;
- ``_validation_loss_and_score(data)``: with early stopping, the held-out loss and score.
"""

import os
import sys
import warnings
from typing import NamedTuple

import numpy as np

from .. import exceptions
from .._progress import ProgressBar
from ..exceptions import TrainingDivergedError
from ..optimizers import SGD, Adagrad, Adam


class TrainingData(NamedTuple):
    """What one call of :meth:`StochasticTraining._fit_stochastic` trains on.

    ``content`` is the estimator's own (its batches are made from it); ``n_samples`` counts the
    training samples of one epoch (added to ``t_``), ``total_weight`` the sum of the batches' weights
    (the denominator of the epoch's mean loss).
    """

    content: object
    n_samples: int
    total_weight: float


class GradientStep:
    """One parameter update after a forward pass and its loss, with the statistics of an epoch.

    Called as ``step(loss, n, backward)``: adds the L2 term (``alpha`` over the ``n`` samples of the
    loss) to the loss, stops on a non-finite loss before ``backward()`` fills the gradient, adds the
    L2 term's gradient, stops on a non-finite gradient norm, clips the gradient to
    ``clip_grad_norm``, keeps the current weights (which gave this finite loss) as the last good ones
    and lets the optimizer update. Returns the loss with its L2 term.
    """

    def __init__(self, estimator, last_good):
        self.estimator = estimator
        self.last_good = last_good  # weights that gave the last finite loss, on the network's device
        self.norms = []             # gradient norms before clipping, one per update this epoch
        self.n_clipped = 0

    def __call__(self, loss, n, backward):
        estimator = self.estimator
        network = estimator.network_
        backend = network.backend
        alpha = estimator.alpha
        if alpha:
            loss += 0.5 * alpha * network.weight_sum_squares() / n
        if not np.isfinite(loss):
            self._diverged(loss, "loss")
        backward()
        grad = network.grad
        if alpha:
            backend.masked_axpy(grad, network.active_params, network.weight_mask, alpha / n)
        norm = float(np.sqrt(backend.sum_squares(grad)))
        if not np.isfinite(norm):
            self._diverged(norm, "gradient norm")
        clip = estimator.clip_grad_norm
        if clip is not None and norm > clip:
            backend.scale(grad, clip / norm)
            self.n_clipped += 1
        self.norms.append(norm)
        backend.assign(self.last_good, network.active_params)
        estimator._optimizer.step([network.active_params], [grad])
        return loss

    def _diverged(self, value, what):
        """Put back the weights that gave the last finite loss (on the device and the host) and stop."""
        estimator = self.estimator
        network = estimator.network_
        network.backend.assign(network.active_params, self.last_good)
        network.sync_to_host()
        raise TrainingDivergedError(
            f"Training diverged at epoch {estimator.n_iter_ + 1}: the {what} became {value}. The last weights "
            f"that gave a finite loss are kept. Lower learning_rate_init, keep clip_grad_norm on, or "
            f"scale the inputs and targets.")


class StochasticTraining:
    """Mini-batch training shared by the estimators (see the module docstring for the hooks)."""

    def _make_optimizer(self):
        if self.solver == "adam":
            return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        if self.solver == "sgd":
            return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum)
        return Adagrad(self.learning_rate_init)

    def _start_training(self, early_stopping):
        """A first fit: empty curves and counters (the network is new)."""
        self.loss_curve_, self.grad_norm_curve_, self.clipped_fraction_curve_ = [], [], []
        self.validation_loss_curve_ = [] if early_stopping else None
        self.validation_scores_ = [] if early_stopping else None
        self.best_loss_ = None if early_stopping else np.inf
        self.best_validation_score_ = -np.inf if early_stopping else None
        self.n_iter_, self.t_ = 0, 0

    def _fit_stochastic(self, data, incremental, early_stopping=False):
        """Train ``self.network_`` (already on its device) on ``data`` (:class:`TrainingData`).

        ``incremental`` (``partial_fit``): one epoch, the optimizer state kept, the scratch buffers
        kept for the next call, no stopping rule and no ``ConvergenceWarning``. Otherwise up to
        ``max_iter`` epochs, with a new optimizer (also for ``warm_start``, as scikit-learn does),
        until the training loss (or, with ``early_stopping``, the validation score) has not improved
        by ``tol`` for more than ``n_iter_no_change`` epochs; with ``early_stopping`` the weights of
        the best validation score are restored at the end.
        """
        network = self.network_
        backend = network.backend
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
            self._no_improvement_count = 0
        n_epochs = 1 if incremental else self.max_iter
        progress = ProgressBar(n_epochs, self.verbose) if self.verbose else None
        best_params = backend.copy(network.active_params) if early_stopping else None
        last_good = backend.copy(network.active_params)
        stopped_early = False
        try:
            for epoch in range(n_epochs):
                step = GradientStep(self, last_good)
                epoch_loss = 0.0
                for batch, weight in self._epoch_batches(data):
                    with network.reusing_buffers():
                        epoch_loss += self._train_batch(data, batch, step) * weight
                self.n_iter_ += 1
                self.t_ += data.n_samples
                self.loss_curve_.append(epoch_loss / data.total_weight)
                self.grad_norm_curve_.append(float(np.mean(step.norms)))
                self.clipped_fraction_curve_.append(step.n_clipped / len(step.norms))
                extra = ""
                if early_stopping:
                    val_loss, score = self._validation_loss_and_score(data)
                    self.validation_loss_curve_.append(val_loss)
                    self.validation_scores_.append(score)
                    extra = f" val_loss {val_loss:.5g} val_score {score:.4f}"
                    improved = score >= self.best_validation_score_ + self.tol
                    if score > self.best_validation_score_:
                        self.best_validation_score_ = score
                        backend.assign(best_params, network.active_params)
                else:
                    if self.best_loss_ is None:  # partial_fit of an early-stopping model: no data held out
                        self.best_loss_ = np.inf
                    improved = self.loss_curve_[-1] <= self.best_loss_ - self.tol
                    self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
                self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
                if progress:
                    progress.update(epoch + 1, self.loss_curve_[-1], extra)
                if not incremental and self._no_improvement_count > self.n_iter_no_change:
                    stopped_early = True
                    break
        except TrainingDivergedError:  # the last good weights are already back in place
            network.release_buffers()
            if progress:
                progress.close()
            raise
        if early_stopping:
            backend.assign(network.active_params, best_params)
        network.sync_to_host()
        if not incremental:  # partial_fit keeps the training buffers for its next call
            network.release_buffers()
        if progress:
            message = ""
            if stopped_early:
                what = "Validation score" if early_stopping else "Training loss"
                message = (f"{what} did not improve more than tol={self.tol} for {self.n_iter_no_change} "
                           f"consecutive epochs. Stopping.")
            progress.close(message)
        if not incremental and not stopped_early:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          f"optimization hasn't converged yet.", exceptions.ConvergenceWarning,
                          stacklevel=_stacklevel_of_caller())
        return self


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _stacklevel_of_caller():
    """The ``stacklevel`` that makes a warning issued by the function calling this one point at the
    first frame outside fastrnn (the user's ``fit`` call), however deep inside fastrnn it is issued."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


__all__ = ["GradientStep", "StochasticTraining", "TrainingData"]
