"""The benchmark scripts run (speed itself is never asserted in tests)."""

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_vs_cpu.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="needs the source tree")
def test_gpu_vs_cpu_benchmark_runs_and_saves_json(tmp_path, capsys, monkeypatch):
    from fastrnn import _bench

    monkeypatch.setattr(_bench, "PAUSE_SECONDS", 0.0)  # the wiring is tested, not the speed
    monkeypatch.setattr(_bench, "WARMUP_SECONDS", 0.0)
    spec = importlib.util.spec_from_file_location("gpu_vs_cpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "bench.json"
    module.main(["--quick", "--repeats", "1", "--cells", "rnn", "--output", str(output)])
    result = json.loads(output.read_text())
    assert "cores" in result["devices"]["cpu"]
    assert len(result["rows"]) == 2 and all(len(row["fastrnn_cpu"]) == 2 for row in result["rows"])
    assert "fastrnn_cpu" in capsys.readouterr().out


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    """One ``run(quick=True)`` over small points (a smaller quick grid and large product, no pauses or
    timed warm-ups, patched in: the wiring is what is tested, not the speed), shared by the tests below:
    ``(result, lines, saved)``."""
    from fastrnn import _bench

    output = tmp_path_factory.mktemp("bench") / "quick.json"
    lines = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_bench, "QUICK_GRID", [(1, 6, 1, 4), (4, 6, 2, 8)])
        patch.setattr(_bench, "LARGE_PRODUCT", 256)
        patch.setattr(_bench, "PAUSE_SECONDS", 0.0)
        patch.setattr(_bench, "WARMUP_SECONDS", 0.0)
        result = _bench.run(quick=True, repeats=1, n_batches=2, cells=("lstm",), output=str(output),
                            out=lines.append, measure_compile=False)
    return result, lines, json.loads(output.read_text())


def test_cpu_benchmark_against_torch_runs(quick_bench):
    result, lines, saved = quick_bench
    row = result["rows"][0]
    assert row["fastrnn_train_seq_per_s"] > 0 and row["fastrnn_infer_ms"] > 0
    assert "cores" in lines[0] and "lstm" in lines[2]
    latency = saved["latency"]["lstm"]
    assert latency["fastrnn_ms"] > 0
    has_onnxruntime = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
    assert ("onnxruntime_ms" in latency) == has_onnxruntime
    if has_onnxruntime:
        assert latency["onnxruntime_ms"] > 0
        assert any("latency" in line and "onnxruntime" in line for line in lines)


def test_onnxruntime_latency_is_skipped_without_onnxruntime(monkeypatch):
    from fastrnn._bench import time_onnxruntime

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails
    assert time_onnxruntime("gru", 1, 5, 1, 4, 1) is None


def test_cpu_benchmark_rounds_report_medians_of_alternating_runs():
    from fastrnn._bench import _rounds

    class Torch:  # stands for the imported module
        pass

    fastrnn_runs = iter([(1.0, 0.1), (2.0, 0.2), (4.0, 0.4)])
    torch_runs = iter([(2.0, 0.3), (2.0, 0.4), (16.0, 0.4)])
    calls = []
    timed = _rounds(3, Torch, lambda: calls.append("fastrnn") or next(fastrnn_runs),
                    lambda: calls.append("torch") or next(torch_runs))
    assert calls == ["fastrnn", "torch"] * 3  # alternating, one pair per round
    assert timed["fastrnn"] == (2.0, 0.2) and timed["torch"] == (2.0, 0.4)
    assert timed["ratio"][0] == 2.0  # per-round ratios 2, 1, 4: their median, not 2.0 / 2.0
    assert timed["ratio"][1] == pytest.approx(2.0)  # 3, 2, 1
    assert "torch" not in _rounds(2, None, lambda: (1.0, 1.0), lambda: (1.0, 1.0))


DASK_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "dask_scaling.py"


@pytest.mark.skipif(not DASK_SCRIPT.exists(), reason="needs the source tree")
def test_dask_scaling_benchmark_runs_and_saves_json(tmp_path, capsys):
    pytest.importorskip("distributed")
    spec = importlib.util.spec_from_file_location("dask_scaling", DASK_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "dask.json"
    module.main(["--quick", "--output", str(output)])
    result = json.loads(output.read_text())
    assert "cores" in result["machine"] and "distributed" in result["versions"]
    rows = result["measured"]["rows"]
    assert len(rows) == 2 and all(row["epoch_s"]["workers_2"] > 0 and row["compute_B_s"] > 0 for row in rows)
    assert set(result["extrapolated"]["speed_up"][str(rows[0]["batch"])]["star"]) == {"1", "2", "4", "8", "16", "32"}
    out = capsys.readouterr().out
    assert "MEASURED" in out and "EXTRAPOLATED" in out


def test_matmul_flops_counts_a_small_lstm_by_hand():
    from fastrnn._bench import ADAM_MULTIPLY_ADDS, matmul_flops

    # LSTM (G = 4, so G*H = 16 gate units), batch 2, T = 3, D = 5, H = 4, one output
    forward = 3 * 2 * 16 * 5 + 3 * 2 * 16 * 4 + 2 * 4 * 1  # input projection 480 + recurrent 384 + head 8
    assert forward == 872 and matmul_flops("lstm", 2, 3, 5, 4, train=False) == 2 * 872
    bptt = 2 * 384 + 480 + 2 * 8  # dh and dW_hh, dW_ih, the head's dW and dh_T
    parameters = 16 * 4 + 16 * 5 + 2 * 16 + 4 + 1  # W_ih, W_hh, two biases, head: 181
    assert bptt == 1264 and parameters == 181
    assert matmul_flops("lstm", 2, 3, 5, 4) == 2 * (872 + 1264 + ADAM_MULTIPLY_ADDS * 181)
    assert matmul_flops("lstm", 2, 3, 5, 4, input_gradient=True) == matmul_flops("lstm", 2, 3, 5, 4) + 2 * 480
    # the gates scale the recurrent and input terms: an Elman RNN's forward is a quarter of it, plus the head
    assert matmul_flops("rnn", 2, 3, 5, 4, train=False) == 2 * ((480 + 384) // 4 + 8)
    assert matmul_flops("gru", 2, 3, 5, 4, train=False) == 2 * ((480 + 384) * 3 // 4 + 8)


def test_quick_bench_json_has_roofline_fields(quick_bench):
    import math

    _, lines, result = quick_bench
    sgemm = result["sgemm"]
    assert sgemm["threads"] == result["cores"] and sgemm["dtype"] == "float32" and sgemm["shape"] == [256] * 3
    tries = sgemm["start_tries_gflops"] + sgemm["end_tries_gflops"] + [
        rate for row in result["rows"] for rate in row["sgemm"]["large_tries_gflops"]]
    assert 0 < sgemm["large_gflops"] < math.inf and sgemm["large_gflops"] == max(tries)
    assert sgemm["n_measurements"] == len(tries)
    assert sgemm["config"] is None or "OpenBLAS" in sgemm["config"]
    assert result["date"] in result["header"] and result["versions"]["numba"] in result["header"]
    assert "GF/s" in lines[1]
    roofline = next(k for k, line in enumerate(lines) if line.startswith("roofline:"))
    assert "%sgemm" in lines[roofline + 1] and all("lstm" in line for line in lines[roofline + 2:roofline + 4])
    assert [(row["batch"], row["T"], row["features"], row["hidden"]) for row in result["rows"]] == [
        (1, 6, 1, 4), (4, 6, 2, 8)]  # quick=True ran QUICK_GRID
    has_torch = "torch_train_seq_per_s" in result["rows"][0]
    for row in result["rows"]:
        assert row["train_gflop_per_epoch"] > row["infer_gflop"] > 0
        rates = row["sgemm"]
        for name in ("large", "step", "step_input", "step_backward", "weight_gradient"):
            assert 0 < rates[f"{name}_gflops"] < math.inf
        for side in ("fastrnn", "torch") if has_torch else ("fastrnn",):
            for kind in ("train", "infer"):
                gflops, share = row[f"{side}_{kind}_gflops"], row[f"{side}_{kind}_sgemm_share"]
                assert 0 < gflops < math.inf and 0 < share < 100  # a fraction; 100: a unit slipped
                assert share == pytest.approx(gflops / sgemm["large_gflops"])


def test_compiled_kernels_names_each_kernel_and_its_seconds(monkeypatch):
    import types

    import numpy as np
    from numba import njit

    from fastrnn._bench import compiled_kernels
    from fastrnn.kernels.cells.per_cell import PerCell

    def make(kind):  # compiled afresh here (no cache): Numba times the compilation
        @njit
        def scaled(x):
            return x * (kind + 1)
        return scaled

    def plain(x):
        return x + 1

    module = types.ModuleType("fastrnn.kernels.probe")
    plain.__module__ = make.__module__ = module.__name__  # defined there, as far as the listing can tell
    module.plain = njit(plain)
    module.per_cell = PerCell(make)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sys.modules, "fastrnn.kernels.importer", types.ModuleType("fastrnn.kernels.importer"))
    sys.modules["fastrnn.kernels.importer"].plain = module.plain  # imported elsewhere: listed once
    module.plain(np.float32(1))
    module.per_cell(2, 1.0)
    module.per_cell(3, 1.0)
    seconds = compiled_kernels()
    assert {"probe.plain", "probe.per_cell[2]", "probe.per_cell[3]"} <= set(seconds)
    assert "importer.plain" not in seconds
    assert all(value > 0 for value in seconds.values())
    assert list(seconds.values()) == sorted(seconds.values(), reverse=True)


def test_median_time_warms_up_for_the_set_time_before_timing(monkeypatch):
    from fastrnn import _bench

    monkeypatch.setattr(_bench, "PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(_bench, "WARMUP_SECONDS", 0.05)
    starts, synchronized = [], []
    before = time.perf_counter()
    _bench.median_time(lambda: starts.append(time.perf_counter()), repeats=3,
                       synchronize=lambda: synchronized.append(None))
    assert len(starts) >= 3 + 2 and len(synchronized) == len(starts)  # after every call, warm-up included
    assert starts[-3] - before >= 0.05  # the timed calls come after 50 ms of warm-up calls
    monkeypatch.setattr(_bench, "WARMUP_SECONDS", 0.0)
    starts.clear()
    _bench.median_time(lambda: starts.append(time.perf_counter()), repeats=3)
    assert len(starts) == 2 + 3  # two warm-up calls at least
