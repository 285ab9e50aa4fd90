"""A million-row PostgreSQL table streamed by saeta (connector → gateway → WebSocket →
pyarrow), against the same query fetched in-process by the ADBC driver (binary COPY
decoded straight into Arrow, no network hop of ours): the baseline, measured in the same
run. Usage: python benchmarks/postgres.py [--rows N] [--runs N]"""

from __future__ import annotations

import argparse
import statistics
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


def baseline(server: PostgresServer, limit: int) -> tuple[int, float]:
    select = ", ".join(COLUMNS)
    with pg.connect(server.admin_uri, autocommit=True) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        cur.execute(f"SELECT {select} FROM ventas LIMIT {limit}")  # noqa: S608 (constants)
        table = cur.fetch_arrow_table()
        return table.num_rows, time.perf_counter() - start


def through_saeta(dep: Deployment, session: str, limit: int) -> tuple[int, float]:
    with Client.connect(dep.ws_url, session) as client:
        start = time.perf_counter()
        table = client.query("ventas", columns=list(COLUMNS), limit=limit)
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
            base_runs, saeta_runs = [], []
            for _ in range(args.runs):  # interleaved, so drift hits both alike
                rows, seconds = baseline(server, limit)
                assert rows == limit
                base_runs.append(seconds)
                rows, seconds = through_saeta(dep, session, limit)
                assert rows == limit
                saeta_runs.append(seconds)
        finally:
            if dep is not None:
                dep.stop()
            server.stop()
    base_s, saeta_s = statistics.median(base_runs), statistics.median(saeta_runs)
    print(
        f"\nPostgreSQL, {args.rows:,}-row table, {len(COLUMNS)} of 8 columns, limit {limit:,};"
        f" medians of {args.runs}:\n"
        f"  ADBC in-process (binary COPY -> Arrow), baseline  {limit / base_s / 1e6:6.2f} M rows/s\n"
        f"  saeta (connector -> gateway -> WebSocket -> pyarrow) {limit / saeta_s / 1e6:6.2f} M rows/s"
        f"  = {base_s / saeta_s:.2f} x the baseline"
    )
    result: dict[str, object] = {
        "rows": args.rows,
        "limit": limit,
        "columns": list(COLUMNS),
        "runs": args.runs,
        "baseline_rows_per_s": round(limit / base_s),
        "saeta_rows_per_s": round(limit / saeta_s),
        "saeta_vs_baseline": round(base_s / saeta_s, 3),
    }
    print(f"written: {save('postgres', result)}")
    return result


if __name__ == "__main__":
    main()
