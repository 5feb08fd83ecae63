"""Sphinx configuration for the asyncframe documentation."""

from __future__ import annotations

import asyncframe

project = "asyncframe"
author = "The asyncframe developers"
copyright = "2026, the asyncframe developers"
release = asyncframe.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}
nitpicky = False

html_theme = "furo"
html_title = f"asyncframe {release}"
exclude_patterns = ["_build"]
