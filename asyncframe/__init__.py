"""asyncframe: a sans-IO state machine for terminator-framed ("chat style") protocols.

The public API is re-exported here; everything in underscore modules is private.
Adapters for I/O frameworks live in :mod:`asyncframe.adapters`.
"""

from ._channel import Channel
from ._driver import AcceptBackoff, Driver, Options, State, TLSUpgrade, start_handler
from ._errors import DataAfterEOF, FrameTooLong, ProtocolError, SendAfterClose
from ._events import NEED_DATA, ConnectionClosed, Data, Event, NeedData, Terminator, TerminatorSpec
from ._framing import DEFAULT_MAX_FRAME_SIZE, find_prefix_at_end
from ._handler import Handler
from ._producers import OutputQueue, Producer, fifo, simple_producer
from ._records import DEFAULT_MAX_RECORD_SIZE, DecimalPrefix, MarkedLines, RecordKind, StructPrefix

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_RECORD_SIZE",
    "NEED_DATA",
    "AcceptBackoff",
    "Channel",
    "ConnectionClosed",
    "Data",
    "DataAfterEOF",
    "DecimalPrefix",
    "Driver",
    "Event",
    "FrameTooLong",
    "Handler",
    "MarkedLines",
    "NeedData",
    "Options",
    "OutputQueue",
    "Producer",
    "ProtocolError",
    "RecordKind",
    "SendAfterClose",
    "State",
    "StructPrefix",
    "TLSUpgrade",
    "Terminator",
    "TerminatorSpec",
    "fifo",
    "find_prefix_at_end",
    "simple_producer",
    "start_handler",
]
