"""Keep Numba's on-disk cache honest about the files a kernel module inlines.

Numba keys a cached function on the contents of its *own* source file only. The time loops in
``cpu/recurrent.py`` and ``cuda/*.py`` inline the cell functions of ``cells/`` and read constants of
``config.py``: edit those (in a development checkout) and Numba would keep serving machine code built
from the old versions. :func:`drop_stale_cache` closes that gap: each kernel module calls it at import
with the files it depends on; when their contents changed since the last import, the module's cache
entries are deleted, so Numba compiles afresh. (An upgraded installation rewrites every file, which
Numba notices by itself.)

The cache is wherever Numba's own locators put it (:func:`numba_cache_dir`): ``NUMBA_CACHE_DIR``
when it is set, else the ``__pycache__`` beside the module when it is writable, else the user's cache
directory. The stamp that remembers the dependencies' contents is kept in the same directory, so
nothing is written beside the installed sources unless Numba writes there too.

A package whose modules inline one another (``cells/``) is one dependency as a whole:
:func:`package_files` lists its files.
"""

import hashlib
import types
from pathlib import Path


def _probe():
    """A function whose code object is relabelled with a module's file, for Numba's locators."""


def numba_cache_dir(module_file):
    """The directory in which Numba caches the functions of ``module_file``.

    Found by Numba's own cache machinery, so that ``NUMBA_CACHE_DIR``, a read-only installation (the
    user-wide cache) and ``NUMBA_CACHE_LOCATOR_CLASSES`` are followed as Numba follows them; the
    ``__pycache__`` beside the module when that machinery cannot be asked. The CUDA target (numba-cuda)
    locates its cache by the same rules.

    Parameters
    ----------
    module_file : str
        ``__file__`` of the kernel module.

    Returns
    -------
    pathlib.Path
    """
    try:
        from numba.core.caching import FunctionCache

        probe = types.FunctionType(_probe.__code__.replace(co_filename=str(module_file)), {})
        return Path(FunctionCache(probe)._cache_path)
    except Exception:  # noqa: BLE001 - Numba's internals moved, or no locator fits: the in-tree default
        return Path(module_file).parent / "__pycache__"


def drop_stale_cache(module_file, dependencies):
    """Delete ``module_file``'s Numba cache entries if any of ``dependencies`` changed.

    Parameters
    ----------
    module_file : str
        ``__file__`` of the kernel module.
    dependencies : list of str
        Source files whose contents the module's compiled kernels depend on.

    Returns
    -------
    bool
        True when stale entries were deleted. Unreadable or read-only locations are left alone.
    """
    module = Path(module_file)
    try:
        digest = hashlib.sha256(b"".join(Path(d).read_bytes() for d in dependencies)).hexdigest()
    except OSError:
        return False
    cache_dir = numba_cache_dir(module)
    stamp = cache_dir / f"{module.stem}.deps-sha256"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    removed = False
    for entry in cache_dir.glob(f"{module.stem}.*.nb[ic]"):
        try:
            entry.unlink()
            removed = True
        except OSError:
            pass
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass
    return removed


def package_files(module_file):
    """The ``.py`` files of the package that holds ``module_file``, sorted (a new module counts at once)."""
    return sorted(str(path) for path in Path(module_file).parent.glob("*.py"))
