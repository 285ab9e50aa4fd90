"""What a declarative config library would add to start-up: the import time of each,
best of N fresh interpreters, beside the import of saeta.config itself (yaml, and the
core modules the config reads its limits from), and the time to define and
validate a gateway-sized section (34 typed keys) with each, in a fresh process.

    python -m benchmarks.config_libraries --python /path/to/python-with-the-libraries

The interpreter given must have pydantic, msgspec, attrs and cattrs installed (they are
not saeta's dependencies); saeta is put on its path from python/. Writes
benchmarks/results/config-libraries-<stamp>.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15

IMPORTS = {
    "saeta.config": "import saeta.config",
    "pydantic": "import pydantic",
    "msgspec": "import msgspec",
    "attrs+cattrs": "import attrs, cattrs",
}

# 34 keys like the gateway's: ints with bounds, floats, strings, one enum.
MODEL = {f"int_{i}": 100 + i for i in range(20)} | {f"num_{i}": 1.5 * i for i in range(10)}
MODEL |= {"host": "127.0.0.1", "url": "http://cp:8090", "relay": "auto", "name": "gw"}

VALIDATE = {
    "pydantic": """
import pydantic, typing
t = time.perf_counter()
fields = {k: (int, pydantic.Field(ge=0, le=2**31)) for k in DATA if k.startswith("int_")}
fields |= {k: (float, pydantic.Field(ge=0, le=1e9)) for k in DATA if k.startswith("num_")}
RELAY = typing.Literal["auto", "rust", "python"]
fields |= {"host": (str, ...), "url": (str, ...), "relay": (RELAY, ...), "name": (str, ...)}
M = pydantic.create_model("M", __config__=pydantic.ConfigDict(extra="forbid", strict=True), **fields)
M(**DATA); took = time.perf_counter() - t
""",
    "msgspec": """
import msgspec, typing
from typing import Annotated
t = time.perf_counter()
fields = [(k, Annotated[int, msgspec.Meta(ge=0, le=2**31)]) for k in DATA if k.startswith("int_")]
fields += [(k, Annotated[float, msgspec.Meta(ge=0, le=1e9)]) for k in DATA if k.startswith("num_")]
fields += [("host", str), ("url", str), ("relay", typing.Literal["auto", "rust", "python"]), ("name", str)]
M = msgspec.defstruct("M", fields, forbid_unknown_fields=True)
msgspec.convert(DATA, M); took = time.perf_counter() - t
""",
    "saeta.config": """
from saeta.config._base import _Section
from pathlib import Path
t = time.perf_counter()
s = _Section(Path("gateway.yaml"), DATA)
for k in DATA:
    if k.startswith("int_"): s.integer(k)
    elif k.startswith("num_"): s.number(k)
    elif k == "relay": s.string(k, choices=("auto", "rust", "python"))
    else: s.string(k)
took = time.perf_counter() - t
""",
}


def _best(python: str, code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    times = []
    for _ in range(RUNS):
        script = f"import time\nt0 = time.perf_counter()\n{code}\nprint(time.perf_counter() - t0)"
        out = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=60)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def _validate(python: str, code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    script = f"import time\nDATA = {MODEL!r}\n{code}\nprint(took)"
    times = []
    for _ in range(RUNS):
        out = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=60)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    baseline = _best(args.python, "pass")
    imports = {name: _best(args.python, code) - baseline for name, code in IMPORTS.items()}
    validate = {name: _validate(args.python, code) for name, code in VALIDATE.items()}
    result = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "runs": RUNS,
        "import_seconds_best": imports,
        "define_and_validate_34_keys_seconds_best": validate,
        "import_ratio_to_saeta_config": {k: v / imports["saeta.config"] for k, v in imports.items()},
    }
    out = ROOT / "benchmarks" / "results" / f"config-libraries-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
