# shellcheck shell=bash
# Shared helpers of bench/run.sh: the two-namespace network, processes
# that are always cleaned up, CPU accounting from /proc, percentiles and
# result files. Sourced, never run.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
RESULTS=$BENCH_DIR/results
QUICK=${QUICK:-0}
CLK_TCK=$(getconf CLK_TCK)

# Namespaces and interfaces carry our PID, so two runs never collide and
# cleanup only touches what this run made.
NS_SRV=obench-srv-$$
NS_CLI=obench-cli-$$
SRV_IF=vsrv
CLI_IF=vcli
SRV_IP=10.99.0.1
CLI_IP=10.99.0.2
NET_UP=0

PIDS=()  # process-group leaders we started
WORK=""  # scratch directory of this run

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# say prints a line of results to stdout and to the part's result file.
RESULT=/dev/null
say() { printf '%s\n' "$*" | tee -a "$RESULT"; }
sayf() { local f=$1; shift; printf "$f" "$@" | tee -a "$RESULT"; }

# begin_part NAME TITLE: truncates results/NAME.txt and writes its header.
begin_part() {
  mkdir -p "$RESULTS"
  RESULT=$RESULTS/$1.txt
  : >"$RESULT"
  say "== $2"
  say "   $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)," \
    "$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), kernel $(uname -r)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)$([ "$QUICK" = 1 ] && echo ', QUICK=1 (smoke run: small N, not comparable)')"
  say ""
}

cleanup() {
  local rc=$?
  set +e
  for p in "${PIDS[@]}"; do stop_proc "$p" 2 >/dev/null 2>&1; done
  if [ "$NET_UP" = 1 ]; then
    ip netns del "$NS_SRV" 2>/dev/null
    ip netns del "$NS_CLI" 2>/dev/null
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
  [ -n "$WORK" ] && [ "${KEEP:-0}" = 1 ] && log "bench: kept $WORK"
  return $rc
}

setup_common() {
  [ "$(id -u)" -eq 0 ] || die "run as root: the benchmarks build network namespaces (sudo make bench)"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/outpost-bench.XXXXXX")
  GO=${GO:-$("$ROOT/scripts/go.sh")}
}

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is not installed: run scripts/deps.sh bench (make bench does)"
  done
}

# build_outpostd builds the daemon the way `make build` does.
OUTPOSTD=""
build_outpostd() {
  [ -n "$OUTPOSTD" ] && return
  mkdir -p "$WORK/bin"
  log "bench: building outpostd"
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -o "$WORK/bin/outpostd" ./cmd/outpostd)
  OUTPOSTD=$WORK/bin/outpostd
}

# net_up makes SRV and CLI joined by a veth: SRV_IP/16 on SRV_IF, CLI_IP/16 on CLI_IF.
net_up() {
  [ "$NET_UP" = 1 ] && return
  NET_UP=1
  ip netns add "$NS_SRV"
  ip netns add "$NS_CLI"
  ip -n "$NS_SRV" link add "$SRV_IF" type veth peer name "$CLI_IF" netns "$NS_CLI"
  ip -n "$NS_SRV" addr add "$SRV_IP/16" dev "$SRV_IF"
  ip -n "$NS_CLI" addr add "$CLI_IP/16" dev "$CLI_IF"
  local ns
  for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_SRV" link set "$SRV_IF" up
  ip -n "$NS_CLI" link set "$CLI_IF" up
}

# srv / cli run a command in the server's namespace on CPU0, or the
# client's on CPU1.
srv() { ip netns exec "$NS_SRV" taskset -c 0 "$@"; }
cli() { ip netns exec "$NS_CLI" taskset -c 1 "$@"; }

# start_srv LOG CMD...: starts a server in SRV on CPU0, in its own
# process group (so that workers it forks die with it); sets SPID.
SPID=""
start_srv() {
  local out=$1; shift
  setsid ip netns exec "$NS_SRV" taskset -c 0 "$@" >"$out" 2>&1 </dev/null &
  SPID=$!
  PIDS+=("$SPID")
}

# stop_proc PID [SECONDS]: SIGTERM to its group, SIGKILL after the grace time.
stop_proc() {
  local pid=$1 grace=${2:-10} i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    # The group too: workers a server forked must not outlive it.
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  return 0
}

alive() { kill -0 "$1" 2>/dev/null; }

# cpu_ticks SID: user+system clock ticks of every process in the session a
# server was started in by start_srv (nginx's master and workers; one
# process for the others).
# host_ticks: "steal total" ticks of the whole VM so far, from /proc/stat:
# time the hypervisor ran someone else while this VM wanted the CPU.
host_ticks() {
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t; exit }' /proc/stat
}

# steal_pct BEFORE AFTER: steal over total between two host_ticks readings, in %.
steal_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
    if (y[2] > x[2]) printf "%.1f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "-" }'
}

cpu_ticks() {
  local t=0 p v
  for p in $(ps -o pid= -g "$1" 2>/dev/null); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

ticks_to_us() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e6 / hz }'; }

# wait_port udp|tcp PORT PID [SECONDS]: waits until something listens in SRV.
wait_port() {
  local proto=$1 port=$2 pid=$3 secs=${4:-30} i flag=-Hlun
  [ "$proto" = tcp ] && flag=-Hltn
  for ((i = 0; i < secs * 20; i++)); do
    alive "$pid" || return 1
    [ -n "$(ip netns exec "$NS_SRV" ss "$flag" "sport = :$port" 2>/dev/null)" ] && return 0
    sleep 0.05
  done
  return 1
}

# wait_log FILE TEXT PID [SECONDS]: waits until FILE contains TEXT.
wait_log() {
  local f=$1 text=$2 pid=$3 secs=${4:-30} i
  for ((i = 0; i < secs * 20; i++)); do
    alive "$pid" || return 1
    grep -qF -- "$text" "$f" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# pctl P: the P-th percentile (nearest rank) of the numbers on stdin.
pctl() {
  sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}

# median of the numbers given as arguments (the mean of the middle two
# for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B [DIGITS]: A/B, or "-" when either is missing or B is 0.
ratio() {
  awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
    if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) { print "-"; exit }
    printf "%.*f\n", d, a / b }'
}

# fmt_num N [DIGITS]
fmt_num() { awk -v a="$1" -v d="${2:-0}" 'BEGIN { if (a == "" || a == "-") print "-"; else printf "%.*f\n", d, a }'; }

# meets VALUE OP LIMIT: "yes" or "NO" for a target line.
meets() {
  awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
    if (a == "-" || a == "") { print "-"; exit }
    ok = (op == ">=") ? (a + 0 >= b + 0) : (a + 0 < b + 0); print ok ? "yes" : "NO" }'
}

# gobench_metric FILE NAME UNIT: the value before UNIT on the benchmark
# line whose name starts with NAME (GOMAXPROCS suffix ignored).
gobench_metric() {
  awk -v name="$2" -v unit="$3" '
    $1 ~ /^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); if (n != name) next
      for (i = 2; i < NF; i++) if ($(i + 1) == unit) { print $i; exit } }' "$1"
}
