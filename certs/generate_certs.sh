#!/usr/bin/env bash
# The seed's certificate script, kept working by calling the saeta CLI.
#   ./generate_certs.sh all TENANT_ID   CA (if missing) + server + client for TENANT_ID
#   ./generate_certs.sh ca              CA (if missing) + server
#   ./generate_certs.sh client TENANT   client certificate for TENANT
# Writes into this folder (or $CERTS_DIR). Extra server names: SERVER_NAMES="a.example b".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${CERTS_DIR:-$here}
saeta=${SAETA:-$(command -v saeta || echo "$here/../.venv/bin/saeta")}
names=()
for n in ${SERVER_NAMES:-}; do names+=(--server-name "$n"); done
case "${1:-}" in
  all)    [ $# -eq 2 ] || { echo "usage: $0 all TENANT_ID" >&2; exit 2; }
          "$saeta" certs init --dir "$dir" "${names[@]}"
          "$saeta" certs issue "$2" --dir "$dir" ;;
  ca)     "$saeta" certs init --dir "$dir" "${names[@]}" ;;
  client) [ $# -eq 2 ] || { echo "usage: $0 client TENANT_ID" >&2; exit 2; }
          "$saeta" certs issue "$2" --dir "$dir" ;;
  *)      echo "usage: $0 all TENANT_ID | ca | client TENANT_ID" >&2; exit 2 ;;
esac
