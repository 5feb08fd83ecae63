"""``python -m asyncframe``: the command line (demo, serve, bench)."""

from asyncframe._cli import main

raise SystemExit(main(prog="python -m asyncframe"))
