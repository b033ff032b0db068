"""Streaming inference: a fitted model fed one time step at a time (a sensor, a controller, live audio).

``stream = model.stream(n_streams=1)`` returns a :class:`Stream` (:class:`ClassifierStream` for an
:class:`~fastrnn.RNNClassifier`) that keeps every layer's recurrent state between calls:
``y_t = stream.step(x_t)`` advances it by one step and applies the head to the top layer's new state,
so ``y_t`` is what ``predict`` returns for the sequence that ends at step ``t`` (``output="last"``) or
its value at step ``t`` (``output="sequence"``). ``stream.reset()`` (or ``stream.reset(i)``) goes back
to the zero state.

A step is one compiled call for all layers and the head (:mod:`fastrnn.kernels.cpu.stream`), with the
weights packed when the stream is made, so a step costs a few microseconds. The stream holds a
snapshot of the weights: training the model afterwards does not change it (make a new stream).
"""

import numpy as np

from ._validation import as_real_array, check_positive_int
from .kernels.cells import CELL_CODES
from .kernels.cpu.stream import network_buffers, pack_network, state_views, stream_step
from .losses import log_sigmoid, log_softmax

__all__ = ["Stream", "ClassifierStream", "make_stream"]


class Stream:
    """A fitted recurrent model run one time step at a time, with its state kept between steps.

    Made by ``model.stream(n_streams)`` (:meth:`fastrnn.RNNRegressor.stream`); ``n_streams``
    independent sequences advance side by side, each with its own state, all starting from zeros
    (as ``predict`` does).

    Parameters
    ----------
    model : RNNRegressor or RNNClassifier
        A fitted model with unidirectional layers (a bidirectional layer needs the whole sequence:
        its reverse direction reads the future).
    n_streams : int, default 1
        Number of sequences run side by side.

    Attributes
    ----------
    n_streams : int
    n_features_in_ : int
        Features per time step, as the model's.
    n_outputs_ : int
        Outputs of the head per step (the model's ``n_outputs_``).
    dtype : numpy dtype
        Precision of the weights and computations (the model's ``dtype`` at fit time).
    output : {"last", "sequence"}
        The model's ``output``; either way a step's output is the head applied to the top layer's
        state after that step.

    Notes
    -----
    **Inputs.** ``x_t`` holds this step's features of every stream, shape ``(n_streams,
    n_features)``. Two shorter forms are accepted where they cannot be misread: ``(n_features,)``
    with one stream, and ``(n_streams,)`` for a univariate model (``n_features_in_ == 1``); with one
    stream and one feature, also a scalar. Anything else raises a ValueError that names ``x_t`` and
    the expected shape. Inputs of another dtype are converted (a copy); arrays already of the
    stream's dtype are used as they are. A step whose ``x_t`` holds NaN or infinity raises a
    ValueError and leaves every state unchanged. Nothing else is checked per step: the checks of
    ``predict`` cost far more than a step.

    **Outputs** follow ``predict`` with the streams as its samples, always with the stream axis
    first (also for one stream and an ``x_t`` without it): float64 ``(n_streams,)`` for one output,
    ``(n_streams, n_outputs)`` otherwise (computed in ``dtype``). Each call returns a new array.

    **Agreement with predict.** After steps ``x_0 ... x_t`` from a zero or reset state, ``step``
    returns ``predict(X[:, :t+1])`` for ``output="last"`` and ``predict(X)[:, t]`` for
    ``output="sequence"``, to rounding: the products sum in another order than the batched kernels'
    (about 1e-7 relative in float32, 1e-15 in float64), so not bitwise; the activations are the same
    (float32: the fast tanh of the kernels). A stream's values do not depend on ``n_streams``.

    **Snapshot.** The weights are copied when the stream is made: fitting the model again
    (``fit``, ``partial_fit``, ``warm_start``) does not change an existing stream; call
    ``model.stream()`` again for the new weights. Streams run on the CPU whatever the model's
    ``device``. One thread at a time per stream (its state is updated in place).

    Examples
    --------
    >>> stream = model.stream()  # doctest: +SKIP
    >>> for x_t in sensor:  # doctest: +SKIP
    ...     y_t = stream.step(x_t)  # (1,): the prediction after this step
    """

    def __init__(self, model, n_streams=1):
        model._check_is_fitted()
        self.n_streams = check_positive_int(n_streams, "n_streams")
        network = model.network_
        config = network.config()
        if config["bidirectional"]:
            raise ValueError("stream() needs unidirectional layers: a bidirectional layer's reverse direction "
                             "reads each sequence from its end, which a stream has not seen yet. Fit with "
                             "bidirectional=False to predict step by step.")
        network.sync_to_host()  # after training on a GPU, the host copy is the one to snapshot
        self.dtype = np.dtype(network.dtype)
        self.n_features_in_ = int(config["n_features"])
        self.n_outputs_ = int(config["n_outputs"])
        self.output = config["output"]
        cell = config["cell"] if config["cell"] != "rnn" else f"rnn_{config['nonlinearity']}"
        self._kind = CELL_CODES[cell]
        self._step = stream_step.of(self._kind)  # the compiled step of this cell
        layers = [tuple(layer.params[f"{name}_l0"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                  for layer in network.layers]
        head = network.head.params
        # copies: later training writes into the network's buffer, never into these
        self._weights, self._layout = pack_network(self._kind, layers, head["weight"], head["bias"], self.dtype.type)
        self._state, self._scratch = network_buffers(self._kind, self._layout, self.n_streams, self.dtype.type)
        self._input_shape = (self.n_streams, self.n_features_in_)
        self._output_shape = (self.n_streams, self.n_outputs_)
        self._scalar_input = np.zeros(self._input_shape, dtype=self.dtype)  # (1, 1): where a number goes

    # ------------------------------------------------------------------ stepping
    def step(self, x_t):
        """Advance every stream by one step; returns the model's prediction after it.

        Parameters
        ----------
        x_t : array-like, (n_streams, n_features)
            This step's inputs; also ``(n_features,)`` with one stream, ``(n_streams,)`` for a
            univariate model, a scalar for one stream of one feature (see the class Notes).

        Returns
        -------
        float64 ndarray
            (n_streams,) for one output, else (n_streams, n_outputs): ``predict`` of each stream's
            sequence so far (output="last") or its value at this step (output="sequence").

        Raises
        ------
        ValueError
            For an ``x_t`` of another shape, or holding NaN or infinity (the states are then unchanged).
        """
        out = self._advance(x_t)
        return out.reshape(self.n_streams) if self.n_outputs_ == 1 else out

    def _advance(self, x_t):
        """One step of the kernel: the head's raw outputs (n_streams, n_outputs) in float64."""
        out = np.empty(self._output_shape)
        if not self._step(self._as_input(x_t), self._weights, self._layout, self._state, self._scratch,
                           out):
            raise ValueError("x_t contains NaN or infinity; the streams' states are unchanged.")
        return out

    def _as_input(self, x_t):
        """``x_t`` as a C-contiguous (n_streams, n_features) array of the stream's dtype: the lean check
        of every step (no copy for an array of that dtype and shape)."""
        if type(x_t) is np.ndarray and x_t.dtype == self.dtype:
            x = x_t
        elif type(x_t) in (float, int) and self._input_shape == (1, 1):
            self._scalar_input[0, 0] = x_t
            return self._scalar_input
        else:
            x = as_real_array(x_t, "x_t", self.dtype.type)
        if x.shape != self._input_shape:
            x = self._reshape_input(x)
        flags = x.flags
        if flags.c_contiguous and flags.writeable and flags.aligned:
            return x
        # a copy: the kernel is compiled for C-contiguous, writeable, aligned arrays, and another kind
        # (a read-only buffer, a memory map) would compile a new specialization in the middle of a stream
        return np.array(x, order="C")

    def _reshape_input(self, x):
        n_streams, n_features = self._input_shape
        if (x.ndim == 1 and ((n_streams == 1 and x.shape[0] == n_features) or
                             (n_features == 1 and x.shape[0] == n_streams))) or \
                (x.ndim == 0 and n_streams == n_features == 1):
            return x.reshape(self._input_shape)
        accepted = [f"({n_streams}, {n_features})"]
        if n_streams == 1:
            accepted.append(f"({n_features},)")
        if n_features == 1 and n_streams > 1:
            accepted.append(f"({n_streams},)")
        if n_streams == n_features == 1:
            accepted.append("a scalar")
        raise ValueError(f"x_t must have shape (n_streams, n_features) = ({n_streams}, {n_features}) (accepted: "
                         f"{' or '.join(accepted)}), got shape {x.shape}: this stream runs {n_streams} stream(s) "
                         f"of a model fitted with n_features_in_={n_features}.")

    # ------------------------------------------------------------------ state
    def reset(self, i=None):
        """Set the state of every stream (``i`` None) or of stream ``i`` back to zeros.

        Parameters
        ----------
        i : int, optional
            The stream to reset, ``0 <= i < n_streams`` (negative counts from the end).

        Returns
        -------
        self
        """
        if i is None:
            self._state[:] = 0
            return self
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or \
                not -self.n_streams <= i < self.n_streams:
            raise ValueError(f"i must be None or an integer in [0, {self.n_streams}) (a stream), got {i!r}.")
        for h, c in self._state_views():
            h[i] = 0
            if c is not None:
                c[i] = 0
        return self

    @property
    def states(self):
        """Every layer's current state, as copies in the form of ``predict``'s ``initial_state``: a
        list with one entry per layer, ``h`` of shape (n_streams, H_k), for the LSTM a pair ``(h, c)``.
        ``predict(X_next, initial_state=stream.states)`` continues the streams' sequences."""
        return [h.copy() if c is None else (h.copy(), c.copy()) for h, c in self._state_views()]

    def _state_views(self):
        """Per layer, ``(h, c)`` views (n_streams, H_k) into the flat state (``c`` None without one)."""
        return state_views(self._kind, self._layout, self._state, self.n_streams)

    def __repr__(self):
        return (f"{type(self).__name__}(n_streams={self.n_streams}, n_features_in_={self.n_features_in_}, "
                f"n_outputs_={self.n_outputs_}, dtype={self.dtype.name})")


class ClassifierStream(Stream):
    """A fitted :class:`~fastrnn.RNNClassifier` run one time step at a time (see :class:`Stream`).

    :meth:`step` returns labels as ``predict`` does, :meth:`step_proba` probabilities as
    ``predict_proba``, :meth:`step_decision` logits as ``decision_function``; each advances the
    streams by one step, so call one of them per step.

    Attributes
    ----------
    classes_ : ndarray
        The model's class labels (a copy, taken with the weights).
    n_streams, n_features_in_, n_outputs_, dtype :
        As in :class:`Stream`.
    """

    def __init__(self, model, n_streams=1):
        super().__init__(model, n_streams)
        self.classes_ = np.array(model.classes_, copy=True)

    def step(self, x_t):
        """Advance every stream by one step; returns each stream's most probable label.

        Parameters
        ----------
        x_t : array-like, (n_streams, n_features)
            As in :meth:`Stream.step`.

        Returns
        -------
        ndarray, (n_streams,)
            Labels from ``classes_``, as ``predict`` after this step.
        """
        return self.classes_[np.argmax(self._log_proba(self._advance(x_t)), axis=-1)]

    def step_proba(self, x_t):
        """Advance every stream by one step; returns the class probabilities after it.

        Parameters
        ----------
        x_t : array-like, (n_streams, n_features)
            As in :meth:`Stream.step`.

        Returns
        -------
        ndarray, (n_streams, n_classes)
            As ``predict_proba``; columns follow ``classes_``.
        """
        return np.exp(self._log_proba(self._advance(x_t)))

    def step_decision(self, x_t):
        """Advance every stream by one step; returns the logits after it.

        Parameters
        ----------
        x_t : array-like, (n_streams, n_features)
            As in :meth:`Stream.step`.

        Returns
        -------
        float64 ndarray
            As ``decision_function``: two classes, the logit of ``classes_[1]``, (n_streams,); more
            classes, (n_streams, n_classes).
        """
        return Stream.step(self, x_t)

    def _log_proba(self, logits):
        """``predict_log_proba``'s computation on (n_streams, n_outputs) float64 logits."""
        if len(self.classes_) == 2:
            z = logits[:, 0]
            return np.stack([log_sigmoid(-z), log_sigmoid(z)], axis=-1)
        return log_softmax(logits)


def make_stream(model, n_streams=1):
    """The stream of a fitted regressor or classifier (what ``model.stream()`` returns).

    Parameters
    ----------
    model : RNNRegressor or RNNClassifier
        A fitted model with unidirectional layers.
    n_streams : int, default 1
        Sequences run side by side.

    Returns
    -------
    Stream
        A :class:`ClassifierStream` for a classifier (a model with ``classes_``), else a :class:`Stream`.
    """
    model._check_is_fitted()
    cls = ClassifierStream if hasattr(model, "classes_") else Stream
    return cls(model, n_streams)
