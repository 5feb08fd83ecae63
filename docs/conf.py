"""Sphinx configuration for the asyncframe documentation."""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.ext import intersphinx

import asyncframe

project = "asyncframe"
author = "The asyncframe developers"
copyright = "2026, the asyncframe developers"
release = asyncframe.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}

# Every cross-reference must resolve: a broken one is an error in CI (sphinx-build -n -W).
nitpicky = True
nitpick_ignore = [
    # Type variables in signatures: they name no documented object.
    ("py:class", "asyncframe._producers._T"),
    ("py:class", "_T"),
]

# The inventories are files in the repository, not downloads: the docs are built where
# there is no network (CI included). The links still point at the projects' public docs.
# python.inv is the CPython 3.11 docs' own inventory (Debian's python3.11-doc package);
# trio.inv, anyio.inv, attrs.inv, twisted.inv and hypothesis.inv list just the names these docs
# refer to, each
# checked against that project's documentation sources. intersphinx/make_inventories.py
# writes them all; add a name there when a page starts referring to it.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", "intersphinx/python.inv"),
    "trio": ("https://trio.readthedocs.io/en/stable", "intersphinx/trio.inv"),
    "anyio": ("https://anyio.readthedocs.io/en/stable", "intersphinx/anyio.inv"),
    "attrs": ("https://www.attrs.org/en/stable", "intersphinx/attrs.inv"),
    "hypothesis": ("https://hypothesis.readthedocs.io/en/latest", "intersphinx/hypothesis.inv"),
    "twisted": ("https://docs.twisted.org/en/stable/api", "intersphinx/twisted.inv"),
}

#: Names that type hints resolve to, and the public name each is documented under.
PUBLIC_NAMES = {
    "_asyncio.Future": "asyncio.Future",
    "asyncio.base_events.Server": "asyncio.Server",
    "asyncio.transports.BaseTransport": "asyncio.BaseTransport",
    # The adapters import ssl under another name (their ssl= argument takes it).
    "ssl_module.SSLContext": "ssl.SSLContext",
    # testing.py imports it for type checking only, so the hint stays a bare name.
    "SearchStrategy": "hypothesis.strategies.SearchStrategy",
    # Hints name the class where it is defined; the docs list it where it is exported.
    "asyncframe._producers.OutputQueue": "asyncframe.OutputQueue",
}

copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True

html_theme = "furo"
html_title = f"asyncframe {release}"
exclude_patterns = ["_build"]


def _public_name(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> Any:
    """Resolve a reference to an implementation's module path by its public name."""
    public = PUBLIC_NAMES.get(node.get("reftarget"))
    if public is None:
        return None
    node["reftarget"] = public
    if public.startswith("asyncframe."):
        domain = env.get_domain("py")
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
        )
    return intersphinx.missing_reference(app, env, node, contnode)


def setup(app: Sphinx) -> None:
    """Resolve the public names before intersphinx gives up on the private ones."""
    app.connect("missing-reference", _public_name, priority=400)
