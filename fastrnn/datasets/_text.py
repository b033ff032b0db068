"""A text corpus built offline from what every Python installation has: the standard library's docs.

Nothing is shipped or downloaded: the docstrings are read from the modules of the running Python
(the Python Software Foundation License applies to them; they are used, not redistributed).
"""

import importlib
import inspect

#: standard-library modules whose docstrings make up the corpus, in this order
DOCSTRING_MODULES = (
    "argparse", "collections", "json", "textwrap", "logging", "pathlib", "functools", "itertools",
    "subprocess", "threading", "random", "statistics", "string", "datetime", "calendar", "csv", "shutil",
    "tempfile", "unittest", "doctest", "pickle", "copy", "heapq", "bisect", "fractions", "decimal", "difflib",
    "email", "http.client", "urllib.request", "zipfile", "tarfile", "configparser", "enum", "dataclasses",
    "typing", "inspect", "ast", "dis", "pdb", "gettext", "locale", "socket", "selectors", "asyncio",
    "concurrent.futures", "queue", "sched", "contextlib", "abc", "numbers", "operator", "pprint", "reprlib",
)


def _documented(module):
    """The module, its public classes and functions, and the classes' methods, in a fixed order."""
    objects = [module]
    for _, value in sorted(vars(module).items()):
        if inspect.isclass(value) or inspect.isfunction(value):
            objects.append(value)
            if inspect.isclass(value):
                objects += [method for _, method in sorted(vars(value).items()) if inspect.isfunction(method)]
    return objects


def load_python_docstrings(max_chars=None):
    """English technical prose from the docstrings of Python's standard library, as one text.

    Docstrings of the modules in :data:`DOCSTRING_MODULES`, their classes, functions and methods,
    each at most once, longer than 80 characters, restricted to printable ASCII and newlines, joined
    by blank lines. About 470 000 characters on Python 3.11 (the exact text depends on the Python
    version). Built offline from the running interpreter.

    Parameters
    ----------
    max_chars : int, optional
        Keep only the first ``max_chars`` characters.

    Returns
    -------
    str
    """
    seen, parts = set(), []
    for name in DOCSTRING_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a module a minimal Python build leaves out
            continue
        for obj in _documented(module):
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 80 and doc not in seen:
                seen.add(doc)
                parts.append("".join(ch for ch in doc if 32 <= ord(ch) < 127 or ch == "\n"))
    text = "\n\n".join(parts)
    return text if max_chars is None else text[:max_chars]
