#!/usr/bin/env bash
# Image benchmarks for `make bench`: prints a markdown table.
#
# 1. Verifying a signed file: `pxebake fetch --offline` re-verifies a cached file (OpenPGP
#    signature + the lock's SHA-512, one streaming pass) vs `sha512sum` on the same file.
# 2. Downloading from a loopback HTTP server (nginx, else python3 -m http.server): pxebake's
#    download code alone (examples/bench_download) vs `curl -o` of the same URL; and `pxebake
#    fetch` into an empty cache (download with verification hashing alongside) vs `curl` and vs
#    `curl && sha512sum`.
# Every number is the best of $RUNS runs, all measured in this one invocation. Only 127.0.0.1.
#
# Usage: bench/images.sh            (SIZE_MIB=512 RUNS=3 BIN=target/release/pxebake)
set -euo pipefail

BIN=${BIN:-target/release/pxebake}
SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-3}
BIN=$(realpath "$BIN")
# The download path alone (no verification), for the curl comparison.
cargo build --quiet --release --example bench_download
DL=$(realpath "$(dirname "$BIN")/examples/bench_download")
for tool in gpg curl sha512sum; do
    command -v "$tool" >/dev/null || { echo "bench/images.sh needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# Test data, a throwaway key and a detached signature (gpg, SHA-512, binary like Flatcar's).
mkdir -p "$work/srv/1.0" "$work/inventory" "$work/gnupg"
chmod 700 "$work/gnupg"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/srv/1.0/big.img"
export GNUPGHOME="$work/gnupg"
gpg --batch --quiet --passphrase '' --quick-gen-key 'pxebake bench <bench@example.org>' ed25519 sign never 2>/dev/null
gpg --batch --quiet --armor --export >"$work/inventory/key.asc"
gpg --batch --quiet --digest-algo SHA512 --detach-sign -o "$work/srv/1.0/big.img.sig" "$work/srv/1.0/big.img"

cat >"$work/inventory/site.yaml" <<EOF
site: { name: bench, domain: bench.example, frontend: 10.0.0.1, http: "http://10.0.0.1/boot" }
networks:
  prov: { address: 10.0.0.0/24, gateway: 10.0.0.1, zone: bench.example, mtu: 1500, pxe: true }
images:
  os:
    url: http://127.0.0.1:$port/{version}/
    version: "1.0"
    key: key.asc
    files: { kernel: big.img }
bootactions:
  install: { kernel: vmlinuz.os, image: os, args: "console=ttyS0" }
appliances:
  node: { installaction: install }
hosts:
  - { name: n1, appliance: node, boot: install, interfaces: [{ network: prov, mac: "52:54:00:00:01:01", ip: 10.0.0.11 }] }
EOF

# A loopback server (nginx workers run as an unprivileged user: make the files readable).
chmod -R a+rX "$work/srv" && chmod a+x "$work"
if command -v nginx >/dev/null; then
    mkdir -p "$work/nginx/logs"
    cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    server { listen 127.0.0.1:$port; root $work/srv; }
}
EOF
    nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e stderr 2>/dev/null &
    server=nginx
else
    (cd "$work/srv" && exec python3 -m http.server --bind 127.0.0.1 "$port") >/dev/null 2>&1 &
    server="python3 http.server"
fi
server_pid=$!
for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/1.0/big.img.sig" && break
    sleep 0.1
done

# best_ms CMD...: the fastest of $RUNS runs, in milliseconds; `prepare` runs before each.
prepare() { :; }
best_ms() {
    local best= t0 t1 ms
    for _ in $(seq "$RUNS"); do
        prepare
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        t1=$(date +%s%N)
        ms=$(((t1 - t0) / 1000000))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}
mibs() { awk -v s="$SIZE_MIB" -v ms="$1" 'BEGIN { printf "%.0f", s / (ms / 1000) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

export PXEBAKE_CACHE="$work/cache"
pxe() { "$BIN" -q "$@" --inventory "$work/inventory"; }

# 1. Verification: fill the cache once, then re-verify it offline.
pxe fetch >/dev/null
sha_ms=$(best_ms sha512sum "$work/srv/1.0/big.img")
ver_ms=$(best_ms pxe fetch --offline)

# 2. Download: curl vs pxebake into an empty cache.
prepare() { rm -f "$work/curl.out"; }
curl_ms=$(best_ms curl -sf -o "$work/curl.out" "http://127.0.0.1:$port/1.0/big.img")
prepare() { rm -f "$work/dl.out"; }
raw_ms=$(best_ms "$DL" "http://127.0.0.1:$port/1.0/big.img" "$work/dl.out")
cmp -s "$work/dl.out" "$work/srv/1.0/big.img" || { echo "bench_download got other bytes" >&2; exit 1; }
prepare() { rm -rf "$PXEBAKE_CACHE"; }
dl_ms=$(best_ms pxe fetch)
prepare() { rm -f "$work/curl.out"; }
curlsha_ms=$(best_ms sh -c "curl -sf -o '$work/curl.out' 'http://127.0.0.1:$port/1.0/big.img' && sha512sum '$work/curl.out'")

cat <<EOF
### Images ($SIZE_MIB MiB file, best of $RUNS, $(nproc) cores, server: $server)

| task | pxebake | reference | pxebake / reference |
|---|---|---|---|
| verify signature + SHA-512 (\`fetch --offline\`, cached file) | $ver_ms ms ($(mibs "$ver_ms") MiB/s) | \`sha512sum\`: $sha_ms ms ($(mibs "$sha_ms") MiB/s) | $(ratio "$ver_ms" "$sha_ms")x |
| download only (pxebake's HTTP code, \`examples/bench_download\`) | $raw_ms ms ($(mibs "$raw_ms") MiB/s) | \`curl -o\`: $curl_ms ms ($(mibs "$curl_ms") MiB/s) | $(ratio "$raw_ms" "$curl_ms")x |
| download + verify from loopback (\`fetch\`, empty cache) | $dl_ms ms ($(mibs "$dl_ms") MiB/s) | \`curl -o\`: $curl_ms ms ($(mibs "$curl_ms") MiB/s) | $(ratio "$dl_ms" "$curl_ms")x |
| download + verify from loopback | $dl_ms ms | \`curl -o && sha512sum\`: $curlsha_ms ms | $(ratio "$dl_ms" "$curlsha_ms")x |
EOF
