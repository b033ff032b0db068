"""Test configuration: hypothesis profiles (derandomized on CI) and the number of worker processes of
``pytest -n auto``."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=25, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


#: most worker processes of ``pytest -n auto``: each compiles the kernels it needs on an empty Numba
#: cache and the Dask tests start a cluster of two processes in each, so more workers add duplicated
#: work and memory rather than speed
MAX_TEST_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    """Workers for ``-n auto`` (pytest-xdist): the CPUs this process may run on, at most
    :data:`MAX_TEST_WORKERS`. xdist's own count asks psutil for the machine's CPUs, which in a
    container or under ``taskset`` can be far more than the process gets. ``PYTEST_XDIST_AUTO_NUM_WORKERS``
    still decides when it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS, Windows)
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_TEST_WORKERS, cpus))
