#!/usr/bin/env bash
# Installs what Hoody runs on (Debian 12, as root): runc, conmon, catatonit, busybox-static for the
# built-in image, iproute2, nftables and conntrack (container networking: the bridge, namespaces, the daemon's
# own table; the kernel must have bridge, veth and nf_tables built in or loaded), GNU tar, zstd and attr for unpacking image layers,
# TigerVNC's Xvnc (the kit's display: an X and VNC server per hoody_kit container); with --test also
# X clients to draw on and type into a display (xsetroot, xev, xdpyinfo),
# PostgreSQL (store and end-to-end suites), Chromium (the browser test of the API page), and a
# local registry with skopeo, umoci and libcap's tools (the image tests build, push and compare
# images against them), and Caddy (the service-URL router behind a TLS terminator, as docs/proxy.md sets it up).
# Then the npm packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(runc conmon catatonit busybox-static iproute2 nftables conntrack ca-certificates tar zstd attr util-linux tigervnc-standalone-server)
if [ "${1:-}" = "--test" ]; then packages+=(postgresql chromium docker-registry skopeo umoci libcap2-bin python3 openssl curl caddy x11-xserver-utils x11-utils); fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
