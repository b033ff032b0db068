"""Character-level language model: train on text, sample new text, measure perplexity.

The one-to-many shape of the recurrent models: after training to predict every next character, the
model generates text one character at a time, each sample fed back as the next input (as in
Karpathy's char-rnn, "The Unreasonable Effectiveness of Recurrent Neural Networks", 2015).

Training is stateful truncated BPTT: the text is cut into ``batch_size`` contiguous streams that are
read side by side in chunks of ``seq_length`` characters; each chunk starts from the hidden state the
previous chunk ended in (carried forward, not backpropagated through) and makes one update.

Conditioned on a vector (the captioning shape): given ``features`` in fit, every text is one sequence
whose initial states are computed from its feature vector by learned linear maps; the model reads a
start symbol and learns to write the text and then an end symbol. ``sample(features=...)`` writes
the text for a new vector.
"""

from functools import partial
from typing import NamedTuple

import numpy as np

from .._network import build_network
from .._packing import sort_by_length
from .._validation import as_generator, as_real_array, check_finite, check_step
from ..inspection import gradient_flow, head_gradient, network_internals
from ..losses import log_softmax
from ._baseline import cross_entropy_baseline
from .._persistence import SaveMixin
from .._torch_export import TorchExportMixin
from ._params import EstimatorParams
from ._training import BatchUpdate, StochasticTraining, TrainingData

_TEXT_SEPARATOR = "\n"  # joins the texts of a list into one stream


class _TextStreams(NamedTuple):
    """One text cut into streams read side by side (time-major codes), and the state carried from
    one chunk to the next within an epoch (``carried[0]``)."""

    inputs: np.ndarray   # (L, B) character codes
    targets: np.ndarray  # (L, B) the next characters
    carried: list


class _ConditionedTexts(NamedTuple):
    """Texts with their feature vectors, one sequence each."""

    codes: list           # (n_chars_i,) code arrays
    lengths: np.ndarray   # (n,) steps of each sequence: characters + the start/end symbol
    features: np.ndarray  # (n, n_features)


class CharRNN(EstimatorParams, StochasticTraining, SaveMixin, TorchExportMixin):
    """Character-level recurrent language model (one-hot characters in, softmax over the next one out).

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}, default "lstm"
        Recurrent cell.
    hidden_sizes : tuple of int, default (128,)
        Units of each stacked layer.
    seq_length : int, default 100
        Characters per truncated-BPTT chunk (how far back each update's gradient reaches).
    batch_size : int, default 32
        Parallel streams the text is cut into (fewer for short texts).
    max_iter : int, default 20
        Epochs (passes over the text).
    learning_rate_init : float, default 0.002
    clip_grad_norm : float or None, default 5.0
        Global gradient-norm clipping (char-rnn's usual safeguard).
    device, dtype, solver, alpha, tol, n_iter_no_change, momentum, nesterovs_momentum, beta_1,
    beta_2, epsilon, random_state, warm_start, verbose :
        As in :class:`fastrnn.RNNRegressor` (``alpha`` defaults to 0 here).

    Attributes
    ----------
    vocabulary_ : list of str
        The characters seen in fit, sorted; the model's inputs and outputs.
    n_conditions_ : int or None
        Length of the feature vectors the model was fitted with (None without features).
    loss_curve_ : list of float
        Mean cross-entropy per character (nats) per epoch.
    grad_norm_curve_, clipped_fraction_curve_, n_iter_, best_loss_, t_ :
        As in :class:`fastrnn.RNNRegressor` (``t_`` counts the characters predicted, or with
        features the texts).
    baseline_loss_ : float
        Cross-entropy of predicting every character by its frequency in the text (with features,
        also the end symbol): what a model that learned no context scores.
    network_ : SequenceNetwork
        The layers and the softmax head.

    Examples
    --------
    >>> from fastrnn import CharRNN
    >>> model = CharRNN(hidden_sizes=(32,), seq_length=20, max_iter=2, random_state=0)  # doctest: +SKIP
    >>> model.fit("the cat sat on the mat. " * 50).sample(40, prime="the ", random_state=0)  # doctest: +SKIP
    """

    def __init__(self, cell="lstm", hidden_sizes=(128,), seq_length=100, device="auto", dtype="float32",
                 solver="adam", learning_rate_init=0.002, batch_size=32, max_iter=20, alpha=0.0, clip_grad_norm=5.0,
                 tol=1e-4, n_iter_no_change=10, momentum=0.9, nesterovs_momentum=True, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, random_state=None, warm_start=False, verbose=False):
        self._store_parameters(locals())

    # ------------------------------------------------------------------ text <-> indices
    @staticmethod
    def _join(text, name="X"):
        if isinstance(text, str):
            return text
        if isinstance(text, (list, tuple)) and text and all(isinstance(t, str) for t in text):
            return _TEXT_SEPARATOR.join(text)
        raise ValueError(f"{name} must be a str or a non-empty list of str, got {type(text).__name__}.")

    def _encode(self, text, name):
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(f"{name} contains characters not seen in fit: {''.join(unknown)!r}.")
        return np.fromiter((self._index[ch] for ch in text), dtype=np.int64, count=len(text))

    def _one_hot(self, codes_tm):
        """(T, B) character codes -> (T, B, V) one-hot inputs in the model's dtype (V + 1 with the
        start symbol of the conditioned model, code V)."""
        x = np.zeros(codes_tm.shape + (self._n_symbols,), dtype=self._float_type)
        np.put_along_axis(x, codes_tm[..., np.newaxis], 1.0, axis=-1)
        return x

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, features=None):
        """Train on a text, or on texts conditioned on feature vectors.

        Parameters
        ----------
        X : str or list of str
            The training text; a list is joined with newlines into one text. With ``features``: a
            list of texts, one sequence each.
        y : None
            Ignored (the targets are the text's next characters).
        features : array-like, (n_texts, n_features), optional
            One vector per text of ``X``: the model learns to write each text from its vector
            (its initial states are computed from it), as a captioning model writes a caption from
            an image's features.

        Returns
        -------
        self
        """
        data, _ = self._training_data(X, y, features)
        return self._fit_stochastic(data, incremental=False)

    def _training_data(self, X, y=None, features=None):
        """Check the text(s), build the network on a first fit (a new one unless ``warm_start``) and put
        it on its device; returns the :class:`~._training.TrainingData` and False (no early stopping)."""
        self._validate_params()
        if features is not None:
            return self._conditioned_data(X, features), False
        if self.__sklearn_is_fitted__() and self.warm_start and self._conditioned:
            raise ValueError("this CharRNN was fitted with features: pass features again to continue training.")
        text = self._join(X)
        if len(text) < 2:
            raise ValueError(f"X must hold at least 2 characters to learn from, got {len(text)}.")
        first_fit = not self.__sklearn_is_fitted__() or not self.warm_start
        if first_fit:
            self.vocabulary_ = sorted(set(text))
            self._index = {ch: i for i, ch in enumerate(self.vocabulary_)}
            self._conditioned, self._n_symbols, self.n_conditions_ = False, len(self.vocabulary_), None
            self._rng = as_generator(self.random_state)
            self.network_ = build_network(*self._network_spec(), self._rng)
            self._start_training(early_stopping=False)
        codes = self._encode(text, "X")
        n_streams = max(1, min(self.batch_size, (codes.size - 1) // self.seq_length))
        stream_length = (codes.size - 1) // n_streams
        inputs = codes[:n_streams * stream_length].reshape(n_streams, stream_length).T  # (L, B), time-major
        targets = codes[1:n_streams * stream_length + 1].reshape(n_streams, stream_length).T
        self.network_.to(self.device)
        data = TrainingData(_TextStreams(inputs, targets, [None]), n_streams * stream_length, stream_length,
                            cross_entropy_baseline(targets, self._n_symbols))
        return data, False

    def _conditioned_data(self, X, features):
        """:meth:`_training_data` with one feature vector per text (see the module docstring)."""
        if not (isinstance(X, (list, tuple)) and X and all(isinstance(t, str) and t for t in X)):
            raise ValueError("with features, X must be a non-empty list of non-empty texts, one per feature vector.")
        features = as_real_array(features, "features", self._float_type)
        if features.ndim != 2 or features.shape[0] != len(X):
            raise ValueError(f"features must have shape (n_texts, n_features) = ({len(X)}, ...), got {features.shape}.")
        check_finite(features, "features")
        first_fit = not self.__sklearn_is_fitted__() or not self.warm_start
        if first_fit:
            self.vocabulary_ = sorted(set("".join(X)))
            self._index = {ch: i for i, ch in enumerate(self.vocabulary_)}
            self._conditioned, self._n_symbols, self.n_conditions_ = True, len(self.vocabulary_) + 1, features.shape[1]
            self._rng = as_generator(self.random_state)
            self.network_ = build_network(*self._network_spec(), self._rng)
            self._start_training(early_stopping=False)
        elif not self._conditioned or features.shape[1] != self.n_conditions_:
            raise ValueError(f"warm_start needs the same kind of training: features of {self.n_conditions_} values.")
        codes = [self._encode(text, f"X[{i}]") for i, text in enumerate(X)]
        lengths = np.array([c.size + 1 for c in codes], dtype=np.int64)  # + the start (input) / end (target) symbol
        self.network_.to(self.device)
        end_symbols = np.full(len(codes), len(self.vocabulary_))  # each text's last target
        baseline = cross_entropy_baseline(np.concatenate(codes + [end_symbols]), self._n_symbols)
        return TrainingData(_ConditionedTexts(codes, lengths, features), len(X), len(X), baseline)

    def _network_spec(self):
        """The class and ``config()`` of the network this fitted model has (built on a first fit;
        checked against a saved file's): one-hot symbols in and out, and with features the bridges."""
        config = {"cell": self.cell, "nonlinearity": "tanh", "n_features": self._n_symbols,
                  "hidden_sizes": [int(s) for s in self.hidden_sizes], "n_outputs": self._n_symbols,
                  "output": "sequence", "dtype": np.dtype(self._float_type).name}
        if self._conditioned:
            return "ConditionedSequenceNetwork", dict(config, n_conditions=self.n_conditions_)
        return "SequenceNetwork", dict(config, bidirectional=False)

    # ------------------------------------------------------------------ hooks of the training loop
    def _epoch_batches(self, data):
        """Plain text: the chunks of ``seq_length`` steps in time order (the state carries over from
        one to the next; it starts from zeros every epoch). With features: shuffled batches of texts,
        each sorted by decreasing length."""
        content = data.content
        if isinstance(content, _TextStreams):
            content.carried[0] = None
            stream_length = content.inputs.shape[0]
            for start in range(0, stream_length, self.seq_length):
                chunk = slice(start, min(start + self.seq_length, stream_length))
                yield chunk, chunk.stop - chunk.start
            return
        n = len(content.codes)
        order = self._rng.permutation(n)
        batch = min(self.batch_size, n)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            yield index[sort_by_length(content.lengths[index])[0]], len(index)

    def _batch_updates(self, data, batch):
        """One update on a chunk of the streams (from the state the previous chunk ended in), or on a
        batch of conditioned texts (teacher forcing, the padding weighted 0)."""
        content = data.content
        network = self.network_
        backend = network.backend
        if isinstance(content, _TextStreams):
            x = backend.asarray(self._one_hot(content.inputs[batch]), self._float_type)
            outputs, tape = network.forward(x, content.carried[0])
            targets = backend.asarray(content.targets[batch], content.targets.dtype)
            loss, d_outputs = self._loss(backend, outputs, targets)
            yield BatchUpdate(loss, x.shape[1], partial(network.backward, tape, backend.asarray(d_outputs, network.dtype)))
            content.carried[0] = network.final_states(tape)
            return
        inputs, targets, weights = self._teacher_forcing([content.codes[i] for i in batch])
        x = backend.asarray(self._one_hot(inputs), self._float_type)
        outputs, tape = network.forward(x, content.features[batch], content.lengths[batch])
        loss, d_outputs = self._loss(backend, outputs, backend.asarray(targets, targets.dtype),
                                     backend.asarray(weights, weights.dtype))
        yield BatchUpdate(loss, len(batch), partial(network.backward, tape, backend.asarray(d_outputs, network.dtype)))

    def _teacher_forcing(self, codes):
        """Time-major inputs (start, text), targets (text, end) and weights for a batch of texts."""
        end = len(self.vocabulary_)
        steps = max(c.size for c in codes) + 1
        inputs = np.full((steps, len(codes)), end, dtype=np.int64)  # the start symbol shares code V
        targets = np.full((steps, len(codes)), end, dtype=np.int64)
        weights = np.zeros((steps, len(codes)), dtype=self._float_type)
        for b, c in enumerate(codes):
            inputs[1:c.size + 1, b] = c
            targets[:c.size, b] = c
            weights[:c.size + 1, b] = 1.0
        return inputs, targets, weights

    _baseline_description = "predicting each character's frequency"

    def _loss(self, backend, outputs, targets, weights=None):
        """Cross-entropy of the next characters and its gradient, computed on ``backend``."""
        return backend.softmax_cross_entropy(outputs, targets, weights)

    # ------------------------------------------------------------------ using the model
    def _run(self, codes_tm, states):
        """Logits (T, B, V) on the host for time-major codes, and the states after the last step."""
        network = self.network_
        x = network.backend.asarray(self._one_hot(codes_tm), self._float_type)
        if self._conditioned:
            logits, tape = network.continue_from(x, states)
        else:
            logits, tape = network.forward(x, states, train=False)
        return network.backend.to_host(logits).astype(np.float64), network.final_states(tape)

    def _check_features(self, features, n):
        """Validate the feature vectors given to sample/perplexity: required exactly when fitted with them."""
        if not self._conditioned:
            if features is not None:
                raise ValueError("this CharRNN was fitted without features; do not pass features.")
            return None
        if features is None:
            raise ValueError("this CharRNN was fitted with features: pass the feature vector(s).")
        features = as_real_array(features, "features", self._float_type).reshape(n, -1)
        if features.shape[1] != self.n_conditions_:
            raise ValueError(f"features must hold {self.n_conditions_} values per text, got {features.shape[1]}.")
        check_finite(features, "features")
        return features

    # ------------------------------------------------------------------ inspection
    def _texts(self, X, features):
        """Time-major input codes (T, B) of a text or list of texts (a conditioned model's with the start
        symbol first), their lengths (None when equal), the features checked, and the texts' codes."""
        texts = [X] if isinstance(X, str) else X
        if not (isinstance(texts, (list, tuple)) and texts and all(isinstance(t, str) and t for t in texts)):
            raise ValueError(f"X must be a non-empty str or a non-empty list of non-empty str, got "
                             f"{type(X).__name__}.")
        features = self._check_features(features, len(texts))
        codes = [self._encode(text, f"X[{i}]") for i, text in enumerate(texts)]
        if self._conditioned:
            codes = [np.concatenate([[len(self.vocabulary_)], c]) for c in codes]
        lengths = np.array([c.size for c in codes], dtype=np.int64)
        inputs = np.zeros((lengths.max(), len(codes)), dtype=np.int64)
        for b, c in enumerate(codes):
            inputs[:c.size, b] = c
        return inputs, (None if np.all(lengths == lengths[0]) else lengths), features

    def inspect(self, X, features=None):
        """The states and gate activations of every layer at every character of a text.

        Parameters
        ----------
        X : str or list of str
            Text(s) the model reads, each from a zero state (a conditioned model: from its feature
            vector's states, after the start symbol, which is then the first step).
        features : array-like, (n_texts, n_features), optional
            For a model fitted with features: one vector per text.

        Returns
        -------
        list of dict
            One dict per layer, bottom first: name -> float64 array (n_texts, n_steps, H), as in
            :meth:`fastrnn.RNNRegressor.inspect` (``"h"``, the LSTM's ``"c"``, the gates); step
            ``t`` is the state after reading character ``t``. NaN past a shorter text's end.
        """
        self._check_is_fitted()
        inputs, lengths, features = self._texts(X, features)
        order = sorted_lengths = None
        if lengths is not None:  # the kernels take a batch sorted by decreasing length
            order = sort_by_length(lengths)[0]
            inputs, sorted_lengths = inputs[:, order], lengths[order]
            features = None if features is None else features[order]
        network = self.network_.to(self.device)
        x = network.backend.asarray(self._one_hot(inputs), self._float_type)
        if self._conditioned:
            _, tape = network.forward(x, features, sorted_lengths, train=True)
        else:
            _, tape = network.forward(x, None, sorted_lengths, train=True)
        return network_internals(network, tape, order, sorted_lengths)

    def gradient_flow(self, X, step=-1, per_sample=False, features=None):
        """How much of the gradient of one prediction's loss reaches each earlier step of each layer.

        The loss is the cross-entropy of predicting the character after ``step`` (by default the
        text's last character, from all the others); the result holds ``||dL/dh_t||`` per layer for
        every step ``t <= step``, by BPTT (see :meth:`fastrnn.RNNRegressor.gradient_flow`).

        Parameters
        ----------
        X : str or list of str
            Text(s) of equal length, at least 2 characters.
        step : int, default -1
            The step whose next character is predicted, counted over the inputs (the text without
            its last character; a conditioned model's inputs start with the start symbol and its
            last target is the end symbol); negative counts from the end.
        per_sample : bool, default False
            Keep one row per text instead of the mean.
        features : array-like, (n_texts, n_features), optional
            For a model fitted with features.

        Returns
        -------
        fastrnn.inspection.GradientFlow
        """
        self._check_is_fitted()
        inputs, lengths, features = self._texts(X, features)
        if lengths is not None:
            raise ValueError("gradient_flow needs texts of equal length.")
        end = len(self.vocabulary_)
        targets = np.concatenate([inputs[1:], np.full((1, inputs.shape[1]), end)]) if self._conditioned \
            else inputs[1:]
        if not self._conditioned:
            inputs = inputs[:-1]
        if inputs.shape[0] == 0:
            raise ValueError("X must hold at least 2 characters.")
        step = check_step(step, inputs.shape[0])
        network = self.network_.to(self.device)
        backend = network.backend
        initial = None
        if self._conditioned:
            initial = [(backend.to_host(h)[0], None if c is None else backend.to_host(c)[0])
                       for h, c in network.initial_states(backend.asarray(features, self._float_type))]
        layers = [(layer, network._param_views[k]) for k, layer in enumerate(network.layers)]
        return gradient_flow(layers, self._one_hot(inputs), step, lambda h_top: head_gradient(self, h_top,
                             targets[step]), backend, per_sample, initial)

    def sample(self, n_chars, prime="", temperature=1.0, random_state=None, features=None):
        """Generate text one character at a time, each drawn character fed back as the next input.

        Parameters
        ----------
        n_chars : int
            Characters to generate.
        prime : str, default ""
            Text the model reads first (its characters must be in ``vocabulary_``); the sample
            continues it. Empty: the model starts from a zero state after reading a space (or the
            first character of ``vocabulary_`` when the text had no space).
        temperature : float, default 1.0
            Divides the logits: below 1 sharper, more conservative text; above 1 more surprising.
        random_state : None, int or numpy Generator
            Seed of the draws.
        features : array-like, (n_features,)
            The vector to write from, for a model fitted with features (required there). Generation
            then stops early at the end symbol.

        Returns
        -------
        str
            The ``n_chars`` generated characters (without the prime); fewer when a conditioned
            model writes its end symbol.
        """
        self._check_is_fitted()
        n_chars = int(n_chars)
        if n_chars < 0:
            raise ValueError(f"n_chars must be >= 0, got {n_chars}.")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}.")
        rng = as_generator(random_state)
        features = self._check_features(features, 1)
        network = self.network_.to(self.device)
        if self._conditioned:  # the vector's states, then the start symbol and the prime
            states = network.initial_states(network.backend.asarray(features, self._float_type))
            codes = np.concatenate([[len(self.vocabulary_)], self._encode(prime, "prime")])
            logits, states = self._run(codes[:, np.newaxis], states)
        elif prime:
            logits, states = self._run(self._encode(prime, "prime")[:, np.newaxis], None)
        else:  # no context: the model's prediction after a space from a zero state
            logits, states = self._run(np.array([[self._index.get(" ", 0)]]), None)
        logits = logits[-1, 0]
        generated = []
        for _ in range(n_chars):
            log_p = log_softmax(logits / temperature)
            code = int(rng.choice(self._n_symbols, p=np.exp(log_p) / np.exp(log_p).sum()))
            if code == len(self.vocabulary_):  # the end symbol of a conditioned model
                break
            generated.append(self.vocabulary_[code])
            logits, states = self._run(np.array([[code]]), states)
            logits = logits[0, 0]
        return "".join(generated)

    def perplexity(self, X, features=None):
        """Perplexity of the model on a text: exp(mean cross-entropy of each next character).

        Parameters
        ----------
        X : str or list of str
            The text (a list is joined with newlines, as in fit); every character must be in
            ``vocabulary_``. With features: a list of texts.
        features : array-like, (n_texts, n_features)
            For a model fitted with features: each text's vector (the end symbol then counts as
            one more character to predict).

        Returns
        -------
        float
            1 for a perfect model, ``len(vocabulary_)`` for uniform guessing.
        """
        self._check_is_fitted()
        if self._conditioned:
            return self._conditioned_perplexity(X, features)
        self._check_features(features, 1)
        codes = self._encode(self._join(X), "X")
        if codes.size < 2:
            raise ValueError("X must hold at least 2 characters.")
        self.network_.to(self.device)
        states, total = None, 0.0
        for start in range(0, codes.size - 1, self.seq_length):  # chunks bound memory; the state carries over
            stop = min(start + self.seq_length, codes.size - 1)
            logits, states = self._run(codes[start:stop, np.newaxis], states)
            log_p = log_softmax(logits[:, 0])
            total -= float(np.sum(log_p[np.arange(stop - start), codes[start + 1:stop + 1]]))
        return float(np.exp(total / (codes.size - 1)))

    def _conditioned_perplexity(self, X, features):
        if not isinstance(X, (list, tuple)) or not X:
            raise ValueError("with features, X must be a non-empty list of texts, one per feature vector.")
        features = self._check_features(features, len(X))
        codes = [self._encode(text, f"X[{i}]") for i, text in enumerate(X)]
        network = self.network_.to(self.device)
        total, count = 0.0, 0
        for i, c in enumerate(codes):
            inputs, targets, _ = self._teacher_forcing([c])
            logits, _ = network.forward(network.backend.asarray(self._one_hot(inputs), self._float_type),
                                        features[i:i + 1], train=False)
            logits = network.backend.to_host(logits)
            log_p = log_softmax(logits.astype(np.float64)[:, 0])
            total -= float(np.sum(log_p[np.arange(c.size + 1), targets[:, 0]]))
            count += c.size + 1
        return float(np.exp(total / count))

    def __sklearn_tags__(self):
        tags = self._base_tags()
        tags.target_tags.required = False
        return tags
