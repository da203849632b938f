# shellcheck shell=bash
# Parts "ingest", "query" and "jobs": Go benchmarks, parsed into tables. Sourced by run.sh.

# gotest OUT PKG BENCH BENCHTIME [ENV=VALUE...]: runs one Go benchmark, keeps its output.
gotest() {
  local out=$1 pkg=$2 bench=$3 bt=$4
  shift 4
  log "bench: go test -bench '$bench' -benchtime $bt $pkg $*"
  (cd "$ROOT" && env "$@" "$GO" test -v -count=1 -run '^$' -bench "$bench" -benchtime "$bt" -timeout 60m "$pkg") >"$out" 2>&1 || {
    cat "$out" >&2
    die "go test $pkg -bench $bench failed"
  }
}

# raw_lines OUT: the benchmark result lines and their logs, for the record.
raw_lines() {
  say "go test output:"
  grep -E '^Benchmark.* ns/op|^ +[a-z_]+_test\.go:[0-9]+:' "$1" | sed 's/^ */    /' | tee -a "$RESULT"
}

part_ingest() {
  local out=$WORK/ingest.out machines bt
  if [ "$QUICK" = 1 ]; then machines=1000 bt=1000x; else machines=10000 bt=10000x; fi
  machines=${INGEST_MACHINES:-$machines}
  bt=${INGEST_BENCHTIME:-$bt}
  mkdir -p "$WORK"
  gotest "$out" ./appliance/sqlite 'Benchmark(Ingest|CommitFull)$' "$bt" "OUTPOST_BENCH_MACHINES=$machines" "TMPDIR=$WORK"
  begin_part ingest "Ingest: hardware reports into the inventory (appliance/sqlite, a real SQLite file, WAL, synchronous=FULL)"
  say "Each report: 2 NICs, 4 disks, 16 DIMMs, 40 PCI functions, BMC, LLDP (~11 KB of JSON), sent with a one-time boot"
  say "token issued beforehand with IssueToken; one transaction per report. Inventory: $machines machines; $bt reports per case."
  say "Reference: the same disk's ceiling for one commit per report, an 11 KB row per transaction at synchronous=FULL."
  say ""
  local commit
  commit=$(gobench_metric "$out" BenchmarkCommitFull commits/s)
  sayf "%-40s %12s %16s\n" case "reports/s" "vs commit ceiling"
  local c v
  for c in new reingest reingest-parallel; do
    v=$(gobench_metric "$out" "BenchmarkIngest/$c" reports/s)
    sayf "%-40s %12s %16s\n" "$c" "$(fmt_num "$v")" "$(ratio "$v" "$commit")x"
  done
  sayf "%-40s %12s\n" "reference: 1 row per commit, FULL" "$(fmt_num "$commit")"
  say ""
  say "new: a machine's first report (creates it); reingest: a known, unchanged machine reports again;"
  say "reingest-parallel: the same from 16 goroutines (reports are serialised on the one writer connection)."
  say ""
  raw_lines "$out"
  log "bench: ingest results in $RESULT"
}

part_query() {
  local out=$WORK/query.out sizes bt
  if [ "$QUICK" = 1 ]; then sizes=1000,10000 bt=300x; else sizes=10000,100000 bt=3s; fi
  sizes=${QUERY_SIZES:-$sizes}
  bt=${QUERY_BENCHTIME:-$bt}
  mkdir -p "$WORK"
  gotest "$out" ./appliance/sqlite 'BenchmarkQuery$' "$bt" "OUTPOST_BENCH_QUERY_SIZES=$sizes" "TMPDIR=$WORK"
  begin_part query "Query: inventory reads at $sizes machines (appliance/sqlite, one caller, warm cache)"
  say "list-state-rack: Machines(state=deployed, rack=R, limit 100), ~24 of a rack's 40 machines match;"
  say "by-mac: MachineByMAC (what a boot asks); by-serial: MachineBySerial. Latency of each call, benchtime $bt."
  say ""
  local q n sz p50 p99
  IFS=, read -r -a sz <<<"$sizes"
  sayf "%-18s" query
  for n in "${sz[@]}"; do sayf "%14s %14s" "p50 us @$n" "p99 us @$n"; done
  [ "${#sz[@]}" -ge 2 ] && sayf "%14s" "p99 ratio"
  sayf "\n"
  for q in list-state-rack by-mac by-serial; do
    sayf "%-18s" "$q"
    local first="" last=""
    for n in "${sz[@]}"; do
      p50=$(gobench_metric "$out" "BenchmarkQuery/machines=$n/$q" p50-ns)
      p99=$(gobench_metric "$out" "BenchmarkQuery/machines=$n/$q" p99-ns)
      sayf "%14s %14s" "$(awk -v v="$p50" 'BEGIN { printf "%.0f", v / 1000 }')" "$(awk -v v="$p99" 'BEGIN { printf "%.0f", v / 1000 }')"
      [ -z "$first" ] && first=$p99
      last=$p99
    done
    [ "${#sz[@]}" -ge 2 ] && sayf "%14s" "$(ratio "$last" "$first")x"
    sayf "\n"
  done
  say ""
  say "p99 ratio: largest inventory over smallest; near 1x means the query does not grow with the inventory."
  say ""
  raw_lines "$out"
  log "bench: query results in $RESULT"
}

part_jobs() {
  local out=$WORK/jobs.out n
  if [ "$QUICK" = 1 ]; then n=1000; else n=10000; fi
  n=${JOBS_N:-$n}
  mkdir -p "$WORK"
  gotest "$out" ./appliance/jobs 'BenchmarkJobEngine$' 1x "OUTPOST_BENCH_JOBS=$n" "TMPDIR=$WORK"
  begin_part jobs "Jobs: $n queued power-cycle jobs through the engine (appliance/jobs) against simulated BMCs"
  say "$n machines in 50 racks, jobs submitted rack by rack; limits MaxSite 100, MaxPerRack 5, MaxPerAction{power: 80};"
  say "${OUTPOST_BENCH_SIMS:-16} go-ipmi simulated BMCs (RMCP+ over UDP), machines round-robin; each BMC session held"
  say ">= ${OUTPOST_BENCH_BMC_MS:-200} ms like a real BMC; engine workers 32 (the default); a copy of Engine.Run's loop (tick 1 s, or on wake)."
  say ""
  m() { gobench_metric "$out" BenchmarkJobEngine "$1"; }
  sayf "%-44s %12s\n" "scheduling latency p50 ms" "$(fmt_num "$(m sched-p50-ms)" 1)"
  sayf "%-44s %12s\n" "scheduling latency p99 ms" "$(fmt_num "$(m sched-p99-ms)" 1)"
  sayf "%-44s %12s\n" "scheduling latency max ms" "$(fmt_num "$(m sched-max-ms)" 1)"
  sayf "%-44s %12s\n" "jobs/s" "$(fmt_num "$(m jobs/s)" 1)"
  sayf "%-44s %12s\n" "engine tick p50 ms" "$(fmt_num "$(m tick-p50-ms)" 1)"
  sayf "%-44s %12s %8s\n" "peak running on the site (limit 100)" "$(fmt_num "$(m peak-site)")" "$(meets "$(m peak-site)" "<" 101)"
  sayf "%-44s %12s %8s\n" "peak running power jobs (limit 80)" "$(fmt_num "$(m peak-power)")" "$(meets "$(m peak-power)" "<" 81)"
  sayf "%-44s %12s %8s\n" "peak running in one rack (limit 5)" "$(fmt_num "$(m peak-rack)")" "$(meets "$(m peak-rack)" "<" 6)"
  sayf "%-44s %12s\n" "bmc.CredStore.Get at this size, ms" "$(fmt_num "$(m credstore-get-ms)" 2)"
  say ""
  say "Peaks are replayed from every job's started_at/ended_at (stamped inside the single writer's transactions), i.e. the"
  say "running set after every commit; the benchmark also samples it after every tick and fails if any limit is exceeded."
  say "Scheduling latency: a job's start minus the first instant an ideal scheduler (queue order, same limits, replayed on"
  say "the same timeline after every job end) would have started it."
  say ""
  raw_lines "$out"
  log "bench: jobs results in $RESULT"
}
