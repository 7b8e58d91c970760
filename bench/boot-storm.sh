#!/usr/bin/env bash
# Boot-storm benchmark for `make bench`: N machines fetch the same 256 MiB initrd at once from a
# pxebake tree, over the default path (nginx, HTTP) and over TFTP (dnsmasq), next to one plain
# `curl` of the same file over HTTP with nothing else running (the line rate here).
#
# The tree is built by pxebake from a signed test image (a throwaway key, a local mirror), and
# served by stock nginx and dnsmasq with the configs pxebake wrote, in a private network namespace
# (loopback only; its MTU set to 1500 so TFTP blocks are what an Ethernet client gets). TFTP
# clients ask for the block size OVMF asks for (1468). Needs root (network namespaces).
#
# Writes its table into BENCHMARKS.md between the bootstorm markers, and prints it.
# Usage: bench/boot-storm.sh   (BIN=target/release/pxebake SIZE_MIB=256 CLIENTS="1 10 50")
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${BIN:-$REPO/target/release/pxebake}")
SIZE_MIB=${SIZE_MIB:-256}
CLIENTS=${CLIENTS:-1 10 50}
W=$REPO/target/bench-storm
TREE=$W/tree
NS=pxebake-storm-$$
SERVER=10.97.0.1
URL=http://$SERVER:8080/boot

fail() {
  echo "bench/boot-storm.sh: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root for a network namespace (sudo make bench)"
for tool in dnsmasq nginx curl gpg ip; do
  command -v "$tool" >/dev/null || fail "\`$tool\` is missing; install the packages on the apt-get line of .ci/run"
done
[ -x "$BIN" ] || fail "$BIN does not exist; run \`make binary\` first"

PIDS=()
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  [ -n "${GNUPGHOME:-}" ] && gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null
  # The 256 MiB files are not worth keeping.
  rm -rf "$W/mirror" "$TREE/images" "$W/cache"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- A signed image with a 256 MiB initrd, and a pxebake tree that serves it -----------------
rm -rf "$W" && mkdir -p "$W/inventory" && chmod 755 "$W"
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'pxebake bench <bench@pxebake.test>' ed25519 sign never 2>/dev/null
M=$W/mirror/storm/1.0
mkdir -p "$M"
head -c $((1 << 20)) /dev/urandom >"$M/vmlinuz"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$M/initrd.img"
for f in vmlinuz initrd.img; do gpg -q --batch --detach-sign --output "$M/$f.sig" "$M/$f"; done
gpg -q --batch --armor --export >"$W/inventory/key.asc"
cat >"$W/inventory/site.yaml" <<EOF
site: { name: storm, domain: storm.test, frontend: $SERVER, http: "$URL", root: $TREE }
networks:
  lab: { address: 10.97.0.0/24, gateway: $SERVER, mtu: 1500, pxe: true }
images:
  storm:
    url: http://127.0.0.1:9/{version}/
    version: "1.0"
    key: key.asc
    files: { kernel: vmlinuz, initrd: initrd.img }
bootactions:
  install: { kernel: vmlinuz.storm, ramdisk: initrd.storm, image: storm, args: "console=ttyS0" }
appliances:
  node: { installaction: install }
hosts:
  - { name: n1, appliance: node, boot: install, interfaces: [{ network: lab, mac: "52:54:00:00:97:01", ip: 10.97.0.11 }] }
EOF
(cd "$W" && PXEBAKE_CACHE=$W/cache "$BIN" -q build --inventory inventory --out "$TREE" --mirror "$W/mirror" --offline --no-bootloaders) \
  || fail "pxebake build failed"
HTTP_PATH=images/storm/1.0/initrd.img # under http/ (a link to the verified image)
TFTP_PATH=initrd.storm                 # in the TFTP root (a link to the same file)
[ -s "$TREE/http/$HTTP_PATH" ] && [ -s "$TREE/tftp/$TFTP_PATH" ] || fail "the tree has no initrd at http/$HTTP_PATH and tftp/$TFTP_PATH"

# --- nginx and dnsmasq with the generated configs, in a private namespace --------------------
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up mtu 1500
ip netns exec "$NS" ip addr add "$SERVER/24" dev lo
mkdir -p "$W/nginx"
ip netns exec "$NS" nginx -p "$W/nginx/" -e "$W/nginx/error.log" -c "$TREE/etc/nginx-standalone.conf" -g 'daemon off;' \
  </dev/null >"$W/nginx.out" 2>&1 &
PIDS+=("$!")
ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file="$TREE/etc/dnsmasq.conf" --port=0 --interface=lo \
  --bind-interfaces --log-facility="$W/dnsmasq.log" --dhcp-leasefile="$W/dnsmasq.leases" --pid-file="$W/dnsmasq.pid" \
  </dev/null >"$W/dnsmasq.out" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
  ip netns exec "$NS" curl -s -o /dev/null "$URL/ipxe/boot.ipxe" && grep -q "TFTP root is" "$W/dnsmasq.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "TFTP root is" "$W/dnsmasq.log" || fail "dnsmasq did not start: $(tail -n 5 "$W/dnsmasq.log" "$W/dnsmasq.out")"

ms() { echo $(($(date +%s%N) / 1000000)); }
want=$((SIZE_MIB << 20))

# storm PROTO N: N clients at once; prints "<wall ms> <fastest ms> <slowest ms>", checks every byte count.
storm() {
  local proto=$1 n=$2 i t0 t1 url
  case $proto in
    http) url=$URL/$HTTP_PATH ;;
    tftp) url=tftp://$SERVER/$TFTP_PATH ;;
  esac
  local pids=()
  rm -f "$W"/client.*
  t0=$(ms)
  for i in $(seq "$n"); do
    ip netns exec "$NS" curl -sS --tftp-blksize 1468 --max-time 900 -o /dev/null \
      -w '%{time_total} %{size_download}\n' "$url" >"$W/client.$i" 2>&1 &
    pids+=("$!")
  done
  wait "${pids[@]}" || true
  t1=$(ms)
  for i in $(seq "$n"); do
    read -r _ size <"$W/client.$i" || true
    [ "${size:-0}" = "$want" ] || fail "$proto, $n clients: client $i got ${size:-nothing} bytes, not $want: $(cat "$W/client.$i")"
  done
  sort -n "$W"/client.* | awk -v wall=$((t1 - t0)) 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d %d %d\n", wall, lo * 1000, hi * 1000 }'
}

# The line rate: one plain curl over HTTP, nothing else running (best of 3).
best=
for _ in 1 2 3; do
  read -r wall _ <<<"$(storm http 1)"
  [ -n "${wall:-}" ] || exit 1
  [ -z "$best" ] || [ "$wall" -lt "$best" ] && best=$wall
done
mibs() { awk -v mib="$1" -v ms="$2" 'BEGIN { printf "%.0f", mib * 1000 / ms }'; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }

declare -A AGG
rows=()
for proto in http tftp; do
  for n in $CLIENTS; do
    echo "bench: $proto, $n client(s)..." >&2
    read -r wall lo hi <<<"$(storm "$proto" "$n")"
    [ -n "${hi:-}" ] || exit 1 # storm reported the failure
    AGG[$proto.$n]=$(mibs $((n * SIZE_MIB)) "$wall")
    label="nginx (HTTP)"
    [ "$proto" = tftp ] && label="dnsmasq (TFTP, block size 1468)"
    rows+=("| $label | $n | $(secs "$wall") | ${AGG[$proto.$n]} MiB/s | $(mibs "$SIZE_MIB" "$hi") MiB/s | $(secs "$lo") |")
  done
done

machine="$(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | awk '{ print $1, $2, $3 }')), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
dnsmasq_version=$(dnsmasq --version | awk 'NR == 1 { print $3 }')
nginx_version=$(nginx -v 2>&1 | sed 's|.*nginx/||')
last=$(echo "$CLIENTS" | awk '{ print $NF }')
ratio=$(awk -v h="${AGG[http.$last]}" -v t="${AGG[tftp.$last]}" 'BEGIN { printf "%.1f", h / t }')
report=$(
  cat <<EOF
## Boot storm (\`bench/boot-storm.sh\`)

Machine: $machine; dnsmasq $dnsmasq_version, nginx $nginx_version with the configs pxebake writes. Each
client fetches the same ${SIZE_MIB} MiB initrd from the served tree, all starting at once, inside a network
namespace (loopback, MTU 1500). Time to last byte: from the start until the last client has its last byte.

| server | clients | time to last byte | aggregate | slowest client | fastest client finished in |
|---|---:|---:|---:|---:|---:|
| one plain \`curl\` over HTTP (the line rate here) | 1 | $(secs "$best") | $(mibs "$SIZE_MIB" "$best") MiB/s | | |
$(printf '%s\n' "${rows[@]}")

At $last clients, HTTP delivers ${ratio}x the aggregate rate of TFTP.
EOF
)
echo "$report"

# The measured block of BENCHMARKS.md sits between markers; the text around it is kept.
python3 - "$REPO/BENCHMARKS.md" "$report" <<'PY'
import sys
path, report = sys.argv[1], sys.argv[2]
begin, end = "<!-- bootstorm:begin -->", "<!-- bootstorm:end -->"
try:
    old = open(path).read()
except FileNotFoundError:
    old = "# Benchmarks\n"
block = f"{begin}\n{report}\n{end}"
if begin in old and end in old:
    new = old[: old.index(begin)] + block + old[old.index(end) + len(end):]
else:
    new = old.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(new)
PY
echo "bench: results written to $REPO/BENCHMARKS.md" >&2
