"""Packaging contract: kernels/ installs as fastrnn.kernels (never a top-level ``kernels``), and
compiled kernels are served from Numba's on-disk cache in a new process."""

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


def test_kernels_are_a_subpackage():
    import fastrnn.kernels

    assert fastrnn.kernels.__name__ == "fastrnn.kernels"


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_wheel_maps_kernels_under_fastrnn_and_ships_every_module(tmp_path):
    pytest.importorskip("setuptools")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("fastrnn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not any(name.startswith("kernels/") for name in names)
    expected = {f"fastrnn/{p.relative_to(ROOT / 'fastrnn').as_posix()}" for p in (ROOT / "fastrnn").rglob("*.py")}
    expected |= {f"fastrnn/kernels/{p.relative_to(ROOT / 'kernels').as_posix()}" for p in (ROOT / "kernels").rglob("*.py")}
    assert expected <= names, sorted(expected - names)


def test_no_top_level_kernels_module_outside_the_source_tree(tmp_path):
    code = "import importlib.util; print(importlib.util.find_spec('kernels') is None)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "True"


def test_second_process_loads_kernels_from_numba_cache(tmp_path):
    script = textwrap.dedent("""
        import warnings
        import numpy as np, fastrnn
        from fastrnn.kernels.cells.per_cell import PerCell
        from fastrnn.kernels.cpu import recurrent, threads
        threads.MIN_SPLIT_WORK = 0  # split however small
        for layer in (fastrnn.LSTM(2, 3, dtype=np.float64), fastrnn.RNN(2, 3)):
            for batch in (2, 16):  # one thread, and the batch split over threads
                out, _ = layer.forward(np.ones((batch, 4, 2)))
                layer.backward(np.ones_like(out))
        X = np.ones((16, 4, 2), dtype=np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fastrnn.RNNRegressor(hidden_sizes=(3,), max_iter=1).fit(X, X[:, 0, 0])
        model.predict(X), model.predict(X[:2])  # the inference pass, split and in one thread
        kernels = {name: [f] for name, f in vars(recurrent).items() if hasattr(f, "stats")}
        kernels.update((name, list(f.made.values())) for name, f in vars(recurrent).items() if isinstance(f, PerCell))
        misses = sum(sum(f.stats.cache_misses.values()) for fs in kernels.values() for f in fs)
        hits = {name: sum(sum(f.stats.cache_hits.values()) for f in fs) for name, fs in kernels.items()}
        print(misses, *(f"{name}={count}" for name, count in sorted(hits.items())))
    """)
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    run = lambda: subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
    run()  # fills the cache if this is its first use
    misses, *counts = run()
    hits = {name: int(count) for name, count in (item.split("=") for item in counts)}
    assert int(misses) == 0
    # both loops in float64 (layers) and float32 (the estimator), the backward pass also without the
    # input gradient (the estimator's bottom layer): every one loaded, none compiled
    assert hits["forward_steps"] >= 2 and hits["backward_steps"] >= 3, hits
    assert hits["same_weights"] >= 1, hits  # the inference passes check their cached operands


def test_a_fit_compiles_the_loops_of_its_own_cell_only(tmp_path):
    script = textwrap.dedent("""
        import warnings
        import numpy as np, fastrnn
        from fastrnn.kernels.cpu import recurrent
        from fastrnn.kernels.cpu.stream import stream_step
        X = np.ones((8, 4, 2), dtype=np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fastrnn.RNNRegressor(cell="gru", hidden_sizes=(3,), max_iter=1).fit(X, X[:, 0, 0])
        model.predict(X)
        print(sorted(recurrent.forward_steps.made), sorted(recurrent.backward_steps.made), sorted(stream_step.made))
    """)
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    from fastrnn.kernels.cells import GRU
    assert out == [f"[{GRU}]", f"[{GRU}]", "[]"]


def test_stale_cache_entries_are_dropped_when_an_inlined_file_changes(tmp_path):
    from fastrnn.kernels.cache import drop_stale_cache, numba_cache_dir

    module, dependency = tmp_path / "loops.py", tmp_path / "cells.py"
    module.write_text("# kernels")
    dependency.write_text("# version 1")
    cache = numba_cache_dir(module)  # beside the module, or under NUMBA_CACHE_DIR when that is set
    cache.mkdir(parents=True, exist_ok=True)
    entries = [cache / "loops.layer_forward-10.py311.nbi", cache / "loops.layer_forward-10.py311.1.nbc"]
    other = cache / "other.f-1.py311.nbi"
    for path in entries + [other]:
        path.write_text("compiled")
    drop_stale_cache(str(module), [str(dependency)])  # first sight: the cache may predate the stamp
    assert not any(path.exists() for path in entries) and other.exists()
    for path in entries:
        path.write_text("compiled")
    assert drop_stale_cache(str(module), [str(dependency)]) is False  # unchanged: kept
    assert all(path.exists() for path in entries)
    dependency.write_text("# version 2")
    assert drop_stale_cache(str(module), [str(dependency)]) is True
    assert not any(path.exists() for path in entries) and other.exists()


_KERNEL_MODULE = """
import helper
from numba import njit
{drop}
VALUE = helper.VALUE  # frozen into the compiled code, as config.py's constants are


@njit(cache=True)
def value():
    return VALUE
"""


@pytest.mark.parametrize("use_cache_dir", [True, False])
def test_an_edited_dependency_invalidates_the_cache_numba_actually_uses(tmp_path, use_cache_dir):
    """A module that inlines a constant of another file, compiled and cached in one process and run
    again in a new one after that file changed: Numba alone serves the stale value; with
    drop_stale_cache the new one, wherever Numba keeps its cache."""
    source, cache_dir = tmp_path / "src", tmp_path / "numba-cache"
    source.mkdir()
    (source / "kernel.py").write_text(_KERNEL_MODULE.format(
        drop="from fastrnn.kernels.cache import drop_stale_cache\ndrop_stale_cache(__file__, [helper.__file__])"))
    (source / "plain_kernel.py").write_text(_KERNEL_MODULE.format(drop=""))
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if use_cache_dir:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    code = "import sys; sys.path.insert(0, sys.argv[1]); import kernel, plain_kernel; " \
           "print(kernel.value(), plain_kernel.value())"

    def run():
        return subprocess.run([sys.executable, "-c", code, str(source)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=True).stdout.split()

    (source / "helper.py").write_text("VALUE = 1\n")
    assert run() == ["1", "1"]
    (source / "helper.py").write_text("VALUE = 2\n")
    assert run() == ["2", "1"]  # the plain module's cache is stale: the gap drop_stale_cache closes
    beside = source / "__pycache__"
    if use_cache_dir:
        assert list(cache_dir.rglob("kernel.deps-sha256")) and list(cache_dir.rglob("kernel.*.nbi"))
        assert not beside.exists()  # nothing written beside the sources
    else:
        assert (beside / "kernel.deps-sha256").exists()


def test_importing_fastrnn_does_not_import_sklearn(tmp_path):
    """scikit-learn costs ~2 s to import; fastrnn resolves its exception classes only on first use."""
    code = "import sys, fastrnn; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_exception_classes_are_sklearns_when_installed():
    sklearn_exceptions = pytest.importorskip("sklearn.exceptions")
    from fastrnn import exceptions

    assert exceptions.NotFittedError is sklearn_exceptions.NotFittedError
    assert exceptions.ConvergenceWarning is sklearn_exceptions.ConvergenceWarning
    assert issubclass(exceptions.TrainingDivergedError, FloatingPointError)
    with pytest.raises(AttributeError, match="no attribute 'Missing'"):
        exceptions.Missing  # noqa: B018
