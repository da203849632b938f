#!/usr/bin/env bash
# Installs the Debian packages a target needs, only when missing.
# Usage: scripts/deps.sh test|bench|all
set -euo pipefail

test_pkgs=(
  qemu-system-x86 ipxe-qemu ipxe ovmf
  isc-dhcp-client busybox-static tftp-hpa atftp curl
  ipmitool openipmi tcpdump iproute2 iputils-ping
  postgresql zstd e2fsprogs cpio xz-utils tmux kmod nftables
  chromium chromium-driver fonts-dejavu-core
)
bench_pkgs=(
  kea-admin kea-dhcp4-server dnsmasq-base tftpd-hpa nginx-light wrk openssl
)

case "${1:-test}" in
  test) want=("${test_pkgs[@]}") ;;
  bench) want=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  all) want=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 test|bench|all" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
# Package services must not start on the host: tests run their own copies in namespaces.
$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
