# shellcheck shell=bash
# Part "http": wrk and curl against outpostd and nginx. Sourced by run.sh.

HTTP_MAC=52:54:00:be:0c:01

# wrk_parse OUT: "req_s p99_ms requests errors transfer_MiB_s" from wrk --latency output.
wrk_parse() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    function mib(v) { if (v ~ /GB$/) return v * 1024; if (v ~ /MB$/) return v + 0; if (v ~ /KB$/) return v / 1024; if (v ~ /B$/) return v / 1048576; return v }
    /^Requests\/sec:/ { rps = $2 }
    /^Transfer\/sec:/ { tr = mib($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { n = $1 }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ { for (i = 3; i <= NF; i += 2) err += $(i + 1) }
    END { printf "%s %.3f %s %d %.1f\n", rps, p99, n, err, tr }' "$1"
}

# http_wrk NAME PGID URL CONNS SECONDS: runs wrk from CLI on CPU1; prints
# "req_s p99_ms errors MiB_s cpu_us_per_req".
http_wrk() {
  local name=$1 pg=$2 url=$3 conns=$4 secs=$5 out t0 t1
  out=$WORK/http/wrk-$name-$RANDOM.out
  t0=$(cpu_ticks "$pg")
  cli wrk -t1 -c"$conns" -d"${secs}s" --latency "$url" >"$out" 2>&1 || { cat "$out" >&2; die "wrk against $name failed"; }
  t1=$(cpu_ticks "$pg")
  local rps p99 n err tr
  read -r rps p99 n err tr < <(wrk_parse "$out")
  echo "$rps $p99 $err $tr $(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')"
}

# http_curl URL: MiB/s of one download to /dev/null, from CLI on CPU1.
http_curl() {
  local out
  out=$(cli curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$1") || die "curl $1 failed"
  read -r code size speed <<<"$out"
  [ "$code" = 200 ] && [ "$size" = "$BLOB_BYTES" ] || die "curl $1: HTTP $code, $size bytes (want $BLOB_BYTES)"
  awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1048576 }'
}

part_http() {
  need wrk nginx curl taskset ss
  build_outpostd
  net_up
  local d=$WORK/http secs runs blob_mib
  mkdir -p "$d/data" "$d/images/bench" "$d/www/images/bench" "$d/nginx"
  chmod 755 "$WORK" "$d" "$d/www" # nginx's worker runs as www-data
  if [ "$QUICK" = 1 ]; then secs=3 runs=1 blob_mib=32; else secs=10 runs=3 blob_mib=100; fi
  secs=${HTTP_SECONDS:-$secs}
  runs=${HTTP_RUNS:-$runs}

  # The "kernel": random bytes, so that nothing compresses or dedups.
  head -c "${blob_mib}M" /dev/urandom >"$d/images/bench/kernel.bin"
  ln "$d/images/bench/kernel.bin" "$d/www/images/bench/kernel.bin"
  BLOB_BYTES=$(stat -c %s "$d/images/bench/kernel.bin")

  cat >"$d/outpost.yaml" <<EOF
site: bench
log_level: warn
dhcp:
  enabled: false
tftp:
  enabled: false
EOF
  start_srv "$d/outpostd.log" "$OUTPOSTD" -config "$d/outpost.yaml" -interface "$SRV_IF" -data "$d/data" -images "$d/images"
  local opid=$SPID
  # outpostd prints where it listens once everything is up.
  wait_log "$d/outpostd.log" "boot script http://" "$opid" 30 || { tail -n 20 "$d/outpostd.log" >&2; die "outpostd did not start"; }

  # A deployed machine, registered through the API.
  local base="http://$SRV_IP" pw tok
  pw=$(cat "$d/data/initial-admin-password")
  tok=$(srv curl -sS --fail-with-body -H 'Content-Type: application/json' \
    -d "{\"user\":\"admin\",\"password\":\"$pw\"}" "$base/api/v1/login" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
  [ -n "$tok" ] || die "login to outpostd failed"
  srv curl -sS --fail-with-body -o /dev/null -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d "{\"serial\":\"BENCH-HTTP-1\",\"macs\":[\"$HTTP_MAC\"],\"state\":\"deployed\"}" "$base/api/v1/machines" ||
    die "registering the machine failed"
  local path="/boot.ipxe?mac=$HTTP_MAC&platform=pcbios&buildarch=x86_64"
  cli curl -sS --fail-with-body -o "$d/www/boot.ipxe" "$base$path" || die "GET $path failed"
  grep -q '^#!ipxe' "$d/www/boot.ipxe" || die "outpostd did not answer an iPXE script: $(head -c 300 "$d/www/boot.ipxe")"

  cat >"$d/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $d/nginx/body;
  proxy_temp_path $d/nginx/proxy;
  fastcgi_temp_path $d/nginx/fastcgi;
  uwsgi_temp_path $d/nginx/uwsgi;
  scgi_temp_path $d/nginx/scgi;
  default_type application/octet-stream;
  server {
    listen $SRV_IP:8080;
    root $d/www;
    location = /boot.ipxe { default_type "text/plain; charset=utf-8"; add_header Cache-Control no-store; }
  }
}
EOF
  start_srv "$d/nginx/stderr.log" nginx -e "$d/nginx/error.log" -p "$d/nginx" -c "$d/nginx/nginx.conf"
  local npid=$SPID
  wait_port tcp 8080 "$npid" 30 || { cat "$d/nginx/stderr.log" "$d/nginx/error.log" >&2; die "nginx did not start"; }
  local ngx="http://$SRV_IP:8080"
  cmp -s "$d/www/boot.ipxe" <(cli curl -sS "$ngx$path") || die "nginx does not serve the same script bytes"

  begin_part http "HTTP: iPXE script and kernel download, outpostd vs nginx"
  say "Server in netns SRV on CPU0 (nginx: 1 worker, access_log off, sendfile, keepalive_requests 1000000), clients in netns CLI on CPU1."
  say "outpostd renders the script per request from the machine's state (deployed, BIOS: boot the local disk) and records"
  say "a timeline event; nginx serves the same $(stat -c %s "$d/www/boot.ipxe") bytes from a static file. Script:"
  sed 's/^/    | /' "$d/www/boot.ipxe" | tee -a "$RESULT"
  say ""
  mkdir -p "$d"
  local i r p e t c o
  # Warm-up, not counted: first requests, page cache, TCP.
  http_wrk outpostd "$opid" "$base$path" 64 2 >/dev/null
  http_wrk nginx "$npid" "$ngx$path" 64 2 >/dev/null
  declare -a o_rps=() o_p99=() o_cpu=() n_rps=() n_p99=() n_cpu=() o_err=() n_err=()
  for ((i = 0; i < runs; i++)); do
    o=$(http_wrk outpostd "$opid" "$base$path" 64 "$secs")
    read -r r p e t c <<<"$o"
    o_rps+=("$r"); o_p99+=("$p"); o_err+=("$e"); o_cpu+=("$c")
    log "bench: http script outpostd run $((i + 1)): $r req/s, p99 $p ms, $e errors, $c us CPU/req"
    o=$(http_wrk nginx "$npid" "$ngx$path" 64 "$secs")
    read -r r p e t c <<<"$o"
    n_rps+=("$r"); n_p99+=("$p"); n_err+=("$e"); n_cpu+=("$c")
    log "bench: http script nginx run $((i + 1)): $r req/s, p99 $p ms, $e errors, $c us CPU/req"
  done
  local orps op99 nrps np99 ocpu ncpu
  orps=$(median "${o_rps[@]}"); op99=$(median "${o_p99[@]}"); ocpu=$(fmt_num "$(median "${o_cpu[@]}")" 1)
  nrps=$(median "${n_rps[@]}"); np99=$(median "${n_p99[@]}"); ncpu=$(fmt_num "$(median "${n_cpu[@]}")" 1)
  say "iPXE script: wrk -t1 -c64 -d${secs}s --latency, $runs run(s) each, alternating; medians (runs: outpostd ${o_rps[*]} / nginx ${n_rps[*]} req/s)"
  sayf "%-22s %12s %12s %10s   %s\n" "" outpostd nginx ratio target
  sayf "%-22s %12s %12s %10s   %s\n" "requests/s" "$(fmt_num "$orps")" "$(fmt_num "$nrps")" "$(ratio "$orps" "$nrps")x" \
    ">= 0.50x: $(meets "$(ratio "$orps" "$nrps")" ">=" 0.5)"
  sayf "%-22s %12s %12s %10s   %s\n" "p99 latency ms" "$(fmt_num "$op99" 2)" "$(fmt_num "$np99" 2)" "$(ratio "$op99" "$np99")x" \
    "< 10 ms: $(meets "$op99" "<" 10)"
  sayf "%-22s %12s %12s %10s\n" "server CPU us/request" "$ocpu" "$ncpu" "$(ratio "$ocpu" "$ncpu")x"
  sayf "%-22s %12s %12s\n" "errors (all runs)" "$(IFS=+; echo $((${o_err[*]})))" "$(IFS=+; echo $((${n_err[*]})))"
  say ""

  # The kernel: curl one download at a time, then wrk with 4 connections.
  local kpath=/images/bench/kernel.bin curls
  curls=$([ "$QUICK" = 1 ] && echo 2 || echo 5)
  curls=${HTTP_CURLS:-$curls}
  declare -a o_c=() n_c=()
  for ((i = 0; i < curls; i++)); do
    o_c+=("$(http_curl "$base$kpath")")
    n_c+=("$(http_curl "$ngx$kpath")")
  done
  declare -a o_w=() n_w=() o_wc=() n_wc=()
  for ((i = 0; i < runs; i++)); do
    o=$(http_wrk outpostd "$opid" "$base$kpath" 4 "$secs")
    read -r r p e t c <<<"$o"
    [ "$e" = 0 ] || die "wrk: $e errors downloading from outpostd"
    o_w+=("$(fmt_num "$t")"); o_wc+=("$(awk -v c="$c" -v m="$blob_mib" 'BEGIN { printf "%.0f", c / m * 1024 / 1000 }')")
    o=$(http_wrk nginx "$npid" "$ngx$kpath" 4 "$secs")
    read -r r p e t c <<<"$o"
    [ "$e" = 0 ] || die "wrk: $e errors downloading from nginx"
    n_w+=("$(fmt_num "$t")"); n_wc+=("$(awk -v c="$c" -v m="$blob_mib" 'BEGIN { printf "%.0f", c / m * 1024 / 1000 }')")
  done
  local oc nc ow nw owc nwc
  oc=$(fmt_num "$(median "${o_c[@]}")"); nc=$(fmt_num "$(median "${n_c[@]}")")
  ow=$(fmt_num "$(median "${o_w[@]}")"); nw=$(fmt_num "$(median "${n_w[@]}")")
  owc=$(fmt_num "$(median "${o_wc[@]}")"); nwc=$(fmt_num "$(median "${n_wc[@]}")")
  say "Kernel download, a ${blob_mib} MiB file from /images/ (outpostd) and the same file (nginx); medians, MiB/s"
  say "  curl -o /dev/null, one at a time, $curls each, alternating (outpostd ${o_c[*]} / nginx ${n_c[*]})"
  say "  wrk -t1 -c4 -d${secs}s, $runs run(s) each, alternating (outpostd ${o_w[*]} / nginx ${n_w[*]})"
  sayf "%-22s %12s %12s %10s   %s\n" "" outpostd nginx ratio target
  sayf "%-22s %12s %12s %10s   %s\n" "curl MiB/s" "$oc" "$nc" "$(ratio "$oc" "$nc")x" ">= 0.90x: $(meets "$(ratio "$oc" "$nc")" ">=" 0.9)"
  sayf "%-22s %12s %12s %10s   %s\n" "wrk -c4 MiB/s" "$ow" "$nw" "$(ratio "$ow" "$nw")x" ">= 0.90x: $(meets "$(ratio "$ow" "$nw")" ">=" 0.9)"
  sayf "%-22s %12s %12s %10s\n" "server CPU ms/GiB" "$owc" "$nwc" "$(ratio "$owc" "$nwc")x"
  stop_proc "$npid"
  stop_proc "$opid"
  log "bench: http results in $RESULT"
}
