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
    import pyarrow as pa

    from saeta.client import AsyncClient

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

    async def main() -> int:
        columns = args.columns.split(",") if args.columns else None
        started = time.perf_counter()
        rows = nbytes = batches = 0
        sink = None
        writer = None

        def snapshot_done(count: int) -> None:
            print(f"  snapshot: {count:,} rows; following (Ctrl-C stops)", file=sys.stderr)

        async with await AsyncClient.connect(args.gateway, session) as client:
            if args.follow:
                source = client.subscribe(args.dataset, columns, filter=conditions, on_snapshot=snapshot_done)
            else:
                source = client.stream(args.dataset, columns, args.limit, filter=conditions)
            async for batch in source:
                if args.output and writer is None:
                    sink = pa.OSFile(args.output, "wb")
                    writer = pa.ipc.new_stream(sink, batch.schema)
                if writer is not None:
                    writer.write_batch(batch)
                rows += batch.num_rows
                nbytes += batch.nbytes
                batches += 1
                if not args.quiet and (args.follow or batches % 20 == 1):
                    print(f"  {rows:>12,} rows  {nbytes / 1e6:9.1f} MB", file=sys.stderr)
        if writer is not None and sink is not None:
            writer.close()
            sink.close()
        elapsed = time.perf_counter() - started
        print(
            f"{args.dataset}: {rows:,} rows, {batches} batches, {nbytes / 1e6:.1f} MB in {elapsed:.2f}s "
            f"({rows / elapsed:,.0f} rows/s, {nbytes / 1e6 / elapsed:.1f} MB/s)"
        )
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # --follow: the socket closes, which ends the subscription
        return 0


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("query", help="stream a dataset from a gateway to this terminal")
    c.add_argument("dataset")
    c.add_argument("--gateway", required=True, metavar="URL", help="ws:// or wss:// URL of the gateway")
    c.add_argument("--session", help=f"the session token (visible to other users of this host: prefer ${SESSION_ENV})")
    c.add_argument("--session-file", metavar="FILE", help="a file holding the session token")
    c.add_argument("--columns", help="comma-separated")
    c.add_argument("--limit", type=int)
    c.add_argument("--filter", metavar="JSON", help='conditions, e.g. \'[["total", ">", 100]]\' (docs/protocol.md)')
    c.add_argument("--follow", action="store_true", help="subscribe: the snapshot, then new rows until Ctrl-C")
    c.add_argument("--output", help="write the result as an Arrow IPC stream file")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(fn=query)
