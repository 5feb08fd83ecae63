"""Benchmarks of asyncframe against its peers (run with ``python -m asyncframe bench``)."""
