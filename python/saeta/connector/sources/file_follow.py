"""Following a file dataset for a subscription: the snapshot, then what is appended to
its CSV and JSON Lines files, and files that newly match its globs.

A CSV or JSON Lines file is read by byte ranges that end at a newline: the snapshot reads
each file up to its size when the subscription starts, and each poll reads what was
appended since, complete lines only (a line still being written waits for its newline).
Each range is parsed on its own (a CSV range behind the file's header lines), with the
dataset's types imposed, then filtered and projected. A poll reads at most
``POLL_BYTES``, so memory stays bounded however fast a file grows; the caller polls
again at once when more is waiting. Parquet files and JSON arrays are not appended to:
they are read whole, when they first match (once their size held still for one poll).

A file that vanishes, shrinks or is replaced while followed ends the subscription with
SOURCE_ERROR: rows cannot be followed across a rotation without losing or repeating some.
A CSV record with a newline inside quotes cannot be followed (it would be cut in two).

Resumable subscriptions (docs/tunnel.md): each range read is marked with the follower's
state before it (follow_cursor.py encodes it), and ``restore`` puts a follower back there.

Why one file: the reading and the resume position are the same state (each file's
offset, the snapshot's ends, the whole files read); split, each half would reach into
the other's fields.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from saeta.config import DatasetConfig
from saeta.connector.sources import follow_cursor
from saeta.connector.sources.base import Marks, project
from saeta.connector.sources.file_filter import to_expression
from saeta.core.arrow_types import json_readable
from saeta.core.filters import Condition, bind, kinds_of
from saeta.core.resume_token import ResumeUnavailable
from saeta.errors import SourceError

POLL_BYTES = 4 * 1024 * 1024
_NOT_SPACE = re.compile(rb"\S")


@dataclass
class _Followed:
    inode: int
    pos: int  # bytes read so far, always just after a newline (or 0)
    preamble: bytes = b""  # CSV: the lines before the data (skipped rows, the header)


@dataclass
class _Pending:
    size: int
    mtime_ns: int


class FollowedFiles(Protocol):
    """What a follower reads of its source (sources/files.py's FileSource, which builds
    followers: this module does not import it back)."""

    name: str
    cfg: DatasetConfig
    batch_rows: int

    def schema(self) -> pa.Schema: ...

    def files(self) -> list[str]: ...

    def is_json_array(self, path: str) -> bool: ...

    def csv_options(self) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]: ...

    def read(
        self,
        partition: int,
        columns: tuple[str, ...] | None,
        limit: int | None,
        conditions: Sequence[Condition] = (),
    ) -> Iterator[pa.RecordBatch]: ...


@dataclass
class FileFollower:
    source: FollowedFiles
    columns: tuple[str, ...] | None
    conditions: Sequence[Condition]
    poll_seconds: float
    _followed: dict[str, _Followed] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)  # whole-file formats, read once
    _pending: dict[str, _Pending] = field(default_factory=dict)
    marks: Marks = field(default_factory=Marks)
    _live: bool = False  # the snapshot is over
    _snap_end: dict[str, int] = field(default_factory=dict)  # the file whose snapshot is being read: its end
    _skip: tuple[str, int] | None = None  # restored: rows of that file's first range not given again

    def __post_init__(self) -> None:
        full = self.source.schema()
        self._target = project(full, self.columns, self.source.name)
        bound = bind(self.conditions, kinds_of(full), self.source.name)
        self._where = to_expression(bound, full)
        needed = list(self._target.names) + sorted({b.column for b in bound} - set(self._target.names))
        self._needed = pa.schema([full.field(n) for n in needed])
        self._parse = self._parser()

    # --- the Follower protocol

    def snapshot(self) -> Iterator[pa.RecordBatch]:
        if self._live:  # restored after the snapshot
            return
        for path in self.source.files():
            if path in self._done:
                continue
            state = self._followed.get(path)
            if self._tailable(path):
                if state is None:
                    st = self._stat(path)
                    state = _Followed(st.st_ino, 0)
                    self._followed[path] = state
                    end = st.st_size
                else:  # restored: the file whose snapshot was being read, or one done
                    end = self._snap_end.get(path, -1)
                self._snap_end[path] = end
                while state.pos < end:
                    before = state.pos
                    self._begin(path)
                    yield from self._given(path, self._read_range(path, state, end))
                    if state.pos == before:  # only a line still being written is left
                        break
                self._snap_end.pop(path, None)
            else:
                self._begin(path)
                self._done.add(path)
                yield from self._given(path, self._whole(path))
        self._live = True

    def poll(self) -> tuple[list[pa.RecordBatch], bool]:
        """New rows since the last call, and whether more is already waiting (a poll reads
        at most about POLL_BYTES)."""
        budget = POLL_BYTES
        out: list[pa.RecordBatch] = []
        more = False
        for path, state in list(self._followed.items()):
            st = self._stat(path)
            if st.st_ino != state.inode or st.st_size < state.pos:
                raise SourceError(f"dataset {self.source.name}: {Path(path).name} was truncated or replaced")
            if st.st_size > state.pos:
                if budget <= 0:
                    more = True
                    continue
                before = state.pos
                self._begin(path)
                out += self._given(path, self._read_range(path, state, min(st.st_size, state.pos + budget)))
                budget -= state.pos - before
                more = more or self._complete_line_left(path, state, st.st_size)
        for path in self._new_files():
            if budget <= 0:
                more = True
                break
            self._begin(path)
            if self._tailable(path):
                st = self._stat(path)
                state = _Followed(st.st_ino, 0)
                self._followed[path] = state
                out += self._given(path, self._read_range(path, state, min(st.st_size, budget)))
                budget -= state.pos
                more = more or self._complete_line_left(path, state, st.st_size)
            else:
                self._done.add(path)
                out += self._given(path, self._whole(path))
                budget -= os.path.getsize(path)
        return out, more

    # --- resumption (docs/tunnel.md, "Resumable subscriptions")

    def restore(self, cursor: bytes, skip: int) -> None:
        saved = follow_cursor.decode_files(cursor)
        try:
            by_key = {follow_cursor.path_key(p): p for p in self.source.files()}
        except SourceError:
            by_key = {}

        def path_of(key: str) -> str:
            path = by_key.get(key)
            if path is None:
                raise ResumeUnavailable(
                    f"dataset {self.source.name}: a file it followed is gone; follow it again from its snapshot"
                )
            return path

        for f in saved.files:
            path = path_of(f.key)
            st = self._stat(path)
            if st.st_ino != f.inode or st.st_size < f.pos:
                raise ResumeUnavailable(
                    f"dataset {self.source.name}: {Path(path).name} was truncated or replaced since; "
                    "follow it again from its snapshot"
                )
            self._followed[path] = _Followed(f.inode, f.pos, self._preamble_of(path) if f.pos else b"")
            if f.snap_end >= 0:
                self._snap_end[path] = f.snap_end
        self._done.update(path_of(k) for k in saved.done)
        self._live = saved.live
        self._skip = (path_of(saved.at), skip) if skip > 0 else None

    def _begin(self, path: str) -> None:
        """A range of ``path`` begins: its mark, with the state as it is before the read."""
        skip = self._skip[1] if self._skip is not None and self._skip[0] == path else 0
        self.marks.begin(functools.partial(self._cursor, path), skip)

    def _cursor(self, at: str) -> bytes:
        key = follow_cursor.path_key
        return follow_cursor.encode_files(
            follow_cursor.FileCursor(
                self._live,
                tuple(
                    follow_cursor.FileState(key(p), s.inode, s.pos, self._snap_end.get(p, -1))
                    for p, s in self._followed.items()
                ),
                tuple(sorted(key(p) for p in self._done)),
                key(at),
            )
        )

    def _given(self, path: str, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` of ``path`` as given out: less the rows a restored follower skips
        (its first range), counted for the marks."""
        skip = 0
        if self._skip is not None and self._skip[0] == path:
            skip, self._skip = self._skip[1], None
        for batch in batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            if skip:
                batch, skip = batch.slice(skip), 0
            self.marks.gave((batch,))
            yield batch
        if skip:
            raise ResumeUnavailable(
                f"dataset {self.source.name}: {Path(path).name} holds fewer rows than when the subscription "
                "was interrupted; follow it again from its snapshot"
            )

    def _preamble_of(self, path: str) -> bytes:
        """A CSV file's lines before its data (skipped rows, the header), read again."""
        if self.source.cfg.type != "csv":
            return b""
        try:
            with open(path, "rb") as fh:
                data = fh.read(POLL_BYTES)
        except OSError as exc:
            raise SourceError(f"dataset {self.source.name}: reading {Path(path).name}: {exc.strerror}") from None
        return data[: self._preamble_end(data, data.rfind(b"\n") + 1)]

    def _complete_line_left(self, path: str, state: _Followed, size: int) -> bool:
        """Whether a whole line is waiting past ``state.pos`` (the read stopped short). Looks
        64 KiB ahead at most: a longer line waits for the next regular poll."""
        if size <= state.pos:
            return False
        with open(path, "rb") as fh:
            fh.seek(state.pos)
            return b"\n" in fh.read(min(size - state.pos, 64 * 1024))

    def close(self) -> None:
        """Nothing is held open between polls."""

    # --- files

    def _tailable(self, path: str) -> bool:
        return self.source.cfg.type == "csv" or (self.source.cfg.type == "json" and not self.source.is_json_array(path))

    def _stat(self, path: str) -> os.stat_result:
        try:
            return os.stat(path)
        except FileNotFoundError:
            raise SourceError(f"dataset {self.source.name}: {Path(path).name} vanished") from None
        except OSError as exc:
            raise SourceError(f"dataset {self.source.name}: {Path(path).name}: {exc.strerror}") from None

    def _new_files(self) -> list[str]:
        """Files that newly match; a whole-file format only once its size and mtime held
        still since the last poll (it may still be being written)."""
        try:
            found = self.source.files()
        except SourceError:
            return []  # every file gone: the followed ones report it
        fresh = []
        for path in found:
            if path in self._followed or path in self._done:
                continue
            if self._tailable(path):
                fresh.append(path)
                continue
            st = self._stat(path)
            seen = self._pending.get(path)
            now = _Pending(st.st_size, st.st_mtime_ns)
            if seen == now:
                del self._pending[path]
                fresh.append(path)
            else:
                self._pending[path] = now
        return fresh

    def _whole(self, path: str) -> Iterator[pa.RecordBatch]:
        index = self.source.files().index(path)
        yield from self.source.read(index, tuple(self._target.names), None, self.conditions)

    def _read_range(self, path: str, state: _Followed, end: int) -> list[pa.RecordBatch]:
        """Rows of ``path`` between ``state.pos`` and the last newline before ``end``;
        advances ``state.pos``. At most POLL_BYTES are read at once, and the bytes are
        copied once more only to put a CSV file's header lines in front of them."""
        end = min(end, state.pos + POLL_BYTES)
        try:
            with open(path, "rb") as fh:
                fh.seek(state.pos)
                data = fh.read(end - state.pos)
        except OSError as exc:
            raise SourceError(f"dataset {self.source.name}: reading {Path(path).name}: {exc.strerror}") from None
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) >= POLL_BYTES:
                name = Path(path).name
                raise SourceError(f"dataset {self.source.name}: {name} has a line over {POLL_BYTES >> 20} MiB")
            return []
        start = 0
        if state.pos == 0 and self.source.cfg.type == "csv":
            start = self._preamble_end(data, cut)
            state.preamble = data[:start]
        state.pos += cut
        if not _NOT_SPACE.search(data, start, cut):
            return []
        body = memoryview(data)[start:cut]
        buffer = pa.py_buffer(b"".join((state.preamble, body)) if state.preamble else body)
        try:
            table = self._parse(buffer)
        except (pa.ArrowException, ValueError) as exc:
            raise SourceError(
                f"dataset {self.source.name}: new rows could not be parsed", detail=f"{path}: {exc}"
            ) from None
        if self._where is not None:
            table = table.filter(self._where)
        batches: list[pa.RecordBatch] = table.select(self._target.names).to_batches(
            max_chunksize=self.source.batch_rows
        )
        return batches

    def _preamble_end(self, data: bytes, cut: int) -> int:
        """Where a CSV file's data starts: after its skipped rows and its header, if any."""
        opts = self.source.cfg.options
        lines = int(opts.get("skip_rows", 0)) + (1 if opts.get("header", True) else 0)
        at = 0
        for _ in range(lines):
            nl = data.find(b"\n", at, cut)
            if nl < 0:
                return cut
            at = nl + 1
        return at

    def _parser(self) -> Callable[[pa.Buffer], pa.Table]:
        """Parses a range of the dataset's format into the needed columns and types; its
        options are made once per follower."""
        needed = self._needed
        if self.source.cfg.type == "csv":
            read, parse, convert = self.source.csv_options()
            convert.column_types = {f.name: f.type for f in needed}
            convert.include_columns = needed.names
            convert.include_missing_columns = True

            def raw(buf: pa.Buffer) -> pa.Table:
                reader = pa.BufferReader(buf)
                return pacsv.read_csv(reader, read_options=read, parse_options=parse, convert_options=convert)

        else:
            readable = pa.schema([f.with_type(json_readable(f.type)) for f in needed])
            options = pajson.ParseOptions(explicit_schema=readable, unexpected_field_behavior="ignore")

            def raw(buf: pa.Buffer) -> pa.Table:
                return pajson.read_json(pa.BufferReader(buf), parse_options=options)

        return lambda buf: raw(buf).select(needed.names).cast(needed)
