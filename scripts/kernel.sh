#!/usr/bin/env bash
# Fetches Debian's linux-image-amd64 kernel and its modules from Debian's
# packages (apt-get download + dpkg-deb -x) into DIR, once.
set -euo pipefail
dir=${1:?usage: kernel.sh DIR}
if [ -s "$dir/vmlinuz" ] && [ -d "$dir/modules" ]; then exit 0; fi
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$pkg" ] || { echo "kernel.sh: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
mkdir -p "$dir"
cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
rm -rf "$dir/modules"
mv "$tmp"/x/lib/modules/* "$dir/modules"
echo "$pkg" > "$dir/VERSION"
echo "kernel.sh: $pkg in $dir" >&2
