"""The JS client as npm publishes it (web/package.json, @saeta/client): `npm pack` holds
the client's modules and its declarations and nothing else; the tarball installs into an
empty project (apache-arrow from the registry), imports by its name in Node.js, and a
TypeScript program against it compiles with `tsc --noEmit` through the package's
``exports`` (its ``types`` condition)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
EXPECTED = {
    "package.json",
    "README.md",
    "src/client.js",
    "src/protocol.js",
    "src/query.js",
    "src/http_query.js",
    "types/client.d.ts",
}


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_package_installs_imports_and_type_checks(tmp_path: Path) -> None:
    packed = json.loads(run(["npm", "pack", "--json", "--pack-destination", str(tmp_path)], WEB))
    assert {f["path"] for f in packed[0]["files"]} == EXPECTED
    tarball = tmp_path / packed[0]["filename"]
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "app", "private": True, "type": "module"}))
    run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", str(tarball)], app)
    script = (
        "import { connect, Connection, Close, SaetaError } from '@saeta/client';"
        "console.log(typeof connect, typeof Connection, Close.REVOKED, new SaetaError('TIMEOUT').retryable);"
    )
    assert run(["node", "--input-type=module", "-e", script], app).split() == ["function", "function", "4003", "true"]
    (app / "main.ts").write_text(
        "import { connect, type QuerySpec } from '@saeta/client';\n"
        "const spec: QuerySpec = { dataset: 'ventas', limit: 10 };\n"
        "export async function rows(id: string): Promise<number> {\n"
        "  const table = await (await connect('wss://gw', id)).query(spec).table();\n"
        "  return table.numRows;\n"
        "}\n"
    )
    (app / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {"strict": True, "noEmit": True, "module": "nodenext", "target": "es2022",
                                    "lib": ["es2022", "dom"], "types": []},
                "files": ["main.ts"],
            }
        )
    )  # fmt: skip
    run([str(WEB / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"], app)
