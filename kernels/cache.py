"""Keep Numba's on-disk cache honest about the files a kernel module inlines.

Numba keys a cached function on the timestamp of its *own* source file only. The time loops in
``cpu/recurrent.py`` and ``cuda/*.py`` inline the cell functions of ``cells/`` and read constants of
``config.py``: edit those (in a development checkout) and Numba would keep serving machine code built
from the old versions. :func:`drop_stale_cache` closes that gap: each kernel module calls it at import
with the files it depends on; when their contents changed since the last import, the module's cache
entries are deleted, so Numba compiles afresh. (An upgraded installation rewrites every file, which
Numba notices by itself.)

A package whose modules inline one another (``cells/``) is one dependency as a whole:
:func:`package_files` lists its files.
"""

import hashlib
from pathlib import Path


def drop_stale_cache(module_file, dependencies):
    """Delete ``module_file``'s Numba cache entries if any of ``dependencies`` changed.

    Parameters
    ----------
    module_file : str
        ``__file__`` of the kernel module (its cache lives in the ``__pycache__`` beside it).
    dependencies : list of str
        Source files whose contents the module's compiled kernels depend on.

    Returns
    -------
    bool
        True when stale entries were deleted. Unreadable or read-only locations are left alone.
    """
    module = Path(module_file)
    cache_dir = module.parent / "__pycache__"
    try:
        digest = hashlib.sha256(b"".join(Path(d).read_bytes() for d in dependencies)).hexdigest()
    except OSError:
        return False
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
        cache_dir.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass
    return removed


def package_files(module_file):
    """The ``.py`` files of the package that holds ``module_file``, sorted (a new module counts at once)."""
    return sorted(str(path) for path in Path(module_file).parent.glob("*.py"))
