"""Where the benchmarks write their figures: benchmarks/results/NAME-YYYYmmdd-HHMMSS.json,
committed when docs quote them, each with the command that produced it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, result: dict[str, Any]) -> Path:
    """Writes ``result`` with the time and the command line; returns the file's path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(["python", *sys.argv]), **result}
    path.write_text(json.dumps(record, indent=1))
    return path
