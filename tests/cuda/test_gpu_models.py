"""Layers and estimators on device="cuda" give the CPU's numbers (run in the simulator on CI)."""

import os
import pickle
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor
from fastrnn.kernels import dispatch
from fastrnn.kernels.cuda import recurrent

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.fixture(autouse=True)
def small_reductions(monkeypatch):
    """In the simulator every CUDA thread is a Python thread and each block's syncthreads rounds cost
    milliseconds, so time goes with blocks x threads x barriers, hardly with the data. The conftest's
    ``small_blocks`` shrinks the recurrent kernels' blocks only; here, in the simulator only (a GPU
    keeps the defaults), the other launches shrink too: element-wise kernels, column sums and the
    transpose to 8 threads (2 x 2), and the gradient norm's reduction from one block of 256 threads
    to at most 2 blocks of 4, so its grid-stride loop, tree and per-block partial sums all still run
    (its sum-of-squares calls, four per training step, took a third of the step). Launch sizes change
    no result but the order of that reduction's sum, which differs from the CPU's anyway: every
    comparison with the CPU stays as strict as before."""
    if not dispatch.config.CUDA_SIMULATOR:
        return
    from fastrnn.kernels import config
    from fastrnn.kernels.cuda import elementwise

    monkeypatch.setattr(config, "CUDA_ELEMENTWISE_THREADS", 8)
    monkeypatch.setattr(config, "CUDA_COLUMN_SUM_THREADS", 8)
    monkeypatch.setattr(config, "CUDA_TRANSPOSE_TILE", 2)
    monkeypatch.setattr(config, "CUDA_REDUCE_MAX_BLOCKS", 2)
    # the reduction's block size is also its shared buffer's length, a module global that a compiled
    # kernel bakes in but the simulated kernel reads when it runs (hence simulator only); a power of 2
    monkeypatch.setattr(elementwise, "CUDA_REDUCE_THREADS", 4)


def rel_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def make(cell, device, dtype):
    if cell == "lstm":
        return fastrnn.LSTM(2, 3, num_layers=2, dtype=dtype, random_state=0, device=device)
    if cell == "gru":
        return fastrnn.GRU(2, 3, num_layers=2, dtype=dtype, random_state=0, device=device)
    return fastrnn.RNN(2, 3, num_layers=2, nonlinearity=cell[4:], dtype=dtype, random_state=0, device=device)


@pytest.mark.parametrize("loss", ["last", "every"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layers_on_gpu_match_cpu(cell, dtype, loss):
    # 2 sequences of 2 steps (one 4 x 4 tile of rows in every product): step 2 still reads h_1, and
    # with loss="last" the gradient reaches step 1 only through the recurrence
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 2, 2))
    h0 = rng.normal(size=(2, 2, 3))
    state = (h0, rng.normal(size=(2, 2, 3))) if cell == "lstm" else h0
    d_out = rng.normal(size=(2, 2, 3))
    if loss == "last":
        d_out[:, :-1] = 0.0
    d_state = (rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 2, 3))) if cell == "lstm" else rng.normal(size=(2, 2, 3))
    results = {}
    for device in ("cpu", "cuda"):
        layer = make(cell, device, dtype)
        out, state_n = layer.forward(X, state)
        grads = layer.backward(d_out, d_state)
        results[device] = (out, state_n, grads)
    (out_c, state_c, grads_c), (out_g, state_g, grads_g) = results["cpu"], results["cuda"]
    tol = TOLERANCE[dtype]

    def pairs(gpu_value, cpu_value):  # LSTM states are (h, c) pairs
        return list(zip(gpu_value, cpu_value)) if cell == "lstm" else [(gpu_value, cpu_value)]

    assert rel_error(out_g, out_c) < tol
    for a, b in pairs(state_g, state_c):
        assert rel_error(a, b) < tol
    for name in grads_c:
        for a, b in (pairs(grads_g[name], grads_c[name]) if name == "state" else [(grads_g[name], grads_c[name])]):
            assert rel_error(a, b) < tol, name


def test_per_step_path_in_a_layer(monkeypatch):
    """Force the large-hidden path (per-step launches) and compare with the CPU."""
    monkeypatch.setattr(recurrent, "CUDA_MAX_PERSISTENT_HIDDEN", 2)
    assert recurrent.choose_path(3) == "per_step"
    X = np.random.default_rng(2).normal(size=(2, 3, 2))
    outs = []
    for device in ("cpu", "cuda"):
        layer = fastrnn.LSTM(2, 3, dtype=np.float64, random_state=0, device=device)
        out, _ = layer.forward(X)
        outs.append((out, layer.backward(np.ones_like(out))["weight_hh_l0"]))
    assert rel_error(outs[1][0], outs[0][0]) < 1e-10
    assert rel_error(outs[1][1], outs[0][1]) < 1e-10


def tiny_data():
    """6 sequences of 2 steps (the fewest with a recurrence: h_1 feeds step 2). With batch_size=4 an
    epoch takes two mini-batches, 4 and a partial 2; the classes y > 0 split 3 / 3, so a stratified
    25 % validation set takes one of each and leaves one training batch of 4."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 2, 2))
    return X, X[:, :, 0].sum(axis=1)


def test_regressor_trains_on_gpu_with_the_cpu_loss_curve():
    X, y = tiny_data()
    # two epochs (a curve) of two mini-batches (4 + 2, tiny_data); 3 hidden units: the LSTM's 12 gate
    # units still stride over the simulator's 8 threads per block
    kw = dict(hidden_sizes=(3,), max_iter=2, batch_size=4, dtype="float64", alpha=0.01, clip_grad_norm=0.5,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu = RNNRegressor(device="cpu", **kw).fit(X, y)
        gpu = RNNRegressor(device="cuda", **kw).fit(X, y)
    assert gpu.network_.device == "cuda"
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(gpu.grad_norm_curve_, cpu.grad_norm_curve_, rtol=1e-10)
    np.testing.assert_allclose(gpu.network_.params, cpu.network_.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-9)


@pytest.mark.parametrize("estimator", ["regressor_sequence", "classifier_early_stopping"])
def test_gpu_training_keeps_outputs_and_loss_gradients_on_the_device(estimator, monkeypatch):
    """During fit only scalars and the final weights come back to the host: the loss and its
    gradient are computed on the device, the targets and the validation set are uploaded once."""
    X, y = tiny_data()
    if estimator == "regressor_sequence":
        model = RNNRegressor(device="cuda", output="sequence", hidden_sizes=(3,), max_iter=2, batch_size=4,
                             dtype="float64", random_state=0)
        targets = np.cumsum(X[:, :, 0], axis=1)
    else:
        model = RNNClassifier(device="cuda", cell="gru", hidden_sizes=(3,), max_iter=2, batch_size=4,
                              early_stopping=True, validation_fraction=0.25, random_state=0)
        targets = y > 0
    backend = dispatch.get_backend("cuda")
    copied_down, copied_up = [], []
    to_host, asarray = type(backend).to_host, type(backend).asarray
    monkeypatch.setattr(type(backend), "to_host", lambda self, a: copied_down.append(a.shape) or to_host(self, a))
    monkeypatch.setattr(type(backend), "asarray", lambda self, a, dtype: (
        copied_up.append(a.shape) if isinstance(a, np.ndarray) else None) or asarray(self, a, dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, targets)
    # down: the weights at the end, and with early stopping each epoch's validation outputs (n_val, 1)
    others = [shape for shape in copied_down if shape != (model.network_.params.size,)]
    assert len(copied_down) - len(others) == 1
    assert len(others) == (0 if estimator == "regressor_sequence" else 2) and all(s[1:] == (1,) for s in others)
    # up: the training data and targets once; never a batch's outputs or loss gradient, (T, 4, 1) or (4, 1)
    assert not [s for s in copied_up if s[-2:] == (4, 1) or s[-3:] == (X.shape[1], 4, 1)], copied_up


def _small_fits():
    """Estimators whose training on the device takes the other target shapes and batch makers."""
    rng = np.random.default_rng(5)
    # the first 2 of the 6 sequences drawn before, 3 steps each: their tags take 3 classes (0, 1, 3),
    # and truncated BPTT (bptt_steps=2) splits them into two chunks (2 steps, then 1), the second
    # starting from the state the first left
    X = rng.normal(size=(6, 3, 2))[:2]
    labels = np.argmax(np.cumsum(X, axis=1), axis=2) + 3 * (X[:, :, 0] > 1)  # (T, N) multiclass tags
    # 3 pairs of lengths 2, 1, 2 in batches of 2: two batches an epoch, of 2 and 1 pairs
    pairs = [np.array([1, 2]), np.array([2]), np.array([2, 1])]
    options = dict(max_iter=2, dtype="float64", random_state=0)
    # the two estimators with the most products per step (encoder and decoder; the conditions' bridge)
    # have 2 hidden units, fewer 4 x 4 tiles of gate units; their batches still take 2 and 1 items
    return {
        "tagging_multiclass": lambda device: RNNClassifier(output="sequence", hidden_sizes=(3,), batch_size=6,
                                                           device=device, **options).fit(X, labels),
        "bptt_regressor": lambda device: RNNRegressor(cell="gru", output="sequence", bptt_steps=2, hidden_sizes=(3,),
                                                      batch_size=6, device=device, **options).fit(X, X[:, :, :1]),
        "char_rnn": lambda device: fastrnn.CharRNN(hidden_sizes=(3,), seq_length=4, batch_size=2, device=device,
                                                   **options).fit("abcabdabc"),
        "char_rnn_conditioned": lambda device: fastrnn.CharRNN(cell="gru", hidden_sizes=(2,), batch_size=2,
                                                               device=device, **options).fit(
            ["ab", "ba", "a"], features=np.eye(2)[[0, 1, 0]]),
        "seq2seq": lambda device: fastrnn.Seq2Seq(hidden_sizes=(2,), batch_size=2, device=device, **options).fit(
            pairs, [p[::-1] for p in pairs]),
    }


SMALL_FITS = _small_fits()


@pytest.mark.parametrize("name", sorted(SMALL_FITS))
def test_every_estimator_trains_on_gpu_as_on_cpu(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu, gpu = SMALL_FITS[name]("cpu"), SMALL_FITS[name]("cuda")
    assert gpu.network_.device == "cuda"
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(gpu.network_.params, cpu.network_.params, rtol=1e-9, atol=1e-12)


def test_classifier_on_gpu_pickles_without_device_objects_and_predicts_on_cpu():
    X, y = tiny_data()
    labels = np.where(y > 0, "a", "b")
    # one mini-batch an epoch: what is pickled (weights, SGD velocities) does not depend on how many
    # batches made it; two epochs still give a loss curve to compare, and partial_fit takes n_iter_ to 3
    kw = dict(cell="rnn", hidden_sizes=(3,), max_iter=2, batch_size=6, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu = RNNClassifier(device="cpu", **kw).fit(X, labels)
        gpu = RNNClassifier(device="cuda", **kw).fit(X, labels)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    restored = pickle.loads(pickle.dumps(gpu))
    found, seen = [], set()

    def walk(value):  # every container and fastrnn object reachable from the estimator
        if id(value) in seen:
            return
        seen.add(id(value))
        if dispatch.is_device_array(value):
            found.append(type(value))
        elif isinstance(value, dict):
            [walk(v) for v in value.values()]
        elif isinstance(value, (list, tuple)):
            [walk(v) for v in value]
        elif type(value).__module__.startswith("fastrnn") and hasattr(value, "__dict__"):
            walk(vars(value))

    walk(pickle.loads(pickle.dumps(gpu)))
    assert not found and len(seen) > 20
    restored.set_params(device="cpu")
    np.testing.assert_allclose(restored.predict_proba(X), gpu.predict_proba(X), rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored.partial_fit(X, labels)  # optimizer state came back as numpy and trains on the CPU
    assert restored.n_iter_ == 3


def test_auto_never_picks_the_simulator():
    assert dispatch.resolve_device("auto") == ("cuda" if dispatch.cuda_usable() else "cpu")
    if dispatch.config.CUDA_SIMULATOR:
        assert dispatch.resolve_device("auto") == "cpu"


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_bidirectional_variable_length_layers_on_gpu_match_cpu(cell):
    """Time reversal within each length, the two directions' features, sorting: all on the device."""
    # 2 hidden units (not 3): each matrix product spans fewer 4 x 4 tiles; the kernels' strided
    # loops over more gate units than threads are checked with variable lengths in test_kernels
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 4, 2))
    lengths = [2, 4, 1]
    d_out = rng.normal(size=(3, 4, 4))
    results = {}
    for device in ("cpu", "cuda"):
        options = dict(bidirectional=True, dtype=np.float64, random_state=0, device=device)
        layer = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}.get(cell, fastrnn.RNN)(2, 2, num_layers=2, **options)
        out, state_n = layer.forward(X, lengths=lengths)
        results[device] = (out, state_n, layer.backward(d_out))
    (out_c, state_c, grads_c), (out_g, state_g, grads_g) = results["cpu"], results["cuda"]
    assert rel_error(out_g, out_c) < 1e-10
    for a, b in zip(state_g if cell == "lstm" else [state_g], state_c if cell == "lstm" else [state_c]):
        assert rel_error(a, b) < 1e-10
    for name in grads_c:
        if name != "state":
            assert rel_error(grads_g[name], grads_c[name]) < 1e-10, name


@pytest.mark.parametrize("network_kind", ["encoder_decoder", "conditioned"])
def test_seq2seq_and_conditioned_networks_on_gpu_match_cpu(network_kind):
    """The networks of Seq2Seq and of the conditioned CharRNN: states handed between stacks, bridges."""
    from fastrnn._network import ConditionedSequenceNetwork, EncoderDecoderNetwork

    rng = np.random.default_rng(3)
    x, lengths = rng.normal(size=(4, 3, 2)), np.array([4, 2, 1])
    y_in, conditions = rng.normal(size=(3, 3, 3)), rng.normal(size=(3, 2))
    results = {}
    for device in ("cpu", "cuda"):
        weights_rng = np.random.default_rng(0)
        if network_kind == "encoder_decoder":
            network = EncoderDecoderNetwork("lstm", 2, 3, (3,), 2, np.float64, weights_rng).to(device)
            out, tape = network.forward(network.backend.asarray(x, np.float64), lengths,
                                        network.backend.asarray(y_in, np.float64))
        else:
            network = ConditionedSequenceNetwork("gru", "tanh", 2, (3,), 2, "sequence", np.float64, weights_rng,
                                                 2).to(device)
            out, tape = network.forward(network.backend.asarray(x, np.float64), conditions, lengths)
        network.backward(tape, network.backend.asarray(np.ones(out.shape), np.float64))
        results[device] = (network.backend.to_host(out), network.backend.to_host(network.grad))
    assert rel_error(results["cuda"][0], results["cpu"][0]) < 1e-10
    assert rel_error(results["cuda"][1], results["cpu"][1]) < 1e-10


def test_model_saved_on_gpu_loads_and_predicts_where_there_is_no_gpu(tmp_path):
    """The saved file holds host arrays only: a process without the GPU (nor the simulator) loads it
    with device="cpu", predicts what the GPU predicted and continues training."""
    import subprocess
    import sys

    X, y = tiny_data()
    kw = dict(cell="rnn", hidden_sizes=(3,), max_iter=2, batch_size=8, random_state=0, device="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = RNNRegressor(**kw).fit(X, y)
    gpu.save(tmp_path / "gpu.fastrnn")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "expected.npy", gpu.predict(X))
    script = (
        "import sys, warnings, numpy as np, fastrnn\n"
        "warnings.simplefilter('ignore')\n"
        "folder = sys.argv[1]\n"
        "X, y = np.load(folder + '/X.npy'), np.load(folder + '/y.npy')\n"
        "saved = fastrnn.load(folder + '/gpu.fastrnn')\n"
        "assert saved.device == 'cuda', saved.device\n"
        "model = fastrnn.load(folder + '/gpu.fastrnn', device='cpu')\n"
        "np.testing.assert_allclose(model.predict(X), np.load(folder + '/expected.npy'), rtol=1e-5, atol=1e-6)\n"
        "model.partial_fit(X, y)\n"
        "assert model.n_iter_ == 3 and model._optimizer.t == saved._optimizer.t + 1\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    environment["CUDA_VISIBLE_DEVICES"] = ""  # no GPU in that process, even on a GPU machine
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_gradient_check_passes_on_the_gpu():
    """One entry per parameter of a tiny estimator: each entry costs two simulated forward passes, and
    the estimator's path (its network re-uploaded for every evaluation) holds the layer's."""
    X, y = tiny_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RNNRegressor(cell="rnn", hidden_sizes=(2,), max_iter=1, random_state=0, device="cpu").fit(X, y)
    report = fastrnn.check_gradients(model, X[:2, :2], y[:2], device="cuda", max_entries=1)
    assert report.passed and report.device == "cuda", str(report)


def test_inspection_and_gradient_flow_on_the_gpu_equal_the_cpu():
    X, _ = tiny_data()
    cpu = fastrnn.LSTM(2, 3, num_layers=2, dtype=np.float64, random_state=0, device="cpu")
    gpu = fastrnn.LSTM(2, 3, num_layers=2, dtype=np.float64, random_state=0, device="cuda")
    for ours, theirs in zip(gpu.inspect(X[:2]), cpu.inspect(X[:2])):
        for name in theirs:
            np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gpu.gradient_flow(X[:2]).norms, cpu.gradient_flow(X[:2]).norms, rtol=1e-10)


def test_inputs_with_zero_strides_run_on_the_gpu():
    """``x[np.newaxis]`` (one sequence) and broadcast targets have zero strides on axes of length 1,
    which numpy calls contiguous and numba-cuda does not: uploads must still give arrays the kernels
    can reshape, for layers, training and prediction."""
    X, y = tiny_data()
    one = X[0][np.newaxis]                                           # (1, 2, 2), stride 0 on axis 0
    assert one.strides[0] == 0
    cpu = fastrnn.LSTM(2, 3, num_layers=2, dtype=np.float64, random_state=0, device="cpu")
    gpu = fastrnn.LSTM(2, 3, num_layers=2, dtype=np.float64, random_state=0, device="cuda")
    np.testing.assert_allclose(gpu.forward(one)[0], cpu.forward(one)[0], rtol=1e-10)
    kw = dict(hidden_sizes=(3,), max_iter=2, batch_size=1, dtype="float64", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_cpu = RNNRegressor(device="cpu", **kw).fit(one, y[:1])
        on_gpu = RNNRegressor(device="cuda", **kw).fit(one, y[:1])
    np.testing.assert_allclose(on_gpu.loss_curve_, on_cpu.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(on_gpu.predict(one), on_cpu.predict(one), rtol=1e-9)
