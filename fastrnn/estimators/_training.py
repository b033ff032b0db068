"""The one stochastic training loop of every estimator (scikit-learn's ``_fit_stochastic`` is the model).

:meth:`StochasticTraining._fit_stochastic` owns what every estimator's training shares: the epochs,
the optimizer, the gradient step (L2 penalty, gradient norm and clipping statistics, the last good
weights and the divergence stop), the curves, early stopping on a validation score with the best
weights restored, ``tol`` / ``n_iter_no_change``, the ``ConvergenceWarning``, the progress bar, the
scratch buffers, and ``warm_start`` / ``partial_fit``.

An estimator supplies only what differs, through four hooks:

- ``_training_data(X, y, ...)``: checks the data of ``fit`` and builds the network on a first fit,
  returning the :class:`TrainingData` and whether early stopping holds part of it out (the gradient
  check of :mod:`fastrnn.gradient_check` prepares its data through it too);
- ``_epoch_batches(data)``: the mini-batches of one epoch, each with the weight its mean loss has in
  the epoch's mean (``data.total_weight`` in all);
- ``_batch_updates(data, batch)``: a generator of the batch's parameter updates, one
  :class:`BatchUpdate` each (its forward pass and loss, and the backward pass that fills the
  gradient), made in order: the next update's forward pass runs after the previous update changed
  the weights (truncated BPTT makes one update per chunk of time);
- ``_validation_loss_and_score(data)``: with early stopping, the held-out loss and score.

:meth:`StochasticTraining._train_batch` turns a batch's updates into optimizer steps
(:class:`GradientStep`). Data-parallel training (:mod:`fastrnn.dask`) runs the same loop with its own
``_epoch_batches``, ``_train_batch`` and ``_validation_loss_and_score`` (the ``hooks`` of
:meth:`StochasticTraining._fit_stochastic`), whose workers run ``_batch_updates`` on their shares.

Each estimator also puts in :class:`TrainingData` the loss of the best constant prediction for its
targets (``baseline_loss``, from :mod:`._baseline`): the scale of ``tol``, the level below which the
stopping rule does not stop, and the yardstick of the "learned nothing" ``ConvergenceWarning``.

The stopping rule, and why it differs from scikit-learn's ``MLP`` (absolute ``tol`` on the training
loss, ``n_iter_no_change`` epochs): a recurrent network's loss often sits on a plateau at the
constant prediction's level for many updates before it starts to fall (thousands of updates on a
long-range task), and a small data set gives only a few updates per epoch, so ten epochs without an
improvement of 1e-4 can end a fit at chance, silently. Here

- an improvement must exceed ``tol * baseline_loss_`` (a fraction of the loss's own scale, so that
  targets in small units are not stopped early),
- the epochs without improvement must also span at least ``_UPDATES_PER_EPOCH_OF_PATIENCE *
  n_iter_no_change`` optimizer updates,
- and no fit stops for lack of improvement while its best training loss is within
  ``CHANCE_MARGIN`` of the baseline: the patience counts from the first epoch below that level, and
  only ``max_iter`` ends a fit that has not left the plateau.
"""

import warnings
from typing import NamedTuple

import numpy as np

from .. import exceptions
from .._progress import ProgressBar
from ..exceptions import TrainingDivergedError, stacklevel_outside_fastrnn
from ..optimizers import SGD, Adagrad, Adam

# A loss above (1 - CHANCE_MARGIN) * baseline_loss_ is "not clearly below" the best constant prediction.
CHANCE_MARGIN = 0.05
# The epochs without improvement that stop a fit must span at least this many updates per epoch of
# n_iter_no_change (100 updates by default: an epoch of a 50-sample data set is 2 updates).
_UPDATES_PER_EPOCH_OF_PATIENCE = 10


class TrainingData(NamedTuple):
    """What one call of :meth:`StochasticTraining._fit_stochastic` trains on.

    ``content`` is the estimator's own (its batches are made from it); ``n_samples`` counts the
    training samples of one epoch (added to ``t_``), ``total_weight`` the sum of the batches' weights
    (the denominator of the epoch's mean loss); ``baseline_loss`` is the loss of the best constant
    prediction for the training targets (``baseline_loss_``), ``validation_baseline_loss`` (with
    early stopping) that constant's loss on the held-out targets.
    """

    content: object
    n_samples: int
    total_weight: float
    baseline_loss: float
    validation_baseline_loss: float = None


class BatchUpdate(NamedTuple):
    """One parameter update of a batch, as ``_batch_updates`` yields it (after its forward pass)."""

    loss: float        # the mean loss of the forward pass, over the batch's sequences (and steps)
    n_samples: int     # sequences in the batch (the L2 term's denominator)
    backward: object   # backward(): fills network_.grad with the gradient of ``loss``
    n_steps: int = 1   # time steps ``loss`` averages over, its weight in the batch's mean loss


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
        self._best_training_loss = np.inf  # also with early stopping: the plateau guard reads it
        self.n_iter_, self.t_ = 0, 0

    def _train_batch(self, data, batch, step):
        """Make the updates of one batch (``_batch_updates``), each through ``step``
        (:class:`GradientStep`); returns the batch's mean loss (over its steps)."""
        loss_sum, n_steps = 0.0, 0
        for update in self._batch_updates(data, batch):
            loss_sum += step(update.loss, update.n_samples, update.backward) * update.n_steps
            n_steps += update.n_steps
        return loss_sum / n_steps

    def _fit_stochastic(self, data, incremental, early_stopping=False, hooks=None):
        """Train ``self.network_`` (already on its device) on ``data`` (:class:`TrainingData`).

        ``incremental`` (``partial_fit``): one epoch, the optimizer state kept, the scratch buffers
        kept for the next call, no stopping rule and no ``ConvergenceWarning``. Otherwise up to
        ``max_iter`` epochs, with a new optimizer (also for ``warm_start``, as scikit-learn does),
        until the stopping rule of the module docstring ends the fit; with ``early_stopping`` the
        improvements are those of the validation score (by ``tol``: scores have no units) and the
        weights of the best validation score are restored at the end.

        ``hooks``: the object whose ``_epoch_batches``, ``_train_batch`` and
        ``_validation_loss_and_score`` make the epochs (this estimator by default; data-parallel
        training passes its own, which spread each batch over workers).
        """
        hooks = self if hooks is None else hooks
        network = self.network_
        backend = network.backend
        self.baseline_loss_ = data.baseline_loss
        if not hasattr(self, "_best_training_loss"):  # a model fitted by an older fastrnn
            self._best_training_loss = min(self.loss_curve_, default=np.inf)
            self._updates_without_improvement = 0
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
            self._no_improvement_count, self._updates_without_improvement = 0, 0
        n_epochs = 1 if incremental else self.max_iter
        progress = ProgressBar(n_epochs, self.verbose) if self.verbose else None
        best_params = backend.copy(network.active_params) if early_stopping else None
        last_good = backend.copy(network.active_params)
        stopped_early = False
        try:
            for epoch in range(n_epochs):
                step = GradientStep(self, last_good)
                epoch_loss = 0.0
                for batch, weight in hooks._epoch_batches(data):
                    with network.reusing_buffers():
                        epoch_loss += hooks._train_batch(data, batch, step) * weight
                self.n_iter_ += 1
                self.t_ += data.n_samples
                loss = epoch_loss / data.total_weight
                self.loss_curve_.append(loss)
                self.grad_norm_curve_.append(float(np.mean(step.norms)))
                self.clipped_fraction_curve_.append(step.n_clipped / len(step.norms))
                extra = ""
                if early_stopping:
                    val_loss, score = hooks._validation_loss_and_score(data)
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
                    improved = loss <= self.best_loss_ - self.tol * _loss_scale(data.baseline_loss)
                    self.best_loss_ = min(self.best_loss_, loss)
                self._best_training_loss = min(self._best_training_loss, loss)
                # patience counts from the first epoch clearly below the baseline, not on the plateau
                if improved or _near_baseline(self._best_training_loss, data.baseline_loss):
                    self._no_improvement_count, self._updates_without_improvement = 0, 0
                else:
                    self._no_improvement_count += 1
                    self._updates_without_improvement += len(step.norms)
                if progress:
                    progress.update(epoch + 1, loss, extra)
                if not incremental and self._patience_is_over():
                    stopped_early = True
                    break
        except BaseException:  # diverged (the last good weights are back in place), a lost worker, an interrupt
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
                if early_stopping:
                    what = f"Validation score did not improve by more than tol={self.tol}"
                else:
                    what = (f"Training loss did not improve by more than tol * baseline_loss_ = "
                            f"{self.tol * _loss_scale(self.baseline_loss_):.3g}")
                message = (f"{what} for {self._no_improvement_count} epochs ({self._updates_without_improvement} "
                           f"updates). Stopping.")
            progress.close(message)
        if not incremental:
            self._warn_if_not_converged(stopped_early, early_stopping, data)
        return self

    def _patience_is_over(self):
        """The stopping rule (module docstring): enough epochs and updates without improvement (both
        counters stay at 0 while the best training loss is near the baseline)."""
        return (self._no_improvement_count > self.n_iter_no_change
                and self._updates_without_improvement >= _UPDATES_PER_EPOCH_OF_PATIENCE * self.n_iter_no_change)

    def _warn_if_not_converged(self, stopped_early, early_stopping, data):
        """The ``ConvergenceWarning`` at the end of a fit: the model is no better than a constant
        prediction (on the held-out data with early stopping), or ``max_iter`` ended it."""
        if early_stopping:
            best = int(np.argmax(self.validation_scores_))
            final, where = self.validation_loss_curve_[best], "validation loss"
            baseline = data.validation_baseline_loss
            yardstick = f"{baseline:.4g}, the held-out loss of {self._baseline_description} of the training data"
        else:
            final, where = self.loss_curve_[-1], "training loss"
            baseline = self.baseline_loss_
            yardstick = f"baseline_loss_={baseline:.4g}, the loss of {self._baseline_description}"
        if _near_baseline(final, baseline):
            how = "stopped" if stopped_early else "reached max_iter"
            warnings.warn(
                f"{type(self).__name__} learned (almost) nothing: its {where} {final:.4g} is not clearly below "
                f"{yardstick}. It {how} "
                f"after {self.n_iter_} epochs. A recurrent network's loss can stay at this level for many "
                f"updates before it falls: raise max_iter (and n_iter_no_change), try another "
                f"learning_rate_init, or check that the inputs are scaled and relate to the targets.",
                exceptions.ConvergenceWarning, stacklevel=stacklevel_outside_fastrnn())
        elif not stopped_early:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          f"optimization hasn't converged yet.", exceptions.ConvergenceWarning,
                          stacklevel=stacklevel_outside_fastrnn())


def _loss_scale(baseline_loss):
    """The scale of ``tol`` on the training loss: the baseline loss (1 when the targets are constant)."""
    return baseline_loss if baseline_loss > 0 else 1.0


def _near_baseline(loss, baseline_loss):
    """Whether ``loss`` is not clearly below ``baseline_loss`` (never, when a constant is exact)."""
    return baseline_loss > 0 and loss > (1.0 - CHANCE_MARGIN) * baseline_loss


__all__ = ["CHANCE_MARGIN", "BatchUpdate", "GradientStep", "StochasticTraining", "TrainingData"]
