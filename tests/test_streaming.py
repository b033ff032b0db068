"""Streaming inference (fastrnn.streaming): a fitted model fed one step at a time gives what predict
gives on the whole sequence, for every cell, stacked layers, both outputs, the regressor and the
classifier; reset, the snapshot of the weights, the input rules and errors, and the Numba cache."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from helpers import rel_error
from fastrnn import RNNClassifier, RNNRegressor
from fastrnn.exceptions import NotFittedError
from fastrnn.streaming import ClassifierStream, Stream

CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def fitted(cls, X, y, **params):
    """A model fitted for one epoch (the weights move away from their initial draw)."""
    options = dict(hidden_sizes=(5, 3), max_iter=1, random_state=0, batch_size=8, learning_rate_init=0.05)
    options.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**options).fit(X, y)


def series(n_samples=6, n_steps=7, n_features=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n_samples, n_steps, n_features))


def run(stream, X, method="step"):
    """Feed X (n_streams, T, D) step by step; the outputs stacked on a new axis 1: (n_streams, T, ...)."""
    return np.stack([getattr(stream, method)(X[:, t]) for t in range(X.shape[1])], axis=1)


def expected(predict, X, output):
    """What the stream should give at every step: predict on each prefix (output="last") or on the
    whole sequence (output="sequence"), (n, T, ...)."""
    if output == "sequence":
        return np.asarray(predict(X))
    return np.stack([np.asarray(predict(X[:, :t + 1])) for t in range(X.shape[1])], axis=1)


def assert_close(actual, wanted, dtype):
    """Every value within ``TOLERANCE[dtype]`` of the outputs' scale (the largest magnitude), and the
    whole array within it in norm (rel_error). Not each step's own norm: an output that is a small
    difference of larger terms carries the rounding of the terms (a few float32 ulps of them)."""
    assert actual.shape == wanted.shape, (actual.shape, wanted.shape)
    assert np.abs(actual - wanted).max() <= TOLERANCE[dtype] * np.abs(wanted).max()
    assert rel_error(actual, wanted) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("cell, nonlinearity", CELLS)
def test_regressor_stream_matches_predict(cell, nonlinearity, output, dtype):
    X = series()
    y = X[:, :, :1] * X[:, :, 1:] if output == "sequence" else X[:, :, 0].sum(axis=1)
    y = np.concatenate([y, -y], axis=-1) if output == "sequence" else y  # two outputs per step
    model = fitted(RNNRegressor, X, y, cell=cell, nonlinearity=nonlinearity, output=output, dtype=dtype)
    stream = model.stream(n_streams=X.shape[0])
    assert type(stream) is Stream and stream.dtype == np.dtype(dtype)
    out = run(stream, X)
    assert out.dtype == np.float64
    assert_close(out, expected(model.predict, X, output), dtype)


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor_output_shapes_follow_predict(n_outputs):
    X = series(n_features=1)
    y = X[:, :, 0].sum(axis=1)
    y = y if n_outputs == 1 else np.stack([y] * n_outputs, axis=1)
    model = fitted(RNNRegressor, X, y, hidden_sizes=(4,))
    stream = model.stream(n_streams=2)
    y_t = stream.step(X[:2, 0])
    assert y_t.shape == model.predict(X[:2, :1]).shape == ((2,) if n_outputs == 1 else (2, n_outputs))
    one = model.stream()
    assert one.step(X[0, 0, 0]).shape == ((1,) if n_outputs == 1 else (1, n_outputs))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("cell, nonlinearity", CELLS)
def test_classifier_stream_matches_predict(cell, nonlinearity, n_classes, output, dtype):
    X = series(n_samples=9)
    names = np.array(["a", "b", "c"][:n_classes])
    if output == "sequence":
        y = names[np.digitize(X[:, :, 0], [-0.3, 0.3][:n_classes - 1])]
    else:
        y = names[np.arange(X.shape[0]) % n_classes]
    model = fitted(RNNClassifier, X, y, cell=cell, nonlinearity=nonlinearity, output=output, dtype=dtype)
    stream = model.stream(n_streams=X.shape[0])
    assert type(stream) is ClassifierStream
    np.testing.assert_array_equal(stream.classes_, model.classes_)
    for method, predict in (("step_decision", model.decision_function), ("step_proba", model.predict_proba)):
        stream.reset()
        assert_close(run(stream, X, method), expected(predict, X, output), dtype)
    stream.reset()
    labels = run(stream, X)
    assert labels.dtype == model.classes_.dtype
    np.testing.assert_array_equal(labels, expected(model.predict, X, output))


def test_streams_are_independent_and_do_not_depend_on_their_number():
    X = series(n_samples=3)
    model = fitted(RNNRegressor, X, X[:, -1, 0], cell="gru")
    together = run(model.stream(n_streams=3), X)
    for i in range(3):
        alone = run(model.stream(), X[i:i + 1])
        np.testing.assert_array_equal(alone[0], together[i])  # bitwise: each stream runs alone


def test_reset_all_and_one_stream():
    X = series(n_samples=3, n_steps=8)
    model = fitted(RNNRegressor, X, X[:, :, 0], cell="lstm", output="sequence", dtype="float64")
    stream = model.stream(n_streams=3)
    first = run(stream, X[:, :4])
    assert stream.reset() is stream
    np.testing.assert_array_equal(run(stream, X[:, :4]), first)  # from zeros again
    stream.reset()
    run(stream, X[:, :4])
    stream.reset(1)
    rest = run(stream, X[:, 4:])
    whole = model.predict(X)
    tol = TOLERANCE["float64"]
    for i in (0, 2):  # continued
        assert rel_error(rest[i], whole[i, 4:]) <= tol
    assert rel_error(rest[1], model.predict(X[1:2, 4:])[0]) <= tol  # started afresh at step 4
    stream.reset(-1)  # the last stream
    assert all(not np.any(h[2]) and not np.any(c[2]) for h, c in stream.states)


def test_states_continue_in_predict():
    X = series(n_samples=2, n_steps=9)
    for cell in ("lstm", "rnn"):
        model = fitted(RNNRegressor, X, X[:, -1, 0], cell=cell, hidden_sizes=(4, 6), dtype="float64")
        stream = model.stream(n_streams=2)
        run(stream, X[:, :5])
        states = stream.states
        assert len(states) == 2
        if cell == "lstm":
            assert [tuple(part.shape for part in pair) for pair in states] == [((2, 4), (2, 4)), ((2, 6), (2, 6))]
        else:
            assert [h.shape for h in states] == [(2, 4), (2, 6)]
        last = run(stream, X[:, 5:])[:, -1]
        assert rel_error(last, model.predict(X[:, 5:], initial_state=states)) <= TOLERANCE["float64"]


def test_the_stream_keeps_a_snapshot_of_the_weights():
    X = series()
    y = X[:, -1, 0]
    model = fitted(RNNRegressor, X, y, warm_start=True)
    stream = model.stream(n_streams=X.shape[0])
    before = model.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)  # warm start: the same network's buffer is trained in place
        model.partial_fit(X, y)
    after = model.predict(X)
    assert rel_error(after, before) > 1e-3
    assert rel_error(run(stream, X)[:, -1], before) <= TOLERANCE["float32"]
    assert rel_error(run(model.stream(n_streams=X.shape[0]), X)[:, -1], after) <= TOLERANCE["float32"]


def test_input_forms_and_conversion():
    X = series(n_samples=4, n_features=1)
    model = fitted(RNNRegressor, X, X[:, -1, 0], hidden_sizes=(4,))
    reference = run(model.stream(n_streams=4), X.astype(np.float32))
    for form in (lambda x: x[:, 0], lambda x: x.tolist(), lambda x: np.asfortranarray(x[:, ::1].T).T):
        stream = model.stream(n_streams=4)  # (n_streams,) for a univariate model; lists; float64; any layout
        np.testing.assert_array_equal(np.stack([stream.step(form(X[:, t])) for t in range(X.shape[1])], 1), reference)
    one = [model.stream() for _ in range(4)]
    values = [[s.step(v) for v in values] for s, values in zip(one, ([float(v) for v in X[0, :, 0]],
                                                                      [np.float64(v) for v in X[0, :, 0]],
                                                                      [np.array([v]) for v in X[0, :, 0]],
                                                                      [int(v > 0) for v in X[0, :, 0]]))]
    np.testing.assert_array_equal(np.array(values[0])[:, 0], reference[0])
    np.testing.assert_array_equal(values[0], values[1])
    np.testing.assert_array_equal(values[0], values[2])
    assert np.all(np.isfinite(values[3]))
    read_only = [np.ascontiguousarray(X[:, t], dtype=np.float32) for t in range(X.shape[1])]
    for x_t in read_only:
        x_t.flags.writeable = False
    stream = model.stream(n_streams=4)
    signatures = set(stream._step.signatures)  # the compiled step of the model's cell
    np.testing.assert_array_equal(np.stack([stream.step(x_t) for x_t in read_only], axis=1), reference)
    assert set(stream._step.signatures) == signatures  # copied, not a new specialization compiled mid-stream
    multi = fitted(RNNRegressor, series(n_features=3), np.zeros(6), hidden_sizes=(4,))
    stream, batch = multi.stream(), multi.stream()
    x = series(n_features=3)[0]
    for t in range(x.shape[0]):  # (n_features,) with one stream
        np.testing.assert_array_equal(stream.step(x[t]), batch.step(x[t:t + 1]))


def test_step_errors_name_x_t_and_its_shape():
    model = fitted(RNNRegressor, series(n_features=3), np.zeros(6), hidden_sizes=(4,))
    stream = model.stream(n_streams=3)  # n_streams == n_features: a 1-D x_t would be ambiguous
    for bad in (np.zeros(3), np.zeros((3, 2)), np.zeros((1, 3)), np.zeros((3, 3, 1)), 0.5):
        with pytest.raises(ValueError, match=r"x_t must have shape \(n_streams, n_features\) = \(3, 3\)"):
            stream.step(bad)
    with pytest.raises(ValueError, match="x_t"):
        stream.step([["a", "b", "c"]] * 3)
    with pytest.raises(ValueError, match=r"accepted: \(1, 3\) or \(3,\)"):
        model.stream().step(np.zeros(4))
    univariate = fitted(RNNRegressor, series(n_features=1), np.zeros(6), hidden_sizes=(4,)).stream(n_streams=2)
    with pytest.raises(ValueError, match=r"accepted: \(2, 1\) or \(2,\)"):
        univariate.step(1.0)


def test_non_finite_input_raises_and_keeps_the_state():
    X = series(n_samples=2)
    model = fitted(RNNRegressor, X, X[:, -1, 0], cell="lstm")
    stream, clean = model.stream(n_streams=2), model.stream(n_streams=2)
    run(stream, X[:, :3]), run(clean, X[:, :3])
    for value in (np.nan, np.inf):
        bad = X[:, 3].copy()
        bad[1, 0] = value
        with pytest.raises(ValueError, match="NaN or infinity"):
            stream.step(bad)
    np.testing.assert_array_equal(run(stream, X[:, 3:]), run(clean, X[:, 3:]))


def test_refusals():
    X = series()
    with pytest.raises(NotFittedError):
        RNNRegressor().stream()
    bidirectional = fitted(RNNRegressor, X, X[:, -1, 0], bidirectional=True, hidden_sizes=(3,))
    with pytest.raises(ValueError, match="bidirectional"):
        bidirectional.stream()
    model = fitted(RNNRegressor, X, X[:, -1, 0], hidden_sizes=(3,))
    for n_streams in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_streams"):
            model.stream(n_streams)
    stream = model.stream(n_streams=2)
    for i in (2, -3, 0.0, True):
        with pytest.raises(ValueError, match=r"i must be None or an integer in \[0, 2\)"):
            stream.reset(i)
    assert "n_streams=2" in repr(stream)


def test_second_process_loads_the_stream_kernel_from_numba_cache(tmp_path):
    script = textwrap.dedent("""
        import warnings
        import numpy as np, fastrnn
        from fastrnn.kernels.cpu import stream as kernels
        X = np.random.default_rng(0).normal(size=(8, 4, 2))
        for dtype in ("float32", "float64"):
            for cell in ("lstm", "gru", "rnn"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = fastrnn.RNNRegressor(cell=cell, hidden_sizes=(3, 2), max_iter=1, dtype=dtype,
                                                 random_state=0).fit(X, X[:, -1, 0])
                stream = model.stream(n_streams=2)
                for t in range(4):
                    stream.step(X[:2, t])
        made = kernels.stream_step.made.values()  # one compiled step per cell
        print(sum(sum(f.stats.cache_misses.values()) for f in made), sum(sum(f.stats.cache_hits.values()) for f in made))
    """)
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    run_script = lambda: subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                                        capture_output=True, text=True, check=True).stdout.split()
    run_script()  # fills the cache if this is its first use
    misses, hits = (int(value) for value in run_script())
    assert misses == 0 and hits >= 6, (misses, hits)  # 3 cells in float32 and float64, loaded, none compiled


BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "streaming.py"


@pytest.mark.skipif(not BENCHMARK.exists(), reason="needs the source tree")
def test_streaming_benchmark_runs_and_saves_json(tmp_path):
    spec = importlib.util.spec_from_file_location("streaming_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "streaming.json"
    result = module.run(rounds=2, steps=20, cells=("lstm", "rnn"), hidden_sizes=(8,), output=str(output),
                        out=lambda line: None)
    assert json.loads(output.read_text()) == json.loads(json.dumps(result))
    assert "cores" in result["machine"] and "numba" in result["versions"]
    rows = result["results"]
    assert [(row["cell"], row["hidden"]) for row in rows] == [("lstm", 8), ("rnn", 8)]
    assert all(row["fastrnn_us"] > 0 for row in rows)
    if module.torch is not None:  # the same weights: the two libraries agree
        assert all(row["torch_us"] > 0 and row["max_abs_difference"] < 1e-5 for row in rows)
