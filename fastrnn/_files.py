"""Writing a file so that it appears complete, or not at all."""

import os
import secrets


def write_atomically(path, write):
    """Call ``write(file)`` on a new file next to ``path``, then rename it to ``path``.

    ``path`` is a str or os.PathLike; if ``write`` (or anything before the rename) fails, the
    temporary file is removed and whatever was at ``path`` is left as it was. The temporary file is
    opened exclusively under a fresh name, so it gets the permissions of the umask, as a file
    opened for writing would (``tempfile.mkstemp`` would make it private to the user); it is
    flushed to disk before the rename.

    Raises
    ------
    FileNotFoundError
        When the folder of ``path`` does not exist.
    """
    target = os.path.abspath(os.fsdecode(os.fspath(path)))
    folder, name = os.path.split(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {os.fsdecode(os.fspath(path))!r}: the folder {folder!r} does not "
                                f"exist.")
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    file = open(temporary, "xb")  # from here on the temporary file is ours to remove
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        os.remove(temporary)
        raise
