"""Write the intersphinx inventories that ``docs/conf.py`` reads: ``python -m`` or run it.

The docs are built without network access, so intersphinx cannot download the
``objects.inv`` of other projects. Instead:

- ``python.inv`` is CPython's own inventory, copied from Debian's ``python3.11-doc``
  package (``apt-get install python3.11-doc``); pass another path with ``--python``.
- ``trio.inv``, ``anyio.inv``, ``attrs.inv``, ``twisted.inv`` and ``hypothesis.inv`` are
  written from the tables below:
  only the names these docs refer to, each with the page its project documents it on
  (looked up in that project's documentation sources). When a page of these docs starts
  referring to another of their names, add it here and run this script again;
  ``sphinx-build -n`` reports any name it cannot resolve.
"""

from __future__ import annotations

import argparse
import shutil
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEBIAN_PYTHON_INVENTORY = Path("/usr/share/doc/python3.11/html/objects.inv")

#: project -> (name, Sphinx domain:role, page of its docs) for each name referred to.
INVENTORIES: dict[str, list[tuple[str, str, str]]] = {
    # trio's docs/source/reference-core.rst and reference-io.rst.
    "trio": [
        ("trio.Nursery", "py:class", "reference-core.html"),
        ("trio.TaskStatus", "py:class", "reference-core.html"),
        ("trio.TASK_STATUS_IGNORED", "py:attribute", "reference-core.html"),
        ("trio.open_nursery", "py:function", "reference-core.html"),
        ("trio.run", "py:function", "reference-core.html"),
        ("trio.abc.Stream", "py:class", "reference-io.html"),
        ("trio.SSLStream", "py:class", "reference-io.html"),
        ("trio.SocketStream", "py:class", "reference-io.html"),
        ("trio.SocketListener", "py:class", "reference-io.html"),
        ("trio.open_tcp_stream", "py:function", "reference-io.html"),
        ("trio.serve_tcp", "py:function", "reference-io.html"),
    ],
    # anyio's docs/api.rst (one page: the API reference).
    "anyio": [
        ("anyio.run", "py:function", "api.html"),
        ("anyio.connect_tcp", "py:function", "api.html"),
        ("anyio.BrokenResourceError", "py:exception", "api.html"),
        ("anyio.abc.ByteStream", "py:class", "api.html"),
        ("anyio.abc.SocketListener", "py:class", "api.html"),
        ("anyio.abc.TaskStatus", "py:class", "api.html"),
        ("anyio.streams.tls.TLSStream", "py:class", "api.html"),
        ("anyio.streams.tls.TLSStream.wrap", "py:method", "api.html"),
    ],
    # attrs's docs/api.rst.
    "attrs": [
        ("attrs.frozen", "py:function", "api.html"),
        ("attrs.evolve", "py:function", "api.html"),
    ],
    # Twisted's API reference (pydoctor: a page per class, one per module).
    "twisted": [
        ("twisted.internet.defer.Deferred", "py:class", "twisted.internet.defer.Deferred.html"),
        ("twisted.python.failure.Failure", "py:class", "twisted.python.failure.Failure.html"),
        (
            "twisted.internet.endpoints.serverFromString",
            "py:function",
            "twisted.internet.endpoints.html",
        ),
        (
            "twisted.internet.endpoints.clientFromString",
            "py:function",
            "twisted.internet.endpoints.html",
        ),
        (
            "twisted.internet.threads.blockingCallFromThread",
            "py:function",
            "twisted.internet.threads.html",
        ),
    ],
    # hypothesis's docs/reference/strategies.rst and reference/api.rst.
    "hypothesis": [
        ("hypothesis.strategies.SearchStrategy", "py:class", "reference/strategies.html"),
        ("hypothesis.stateful.RuleBasedStateMachine", "py:class", "reference/api.html"),
    ],
}


def inventory(project: str, entries: list[tuple[str, str, str]]) -> bytes:
    """Return a Sphinx version 2 inventory of *entries* (anchors are the names)."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    # name domain:role priority uri display-name; "$" in the uri stands for the name.
    body = "".join(f"{name} {role} 1 {page}#$ -\n" for name, role, page in sorted(entries))
    return header.encode("utf-8") + zlib.compress(body.encode("utf-8"), 9)


def main(argv: list[str] | None = None) -> None:
    """Write every inventory next to this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=DEBIAN_PYTHON_INVENTORY)
    args = parser.parse_args(argv)
    shutil.copyfile(args.python, HERE / "python.inv")
    for project, entries in INVENTORIES.items():
        (HERE / f"{project}.inv").write_bytes(inventory(project, entries))
    print(f"wrote {', '.join(['python', *INVENTORIES])} inventories to {HERE}")


if __name__ == "__main__":
    main()
