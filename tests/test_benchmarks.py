"""The benchmark scripts run (speed itself is never asserted in tests)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_vs_cpu.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="needs the source tree")
def test_gpu_vs_cpu_benchmark_runs_and_saves_json(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_vs_cpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "bench.json"
    module.main(["--quick", "--repeats", "1", "--cells", "rnn", "--output", str(output)])
    result = json.loads(output.read_text())
    assert "cores" in result["devices"]["cpu"]
    assert len(result["rows"]) == 2 and all(len(row["fastrnn_cpu"]) == 2 for row in result["rows"])
    assert "fastrnn_cpu" in capsys.readouterr().out


def test_cpu_benchmark_against_torch_runs(tmp_path):
    from fastrnn._bench import run

    lines = []
    result = run(repeats=1, n_batches=2, cells=("lstm",), grid=[(4, 6, 2, 8)], output=str(tmp_path / "b.json"),
                 out=lines.append, measure_compile=False)
    row = result["rows"][0]
    assert row["fastrnn_train_seq_per_s"] > 0 and row["fastrnn_infer_ms"] > 0
    assert "cores" in lines[0] and "lstm" in lines[2]
    latency = json.loads((tmp_path / "b.json").read_text())["latency"]["lstm"]
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
