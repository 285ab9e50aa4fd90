#!/usr/bin/env bash
# The whole test suite: lint and types, the Rust unit tests, then pytest (core, unit and
# system tests with real processes). Called by `make test` after setup.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check python tests benchmarks scripts
ruff format --check python tests benchmarks scripts
echo "== mypy --strict"
mypy
echo "== stubtest: python/saeta/_relay.pyi against the built extension"
(cd python && python -m mypy.stubtest saeta._relay --allowlist ../scripts/relay-stubtest-allowlist.txt)
echo "== cargo fmt + clippy + test"
(cd relay_ext && cargo fmt --check && cargo clippy -q --all-targets -- -D warnings && cargo test -q 2>&1 | grep -E "^test result|FAILED|panicked" )
echo "== web: tsc --noEmit (the npm package's declarations and a program against them)"
(cd web && npm run --silent types)
[ "${1:-}" = "--lint-only" ] && exit 0
echo "== web: node --test"
(cd web && npm test --silent 2>&1 | grep -E "^# (tests|pass|fail)" )
(cd web && npm test --silent >/dev/null 2>&1) || { (cd web && npm test); exit 1; }
echo "== pytest"
python -m pytest "$@"
