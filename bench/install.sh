# shellcheck shell=bash
# Part "install": recon/install's Install vs curl | zstd -d | dd. Sourced by run.sh.

# secs_since T0: seconds since T0 (from date +%s.%N).
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

# hash256 FILE: hex SHA-256, with openssl when there is one (it uses the
# CPU's SHA instructions, as Go does; coreutils' sha256sum does not).
hash256() {
  if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1; else sha256sum "$1" | cut -d' ' -f1; fi
}

mbs() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s / 1e6; else print "-" }'; }

part_install() {
  need curl zstd dd sha256sum
  local d=$WORK/install size_mib runs
  if [ "$QUICK" = 1 ]; then size_mib=128; else size_mib=1024; fi
  size_mib=${INSTALL_MIB:-$size_mib}
  runs=${INSTALL_RUNS:-3}
  mkdir -p "$d/www" "$d/bin"
  log "bench: building installbench"
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -o "$d/bin/installbench" ./bench/installbench)
  local ib=$d/bin/installbench

  log "bench: making a $size_mib MiB disk image and compressing it with zstd"
  "$ib" gen -out "$d/raw" -size $((size_mib << 20))
  zstd -q -T2 -3 "$d/raw" -o "$d/www/image.raw.zst"
  local raw_size raw_sha size sha
  raw_size=$(stat -c %s "$d/raw")
  raw_sha=$(sha256sum "$d/raw" | cut -d' ' -f1)
  size=$(stat -c %s "$d/www/image.raw.zst")
  sha=$(sha256sum "$d/www/image.raw.zst" | cut -d' ' -f1)
  rm -f "$d/raw"

  setsid "$ib" serve -dir "$d/www" >"$d/serve.log" 2>&1 </dev/null &
  local spid=$!
  PIDS+=("$spid")
  local url="" i
  for ((i = 0; i < 100; i++)); do
    url=$(sed -n 's/^URL //p' "$d/serve.log")
    [ -n "$url" ] && break
    alive "$spid" || break
    sleep 0.05
  done
  [ -n "$url" ] || die "installbench serve did not start: $(cat "$d/serve.log")"
  url=$url/image.raw.zst

  local target=$d/disk.img
  declare -a go_total=() go_write=() sh_pipe=() sh_verify=()
  for ((i = 0; i < runs; i++)); do
    rm -f "$target"
    local o
    o=$("$ib" install -url "$url" -out "$target" -size "$size" -sha "$sha" -raw-size "$raw_size" -raw-sha "$raw_sha") ||
      die "install.Install failed: $o"
    go_total+=("$(sed -n 's/.*total_s=\([0-9.]*\).*/\1/p' <<<"$o")")
    go_write+=("$(sed -n 's/.*write_s=\([0-9.]*\).*/\1/p' <<<"$o")")
    log "bench: install run $((i + 1)) install.Install: $o"
    rm -f "$target"

    local t0 t1 got
    t0=$(date +%s.%N)
    curl -s "$url" | zstd -d | dd of="$target" bs=4M status=none
    sync "$target"
    sh_pipe+=("$(secs_since "$t0")")
    t1=$(date +%s.%N)
    # Install's read-back: evict the file's cached pages (fadvise
    # DONTNEED, which dd's nocache flag does), then read it all.
    dd if="$target" iflag=nocache count=0 status=none
    got=$(hash256 "$target")
    sh_verify+=("$(awk -v a="${sh_pipe[-1]}" -v b="$(secs_since "$t1")" 'BEGIN { printf "%.3f", a + b }')")
    [ "$got" = "$raw_sha" ] || die "the pipeline wrote wrong data"
    [ "$(stat -c %s "$target")" = "$raw_size" ] || die "the pipeline wrote $(stat -c %s "$target") bytes, want $raw_size"
    log "bench: install run $((i + 1)) pipeline: ${sh_pipe[-1]} s, with read-back ${sh_verify[-1]} s"
    rm -f "$target"
  done
  stop_proc "$spid"

  local gt gw sp sv
  gt=$(fmt_num "$(median "${go_total[@]}")" 3); gw=$(fmt_num "$(median "${go_write[@]}")" 3)
  sp=$(fmt_num "$(median "${sh_pipe[@]}")" 3); sv=$(fmt_num "$(median "${sh_verify[@]}")" 3)
  begin_part install "Install: a $size_mib MiB zstd disk image over HTTP into a file, recon/install vs curl | zstd -d | dd"
  say "Image: OS-like data (zeros, random and text blocks), $raw_size bytes raw, $size bytes as zstd -3; served by a Go"
  say "net/http file server on 127.0.0.1; target a file on $(df --output=source "$d" | tail -n1) ($(df --output=fstype "$d" | tail -n1))."
  say "Same host, no CPU pinning, $runs runs each, alternating; MB = 10^6 bytes of raw image written; medians."
  say ""
  sayf "%-64s %10s %8s   %s\n" contender seconds MB/s "runs (s)"
  sayf "%-64s %10s %8s   %s\n" "install.Install: download, sha256, unzstd, write, fsync, verify" "$gt" "$(mbs "$raw_size" "$gt")" "${go_total[*]}"
  sayf "%-64s %10s %8s   %s\n" "  of which until written and fsynced (before the verify)" "$gw" "$(mbs "$raw_size" "$gw")" "${go_write[*]}"
  sayf "%-64s %10s %8s   %s\n" "curl -s URL | zstd -d | dd of=FILE bs=4M; sync FILE" "$sp" "$(mbs "$raw_size" "$sp")" "${sh_pipe[*]}"
  sayf "%-64s %10s %8s   %s\n" "  + evict from page cache, SHA-256 (Install's read-back)" "$sv" "$(mbs "$raw_size" "$sv")" "${sh_verify[*]}"
  say ""
  local r1 r2 r3
  r1=$(ratio "$sp" "$gt"); r2=$(ratio "$sp" "$gw"); r3=$(ratio "$sv" "$gt")
  sayf "%-64s %10s   %s\n" "ratio Install (verified) / pipeline (unverified)" "${r1}x" "target >= 0.90x: $(meets "$r1" ">=" 0.9)"
  sayf "%-64s %10s\n" "ratio Install write phase / pipeline" "${r2}x"
  sayf "%-64s %10s\n" "ratio Install (verified) / pipeline + read-back" "${r3}x"
  say ""
  say "Ratios are throughput ratios (pipeline seconds / Install seconds): above 1x Install is faster."
  log "bench: install results in $RESULT"
}
