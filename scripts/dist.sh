#!/usr/bin/env bash
# The release artefacts into dist/ (docs/install.md): the wheel for x86_64 and for aarch64,
# both manylinux2014 (glibc 2.17: RHEL/CentOS 7 and 8, Ubuntu 18.04 and later, Debian 10
# and later), linked by zig; and the sdist. `make setup` first (maturin, ziglang, the web
# assets, Rust's aarch64 target).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"  # maturin finds zig as `python -m ziglang`
out=${1:-dist}
for target in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu; do
  maturin build --release --zig --compatibility manylinux2014 --target "$target" -q -o "$out"
done
maturin sdist -o "$out"
for wheel in "$out"/saeta-*manylinux2014*.whl; do
  auditwheel show "$wheel" | tr '\n' ' ' | grep -q 'consistent with the following platform tag: "manylinux_2_17' \
    || { echo "dist: $wheel uses symbols newer than manylinux2014 allows" >&2; exit 1; }
done
ls -l "$out"
