"""Coverage-guided fuzzing of the same targets as test_fuzz_targets.py, with atheris
(libFuzzer driving instrumented Python): hypothesis draws inputs from strategies, atheris
mutates towards new branches of saeta's own code. Not part of the test run: run it by hand
or from `make fuzz`, one target per process,

    python tests/fuzz/atheris_run.py TARGET [SECONDS]

Starts from the regression corpus (tests/fuzz/corpus/TARGET-*.bin); an input that makes
a target raise anything but its documented outcomes is written to
tests/fuzz/corpus/TARGET-crash-<sha256 prefix>.bin, which test_regression_corpus then runs in CI
for good. Prints the number of inputs executed."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fuzz.test_fuzz_targets import CORPUS, TARGETS  # noqa: E402


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: atheris_run.py TARGET [SECONDS]; TARGET one of {', '.join(sorted(TARGETS))}")
    name = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    target = TARGETS[name]

    def one_input(data: bytes) -> None:
        try:
            target(data)
        except BaseException:
            path = CORPUS / f"{name}-crash-{hashlib.sha256(data).hexdigest()[:12]}.bin"
            path.write_bytes(data)
            print(f"\ncrash input written to {path}", file=sys.stderr)
            raise

    with tempfile.TemporaryDirectory() as work:
        seeds = Path(work) / "seeds"
        seeds.mkdir()
        for seed in CORPUS.glob(f"{name}-*.bin"):
            (seeds / seed.name).write_bytes(seed.read_bytes())
        args = [sys.argv[0], f"-max_total_time={seconds}", "-max_len=4096", "-print_final_stats=1", str(seeds)]
        atheris.Setup(args, one_input)
        # saeta is installed in development mode, behind an import hook that atheris's
        # own (instrument_imports) does not wrap: instrument what is loaded instead.
        atheris.instrument_all()
        atheris.Fuzz()


if __name__ == "__main__":
    main()
