"""What an operator installs (docs/install.md): the release wheel, tagged manylinux2014 and
consistent with it (auditwheel); installed from PyPI into a clean virtualenv with every
dependency at the floor pyproject.toml declares, and a whole deployment (control plane,
gateway, a connector, the `saeta query` CLI) run from that virtualenv; the optional parts
missing there named by the messages of configs that need them; and the sdist, complete
enough to build the aarch64 wheel from it."""

from __future__ import annotations

import signal
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.system.harness import Deployment, big_dataset, free_port, wait_for
from tests.system.wheels import ROOT, VENV_BIN, maturin, release_wheel

pytestmark = pytest.mark.system


def floors() -> dict[str, str]:
    """Each dependency's declared floor (its ``>=``), by name."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for text in deps:
        req = Requirement(text)
        (floor,) = [s.version for s in req.specifier if s.operator == ">="]
        out[req.name.lower()] = floor
    return out


def test_the_release_wheel_is_manylinux2014() -> None:
    wheel = release_wheel()
    assert wheel.name.endswith("-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"), wheel.name
    tags = [line for line in zipfile.ZipFile(wheel).read("saeta-0.1.0.dist-info/WHEEL").decode().splitlines()]
    assert "Tag: cp311-abi3-manylinux_2_17_x86_64" in tags and "Tag: cp311-abi3-manylinux2014_x86_64" in tags
    # The extension's symbols, not only its name: nothing newer than glibc 2.17.
    shown = subprocess.run(
        [str(VENV_BIN / "auditwheel"), "show", str(wheel)], capture_output=True, text=True, timeout=120
    )
    assert 'consistent with the following platform tag: "manylinux_2_17_x86_64"' in " ".join(shown.stdout.split()), (
        shown
    )


@pytest.fixture(scope="module")
def floor_venv() -> Path:
    """A clean virtualenv with the wheel and every dependency at its declared floor (from
    PyPI, binary wheels only, as an operator's host gets them); no extras."""
    venv = Path(tempfile.mkdtemp(prefix="saeta-floors-")) / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    constraints = venv.parent / "floors.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in floors().items()))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--only-binary", ":all:"]
    done = subprocess.run(
        [*pip, "-c", str(constraints), str(release_wheel())], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv


def test_every_dependency_is_at_its_floor(floor_venv: Path) -> None:
    listed = subprocess.run(
        [str(floor_venv / "bin" / "python"), "-m", "pip", "list", "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    installed = {canonicalize_name(n): v for n, v in (line.split("==") for line in listed.splitlines() if "==" in line)}
    for name, floor in floors().items():
        got = installed.get(canonicalize_name(name))
        assert got is not None and Version(got) == Version(floor), (name, floor, got)
    for extra in ("redis", "adbc-driver-postgresql", "arrow-odbc"):
        assert extra not in installed  # the optional parts are not pulled in


def test_a_deployment_runs_from_the_floors(floor_venv: Path, deployment: Deployment) -> None:
    dep = deployment
    dep.python = str(floor_venv / "bin" / "python")
    where = subprocess.run(
        [dep.python, "-c", "import saeta; print(saeta.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(floor_venv)), where.stdout  # the wheel's saeta, not the source tree's
    dep.start_control_plane()
    dep.start_gateway()
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    session_file = dep.root / "session"
    session_file.write_text(dep.session("acme"))
    saeta = str(floor_venv / "bin" / "saeta")
    args = ["query", "ventas", "--gateway", dep.ws_url, "--session-file", str(session_file), "--limit", "50000"]
    query = subprocess.run([saeta, *args], capture_output=True, text=True, timeout=120)
    assert query.returncode == 0, query.stdout + query.stderr[-1500:] + dep.logs()
    assert "ventas: 50,000 rows" in query.stdout + query.stderr
    # An aggregate at the source (DuckDB at its floor) and a Flight SQL statement parsed
    # (sqlglot at its floor), from the same virtualenv.
    snippet = """
import sys
from saeta.client import Client
from saeta.core.flight_sql_parse import parse_sql
agg = {"group_by": ["region"], "measures": [{"op": "count", "as": "n"}]}
with Client.connect(sys.argv[1], open(sys.argv[2]).read()) as c:
    t = c.query("ventas", aggregate=agg)
sql = "SELECT region, count(*) AS n FROM ventas GROUP BY region"
print(sum(t.column("n").to_pylist()), parse_sql(sql).query.dataset)
"""
    ran = subprocess.run(
        [dep.python, "-c", snippet, dep.ws_url, str(session_file)], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == ["400000", "ventas"], ran.stdout


def test_a_config_that_needs_a_missing_extra_names_it(floor_venv: Path, deployment: Deployment) -> None:
    dep = deployment
    dep.python = str(floor_venv / "bin" / "python")
    gateway = dep.write(
        "gw-redis.yaml",
        {
            "tableros_secret_key": "s" * 40,
            "control_plane_url": "http://127.0.0.1:1",
            "redis_url": "redis://127.0.0.1:6379",
        },
    )
    done = subprocess.run(
        [dep.python, "-m", "saeta", "gateway", "--config", str(gateway)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "pip install 'saeta[redis]'" in done.stderr, done.stderr
    from saeta import certs

    certs.init_ca(dep.certs)
    connector = dep.connector_config("acme", {"pg": {"type": "postgresql", "uri": "postgresql://db/x", "table": "t"}})
    test = subprocess.run(
        [dep.python, "-m", "saeta", "connector", "test", "--config", str(connector)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert test.returncode != 0 and "pip install 'saeta[postgresql]'" in test.stdout, test.stdout + test.stderr


def test_the_sdist_builds_the_aarch64_wheel(tmp_path: Path) -> None:
    maturin("sdist", "-o", str(tmp_path))
    (sdist,) = tmp_path.glob("saeta-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "src", filter="data")
    for needed in (
        "relay_ext/Cargo.toml",
        "relay_ext/Cargo.lock",
        "python/saeta/gateway/static/dashboard.js",
        "pyproject.toml",
    ):
        assert f"saeta-0.1.0/{needed}" in names, needed  # built assets included: no Node.js needed to build it
    src = tmp_path / "src" / "saeta-0.1.0"
    maturin(
        "build", "--release", "--zig", "--compatibility", "manylinux2014", "--target", "aarch64-unknown-linux-gnu",
        "-q", "-o", str(tmp_path / "dist"), cwd=src,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("saeta-*.whl")
    assert wheel.name.endswith("-cp311-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"), wheel.name
    so = next(n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("saeta/_relay") and n.endswith(".so"))
    header = zipfile.ZipFile(wheel).read(so)[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64


def test_the_demo_runs_from_the_floors(floor_venv: Path, tmp_path: Path) -> None:
    """`saeta demo`, saeta's main job, from the wheel without extras: it runs whole, and
    says that without the redis extra its revocations stay in one process."""
    ports = [free_port() for _ in range(5)]
    args = ["demo", "--state-dir", str(tmp_path / "demo"), "--http-port", str(ports[0]), "--grpc-port", str(ports[1]),
            "--data-port", str(ports[2]), "--control-plane-port", str(ports[3]), "--flight-port", str(ports[4]),
            "--ventas-rows", "20000"]  # fmt: skip
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen([str(floor_venv / "bin" / "saeta"), *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "saeta demo is running" in log.read_text(), 180, "the demo")
        text = log.read_text()
        assert "pip install 'saeta[redis]'" in text and "revocations stay in one process" in text
        ready = httpx.get(f"http://127.0.0.1:{ports[0]}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(60)
    assert code == 0 and "demo: stopped" in log.read_text()
