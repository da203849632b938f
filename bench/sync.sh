# shellcheck shell=bash
# Part "sync": site → HQ sync with bench/syncbench (real SQLite sites, HQ in
# its own process on a throwaway PostgreSQL). Sourced by run.sh.

part_sync() {
  local bin=$WORK/syncbench quick=()
  [ "$QUICK" = 1 ] && quick=(-quick)
  mkdir -p "$WORK/sync"
  log "bench: building syncbench"
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -o "$bin" ./bench/syncbench) || die "syncbench did not build"
  begin_part sync "Sync: site outbox → HQ on PostgreSQL (bench/syncbench; HTTPS on loopback, synchronous=FULL at the site)"
  # shellcheck disable=SC2086
  "$bin" "${quick[@]}" -dir "$WORK/sync" ${SYNC_ARGS:-} | tee -a "$RESULT" || die "syncbench failed"
  log "bench: sync results in $RESULT"
}
