"""A JDBC tool on the Flight SQL endpoint (docs/flight.md, "Connecting"): the Flight SQL
JDBC driver (requirements/jdbc.lock, fetched by setup) with the URL docs/flight.md gives,
run in a real JVM against a real gateway and connector. It lists the dataset as a table,
its rows equal pyarrow's reading of the file, and a statement that cannot be pushed down
comes back as an SQLException with saeta's code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.system.harness import Deployment, big_dataset

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]


def driver_jar() -> Path:
    artifact = next(line for line in (ROOT / "requirements/jdbc.lock").read_text().splitlines() if line[:1] != "#")
    _, name, version = artifact.split()[0].split(":")
    jar = ROOT / ".venv" / "jdbc" / f"{name}-{version}.jar"
    assert jar.is_file(), f"{jar} is missing: run `make setup`"
    return jar


def test_the_jdbc_driver_lists_reads_and_is_refused(deployment: Deployment, tmp_path: Path) -> None:
    deployment.start_control_plane()
    deployment.start_gateway(flight={"port": deployment.flight_port})
    deployment.start_connector(
        "acme", {"ventas": big_dataset(deployment.root, "v.parquet") | {"path": "data/v.parquet"}}
    )
    token = deployment.session("acme")
    jar = driver_jar()
    classes = tmp_path / "classes"
    subprocess.run(
        ["javac", "-d", str(classes), str(ROOT / "tests/system/jdbc/FlightJdbc.java")], check=True, timeout=120
    )
    ca = deployment.certs / "ca.crt"
    url = f"jdbc:arrow-flight-sql://localhost:{deployment.flight_port}/?useEncryption=true&tlsRootCerts={ca}&token={token}"
    statements = [
        "SELECT region, COUNT(*) AS n, SUM(total) AS total FROM ventas WHERE cantidad > 1 "
        "GROUP BY region ORDER BY region",
        "SELECT id, total AS importe FROM ventas WHERE id < 5 ORDER BY id",
        "SELECT v.id FROM ventas v JOIN otra o ON v.id = o.id",
    ]
    done = subprocess.run(
        [
            "java",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",  # Arrow's memory, on Java 17
            "-cp",
            f"{jar}:{classes}",
            "FlightJdbc",
            url,
            *statements,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert ["table", "saeta", "datasets", "ventas", "TABLE"] in lines
    first = lines.index(["statement", "1"])
    second = lines.index(["statement", "2"])
    third = lines.index(["statement", "3"])
    want = pq.read_table(deployment.root / "data" / "v.parquet")
    oracle = want.filter(pc.field("cantidad") > 1).group_by("region").aggregate([("total", "sum"), ("total", "count")])
    oracle = oracle.sort_by("region")
    assert lines[first + 1] == ["columns", "region", "n", "total"]
    grouped = lines[first + 2 : second]
    assert [r[1] for r in grouped] == oracle.column("region").to_pylist()
    assert [int(r[2]) for r in grouped] == oracle.column("total_count").to_pylist()
    assert [float(r[3]) for r in grouped] == pytest.approx(oracle.column("total_sum").to_pylist())
    assert lines[second + 1] == ["columns", "id", "importe"]
    page = want.filter(pc.field("id") < 5).sort_by("id")
    assert [(int(r[1]), float(r[2])) for r in lines[second + 2 : third]] == list(
        zip(page["id"].to_pylist(), page["total"].to_pylist(), strict=True)
    )
    assert lines[third + 1][0] == "refused"
    assert re.search(r"SQL_UNSUPPORTED: JOIN cannot be pushed down", lines[third + 1][1])
