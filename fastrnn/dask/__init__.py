"""fastrnn on a Dask cluster: prediction over more sequences than fit in memory, and data-parallel
training with synchronous gradient averaging.

Model selection needs nothing from this module: scikit-learn's searches run fastrnn estimators on a
cluster through joblib's Dask backend (``with joblib.parallel_backend("dask"): search.fit(X, y)``).
Inside a Dask worker's task, fastrnn runs each pass in one thread (see
:mod:`fastrnn.kernels.cpu.threads`), so that the worker's threads and processes are the parallelism.

Needs the ``dask`` extra (``pip install "fastrnn[dask]"``: dask and distributed); ``import fastrnn``
never imports Dask.
"""

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('fastrnn.dask needs Dask: pip install "fastrnn[dask]" (dask[array] and distributed).') from exc

from ._fit import fit
from ._predict import predict

__all__ = ["fit", "predict"]
