"""`saeta query`: stream a dataset from a gateway to this terminal (or an Arrow file)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

SESSION_ENV = "SAETA_SESSION"
FORMATS = ("csv", "parquet", "arrow", "feather")  # --format (cli/query_output.py writes them)


def session_of(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """The session: --session, else the file --session-file names (whitespace around it
    dropped), else $SAETA_SESSION; None when none is given. Raises OSError for a file that
    cannot be read."""
    if args.session:
        return str(args.session)
    if args.session_file:
        return Path(args.session_file).read_text().strip() or None
    return environ.get(SESSION_ENV) or None


def query(args: argparse.Namespace) -> int:
    from websockets.exceptions import InvalidHandshake, InvalidMessage, InvalidURI

    from saeta.cli.query_output import Output, format_of
    from saeta.client import AsyncClient, QueryInfo

    try:
        session = session_of(args, os.environ)
    except OSError as exc:
        print(f"saeta query: cannot read --session-file {args.session_file}: {exc.strerror}", file=sys.stderr)
        return 2
    if session is None:
        print(
            f"saeta query: no session: pass --session-file FILE or set {SESSION_ENV} "
            "(or --session, which other users of this host can see)",
            file=sys.stderr,
        )
        return 2

    try:
        conditions = json.loads(args.filter) if args.filter else None
    except ValueError:
        print('saeta query: --filter must be JSON, e.g. \'[["total", ">", 100]]\'', file=sys.stderr)
        return 2
    if args.follow and args.limit is not None:
        print("saeta query: --follow takes no --limit", file=sys.stderr)
        return 2

    out = Output(args.output, format_of(args.output, args.format)) if args.output else None
    log = sys.stderr  # the summary too when the rows go to stdout

    async def main() -> int:
        columns = args.columns.split(",") if args.columns else None
        started = time.perf_counter()
        rows = nbytes = batches = 0
        total: list[int | None] = [None]

        def snapshot_done(count: int) -> None:
            print(f"  snapshot: {count:,} rows; following (Ctrl-C stops)", file=log)

        def on_info(info: QueryInfo) -> None:
            total[0] = info.total_records

        async with await AsyncClient.connect(args.gateway, session) as client:
            if args.follow:
                source = client.subscribe(args.dataset, columns, filter=conditions, on_snapshot=snapshot_done)
            else:
                source = client.stream(args.dataset, columns, args.limit, filter=conditions, on_info=on_info)
            async for batch in source:
                if out is not None:
                    out.write(batch)
                rows += batch.num_rows
                nbytes += batch.nbytes
                batches += 1
                if not args.quiet and (args.follow or batches % 20 == 1):
                    print(
                        progress(rows, nbytes, expected(total[0], args.limit), time.perf_counter() - started), file=log
                    )
        if out is not None:
            out.close()
        elapsed = time.perf_counter() - started
        summary = (
            f"{args.dataset}: {rows:,} rows, {batches} batches, {nbytes / 1e6:.1f} MB in {elapsed:.2f}s "
            f"({rows / elapsed:,.0f} rows/s, {nbytes / 1e6 / elapsed:.1f} MB/s)"
        )
        print(summary, file=log if args.output == "-" else sys.stdout)
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # --follow: the socket closes, which ends the subscription
        return 0
    except InvalidURI as exc:
        print(
            f"saeta query: {args.gateway!r} is not a gateway URL (ws://HOST:PORT or wss://HOST:PORT): {exc}", file=log
        )
        return 2
    except (OSError, TimeoutError, InvalidHandshake, InvalidMessage) as exc:
        print(f"saeta query: cannot reach the gateway at {args.gateway}: {exc}", file=log)
        return 1


def expected(total_records: int | None, limit: int | None) -> int | None:
    """How many rows the query will give, when known: the source's count, capped by the limit."""
    if total_records is None or total_records < 0:
        return limit
    return total_records if limit is None else min(total_records, limit)


def progress(rows: int, nbytes: int, total: int | None, elapsed: float) -> str:
    """One progress line: rows and MB so far, and with a known total its share and an ETA."""
    line = f"  {rows:>12,} rows  {nbytes / 1e6:9.1f} MB"
    if total:
        share = min(rows / total, 1.0)
        eta = elapsed * (total - rows) / rows if rows and rows < total else 0.0
        line += f"  {share:6.1%} of {total:,}  ETA {eta:,.0f}s"
    return line


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "query",
        help="stream a dataset from a gateway to this terminal or a file",
        description="Streams DATASET from a gateway over the browser protocol (docs/protocol.md), printing "
        "progress (with a share and an ETA when the source knows its row count) and a summary.",
        epilog="examples:\n"
        "  SAETA_SESSION=$(cat ~/.saeta-session) saeta query ventas --gateway wss://dash.example.com\n"
        "  saeta query ventas --gateway ws://127.0.0.1:8081 --session-file s.txt --limit 1000 --output ventas.parquet\n"
        '  saeta query ventas --gateway ws://127.0.0.1:8081 --session-file s.txt --filter \'[["total", ">", 100]]\' '
        "--output - | head\n"
        "exit codes: 0 done, 1 the gateway unreachable or the query refused, 2 a bad argument or no session",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("dataset", help="the dataset's name (see the dashboard's list, or the session's datasets)")
    c.add_argument("--gateway", required=True, metavar="URL", help="ws:// or wss:// URL of the gateway")
    c.add_argument("--session", help=f"the session token (visible to other users of this host: prefer ${SESSION_ENV})")
    c.add_argument("--session-file", metavar="FILE", help="a file holding the session token")
    c.add_argument("--columns", metavar="A,B", help="only these columns, comma-separated")
    c.add_argument("--limit", type=int, metavar="N", help="at most N rows")
    c.add_argument("--filter", metavar="JSON", help='conditions, e.g. \'[["total", ">", 100]]\' (docs/protocol.md)')
    c.add_argument("--follow", action="store_true", help="subscribe: the snapshot, then new rows until Ctrl-C")
    c.add_argument(
        "--output",
        metavar="FILE",
        help="write the rows to FILE as they arrive: .csv, .parquet, .arrow (IPC stream) or .feather (IPC file) "
        "by its extension; - for stdout (CSV)",
    )
    c.add_argument("--format", choices=FORMATS, help="the output's format, whatever its extension")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.set_defaults(fn=query)
