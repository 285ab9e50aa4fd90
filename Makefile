# One way to do each thing; the README, CI and flake.nix call these targets.
.PHONY: setup demo test lint protos bench fuzz dist
PY := .venv/bin/python

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/saeta demo

test: setup
	bash scripts/test.sh

lint: setup
	bash scripts/test.sh --lint-only

dist: setup
	bash scripts/dist.sh

protos: setup
	$(PY) scripts/gen_protos.py

bench: setup
	$(PY) benchmarks/suite.py
	$(PY) -m pytest benchmarks/test_micro_relay.py --benchmark-only -q -p no:cacheprovider \
		--benchmark-columns=median,ops --benchmark-sort=name --benchmark-json=benchmarks/results/micro.json
	$(PY) benchmarks/revocation_delay.py
	$(PY) benchmarks/postgres.py
	$(PY) benchmarks/partitions.py
	$(PY) -m benchmarks.replicas
	$(PY) -m benchmarks.grpc_roundtrip
	$(PY) -m benchmarks.dashboard_scale
	$(PY) -m benchmarks.m4_sql
	$(PY) -m benchmarks.arrow_js_decode
	$(PY) -m benchmarks.http_vs_ws
	$(PY) -m benchmarks.flight_endpoint
	$(PY) benchmarks/browser_decode.py
	$(PY) benchmarks/churn.py --cycles 20000
	$(PY) benchmarks/stuck_sessions.py

# Coverage-guided fuzzing (atheris) of every target, FUZZ_SECONDS each; crashes land in
# tests/fuzz/corpus/, which the test suite runs.
FUZZ_SECONDS ?= 60
fuzz: setup
	for t in browser chunk config control filter session ticket tunnelfilter; do \
		$(PY) tests/fuzz/atheris_run.py $$t $(FUZZ_SECONDS) || exit 1; \
	done
