# shellcheck shell=bash
# Part "dhcp": perfdhcp against outpostd, kea-dhcp4 and dnsmasq. Sourced by run.sh.

dhcp_servers() { echo "${DHCP_SERVERS:-outpostd kea dnsmasq}"; }

# Rate ladders: each step is a fresh server with an empty lease database.
dhcp_rates() {
  case $1 in
  dnsmasq)
    if [ "$QUICK" = 1 ]; then echo "${DHCP_DNSMASQ_RATES:-50 100}"; else echo "${DHCP_DNSMASQ_RATES:-50 100 200 400 800}"; fi ;;
  *)
    if [ "$QUICK" = 1 ]; then echo "${DHCP_RATES:-500 2000}"; else echo "${DHCP_RATES:-1000 2000 3000 4000 6000 8000 10000 12000 16000 20000}"; fi ;;
  esac
}

# dhcp_n RATE: exchanges per step, 10 s of load but at least 5000 (QUICK: 2 s, at least 500).
dhcp_n() {
  if [ "$QUICK" = 1 ]; then echo $(($1 * 2 > 500 ? $1 * 2 : 500)); else echo $(($1 * 10 > 5000 ? $1 * 10 : 5000)); fi
}

# The pool must outlast every step (N fresh MACs, leases held an hour), or
# a step measures pool exhaustion instead of the server: 10.100.0.0 to
# 10.111.255.254 is 786,431 addresses; dhcp_step refuses a larger N.
# The relay address (CLI_IP) sits in the subnet, outside the pool.
SUBNET=10.96.0.0/12
SUBNET_MASK=255.240.0.0
POOL_FIRST=10.100.0.0
POOL_LAST=10.111.255.254
POOL_SIZE=786431

# dhcp_start SERVER DIR: starts SERVER with an empty lease database in DIR; sets SPID.
dhcp_start() {
  local s=$1 d=$2
  case $s in
  outpostd)
    mkdir -p "$d/data" "$d/images"
    cat >"$d/outpost.yaml" <<EOF
site: bench
log_level: warn
dhcp:
  subnets:
    - {prefix: $SUBNET, pool: $POOL_FIRST-$POOL_LAST}
tftp:
  enabled: false
EOF
    # shellcheck disable=SC2086
    start_srv "$d/server.log" "$OUTPOSTD" -config "$d/outpost.yaml" -interface "$SRV_IF" -data "$d/data" -images "$d/images" ${OUTPOSTD_ARGS:-}
    ;;
  kea)
    cat >"$d/kea.json" <<EOF
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["$SRV_IF"], "dhcp-socket-type": "udp"},
  "multi-threading": {"enable-multi-threading": false},
  "lease-database": {"type": "memfile", "persist": true, "name": "$d/leases.csv", "lfc-interval": 0},
  "valid-lifetime": 3600,
  "subnet4": [{"id": 1, "subnet": "$SUBNET", "pools": [{"pool": "$POOL_FIRST - $POOL_LAST"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stderr"}]}]
}}
EOF
    KEA_PIDFILE_DIR=$d KEA_LOCKFILE_DIR=$d start_srv "$d/server.log" kea-dhcp4 -c "$d/kea.json"
    ;;
  dnsmasq)
    : >"$d/leases"
    start_srv "$d/server.log" dnsmasq -d -k --conf-file=/dev/null --port=0 --no-ping --quiet-dhcp \
      --user=root --group=root --pid-file= --dhcp-lease-max=70000 \
      "--dhcp-range=$POOL_FIRST,$POOL_LAST,$SUBNET_MASK,1h" "--dhcp-leasefile=$d/leases" -i "$SRV_IF"
    ;;
  esac
  wait_port udp 67 "$SPID" 30 || { tail -n 20 "$d/server.log" >&2; die "$s did not start"; }
  if [ "$s" = outpostd ]; then
    # It prints where it listens once start-up (the first admin's password hash too) is done.
    wait_log "$d/server.log" "boot script http://" "$SPID" 30 || { tail -n 20 "$d/server.log" >&2; die "$s did not start"; }
  fi
  sleep 0.5 # let start-up work settle before CPU is counted
}

# dhcp_parse OUT: prints "do_sent do_rcvd ra_sent ra_rcvd" from perfdhcp's statistics.
dhcp_parse() {
  awk '
    /Statistics for: DISCOVER-OFFER/ { s = "do" } /Statistics for: REQUEST-ACK/ { s = "ra" }
    /^\*\*\*Timestamps/ { s = "" }
    s != "" && /^sent packets:/ { sent[s] = $3 } s != "" && /^received packets:/ { rcvd[s] = $3 }
    END { printf "%d %d %d %d\n", sent["do"], rcvd["do"], sent["ra"], rcvd["ra"] }' "$1"
}

# dhcp_latencies OUT: "DO|RA ms sent_s" per exchange perfdhcp timed. The
# -x t lines are "sent / received: S / R", the times the request was sent
# and its answer received, as HHMMSS.ffffff since perfdhcp started (boost
# to_iso_string of a duration), for every answered exchange.
dhcp_latencies() {
  awk '
    function secs(x) { return substr(x, 1, 2) * 3600 + substr(x, 3, 2) * 60 + substr(x, 5) }
    /Timestamps for packets: DISCOVER-OFFER/ { s = "DO"; next }
    /Timestamps for packets: REQUEST-ACK/ { s = "RA"; next }
    /^\*\*\*/ { s = "" }
    s != "" && /^sent \/ received:/ { a = secs($4); b = secs($6); printf "%s %.3f %.6f\n", s, (b - a) * 1000, a }' "$1"
}

# dhcp_step SERVER RATE: one step; appends a line to $WORK/dhcp/SERVER.steps:
# rate n achieved fail% do_drop% ra_drop% p50do p99do p50ra p99ra cpu_us
dhcp_step() {
  local s=$1 rate=$2 n d out rc=0 t0 t1 h0 h1
  n=$(dhcp_n "$rate")
  [ "$n" -le "$POOL_SIZE" ] || die "a $rate/s step ($n exchanges) would exhaust the $POOL_SIZE-address pool"
  d=$WORK/dhcp/$s-$rate
  rm -rf "$d"
  mkdir -p "$d"
  dhcp_start "$s" "$d"
  local pid=$SPID
  t0=$(cpu_ticks "$pid")
  h0=$(host_ticks)
  # -W 1 s (= the drop time, -d): answers still in flight when the last
  # request goes are waited for, not counted as drops.
  cli timeout --foreground $((n / rate + 60)) perfdhcp -4 -R 100000000 -n "$n" -r "$rate" -W 1000000 -x t \
    -l "$CLI_IP" "$SRV_IP" >"$d/perfdhcp.out" 2>&1 || rc=$?
  t1=$(cpu_ticks "$pid")
  h1=$(host_ticks)
  alive "$pid" || { tail -n 20 "$d/server.log" >&2; die "$s died during the $rate/s step"; }
  stop_proc "$pid"
  case $rc in 0 | 3) ;; *) tail -n 20 "$d/perfdhcp.out" >&2; die "perfdhcp failed ($rc) against $s at $rate/s" ;; esac
  local do_s do_r ra_s ra_r
  read -r do_s do_r ra_s ra_r < <(dhcp_parse "$d/perfdhcp.out")
  [ "$do_s" -gt 0 ] || die "perfdhcp sent nothing to $s (see $d/perfdhcp.out)"
  dhcp_latencies "$d/perfdhcp.out" >"$d/lat"
  local p50do p99do p50ra p99ra achieved cpu
  p50do=$(awk '$1 == "DO" { print $2 }' "$d/lat" | pctl 50)
  p99do=$(awk '$1 == "DO" { print $2 }' "$d/lat" | pctl 99)
  p50ra=$(awk '$1 == "RA" { print $2 }' "$d/lat" | pctl 50)
  p99ra=$(awk '$1 == "RA" { print $2 }' "$d/lat" | pctl 99)
  # The rate perfdhcp really offered: answered DISCOVERs over their send span.
  achieved=$(awk '$1 == "DO" { n++; if (n == 1 || $3 < lo) lo = $3; if ($3 > hi) hi = $3 }
    END { if (n > 1 && hi > lo) printf "%.0f", (n - 1) / (hi - lo); else print "-" }' "$d/lat")
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v x="$ra_r" 'BEGIN { if (x > 0) printf "%.0f", t * 1e6 / hz / x; else print "-" }')
  awk -v r="$rate" -v n="$n" -v a="$achieved" -v ds="$do_s" -v dr="$do_r" -v rs="$ra_s" -v rr="$ra_r" \
    -v p1="$p50do" -v p2="$p99do" -v p3="$p50ra" -v p4="$p99ra" -v c="$cpu" -v st="$(steal_pct "$h0" "$h1")" 'BEGIN {
      printf "%s %s %s %.2f %.2f %.2f %s %s %s %s %s %s\n", r, n, a, 100 * (1 - rr / ds), 100 * (1 - dr / ds),
        (rs > 0 ? 100 * (1 - rr / rs) : 100), p1, p2, p3, p4, c, st }' >>"$WORK/dhcp/$s.steps"
  log "bench: dhcp $s $rate/s: $(tail -n1 "$WORK/dhcp/$s.steps")"
  rm -f "$d/perfdhcp.out" # large with -x t; the parsed latencies stay in $d/lat
}

part_dhcp() {
  need perfdhcp kea-dhcp4 dnsmasq taskset ss
  build_outpostd
  net_up
  begin_part dhcp "DHCPv4: perfdhcp in relay mode, 4-way exchanges (DORA), fresh MACs, empty lease database per step"
  say "Server in netns SRV on CPU0, perfdhcp in netns CLI on CPU1, over a veth; the servers take turns at each rate."
  say "perfdhcp -4 -R 100000000 -n N -r RATE -W 1000000 -x t -l $CLI_IP $SRV_IP   (N = 10 x RATE, at least 5000$([ "$QUICK" = 1 ] && echo '; QUICK: 2 x RATE, at least 500'))"
  say "outpostd: SQLite, synchronous=FULL, an ACK only after its lease is committed (group commit)."
  say "kea-dhcp4 $(kea-dhcp4 -v 2>/dev/null): memfile, persist, single-threaded (appends each lease to its CSV file, flushed, never fsynced)."
  say "dnsmasq $(dnsmasq -v 2>/dev/null | awk 'NR == 1 { print $3 }'): --no-ping --quiet-dhcp (rewrites its whole lease file and fsyncs it after lease changes)."
  say ""
  mkdir -p "$WORK/dhcp"
  local servers s i more=1 r
  read -r -a servers <<<"$(dhcp_servers)"
  declare -A stopped=() fails=() ladder=()
  for s in "${servers[@]}"; do
    : >"$WORK/dhcp/$s.steps"
    ladder[$s]=$(dhcp_rates "$s")
    fails[$s]=0
  done
  # Round-robin over the servers, one step each, until every ladder ends:
  # after the last rate, after two failed steps in a row, or one with
  # more than 10 % failed.
  for ((i = 0; more; i++)); do
    more=0
    for s in "${servers[@]}"; do
      [ -n "${stopped[$s]:-}" ] && continue
      read -r -a rates <<<"${ladder[$s]}"
      if ((i >= ${#rates[@]})); then stopped[$s]=1; continue; fi
      more=1
      r=${rates[$i]}
      dhcp_step "$s" "$r"
      local fail
      fail=$(tail -n1 "$WORK/dhcp/$s.steps" | awk '{ print $4 }')
      if awk -v f="$fail" 'BEGIN { exit !(f > 2.5) }'; then
        fails[$s]=$((fails[$s] + 1))
        if ((fails[$s] >= 2)) || awk -v f="$fail" 'BEGIN { exit !(f > 10) }'; then stopped[$s]=1; fi
      else
        fails[$s]=0
      fi
    done
  done

  say "Every step (fail = 1 - ACKs/DISCOVERs; drops are perfdhcp's per leg; latency per leg, answered exchanges only;"
  say "steal = the VM's CPU time taken by the hypervisor during the step, a sign of a noisy host):"
  sayf "%-9s %7s %7s %9s %7s %7s %7s %10s %10s %10s %10s %9s %6s\n" server rate/s N offered/s fail% DOdrop% RAdrop% "p50DO ms" "p99DO ms" "p50RA ms" "p99RA ms" "CPU us/ex" steal%
  for s in "${servers[@]}"; do
    while read -r rate n a f dd rd p1 p2 p3 p4 c st; do
      sayf "%-9s %7s %7s %9s %7s %7s %7s %10s %10s %10s %10s %9s %6s\n" "$s" "$rate" "$n" "$a" "$f" "$dd" "$rd" "$p1" "$p2" "$p3" "$p4" "$c" "$st"
    done <"$WORK/dhcp/$s.steps"
  done
  say ""

  # Clean rate: the highest step with at most 2.5 % failed (ISC's criterion).
  declare -A clean=() shown=() p99=() cpu=()
  local top=0
  for s in "${servers[@]}"; do
    local line
    line=$(awk '$4 <= 2.5' "$WORK/dhcp/$s.steps" | sort -n -k1,1 | tail -n1)
    if [ -n "$line" ]; then
      read -r rate n a f dd rd p1 p2 p3 p4 c _ <<<"$line"
      clean[$s]=$rate
      shown[$s]=$rate
      # Clean at the highest rate it was given: its knee lies beyond the ladder.
      if [ "$rate" = "$(sort -n -k1,1 "$WORK/dhcp/$s.steps" | tail -n1 | cut -d' ' -f1)" ]; then shown[$s]="$rate+"; top=1; fi
      p99[$s]="$p2 / $p4"
      cpu[$s]=$c
    else
      clean[$s]="-"; shown[$s]="-"; p99[$s]="-"; cpu[$s]="-"
    fi
  done
  local base=kea
  say "Summary: clean rate = highest step with <= 2.5 % failed exchanges; p99 and CPU at that step; ratios to $base"
  say "(CPU and p99 compared at the highest rate both ran clean, since fixed costs weigh more at low rates"
  say "and latency grows near each server's own limit)."
  sayf "%-9s %12s %20s %12s %14s %20s %22s\n" server "clean rate/s" "p99 DO / RA ms" "CPU us/exch" "rate vs $base" "CPU vs $base @rate" "p99 DO / RA vs $base"
  for s in "${servers[@]}"; do
    local same="-" lat="-" both r cs cb ds db rs rb
    if [ -f "$WORK/dhcp/$base.steps" ]; then
      # The highest rate at which both s and the base were clean: CPU and p99s of both there.
      both=$(awk 'NR == FNR { if ($4 <= 2.5) ok[$1] = $11 " " $8 " " $10; next } ($4 <= 2.5 && ($1 in ok)) { print $1, $11, $8, $10, ok[$1] }' \
        "$WORK/dhcp/$base.steps" "$WORK/dhcp/$s.steps" | sort -n -k1,1 | tail -n1)
      if [ -n "$both" ]; then
        read -r r cs ds rs cb db rb <<<"$both"
        same="$(ratio "$cs" "$cb")x @$r"
        lat="$(ratio "$ds" "$db")x / $(ratio "$rs" "$rb")x"
      fi
    fi
    sayf "%-9s %12s %20s %12s %14s %20s %22s\n" "$s" "${shown[$s]}" "${p99[$s]}" "${cpu[$s]}" \
      "$(ratio "${clean[$s]}" "${clean[$base]:-}")x" "$same" "$lat"
  done
  say ""
  [ "$top" = 1 ] && say "+: clean at the highest rate it was given: its clean rate may be higher, so rate ratios involving it are bounds."
  say "CPU us/exch is the server's user+system time during the step over completed 4-way exchanges (lower is better)."
  say "Durability differs: outpostd ACKs only leases fsynced to disk (group commit); Kea's memfile never fsyncs, so a"
  say "power cut can lose leases it has ACKed; dnsmasq fsyncs a full rewrite of its lease file, which grows with the leases."
  log "bench: dhcp results in $RESULT"
}
