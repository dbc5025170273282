"""Reading the database on a thread of its own: Arrow C streams (ADBC's) read without the GIL.

arro3's ``RecordBatchReader.read_next_batch`` holds the GIL while the driver makes the next batch,
and on SQLite making the batches is the whole query: 1.1 to 1.4 s of CPU for 1,000,000 OD rows,
during which no other thread of the export could run. :func:`stream_batches` calls the stream's
``get_next`` through ctypes instead, which releases the GIL around a foreign call (ADBC's
``execute_query`` releases it too), and :func:`read_ahead` runs the whole reading, query after
query, on another thread: the database is read on one core while the batches already read are
formatted and compressed on the other.

The batches reach arro3 through the Arrow PyCapsule interface (zero-copy): the import moves the
array out of its capsule and only borrows the schema, which is released here at the stream's end.
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import threading
from collections.abc import Generator
from typing import Any, TypeVar

READ_AHEAD_BATCHES = 2  # batches read but not yet taken: memory, not speed, decides

T = TypeVar("T")

_release_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _Schema(ctypes.Structure):  # struct ArrowSchema of the Arrow C data interface
    _fields_ = [
        ("format", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("metadata", ctypes.c_char_p),
        ("flags", ctypes.c_int64),
        ("n_children", ctypes.c_int64),
        ("children", ctypes.c_void_p),
        ("dictionary", ctypes.c_void_p),
        ("release", _release_fn),
        ("private_data", ctypes.c_void_p),
    ]


class _Array(ctypes.Structure):  # struct ArrowArray
    _fields_ = [
        ("length", ctypes.c_int64),
        ("null_count", ctypes.c_int64),
        ("offset", ctypes.c_int64),
        ("n_buffers", ctypes.c_int64),
        ("n_children", ctypes.c_int64),
        ("buffers", ctypes.c_void_p),
        ("children", ctypes.c_void_p),
        ("dictionary", ctypes.c_void_p),
        ("release", _release_fn),
        ("private_data", ctypes.c_void_p),
    ]


class _Stream(ctypes.Structure):  # struct ArrowArrayStream of the Arrow C stream interface
    _fields_ = [
        ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)),
        ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)),
        ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)),
        ("release", _release_fn),
        ("private_data", ctypes.c_void_p),
    ]


class StreamError(RuntimeError):
    pass


def stream_batches(stream_address: int) -> Generator[Any, None, None]:
    """The record batches (arro3) of an Arrow C stream, each made with the GIL released.

    The stream stays its owner's: neither moved nor released here.
    """
    from arro3.core import RecordBatch

    stream = _Stream.from_address(stream_address)
    schema = _Schema()
    if stream.get_schema(stream_address, ctypes.addressof(schema)):
        raise StreamError(_last_error(stream, stream_address))
    try:
        schema_capsule = _capsule(schema, _SCHEMA)
        while True:
            array = _Array()
            if stream.get_next(stream_address, ctypes.addressof(array)):  # ctypes: GIL released
                raise StreamError(_last_error(stream, stream_address))
            if not array.release:  # a released array marks the end of the stream
                return
            try:
                batch = RecordBatch.from_arrow_pycapsule(schema_capsule, _capsule(array, _ARRAY))
            finally:
                _release(array)  # the import moved it out (then a no-op), unless it failed
            yield batch
    finally:
        schema.release(ctypes.addressof(schema))


def read_ahead(items: Generator[T, None, None], depth: int = READ_AHEAD_BATCHES) -> Generator[T, None, None]:
    """The items of a generator made on another thread, at most ``depth`` ahead of the taker.

    The generator runs, and is closed (its ``finally`` blocks: statements and streams), on that
    thread; its error is raised here. Closing this generator stops the thread and waits for it.
    """
    made: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_make, args=(items, made, stop), name="export-read", daemon=True)
    thread.start()
    try:
        while (item := made.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a blocked put through, so that the thread sees the stop
            with contextlib.suppress(queue.Empty):
                made.get(timeout=0.05)
        thread.join()


_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _make(items: Generator[Any, None, None], made: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        for item in items:
            made.put(item)
            if stop.is_set():
                return
        made.put(_END)
    except BaseException as e:  # noqa: BLE001 - raised in the taking thread
        made.put(_Failure(e))
    finally:
        items.close()


def _last_error(stream: _Stream, address: int) -> str:
    message = stream.get_last_error(address)
    return message.decode(errors="replace") if message else "the Arrow stream failed"


def _release(array: _Array) -> None:
    if array.release:
        array.release(ctypes.addressof(array))


_SCHEMA, _ARRAY = b"arrow_schema", b"arrow_array"  # the capsules point to these names
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


def _capsule(struct: ctypes.Structure, name: bytes) -> Any:
    """A PyCapsule over a struct that stays this module's: no destructor."""
    return _capsule_new(ctypes.addressof(struct), name, None)
