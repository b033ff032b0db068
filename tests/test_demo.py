"""The README's main command: ``python -m fastrnn demo`` forecasts the airline series better than the
naive and seasonal baselines and saves a plot."""

import subprocess
import sys

from fastrnn._demo import run


def test_demo_beats_both_baselines_and_saves_the_plot(tmp_path):
    lines = []
    path = tmp_path / "demo.png"
    result = run(plot_path=str(path), verbose=False, out=lines.append)
    assert result["rmse"] < 0.6 * min(result["naive_rmse"], result["seasonal_rmse"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert lines[0].startswith("fastrnn demo") and any("naive" in line for line in lines)


def test_demo_command_line(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "fastrnn", "demo", "--max-iter", "3", "--plot", "none"],
                               capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "test RMSE" in completed.stdout and "seasonal naive" in completed.stdout
    assert "epoch 1/3" in completed.stderr  # the progress bar
    assert not list(tmp_path.iterdir())  # --plot none writes nothing
