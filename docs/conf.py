"""Sphinx configuration of the fastrnn manual.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors). Pages are Markdown
(myst-parser); the API reference is generated from the docstrings (autodoc + numpydoc). Nothing is
executed at build time besides importing fastrnn: neither PyTorch nor numba-cuda is needed.
"""

import fastrnn  # the installed package (python -m pip install -e ".[docs]")

project = "fastrnn"
author = "fastrnn developers"
copyright = "2026, fastrnn developers"
version = release = fastrnn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Markdown
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autoclass_content = "class"
# No autodoc_mock_imports: fastrnn imports neither PyTorch nor numba-cuda at module level.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"fastrnn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
