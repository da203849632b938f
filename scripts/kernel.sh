#!/usr/bin/env bash
# Fetches Debian's linux-image-amd64 kernel and its modules from Debian's
# packages (apt-get download + dpkg-deb -x) into DIR, once, and builds
# modules.dep for them with depmod:
#   DIR/vmlinuz  DIR/VERSION  DIR/lib/modules/<version>/...
set -euo pipefail
dir=${1:?usage: kernel.sh DIR}
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/VERSION" ] && [ -s "$dir/lib/modules/$(cat "$dir/VERSION")/modules.dep" ]; then exit 0; fi
command -v depmod >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v depmod >/dev/null || { echo "kernel.sh: depmod missing (Debian package kmod; scripts/deps.sh installs it)" >&2; exit 1; }
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$pkg" ] || { echo "kernel.sh: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
ver=$(ls "$tmp/x/lib/modules")
rm -rf "$dir"
mkdir -p "$dir/lib/modules"
cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
mv "$tmp/x/lib/modules/$ver" "$dir/lib/modules/$ver"
depmod -b "$dir" "$ver"
echo "$ver" > "$dir/VERSION"
echo "$pkg" > "$dir/PACKAGE"
echo "kernel.sh: $pkg ($ver) in $dir" >&2
