#!/usr/bin/env bash
# Installs everything shipgate's demo and tests need on a fresh Debian machine, or says
# precisely what is missing when it cannot install it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/aws ] || need_apt+=(awscli)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "deps: missing Debian packages: ${need_apt[*]} (run as root, or: sudo apt-get install ${need_apt[*]})." >&2
    echo "deps: the browser and AWS CLI tests skip without them; everything else works." >&2
  fi
fi

command -v node >/dev/null || { echo "deps: Node.js 20+ is required (apt-get install nodejs npm)" >&2; exit 1; }
if [ ! -x node_modules/.bin/dynalite ] || [ ! -x node_modules/.bin/cdk ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# npm packages ship Go templates (aws-cdk's init templates); a go.mod of its own makes
# node_modules a separate module, so `go build ./...` and `go test ./...` skip it.
[ -f node_modules/go.mod ] || printf 'module shipgate.invalid/node_modules\n' > node_modules/go.mod
go mod download
