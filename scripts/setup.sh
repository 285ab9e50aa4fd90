#!/usr/bin/env bash
# Sets up everything saeta needs on a fresh Debian machine of this kind, idempotently:
# system packages from apt, the virtualenv from the hashed lock file, and the Rust
# extension built in release mode into the source tree. Safe to run again; quick when
# nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests and the demo need (none of them is fetched any other way).
# nix-bin: tests parse flake.nix offline; redis-server: revocation across gateways;
# chromium (+ a font): the dashboard's browser tests, driven by Playwright, which never
# downloads a browser of its own; postgresql: the PostgreSQL sources' tests (a throwaway
# cluster per test session, never the system one); unixodbc + odbc-postgresql: the ODBC
# source's tests, run against that PostgreSQL through its ODBC driver; haproxy and
# redis-sentinel: several gateway replicas behind a real load balancer, on a Redis that
# fails over (docs/scaling.md); a JDK and Maven: the Flight SQL JDBC driver's test
# (docs/flight.md); systemd: `systemd-analyze verify` checks the service units the CLI writes
# (nothing is started with it).
SYSTEM_PACKAGES=(ca-certificates nix-bin redis-server redis-sentinel haproxy chromium fonts-liberation postgresql
  unixodbc odbc-postgresql openjdk-17-jdk-headless maven systemd)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup: Node.js and npm are required to build the dashboard" >&2; exit 1; }
# The aarch64 wheel (scripts/dist.sh, tests/system/test_install.py) links against Rust's
# standard library for that target: rustup fetches it once.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "setup: adding Rust's aarch64-unknown-linux-gnu target"
  rustup target add aarch64-unknown-linux-gnu >/dev/null
fi

# The browser side: node_modules exactly as package-lock.json pins them (reinstalled when
# the lock changes), then the dashboard's assets built into the Python package.
web_stamp=web/node_modules/.lock-sha256
web_want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$web_stamp" 2>/dev/null)" != "$web_want" ]; then
  echo "setup: installing web/ dependencies from package-lock.json"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$web_want" > "$web_stamp"
fi
(cd web && npm run --silent build)
PYTHON=${PYTHON:-python3}

# Python virtualenv, rebuilt when the lock file changes.
stamp=.venv/.lock-sha256
want=$(sha256sum requirements/dev.lock | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements/dev.lock"
  rm -rf .venv
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip==25.3
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements/dev.lock
  echo "$want" > "$stamp"
fi

# toxiproxy (a well-kept TCP proxy that adds latency and caps bandwidth both ways): the WAN
# benchmark (benchmarks/wan.py) and the tests of what a long round trip changes. Built by
# the Go toolchain from the module proxy at this version (go.sum's checksum database
# verifies it), into the virtualenv.
TOXIPROXY_VERSION=v2.12.0
toxi_stamp=.venv/.toxiproxy-version
if [ ! -x .venv/bin/toxiproxy-server ] || [ "$(cat "$toxi_stamp" 2>/dev/null)" != "$TOXIPROXY_VERSION" ]; then
  command -v go >/dev/null || { echo "setup: Go is required to build toxiproxy: https://go.dev/doc/install" >&2; exit 1; }
  echo "setup: building toxiproxy $TOXIPROXY_VERSION"
  toxi_bin=$(mktemp -d)
  GOBIN="$toxi_bin" GOFLAGS=-buildvcs=false go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$toxi_bin/server" .venv/bin/toxiproxy-server
  rm -rf "$toxi_bin"
  echo "$TOXIPROXY_VERSION" > "$toxi_stamp"
fi

# The Flight SQL JDBC driver, as requirements/jdbc.lock names and hashes it, from Maven
# Central (through the machine's Maven settings).
read -r jdbc_artifact jdbc_sha < <(grep -v '^#' requirements/jdbc.lock)
jdbc_jar=".venv/jdbc/$(echo "$jdbc_artifact" | cut -d: -f2)-$(echo "$jdbc_artifact" | cut -d: -f3).jar"
if [ "$(sha256sum "$jdbc_jar" 2>/dev/null | cut -d' ' -f1)" != "$jdbc_sha" ]; then
  echo "setup: fetching $jdbc_artifact"
  mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy -Dartifact="$jdbc_artifact" \
    -DoutputDirectory=.venv/jdbc >/dev/null
  if [ "$(sha256sum "$jdbc_jar" | cut -d' ' -f1)" != "$jdbc_sha" ]; then
    echo "setup: $jdbc_jar does not have the digest requirements/jdbc.lock gives" >&2
    exit 1
  fi
fi

# The Rust extension (saeta._relay) and the editable saeta package. A failed build must
# stop setup even when an older build of the extension is still in the tree.
echo "setup: building the Rust extension (release)"
if ! .venv/bin/maturin develop --release -q > .venv/maturin.log 2>&1; then
  cat .venv/maturin.log >&2
  echo "setup: building the Rust extension failed" >&2
  exit 1
fi
.venv/bin/python -c "import saeta.relay as r; assert r.IMPLEMENTATION == 'rust', r.IMPLEMENTATION"
echo "setup: ready"
