"""An Arrow C stream (ADBC's) read ahead on a thread of its own, without the GIL.

arro3's ``RecordBatchReader.read_next_batch`` holds the GIL while the driver makes the next batch,
and on SQLite making the batches is the whole query: 1.1 to 1.4 s of CPU for 1,000,000 OD rows,
during which no other thread of the export could run. Here the stream's ``get_next`` is called
through ctypes, which releases the GIL around a foreign call: the database is read on one core
while the batches already read are formatted and compressed on the other.

The batches reach arro3 through the Arrow PyCapsule interface (zero-copy): the array is moved out
of its capsule by the import, the schema only borrowed, so it is released here at the end.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Generator
from typing import Any

READ_AHEAD_BATCHES = 2  # batches read but not yet taken: memory, not speed, decides

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


def read_ahead(stream_address: int, depth: int = READ_AHEAD_BATCHES) -> Generator[Any, None, None]:
    """The stream's record batches (arro3), read ahead on another thread, at most ``depth`` ahead.

    The stream stays its owner's (it is neither moved nor released here): the owner releases it
    once this generator is closed (which waits for the reading thread).
    """
    from arro3.core import RecordBatch

    stream = _Stream.from_address(stream_address)
    schema = _Schema()
    if stream.get_schema(stream_address, ctypes.addressof(schema)):
        raise StreamError(_last_error(stream, stream_address))
    schema_capsule = _capsule(schema, _SCHEMA)
    arrays: queue.Queue[_Array | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read, args=(stream, stream_address, arrays, stop), name="export-read", daemon=True
    )
    reader.start()
    try:
        while (array := arrays.get()) is not None:
            if isinstance(array, BaseException):
                raise array
            try:
                batch = RecordBatch.from_arrow_pycapsule(schema_capsule, _capsule(array, _ARRAY))
            finally:
                _release(array)  # the import moved it out (then a no-op), unless it failed
            yield batch
    finally:
        stop.set()
        while reader.is_alive() or not arrays.empty():  # unblock the reader, free what it read
            try:
                left = arrays.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(left, _Array):
                _release(left)
        reader.join()
        schema.release(ctypes.addressof(schema))


def _read(
    stream: _Stream,
    address: int,
    arrays: queue.Queue[_Array | BaseException | None],
    stop: threading.Event,
) -> None:
    try:
        while not stop.is_set():
            array = _Array()
            if stream.get_next(address, ctypes.addressof(array)):  # ctypes: the GIL is released
                arrays.put(StreamError(_last_error(stream, address)))
                return
            if not array.release:  # a released array marks the end of the stream
                arrays.put(None)
                return
            arrays.put(array)
    except BaseException as e:  # noqa: BLE001 - raised in the consuming thread
        arrays.put(e)


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
