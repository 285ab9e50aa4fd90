"""Resumable subscriptions at the connector (docs/tunnel.md, "Resumable subscriptions"): a
follower restored from any resume point it gave gives every later row once, none twice;
cursors that are not its own, or that no longer fit the files, are RESUME_UNAVAILABLE."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta.config import DatasetConfig, LiveConfig
from saeta.connector.chunks import Flush, chunk_messages
from saeta.connector.sources import file_follow, follow_cursor
from saeta.connector.sources.base import MAX_CURSOR_BYTES, Follower, Mark
from saeta.connector.sources.files import FileSource
from saeta.core.filters import parse_filter
from saeta.core.resume_token import ResumeUnavailable
from saeta.v1 import tunnel_pb2 as pb

LIVE = LiveConfig(None, 0.1)
Point = tuple[bytes | None, int]


def source(pattern: str, batch_rows: int = 2) -> FileSource:
    types = {"id": "int64", "v": "float64"}
    return FileSource(DatasetConfig("c", "csv", (pattern,), {"column_types": types}, live=LIVE), batch_rows)


def taken(follower: Follower, batches: Iterable[pa.RecordBatch], out: list[tuple[int, Point]]) -> None:
    """Each row's id, with the resume point of its place in the stream, as the writer and
    the gateway see them: a range's mark, then the rows counted since it."""
    cursor: bytes | None = None
    skip = 0
    for item in follower.marks.interleave(batches):
        if isinstance(item, Mark):
            cursor, skip = item.cursor, item.skip
            continue
        for row_id in item.column("id").to_pylist():
            out.append((row_id, (cursor, skip)))
            skip += 1


def drain(follower: Follower, out: list[tuple[int, Point]]) -> None:
    """Polls until two polls in a row find nothing (a new whole file waits one poll)."""
    idle = 0
    while idle < 2:
        got, more = follower.poll()
        taken(follower, got, out)
        idle = 0 if got or more else idle + 1


def append(path: Path, lines: Iterable[int]) -> None:
    with path.open("a") as fh:
        fh.writelines(f"{i},{i / 2}\n" for i in lines)


def run_with_appends(tmp_path: Path) -> tuple[FileSource, list[tuple[int, Point]]]:
    """A glob of CSV files followed while they grow and new ones appear; every row's id
    with the resume point of its place in the stream."""
    (tmp_path / "a.csv").write_text("id,v\n")
    append(tmp_path / "a.csv", range(0, 7))
    (tmp_path / "b.csv").write_text("id,v\n")
    append(tmp_path / "b.csv", range(100, 105))
    src = source(str(tmp_path / "*.csv"))
    follower = src.follow(None, ())
    follower.marks.on = True
    out: list[tuple[int, Point]] = []
    taken(follower, follower.snapshot(), out)
    append(tmp_path / "a.csv", range(7, 15))
    append(tmp_path / "b.csv", range(105, 109))
    drain(follower, out)
    (tmp_path / "c.csv").write_text("id,v\n")
    append(tmp_path / "c.csv", range(200, 206))
    append(tmp_path / "a.csv", range(15, 18))
    drain(follower, out)
    return src, out


def resumed(src: FileSource, point: Point) -> list[int]:
    follower = src.follow(None, ())
    follower.marks.on = True
    cursor, skip = point
    assert cursor is not None
    follower.restore(cursor, skip)
    out: list[tuple[int, Point]] = []
    taken(follower, follower.snapshot(), out)
    drain(follower, out)
    return [i for i, _ in out]


def test_a_follower_resumed_from_any_point_gives_each_later_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_follow, "POLL_BYTES", 40)  # many ranges, so points fall within them
    src, out = run_with_appends(tmp_path)
    ids = [i for i, _ in out]
    assert sorted(ids) == sorted([*range(18), *range(100, 109), *range(200, 206)])
    assert len({p for _, p in out}) > 20  # points in the snapshot, in polls, within ranges
    assert any(p[1] > 0 for _, p in out)
    for at, (_, point) in enumerate(out):
        assert sorted(resumed(src, point)) == sorted(ids[at:]), f"resumed at row {at}"


def test_whole_files_resume_within_and_after_them(tmp_path: Path) -> None:
    def write(name: str, ids: range) -> None:
        pq.write_table(pa.table({"id": list(ids), "v": [float(i) for i in ids]}), tmp_path / name)

    write("a.parquet", range(5))
    config = DatasetConfig("p", "parquet", (str(tmp_path / "*.parquet"),), {}, live=LIVE)
    src = FileSource(config, 2)
    follower = src.follow(None, ())
    follower.marks.on = True
    out: list[tuple[int, Point]] = []
    taken(follower, follower.snapshot(), out)
    write("b.parquet", range(10, 17))
    drain(follower, out)
    ids = [i for i, _ in out]
    assert sorted(ids) == [*range(5), *range(10, 17)]
    for at, (_, (cursor, skip)) in enumerate(out):
        again = src.follow(None, ())
        assert cursor is not None
        again.restore(cursor, skip)
        got: list[tuple[int, Point]] = []
        taken(again, again.snapshot(), got)
        drain(again, got)
        assert sorted(i for i, _ in got) == sorted(ids[at:]), f"resumed at row {at}"


def test_a_point_taken_before_more_was_appended_still_gives_the_rest(tmp_path: Path) -> None:
    src, out = run_with_appends(tmp_path)
    _, point = out[3]
    append(tmp_path / "b.csv", range(109, 112))
    assert sorted(resumed(src, point)) == sorted([i for i, _ in out[3:]] + [109, 110, 111])


def test_filters_count_the_rows_they_let_through(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,v\n")
    append(path, range(20))
    src = source(str(path))
    follower = src.follow(None, parse_filter([["id", ">", 9]]))
    follower.marks.on = True
    out: list[tuple[int, Point]] = []
    taken(follower, follower.snapshot(), out)
    cursor, skip = out[4][1]
    again = src.follow(None, parse_filter([["id", ">", 9]]))
    assert cursor is not None
    again.restore(cursor, skip)
    assert [i for b in again.snapshot() for i in b.column("id").to_pylist()] == list(range(14, 20))


@pytest.mark.parametrize(
    "cursor",
    [
        b"",
        b"x" * 2000,
        b"not json",
        b'{"v":1,"t":"table","c":"id","x":null}',
        b'{"v":2,"t":"files","l":true,"f":[],"d":[],"a":"000000000000"}',
        b'{"v":1,"t":"files","l":true,"f":[["zz",1,0,-1]],"d":[],"a":"000000000000"}',
        b'{"v":1,"t":"files","l":true,"f":[["000000000000",1,-5,-1]],"d":[],"a":"000000000000"}',
        b'{"v":1,"t":"files","l":"yes","f":[],"d":[],"a":"000000000000"}',
    ],
)
def test_a_cursor_that_is_not_this_followers_is_refused(tmp_path: Path, cursor: bytes) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,v\n1,1\n")
    with pytest.raises(ResumeUnavailable):
        source(str(path)).follow(None, ()).restore(cursor, 0)


def test_a_file_replaced_or_gone_since_the_point_is_refused(tmp_path: Path) -> None:
    src, out = run_with_appends(tmp_path)
    cursor, skip = out[-1][1]
    assert cursor is not None
    (tmp_path / "b.csv").unlink()
    with pytest.raises(ResumeUnavailable, match="gone"):
        src.follow(None, ()).restore(cursor, skip)
    (tmp_path / "b.csv").write_text("id,v\n1,1\n")  # another file under the same name
    with pytest.raises(ResumeUnavailable, match="replaced"):
        src.follow(None, ()).restore(cursor, skip)


def test_a_cursor_names_no_path(tmp_path: Path) -> None:
    _, out = run_with_appends(tmp_path)
    for _, (cursor, _) in out:
        assert cursor is not None and b"csv" not in cursor and str(tmp_path).encode() not in cursor
        assert json.loads(cursor)["t"] == "files"
        assert follow_cursor.decode_files(cursor).at


def test_resume_points_go_out_as_their_own_messages_before_their_range() -> None:
    batch = pa.record_batch({"id": [1, 2, 3]})
    point = pb.ArrowChunk(resume_at=pb.ResumePoint(cursor=b"c", skip=2)).SerializeToString()
    messages = list(chunk_messages([batch, Flush(point), batch, batch], 1 << 20))
    assert [rows for _, rows in messages] == [3, 0, 6]
    assert messages[1][0] == point and point[:1] == b"\x2a"


def test_how_many_files_a_cursor_holds() -> None:
    """docs/sources.md's figures: with 8-digit inodes and 10-digit offsets, a cursor of at
    most MAX_CURSOR_BYTES holds 36 followed CSV or JSON Lines files, or 98 whole files."""

    def files(n: int) -> int:
        states = tuple(
            follow_cursor.FileState(follow_cursor.path_key(str(i)), 12_345_678, 1_234_567_890, -1) for i in range(n)
        )
        return len(follow_cursor.encode_files(follow_cursor.FileCursor(True, states, (), follow_cursor.path_key("0"))))

    def whole(n: int) -> int:
        done = tuple(follow_cursor.path_key(str(i)) for i in range(n))
        return len(follow_cursor.encode_files(follow_cursor.FileCursor(True, (), done, follow_cursor.path_key("0"))))

    assert files(36) <= MAX_CURSOR_BYTES < files(37)
    assert whole(98) <= MAX_CURSOR_BYTES < whole(99)
