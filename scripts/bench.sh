#!/usr/bin/env bash
# Runs every benchmark of the project and prints a summary table of the figures each one
# reports (custom metrics first: they are the targets the issues set).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
pkgs=$(go list ./... | grep -v -e /infra -e /integration)
go test -run '^$' -bench . -benchtime=${BENCHTIME:-1s} -timeout 30m $pkgs 2>&1 | tee "$out"
# Whole local runs take a few hundred milliseconds each: a fixed count gives the p50s
# enough samples without letting one benchmark run for minutes.
go test -run '^$' -bench . -benchtime=${RUNS:-20}x -timeout 30m ./integration 2>&1 | tee -a "$out"
echo
echo "== summary"
awk '
/^pkg: / { pkg=$2; sub("github.com/shipgate/shipgate/", "", pkg) }
# A benchmark whose run logged something (the AWS SDK warns on stderr) has its name on
# one line and its figures on a later one: the name is held until the figures come.
/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name)
  if ($0 !~ /ns\/op/) { held=name; next }
  figures(name, 3)
  next
}
held != "" && /^[ \t]+[0-9]+[ \t]/ && /ns\/op/ { figures(held, 2); held="" }
function figures(name, from,   i, line) {
  line=""
  for (i=from; i<NF; i+=2) line=line sprintf("%s %s  ", $i, $(i+1))
  printf "%-28s %-48s %s\n", pkg, name, line
}' "$out"
