#!/usr/bin/env bash
# Runs every fuzz target in the module for a while each.
set -euo pipefail
t=${1:-30s}
GO=$(dirname "$0")/go.sh
GO=$("$GO")
cd "$(dirname "$0")/.."
for pkg in $("$GO" list ./...); do
  for fz in $("$GO" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $fz ($t)"
    "$GO" test -run '^$' -fuzz "^$fz\$" -fuzztime "$t" "$pkg"
  done
done
