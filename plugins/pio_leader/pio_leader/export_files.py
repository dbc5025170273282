"""The files of an export: Parquet and CSV from Arrow record batches (arro3), into zip entries."""

from __future__ import annotations

import functools
import io
import itertools
import queue
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

ROW_GROUP_ROWS = 16_384  # Parquet buffers a row group before writing it
CSV_SLICE_ROWS = 4096  # rows formatted at once: the CSV text of a slice is held 3 or 4 times over
CSV_TEXT_END = "\r"  # the database appends it to each text for CSV, so that arro3 must quote them all


def schema(names: Sequence[str], types: Sequence[str]) -> Any:
    from arro3.core import Field, Schema

    return Schema([Field(c, arrow_type(t), True) for c, t in zip(names, types, strict=True)])


def arrow_type(name: str) -> Any:
    from arro3.core import DataType

    return {
        "string": DataType.string,
        "float64": DataType.float64,
        "int64": DataType.int64,
        "bool": DataType.bool,
    }[name]()


def write_parquet(
    batches: Iterator[tuple[bytes, Any]], columns: list[str], types: list[str], sink: Any
) -> None:
    """zstd; a dictionary only for the texts that repeat (units, channels...): timestamps and numbers
    are nearly all distinct, and a dictionary would cost time and memory before being given up."""
    import arro3.io
    from arro3.core import RecordBatchReader

    failure: list[BaseException] = []

    def record_batches() -> Iterator[Any]:
        try:
            for _, batch in batches:
                yield batch
        except BaseException as e:
            failure.append(e)
            raise

    try:
        arro3.io.write_parquet(
            RecordBatchReader.from_batches(schema(columns, types), record_batches()),
            sink,
            compression="zstd(1)",
            max_row_group_size=ROW_GROUP_ROWS,
            column_dictionary_enabled={
                c: t == "string" and c != "timestamp" for c, t in zip(columns, types, strict=True)
            },
        )
    except Exception:
        if failure:  # arro3 raises a plain Exception with its text: the caller gets the original
            raise failure[0] from None
        raise


def write_csv(
    batches: Iterator[tuple[bytes, Any]], columns: list[str], types: list[str], sink: Compressor
) -> None:
    """Every text quoted (``"`` doubled inside), so that an empty text (``""``) and a NULL (nothing)
    stay apart, and numbers as they are, floats in their shortest exact form.

    arro3 writes the batch: it quotes a text only when it must, and each text ends with a carriage
    return added by the database, so it must; :func:`_finish_csv` then takes out the return before
    each closing quote, on the compressing thread.
    """
    import arro3.io

    type_of = dict(zip(columns, types, strict=True))
    sink.put(lambda: (",".join(map(csv_text, columns)) + "\n").encode())
    for prefix, batch in batches:
        for start in range(0, batch.num_rows, CSV_SLICE_ROWS):
            piece = batch.slice(start, min(CSV_SLICE_ROWS, batch.num_rows - start))
            buffer = io.BytesIO()
            arro3.io.write_csv(piece, buffer, header=False)
            sink.put(
                functools.partial(
                    _finish_csv, buffer.getvalue(), prefix, piece, [type_of[c] for c in piece.column_names]
                )
            )


def _finish_csv(data: bytes, prefix: bytes, batch: Any, types: list[str]) -> bytes:
    """The batch's lines: arro3's, once the database's returns are out and the prefix is in front of
    each; or, when the batch holds a return or a line break of its own (the counts tell, and then
    that would not be safe), made by :func:`_csv_rows`."""
    n = batch.num_rows
    texts = sum(
        n - column.null_count for column, t in zip(batch.columns, types, strict=True) if t == "string"
    )
    if data.count(b"\r") != texts or (prefix and data.count(b"\n") != n):
        return _csv_rows(batch, types, prefix)
    data = data.translate(None, b"\r")  # each return is a text's last byte, before its closing quote
    return prefix + data.replace(b"\n", b"\n" + prefix)[: -len(prefix)] if prefix else data


def _csv_rows(batch: Any, types: list[str], prefix: bytes) -> bytes:
    """The CSV lines of a batch, formatted in Python (rare: texts holding a carriage return or a line break)."""
    columns: list[Any] = [itertools.repeat(prefix.decode()[:-1])] if prefix else []
    for column, kind in zip(batch.columns, types, strict=True):
        values = column.to_pylist()
        if kind == "string":  # each ends with the database's carriage return
            columns.append(["" if v is None else csv_text(v[:-1]) for v in values])
        elif kind == "float64":
            columns.append(["" if v is None else repr(v) for v in values])
        elif kind == "bool":
            columns.append(["" if v is None else "true" if v else "false" for v in values])
        else:
            columns.append(["" if v is None else str(v) for v in values])
    return ("\n".join(map(",".join, zip(*columns, strict=False))) + "\n").encode()  # repeat() has no end


class Compressor:
    """Finishes and writes into a (deflated) zip entry from another thread: the deflate (ISA-L's, or
    zlib's) releases the GIL, so one batch is compressed while the next ones are read and formatted."""

    def __init__(self, entry: Any) -> None:
        self.entry = entry
        self._queue: queue.Queue[Callable[[], bytes] | None] = queue.Queue(maxsize=4)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="export-compress", daemon=True)

    def __enter__(self) -> Compressor:
        _deflate_with_isal(self.entry)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._failure and exc[0] is None:
            raise self._failure[0]

    def put(self, make: Callable[[], bytes]) -> None:
        """Queue the making of bytes to write (in order)."""
        if self._failure:
            raise self._failure[0]
        self._queue.put(make)

    def _run(self) -> None:
        while (make := self._queue.get()) is not None:
            if not self._failure:
                try:
                    self.entry.write(make())
                except BaseException as e:  # noqa: BLE001 - raised in the reading thread
                    self._failure.append(e)


def _deflate_with_isal(entry: Any) -> None:
    """Deflate the entry with ISA-L (python-isal) rather than zlib: the same format, four times less
    CPU (0.05 s for the 76 MB of 1,000,000 OD rows, zlib's level 1 0.2 s) and a zip 3 % smaller.

    zipfile has no public way to choose its compressor: the writer's own is replaced before the
    first byte is written. Without isal, or where zipfile's writer differs, zlib stays.
    """
    try:
        from isal import isal_zlib
    except ImportError:
        return
    if getattr(entry, "_compressor", None) is not None:
        entry._compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)  # raw deflate, as zipfile's


def zip_entry(name: str, deflated: bool) -> zipfile.ZipInfo:
    """An entry dated now; deflated at level 1. (A ZipInfo made by hand does not take the ZipFile's
    level: it would deflate at level 6, three times slower for a zip 10 % smaller.)"""
    import time

    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
    if deflated:
        setattr(
            info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", 1
        )  # 3.13 renamed it
    return info


def csv_text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
