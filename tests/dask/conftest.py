"""A small Dask cluster shared by the tests of this folder: two spawned worker processes with one
thread each, as the smallest real cluster (workers import fastrnn and load its compiled kernels
from the on-disk cache, as on a cluster)."""

import logging

import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.array")


def start_cluster(n_workers=2):
    """A ``LocalCluster`` of ``n_workers`` spawned processes with one thread each, and its client."""
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="session")
def client():
    """The client of the shared two-worker cluster (kept for the whole session: starting one costs
    seconds). Tests that kill a worker start a cluster of their own."""
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster, client = start_cluster()
    try:
        yield client
    finally:
        client.close()
        cluster.close()
