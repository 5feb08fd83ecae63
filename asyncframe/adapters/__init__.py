"""Adapters that run a :class:`~asyncframe.Channel` or :class:`~asyncframe.Handler` on an
I/O framework: selectors, asyncio, trio, anyio, Twisted, and the classic asynchat API."""
