"""A million-row PostgreSQL table streamed by saeta (connector -> gateway -> WebSocket ->
pyarrow) with projection, filter and limit, against baselines measured in the same run:

- COPY (SELECT ... WHERE <literal values> LIMIT n) TO STDOUT (FORMAT binary) decoded into
  Arrow in-process: the ADBC driver runs a query without parameters exactly so, and
  decodes the binary COPY stream with nanoarrow;
- the same COPY through psql into /dev/null: the server's side alone, no decoding.

saeta binds the filter's values (never writes them into SQL), which puts the driver on its
prepared-statement path; the unfiltered query (projection and limit only) shows the COPY
path through saeta. Usage: python benchmarks/postgres.py [--rows N] [--runs N]"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import adbc_driver_postgresql.dbapi as pg  # type: ignore[import-untyped]  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.client import Client  # noqa: E402

from benchmarks.e2e import deployment  # noqa: E402
from benchmarks.report import save  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402
from tests.system.postgres_server import PASSWORD, PostgresServer  # noqa: E402

COLUMNS = ("id", "momento", "cantidad", "precio", "total", "producto")
QUERY_LIMIT = 800_000
FILTER = [["cantidad", ">", 0], ["precio", "<", 95.0]]  # keeps about 89% of the rows
FILTER_SQL = "cantidad > 0 AND precio < 95.0"


def fill(server: PostgresServer, rows: int) -> None:
    generate = f"generate_series(1, {int(rows)})"
    server.execute(
        "CREATE TABLE ventas (id int8 PRIMARY KEY, momento timestamptz, cantidad int4, precio float8,"
        " total float8, descuento float8, producto text, nota text)",
        "INSERT INTO ventas SELECT g, timestamptz '2024-01-01' + g * interval '1 minute', g % 17,"  # noqa: S608
        " (g % 1000) / 10.0, (g % 1000) / 10.0 * (g % 17), (g % 7) / 100.0, 'producto-' || (g % 50),"
        f" md5(g::text) FROM {generate} AS g",
        "ANALYZE ventas",
    )


def _select(limit: int, filtered: bool) -> str:
    where = f" WHERE {FILTER_SQL}" if filtered else ""
    return f"SELECT {', '.join(COLUMNS)} FROM ventas{where} LIMIT {limit:d}"  # noqa: S608 (constants)


def baseline(server: PostgresServer, limit: int, filtered: bool = True) -> tuple[int, float]:
    """Binary COPY decoded into Arrow in-process (ADBC's path for a query without parameters)."""
    with pg.connect(server.admin_uri, autocommit=True) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        cur.execute(_select(limit, filtered))
        table = cur.fetch_arrow_table()
        return table.num_rows, time.perf_counter() - start


def copy_only(server: PostgresServer, limit: int) -> float:
    """The same COPY through psql into /dev/null: what the server alone takes."""
    psql = server.bin / "psql"
    sql = f"COPY ({_select(limit, True)}) TO STDOUT (FORMAT binary)"
    start = time.perf_counter()
    subprocess.run(
        [str(psql), server.admin_uri, "-X", "-q", "-c", sql],
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=300,
    )
    return time.perf_counter() - start


def through_saeta(dep: Deployment, session: str, limit: int, filtered: bool = True) -> tuple[int, float]:
    with Client.connect(dep.ws_url, session) as client:
        start = time.perf_counter()
        table = client.query("ventas", columns=list(COLUMNS), limit=limit, filter=FILTER if filtered else None)
        return table.num_rows, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    limit = min(QUERY_LIMIT, args.rows)
    server = PostgresServer()
    server.start()
    with tempfile.TemporaryDirectory(prefix="saeta-pg-bench-") as tmp:
        root = Path(tmp)
        dep: Deployment | None = None
        try:
            fill(server, args.rows)
            certs.init_ca(root / "certs")
            certs.issue_client(root / "certs", "acme")
            (root / "pg.pass").write_text(PASSWORD + "\n")
            pg_dataset = {"type": "postgresql", "uri": server.uri, "password_file": str(root / "pg.pass")}
            dep = deployment(root / "saeta", root / "certs", {"ventas": {**pg_dataset, "table": "ventas"}}, 16384)
            session = dep.session("acme", ttl=3600)
            through_saeta(dep, session, 1000)  # warm-up
            runs: dict[str, list[float]] = {"copy_arrow": [], "copy_psql": [], "saeta_filter": [], "saeta_plain": []}
            for _ in range(args.runs):  # interleaved, so drift hits all alike
                rows, seconds = baseline(server, limit)
                assert rows == limit
                runs["copy_arrow"].append(seconds)
                runs["copy_psql"].append(copy_only(server, limit))
                rows, seconds = through_saeta(dep, session, limit)
                assert rows == limit
                runs["saeta_filter"].append(seconds)
                rows, seconds = through_saeta(dep, session, limit, filtered=False)
                assert rows == limit
                runs["saeta_plain"].append(seconds)
        finally:
            if dep is not None:
                dep.stop()
            server.stop()
    med = {k: statistics.median(v) for k, v in runs.items()}
    base = med["copy_arrow"]
    labels = {
        "copy_arrow": "COPY ... (FORMAT binary) -> Arrow in-process (baseline)",
        "copy_psql": "COPY ... (FORMAT binary) via psql to /dev/null",
        "saeta_filter": "saeta, projection + filter + limit",
        "saeta_plain": "saeta, projection + limit (no filter)",
    }
    print(
        f"\nPostgreSQL, {args.rows:,}-row table, {len(COLUMNS)} of 8 columns, filter {FILTER_SQL},"
        f" limit {limit:,}; medians of {args.runs}:"
    )
    for key, label in labels.items():
        print(f"  {label:58s} {limit / med[key] / 1e6:6.2f} M rows/s  {base / med[key]:5.2f} x baseline")
    result: dict[str, object] = {
        "rows": args.rows,
        "limit": limit,
        "columns": list(COLUMNS),
        "filter": FILTER,
        "runs": args.runs,
        **{f"{k}_rows_per_s": round(limit / v) for k, v in med.items()},
        **{f"{k}_vs_baseline": round(base / v, 3) for k, v in med.items()},
        "ranges_s": {k: [round(min(v), 3), round(max(v), 3)] for k, v in runs.items()},
    }
    print(f"written: {save('postgres', result)}")
    return result


if __name__ == "__main__":
    main()
