"""The example scripts run and reach what their docstrings promise."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, tmp_path, *arguments):
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip("examples/ is not available (installed package only)")
    return subprocess.run([sys.executable, str(path), *arguments], capture_output=True, text=True, check=True,
                          cwd=tmp_path).stdout


def numbers_after(label, text):
    return [float(x) for x in re.findall(rf"{label}\s+([0-9.]+)", text)]


def test_forecast_sunspots(tmp_path):
    out = run_example("forecast_sunspots.py", tmp_path)
    lstm, naive, cycle = numbers_after("LSTM", out)[0], numbers_after("last year's value", out)[0], \
        numbers_after("value 11 years earlier", out)[0]
    assert lstm < min(naive, cycle)
    assert (tmp_path / "sunspots.png").exists()


def test_classify_sequences(tmp_path):
    out = run_example("classify_sequences.py", tmp_path)
    lstm_accuracy = float(re.search(r"LSTM: test accuracy ([0-9.]+)", out).group(1))
    gru_accuracy = float(re.search(r"GRU : test accuracy ([0-9.]+)", out).group(1))
    memoryless = float(re.search(r"memoryless rule on the last step: accuracy ([0-9.]+)", out).group(1))
    assert lstm_accuracy > 0.95 and gru_accuracy > 0.95 and memoryless < 0.65


def test_tag_sequences(tmp_path):
    out = run_example("tag_sequences.py", tmp_path)
    assert float(re.search(r"per-step test accuracy: ([0-9.]+)", out).group(1)) > 0.95


def test_char_rnn(tmp_path):
    # a smaller run than the script's default (10 epochs on 200 000 characters), for the suite's budget
    out = run_example("char_rnn.py", tmp_path, "--epochs", "6", "--max-chars", "120000")
    found = re.search(r"test perplexity: CharRNN ([0-9.]+), character bigram ([0-9.]+)", out)
    model, bigram = map(float, found.groups())
    assert model < bigram
    shares = [float(x) for x in re.findall(r"words found in the training text: ([0-9]+)%", out)]
    assert shares[0] > 35  # at temperature 0.5 most generated words are real words


def test_seq2seq_dates(tmp_path):
    # fewer epochs and pairs than the script's default (40 on 6000), for the suite's budget
    out = run_example("seq2seq_dates.py", tmp_path, "--epochs", "20", "--n-train", "4000")
    assert float(re.search(r"exact-match accuracy on \d+ unseen dates: ([0-9.]+)", out).group(1)) > 0.9
