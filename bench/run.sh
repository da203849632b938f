#!/usr/bin/env bash
# Outpost's benchmarks against their peers; see bench/README.md.
#
#   sudo bench/run.sh [dhcp|http|ingest|query|install|jobs|sync|all]...   (default all)
#   sudo QUICK=1 bench/run.sh ...    smoke run: small N, short steps, not comparable
#
# Tables go to stdout and to bench/results/<part>.txt; progress to stderr.
# Every namespace, process and scratch file it makes is removed on exit
# (KEEP=1 keeps the scratch directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
# shellcheck source=bench/dhcp.sh
. "$here/dhcp.sh"
# shellcheck source=bench/http.sh
. "$here/http.sh"
# shellcheck source=bench/gobench.sh
. "$here/gobench.sh"
# shellcheck source=bench/install.sh
. "$here/install.sh"
# shellcheck source=bench/sync.sh
. "$here/sync.sh"

all=(dhcp http ingest query install jobs sync)
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(all)
todo=()
for p in "${parts[@]}"; do
  case $p in
  all) todo+=("${all[@]}") ;;
  dhcp | http | ingest | query | install | jobs | sync) todo+=("$p") ;;
  -h | --help | help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [dhcp|http|ingest|query|install|jobs|sync|all]..." >&2; exit 2 ;;
  esac
done

setup_common
log "bench: parts ${todo[*]}$([ "$QUICK" = 1 ] && echo ' (QUICK=1 smoke run)'), scratch in $WORK"
for p in "${todo[@]}"; do
  "part_$p"
  echo
done
log "bench: done; results in $RESULTS/"
