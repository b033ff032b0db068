"""The README's main command: ``python -m fastrnn demo`` trains and the loss falls."""

import subprocess
import sys

from fastrnn._demo import run


def test_demo_loss_falls_and_beats_naive_forecast():
    lines = []
    result = run(epochs=6, out=lines.append)
    curve = result["loss_curve"]
    assert curve[-1] < 0.2 * curve[0]
    assert result["test_rmse"] < result["naive_rmse"]
    assert lines[0].startswith("fastrnn demo")


def test_demo_command_line():
    completed = subprocess.run([sys.executable, "-m", "fastrnn", "demo", "--epochs", "2"],
                               capture_output=True, text=True, check=True)
    assert "epoch   2" in completed.stdout and "test RMSE" in completed.stdout
