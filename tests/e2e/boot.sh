#!/usr/bin/env bash
# End-to-end proof that a pxebake tree boots machines with stock dnsmasq and nginx.
#
# Builds a real image (Debian's cloud kernel + a busybox initramfs made here), signs it with a
# throwaway OpenPGP key, serves it from a local mirror, and runs `pxebake build --mirror --offline`
# on tests/e2e/inventory. Then, in a private network namespace with one tap device, it runs stock
# dnsmasq and nginx with the configs pxebake wrote, checks them (`dnsmasq --test`, `nginx -t`),
# fetches every TFTP and HTTP file of the tree, and PXE-boots QEMU (TCG) VMs on these paths.
# The default chain (`loader: ipxe`), kernel and initrd over HTTP:
#   bios: SeaBIOS + a plain PXE client -> undionly.kpxe (TFTP) -> iPXE -> <mac>.ipxe (HTTP)
#   uefi: OVMF's own PXE client -> snponly.efi (TFTP) -> iPXE -> <mac>.ipxe (HTTP)
#   httpboot: OVMF's UEFI HTTP Boot (its IPv4 PXE switched off) -> snponly.efi by URL -> iPXE
#   ipxe: SeaBIOS + QEMU's iPXE ROM -> http .../ipxe/boot.ipxe -> <mac>.ipxe
#   efi-ipxe: OVMF + QEMU's iPXE EFI ROM -> the iPXE scripts (EFI kernels need `initrd=`)
#   proxy: the site rebuilt with `dhcp: proxy`; another DHCP server (a second dnsmasq with no
#          boot options) hands out the address, pxebake's dnsmasq only the boot file (UEFI PXE)
# Hosts with `loader: tftp` (everything over TFTP) and `loader: secureboot`:
#   pxelinux: SeaBIOS + a plain PXE client -> pxelinux.0 -> pxelinux.cfg/01-<mac> -> TFTP
#   grub: OVMF's own PXE client -> grubx64.efi -> grub/grub.cfg -> grub.cfg-01-<mac> -> TFTP
#   hexip: as grub, for a host whose grub.cfg-01-<mac> is removed: GRUB's own search finds
#          grub.cfg-<HEXIP> (the `normal` fallback in grub.cfg)
#   secureboot: OVMF with Secure Boot on (Microsoft keys): shim -> grubx64.efi -> Debian's signed
#          kernel, chosen by the host's `loader: secureboot` (no template override)
#   localboot: a host whose action is `localboot`, over iPXE (BIOS) and GRUB (UEFI): the firmware
#          gets `exit`, goes on to its next boot device, and loads no kernel
#   ipv6: OVMF with its IPv4 PXE switched off (fw_cfg): UEFI PXE over IPv6 (router advert +
#          DHCPv6 reservation by MAC, boot file URL tftp://[fd99::1]/snponly.efi) -> iPXE -> the
#          iPXE scripts, kernel and initrd over HTTP from http://[fd99::1]:8080 (site rebuilt
#          with `ipv6:`, `frontend6:` and an IPv6 site.http); and a `loader: tftp` host:
#          tftp://[fd99::1]/grubx64.efi -> grub.cfg-01-<mac> -> kernel and initrd over TFTP over IPv6
#   arm64: qemu-system-aarch64 with Debian's AAVMF (TCG), an `arch: arm64` host: arch 11 ->
#          grubaa64.efi -> grub.cfg-01-<mac> -> Debian's arm64 kernel and a busybox initramfs (TFTP)
# Every path asserts from the dnsmasq and nginx logs which files went over TFTP and which over HTTP.
# The initramfs prints its DHCP lease, kernel command line and the sha256 of the cloud-config it
# fetched from nginx on ttyS0, then powers off. Everything asserted comes from the serial console
# and the dnsmasq and nginx logs.
#
# Needs root (network namespaces). Usage: tests/e2e/boot.sh [PATH ...]  (default: all of them)
# Env: PXEBAKE (binary, default target/release/pxebake), E2E_BOOT_TIMEOUT (seconds per boot, 150).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(realpath -m "${PXEBAKE:-$REPO/target/release/pxebake}") # absolute: the script changes directory
CACHE=$REPO/target/e2e-cache # the kernel package, kept between runs
W=$REPO/target/e2e           # everything else, recreated on every run
TREE=$W/tree
NS=pxebake-e2e-$$
SERVER=10.99.0.1
PORT=8080
URL=http://$SERVER:$PORT/boot
TIMEOUT=${E2E_BOOT_TIMEOUT:-150}
PATHS=("$@")
ALL_PATHS=(bios uefi httpboot ipxe efi-ipxe ignition events pxelinux grub hexip secureboot localboot arm64 ipv6 proxy)
[ ${#PATHS[@]} -gt 0 ] || PATHS=("${ALL_PATHS[@]}")

ms() { echo $(($(date +%s%N) / 1000000)); }
T0=$(ms)
secs() { local d=$(($(ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }
say() { printf 'e2e [%6ss] %s\n' "$(secs "$T0")" "$*"; }
fail() {
  printf 'e2e: FAIL: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root for network namespaces (run .ci/run, or sudo make e2e)"
for tool in dnsmasq nginx qemu-system-x86_64 curl cpio gzip gpg ip apt-get dpkg-deb mknod timeout; do
  command -v "$tool" >/dev/null || fail "\`$tool\` is missing; install the packages on the apt-get line of .ci/run"
done
[ -x "$BIN" ] || fail "$BIN does not exist; run \`make binary\` first"
BUSYBOX=$(command -v busybox) || fail "busybox is missing (package busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && fail "$BUSYBOX is not static (package busybox-static)"
OVMF=/usr/share/ovmf/OVMF.fd
[ -r "$OVMF" ] || fail "$OVMF is missing (package ovmf)"

# --- Clean-up, by PID, even on failure -------------------------------------------------------
PIDS=()
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  ip netns del "$NS" 2>/dev/null
  # gpg starts an agent for the throwaway keyring; it must not outlive the test.
  [ -n "${GNUPGHOME:-}" ] && gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null
  if [ $rc -ne 0 ] && [ -d "$W" ]; then
    for f in "$W"/dnsmasq.log "$W"/nginx/error.log "$W"/nginx/access.log; do
      [ -s "$f" ] && { echo "--- last lines of $f"; tail -n 25 "$f"; }
    done
    echo "e2e: logs and the tree are in $W"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# For foreground commands only: `cmd &` must run `ip netns exec` itself (not this function in a
# subshell), so that $! is the daemon's own PID (`ip netns exec` execs it) and kill reaches it.
in_ns() { ip netns exec "$NS" "$@"; }

# --- The image: Debian's cloud kernel (cached) and a busybox initramfs -----------------------
kernel_dir=$CACHE/kernel
if [ ! -s "$kernel_dir/vmlinuz" ]; then
  say "downloading the cloud kernel package (once; cached in $CACHE)"
  mkdir -p "$CACHE" && rm -rf "$kernel_dir" "$CACHE/x"
  pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
  [ -n "$pkg" ] || fail "cannot find the package linux-image-cloud-amd64 depends on (apt-get update?)"
  (cd "$CACHE" && rm -f ./*.deb && apt-get download -q "$pkg" >/dev/null 2>&1) || fail "apt-get download $pkg failed"
  dpkg-deb -x "$CACHE"/*.deb "$CACHE/x"
  mkdir -p "$kernel_dir/modules"
  cp "$CACHE"/x/boot/vmlinuz-* "$kernel_dir/vmlinuz.tmp"
  # virtio-net is a module in this kernel: keep it and its dependencies, in load order.
  for m in failover net_failover virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net; do
    f=$(find "$CACHE/x/lib/modules" -name "$m.ko" | head -n1)
    [ -n "$f" ] && cp "$f" "$kernel_dir/modules/"
    echo "$m" >>"$kernel_dir/modules/order"
  done
  mv "$kernel_dir/vmlinuz.tmp" "$kernel_dir/vmlinuz"
  rm -rf "$CACHE/x"
fi

# arm64: Debian's arm64 cloud kernel, static busybox and signed netboot GRUB, downloaded (not
# installed) and unpacked once.
arm_dir=$CACHE/arm64
if [ ! -s "$arm_dir/vmlinuz" ]; then
  say "downloading Debian's arm64 kernel, busybox and GRUB packages (once; cached in $CACHE)"
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; } \
    || fail "cannot add the arm64 architecture to apt"
  pkg=$(apt-cache depends linux-image-cloud-arm64:arm64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -n1)
  [ -n "$pkg" ] || fail "cannot find the package linux-image-cloud-arm64:arm64 depends on (apt-get update?)"
  rm -rf "$arm_dir" "$CACHE/xa" && mkdir -p "$CACHE/xa" "$arm_dir/modules"
  (cd "$CACHE/xa" && apt-get download -q "$pkg:arm64" busybox-static:arm64 grub-efi-arm64-signed:arm64 >/dev/null 2>&1) \
    || fail "apt-get download of the arm64 packages failed"
  for d in "$CACHE"/xa/*.deb; do dpkg-deb -x "$d" "$CACHE/xa/x"; done
  cp "$CACHE/xa/x/bin/busybox" "$arm_dir/busybox"
  cp "$CACHE/xa/x/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed" "$arm_dir/grubaa64.efi"
  for m in failover net_failover virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net; do
    f=$(find "$CACHE/xa/x/lib/modules" -name "$m.ko" | head -n1)
    [ -n "$f" ] && cp "$f" "$arm_dir/modules/"
    echo "$m" >>"$arm_dir/modules/order"
  done
  cp "$CACHE"/xa/x/boot/vmlinuz-* "$arm_dir/vmlinuz.tmp" && mv "$arm_dir/vmlinuz.tmp" "$arm_dir/vmlinuz"
  rm -rf "$CACHE/xa"
fi

rm -rf "$W" && mkdir -p "$W" && chmod 755 "$W"
say "building the initramfs (amd64 and arm64)"
I=$W/initramfs
mkdir -p "$I"
cat >"$I/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "PXEBAKE-CMDLINE: $(cat /proc/cmdline)"
for m in $(cat /lib/modules/order); do [ -e /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko; done
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -T 2 -O mtu -O ntpsrv -s /udhcpc.sh || echo "PXEBAKE-ERROR: no DHCP lease"
url= ign=
for w in $(cat /proc/cmdline); do
  case "$w" in
    cloud-config-url=*) url=${w#cloud-config-url=} ;;
    ignition.config.url=*) ign=${w#ignition.config.url=} ;;
  esac
done
# An IPv6 URL (the ipv6 path): busybox has no DHCPv6 client, so take the address SLAAC would, the
# prefix of the router advert (dnsmasq's) plus the MAC's EUI-64, as Linux does with the A flag.
case "$url $ign" in
  *"://["*)
    pre=
    for i in $(seq 20); do
      pre=$(awk '$2 == "40" && $10 == "eth0" && $1 !~ /^fe80/ { print substr($1, 1, 16); exit }' /proc/net/ipv6_route)
      [ -n "$pre" ] && break
      sleep 0.5
    done
    id=$(awk '$6 == "eth0" && $1 ~ /^fe80/ { print substr($1, 17, 16); exit }' /proc/net/if_inet6)
    a=$(echo "$pre$id" | sed 's/\(....\)/\1:/g; s/:$//')
    if [ -n "$pre" ] && [ -n "$id" ] && ip addr add "$a/64" dev eth0; then
      echo "PXEBAKE-IPV6: $a"
      sleep 2 # duplicate address detection
    else
      echo "PXEBAKE-ERROR: no IPv6 prefix from a router advert"
    fi
    ;;
esac
if [ -n "$url" ]; then
  if timeout 20 wget -q -O /cloud-config "$url"; then
    echo "PXEBAKE-CC-SHA256: $(sha256sum /cloud-config | cut -d' ' -f1)"
  else
    echo "PXEBAKE-ERROR: cannot fetch $url"
  fi
fi
# What Ignition does first at boot: fetch the config its kernel argument names.
if [ -n "$ign" ]; then
  if timeout 20 wget -q -O /ignition "$ign"; then
    echo "PXEBAKE-IGN-SHA256: $(sha256sum /ignition | cut -d' ' -f1)"
  else
    echo "PXEBAKE-ERROR: cannot fetch $ign"
  fi
fi
echo "PXEBAKE-DONE"
poweroff -f
INIT
cat >"$I/udhcpc.sh" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    echo "PXEBAKE-DHCP: ip=$ip hostname=$hostname router=$router mtu=$mtu domain=$domain dns=$dns ntp=$ntpsrv"
    ;;
esac
DHCP
chmod +x "$I/init" "$I/udhcpc.sh"
# make_initramfs BUSYBOX MODULES_DIR OUT: the same init for each architecture.
make_initramfs() {
  local r=$W/initramfs-root
  rm -rf "$r" && mkdir -p "$r"/{bin,dev,proc,sys,etc,lib/modules}
  cp "$1" "$r/bin/busybox"
  cp "$2"/* "$r/lib/modules/"
  cp "$I/init" "$I/udhcpc.sh" "$r/"
  mknod "$r/dev/console" c 5 1
  (cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$3"
}

# --- Sign it with a throwaway key and lay it out as a mirror: <image>/<version>/<file>[.sig] ----
say "signing the image with a throwaway key"
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'pxebake e2e <e2e@pxebake.test>' ed25519 sign never 2>/dev/null
M=$W/mirror/testos/1.0
MA=$W/mirror/testos-arm64/1.0
mkdir -p "$M" "$MA" "$W/inventory"
cp "$kernel_dir/vmlinuz" "$M/vmlinuz"
make_initramfs "$BUSYBOX" "$kernel_dir/modules" "$M/initramfs.cpio.gz"
cp "$arm_dir/vmlinuz" "$MA/vmlinuz"
make_initramfs "$arm_dir/busybox" "$arm_dir/modules" "$MA/initramfs.cpio.gz"
for f in "$M"/vmlinuz "$M"/initramfs.cpio.gz "$MA"/vmlinuz "$MA"/initramfs.cpio.gz; do
  gpg -q --batch --detach-sign --output "$f.sig" "$f"
done
gpg -q --batch --armor --export >"$W/inventory/test-key.asc"

# --- Build the tree with pxebake: site.root points at it, so the configs name its paths ------
say "pxebake build --mirror --offline"
sed -e "s|@ROOT@|$TREE|" -e "s|@GRUBAA64@|$arm_dir/grubaa64.efi|" -e "s|@EVENTS_LOG@|$W/nginx/events.log|" "$REPO/tests/e2e/inventory/site.yaml.in" >"$W/inventory/site.yaml"
# From $W, so no templates/ directory overrides the built-in templates under test.
(cd "$W" && PXEBAKE_CACHE=$W/cache "$BIN" build --inventory inventory --out "$TREE" --mirror "$W/mirror" --offline) \
  || fail "pxebake build failed"
for f in etc/dnsmasq.conf etc/nginx.conf etc/nginx-standalone.conf tftp/pxelinux.0 tftp/grubx64.efi \
  tftp/undionly.kpxe tftp/snponly.efi tftp/shimx64.efi http/loaders/snponly.efi tftp/grubaa64.efi \
  tftp/grub/grub.cfg http/ipxe/boot.ipxe http/images/testos/1.0/vmlinuz; do
  [ -e "$TREE/$f" ] || fail "pxebake did not write $f"
done

# --- The network namespace: one tap device, nothing else -------------------------------------
say "network namespace $NS"
ip netns add "$NS"
in_ns ip link set lo up
in_ns ip tuntap add dev tap0 mode tap
in_ns ip addr add "$SERVER/24" dev tap0
in_ns ip addr add fd99::1/64 dev tap0 nodad
in_ns ip link set tap0 up

say "dnsmasq --test and nginx -t on the generated configs"
dnsmasq --test -C "$TREE/etc/dnsmasq.conf" >"$W/dnsmasq-test.log" 2>&1 || fail "dnsmasq --test: $(cat "$W/dnsmasq-test.log")"
mkdir -p "$W/nginx"
in_ns nginx -t -q -p "$W/nginx/" -e stderr -c "$TREE/etc/nginx-standalone.conf" 2>"$W/nginx-test.log" \
  || fail "nginx -t: $(cat "$W/nginx-test.log")"

# Stock daemons with the configs pxebake wrote; the command line adds only what the test bench
# needs: the tap device, log and lease files, no DNS, and IPv6 router adverts (iPXE waits ~13 s
# for one on a bare link).
DNSMASQ_PID=
# The bench's router adverts; an inventory with `ipv6:` networks brings its own (TEST_RA=).
TEST_RA=(--enable-ra --dhcp-range=::,constructor:tap0,ra-only)
start_dnsmasq() {
  : >"$W/dnsmasq.leases"
  ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file="$1" --port=0 --interface=tap0 --bind-interfaces \
    --log-facility="$W/dnsmasq.log" --log-dhcp --dhcp-leasefile="$W/dnsmasq.leases" --pid-file="$W/dnsmasq.pid" \
    "${TEST_RA[@]}" </dev/null >>"$W/dnsmasq.out" 2>&1 &
  DNSMASQ_PID=$!
  PIDS+=("$DNSMASQ_PID")
  for _ in $(seq 50); do
    if grep -q "TFTP root is" "$W/dnsmasq.log" 2>/dev/null; then
      # dnsmasq reports unusable lines of the hostsdir files (and the directory itself) as "bad ...".
      sleep 0.2
      ! grep -i "bad \|error\|failed" "$W/dnsmasq.log" || fail "dnsmasq complained about the generated config"
      return 0
    fi
    kill -0 "$DNSMASQ_PID" 2>/dev/null || fail "dnsmasq exited: $(tail -n 5 "$W/dnsmasq.log" 2>/dev/null)"
    sleep 0.1
  done
  fail "dnsmasq did not start"
}
stop_dnsmasq() {
  kill "$DNSMASQ_PID" || fail "dnsmasq (pid $DNSMASQ_PID) is gone"
  wait "$DNSMASQ_PID" 2>/dev/null || true
  : >"$W/dnsmasq.log"
}

ip netns exec "$NS" nginx -p "$W/nginx/" -e "$W/nginx/error.log" -c "$TREE/etc/nginx-standalone.conf" -g 'daemon off;' \
  </dev/null >"$W/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
start_dnsmasq "$TREE/etc/dnsmasq.conf"
for _ in $(seq 50); do in_ns curl -s -o /dev/null "$URL/ipxe/boot.ipxe" && break || sleep 0.1; done

# --- Every file of the tree, as a client gets it -----------------------------------------------
say "fetching every TFTP file with curl tftp://"
n=0
while IFS= read -r rel; do
  in_ns curl -sS --max-time 30 -o "$W/fetched" "tftp://$SERVER/$rel" || fail "TFTP $rel: curl exit $?"
  cmp -s "$W/fetched" "$TREE/tftp/$rel" || fail "TFTP $rel: served bytes differ from the tree"
  n=$((n + 1))
done < <(cd "$TREE/tftp" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)
say "  $n TFTP files served as in the tree"

say "fetching every HTTP file with curl"
n=0
while IFS= read -r rel; do
  code=$(in_ns curl -sS --max-time 30 -o "$W/fetched" -w '%{http_code} %{content_type}' "$URL/$rel")
  [ "${code%% *}" = 200 ] || fail "HTTP $rel: $code"
  cmp -s "$W/fetched" "$TREE/http/$rel" || fail "HTTP $rel: served bytes differ from the tree"
  case "$rel" in
    *.ipxe) [ "${code#* }" = text/plain ] || fail "HTTP $rel: content type ${code#* }, want text/plain" ;;
    *.yaml) [ "${code#* }" = application/yaml ] || fail "HTTP $rel: content type ${code#* }" ;;
    *.efi) [ "${code#* }" = application/efi ] || fail "HTTP $rel: content type ${code#* }, want application/efi" ;;
  esac
  n=$((n + 1))
done < <(cd "$TREE/http" && find -L . -type f | sed 's|^\./||' | sort)
say "  $n HTTP files served as in the tree, with their MIME types"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' "$URL/ipxe/")
[ "$code" = 403 ] || [ "$code" = 404 ] || fail "directory listing of $URL/ipxe/ answered $code, want 403/404"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --path-as-is "$URL/../etc/dnsmasq.conf")
[ "$code" != 200 ] || fail "$URL/../etc/dnsmasq.conf is served"

# pxebake build of the test site into $TREE (the configs name $TREE, so daemons keep serving it).
rebuild() {
  (cd "$W" && PXEBAKE_CACHE=$W/cache "$BIN" -q build --inventory inventory --out "$TREE" --mirror "$W/mirror" --offline "$@") \
    || fail "pxebake build $* failed"
}

# --- Boots -----------------------------------------------------------------------------------
expect_args() { echo "console=ttyS0 cloud-config-url=$URL/cc/$1.yaml pxebake.host=$1 panic=-1"; }

# run_vm NAME MAC FIRMWARE [UNTIL]: runs one VM until it powers off, or with UNTIL (an extended
# regex), until its serial console shows that; the console is then in $W/serial-NAME.log.txt.
run_vm() {
  local name=$1 mac=$2 fw=$3 until=${4:-} log=$W/serial-$1.log rc=0
  local qemu=(qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no)
  case $fw in
    seabios) qemu+=(-device "virtio-net-pci,netdev=n0,mac=$mac" -boot n) ;;
    ovmf-ipxe) qemu+=(-bios "$OVMF" -device "virtio-net-pci,netdev=n0,mac=$mac") ;;
    ovmf-secureboot)
      cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$W/ovmf-vars.fd"
      qemu+=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
        -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
        -drive "if=pflash,format=raw,unit=1,file=$W/ovmf-vars.fd"
        -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=") ;;
    # romfile= (none): OVMF's own PXE client asks for the EFI file, not QEMU's iPXE ROM.
    ovmf) qemu+=(-bios "$OVMF" -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=") ;;
    # UEFI HTTP Boot: OVMF's PXE boot options switched off (fw_cfg), so HTTPv4 comes first.
    # arm64 under TCG: QEMU's virt machine with Debian's AAVMF; its PXE client asks for arch 11.
    aavmf) cp /usr/share/AAVMF/AAVMF_VARS.fd "$W/aavmf-vars.fd"
      qemu=(qemu-system-aarch64 -machine virt -cpu cortex-a57 -accel tcg -m 1536 -nographic -no-reboot
      -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd
      -drive "if=pflash,format=raw,unit=1,file=$W/aavmf-vars.fd" -netdev tap,id=n0,ifname=tap0,script=no,downscript=no
      -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=") ;;
    # UEFI PXE over IPv6 only: OVMF's IPv4 PXE switched off (fw_cfg), so "PXE over IPv6" comes first.
    ovmf-ipv6) qemu+=(-bios "$OVMF" -fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n
      -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=") ;;
    ovmf-http) qemu+=(-bios "$OVMF" -fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n
      -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n
      -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=") ;;
  esac
  # VM_SMBIOS: what the firmware reports about the machine (e.g. type=1,serial=...).
  [ -z "${VM_SMBIOS:-}" ] || qemu+=(-smbios "$VM_SMBIOS")
  : >"$log" # exists before the wait loop reads it
  ip netns exec "$NS" timeout "$TIMEOUT" "${qemu[@]}" </dev/null >"$log" 2>&1 &
  local qpid=$!
  PIDS+=("$qpid")
  # VM_HOOK: a function run while the VM boots (in this shell, so it may restart dnsmasq).
  [ -z "${VM_HOOK:-}" ] || "$VM_HOOK"
  if [ -n "$until" ]; then
    while kill -0 "$qpid" 2>/dev/null && ! tr -d '\r' <"$log" | grep -Eq "$until"; do sleep 0.5; done
    kill "$qpid" 2>/dev/null && rc=0 # timeout(1) passes the signal on to QEMU
  fi
  wait "$qpid" || rc=$?
  tr -d '\r' <"$log" >"$log.txt"
  [ -z "$until" ] || grep -Eq "$until" "$log.txt" || fail "$name: the console never showed /$until/: $(tail -c 1500 "$log.txt")"
  return $rc
}

# boot NAME MAC IP FIRMWARE: one VM, until its initramfs powers it off; then every assertion.
boot() {
  local name=$1 mac=$2 ip=$3 fw=$4 log=$W/serial-$1.log start rc=0
  start=$(ms)
  run_vm "$name" "$mac" "$fw" || rc=$?
  [ $rc -ne 124 ] || fail "$name: no power-off within ${TIMEOUT}s; serial: $(tail -c 1500 "$log.txt")"
  [ $rc -eq 0 ] || fail "$name: qemu exited $rc; serial: $(tail -c 1500 "$log.txt")"
  grep -q '^PXEBAKE-DONE' "$log.txt" || fail "$name: the initramfs did not finish; serial: $(tail -c 1500 "$log.txt")"
  say "  $name booted and powered off in $(secs "$start") s"

  # dnsmasq handed out the reserved IP and host name (server log and client view).
  grep -qF "DHCPACK(tap0) $ip $mac $name" "${DHCP_LOG:-$W/dnsmasq.log}" || fail "$name: no DHCPACK $ip $mac $name in the DHCP log"
  grep -q "^PXEBAKE-DHCP: ip=$ip hostname=$name router=$SERVER mtu=1500 domain=e2e.test dns=$SERVER ntp=$SERVER" "$log.txt" \
    || fail "$name: lease seen by the VM: $(grep PXEBAKE-DHCP "$log.txt")"
  # The kernel command line is the rendered one.
  local args cmdline
  args=$(expect_args "$name")
  cmdline=$(sed -n 's/^PXEBAKE-CMDLINE: //p' "$log.txt")
  case " $cmdline " in *" $args "*) ;; *) fail "$name: kernel command line \`$cmdline\` lacks \`$args\`" ;; esac
  # The cloud-config came from nginx and is the file in the tree.
  local want got
  want=$(sha256sum "$TREE/http/cc/$name.yaml" | cut -d' ' -f1)
  got=$(sed -n 's/^PXEBAKE-CC-SHA256: //p' "$log.txt")
  [ "$got" = "$want" ] || fail "$name: cloud-config sha256 $got, tree has $want"
  grep -q "\"GET /boot/cc/$name.yaml HTTP/1.[01]\" 200 " "$W/nginx/access.log" || fail "$name: nginx did not serve cc/$name.yaml"
}

sent() { grep -qF "sent $TREE/tftp/$1 to $2" "${TFTP_LOG:-$W/dnsmasq.log}" || fail "dnsmasq did not send tftp/$1 to $2"; }
not_sent() { ! grep -qF "sent $TREE/tftp/$1 to $2" "$W/dnsmasq.log" || fail "dnsmasq sent tftp/$1 to $2"; }
served() { grep -q "^$2 .*\"GET /boot/$1 HTTP/1.[01]\" 200 " "$W/nginx/access.log" || fail "nginx did not serve $1 to $2"; }
hyphen() { echo "$1" | tr : -; }
# Where kernel and initrd came from, by the server logs (nginx access log, dnsmasq TFTP log).
kernel_over_http() {
  served images/testos/1.0/vmlinuz "$1"
  served images/testos/1.0/initramfs.cpio.gz "$1"
  not_sent vmlinuz.testos "$1"
  not_sent initrd.testos "$1"
  say "  $1: kernel and initrd over HTTP (nginx log), none over TFTP (dnsmasq log)"
}
kernel_over_tftp() {
  sent "vmlinuz.testos${2:-}" "$1"
  sent "initrd.testos${2:-}" "$1"
  ! grep -q "^$1 .*GET /boot/images/" "$W/nginx/access.log" || fail "$1 fetched an image file over HTTP"
  say "  $1: kernel and initrd over TFTP (dnsmasq log)"
}
# The per-host iPXE script pxebake wrote is what ran (its kernel line carries the rendered args).
ipxe_script_ran() {
  local name=$1 mac=$2 ip=$3
  served ipxe/boot.ipxe "$ip"
  served "ipxe/$(hyphen "$mac").ipxe" "$ip"
  grep -qF "kernel $URL/images/testos/1.0/vmlinuz initrd=initramfs.cpio.gz $(expect_args "$name")" \
    "$TREE/http/ipxe/$(hyphen "$mac").ipxe" || fail "$name: unexpected iPXE script"
}
# For the bios path: once dnsmasq has sent undionly.kpxe (answering the ROM as a plain PXE client),
# restart it with the generated config, which then sees the chainloaded iPXE as iPXE.
BIOS_IP=
swap_to_generated_config() {
  local i
  for i in $(seq 1200); do
    grep -qF "sent $TREE/tftp/undionly.kpxe to $BIOS_IP" "$W/dnsmasq.log" && break
    sleep 0.1
  done
  cp "$W/dnsmasq.log" "$W/dnsmasq-plain-pxe.log"
  stop_dnsmasq && start_dnsmasq "$TREE/etc/dnsmasq.conf"
}

for p in "${PATHS[@]}"; do
  case $p in
    bios)
      say "boot: BIOS PXE -> undionly.kpxe (TFTP) -> iPXE -> kernel and initrd over HTTP"
      # QEMU's only PXE ROM is iPXE, which dnsmasq would (rightly) send down the iPXE path. Without
      # the two lines that tag iPXE clients, it is what real NIC firmware is: a plain PXE client. Once
      # it has undionly.kpxe, the generated config answers the iPXE that undionly.kpxe starts.
      grep -v -e '^dhcp-userclass=set:ipxe' -e '^dhcp-match=set:ipxe' "$TREE/etc/dnsmasq.conf" >"$W/dnsmasq-plain-pxe.conf"
      [ "$(diff "$TREE/etc/dnsmasq.conf" "$W/dnsmasq-plain-pxe.conf" | grep -c '^<')" = 2 ] || fail "unexpected iPXE tag lines"
      stop_dnsmasq && start_dnsmasq "$W/dnsmasq-plain-pxe.conf"
      mac=52:54:00:e2:e0:09 ip=10.99.0.59 BIOS_IP=$ip
      VM_HOOK=swap_to_generated_config boot vm-bios $mac $ip seabios
      TFTP_LOG=$W/dnsmasq-plain-pxe.log sent undionly.kpxe $ip
      grep "tags: " "$W/dnsmasq-plain-pxe.log" | grep -w loader-ipxe | grep -qw bios \
        || fail "vm-bios: the PXE request was not tagged bios and loader-ipxe"
      ipxe_script_ran vm-bios $mac $ip
      kernel_over_http $ip
      not_sent pxelinux.0 $ip
      ;;
    uefi)
      say "boot: UEFI PXE (OVMF) -> snponly.efi (TFTP) -> iPXE -> kernel and initrd over HTTP"
      mac=52:54:00:e2:e0:0a ip=10.99.0.60
      boot vm-uefi $mac $ip ovmf
      sent snponly.efi $ip
      ipxe_script_ran vm-uefi $mac $ip
      kernel_over_http $ip
      not_sent grubx64.efi $ip
      ;;
    httpboot)
      say "boot: UEFI HTTP Boot (OVMF) -> snponly.efi by URL -> iPXE -> kernel and initrd over HTTP"
      mac=52:54:00:e2:e0:0b ip=10.99.0.61
      boot vm-httpboot $mac $ip ovmf-http
      grep -q "vendor class: HTTPClient:Arch:00016" "$W/dnsmasq.log" || fail "vm-httpboot: no HTTP Boot client (arch 16) in the DHCP log"
      grep -q "option: 60 vendor-class  48:54:54:50:43:6c:69:65:6e:74" "$W/dnsmasq.log" || fail "vm-httpboot: dnsmasq did not answer with option 60 HTTPClient"
      served loaders/snponly.efi $ip
      not_sent snponly.efi $ip
      ! grep -q "to $ip$" "$W/dnsmasq.log" || fail "vm-httpboot: dnsmasq sent a file over TFTP: $(grep "to $ip$" "$W/dnsmasq.log")"
      ipxe_script_ran vm-httpboot $mac $ip
      kernel_over_http $ip
      ;;
    ipxe)
      say "boot: iPXE (SeaBIOS + QEMU's iPXE ROM) -> HTTP"
      mac=52:54:00:e2:e0:02 ip=10.99.0.52
      boot vm-ipxe $mac $ip seabios
      ipxe_script_ran vm-ipxe $mac $ip
      kernel_over_http $ip
      ;;
    efi-ipxe)
      say "boot: UEFI (OVMF) + QEMU's iPXE EFI ROM -> HTTP"
      mac=52:54:00:e2:e0:05 ip=10.99.0.55
      boot vm-efi-ipxe $mac $ip ovmf-ipxe
      ipxe_script_ran vm-efi-ipxe $mac $ip
      kernel_over_http $ip
      ;;
    ignition)
      say "boot: a Flatcar-style host: its Ignition config (Butane) named on the kernel command line, fetched from nginx"
      mac=52:54:00:e2:e0:0d ip=10.99.0.63
      run_vm vm-ignition $mac seabios || fail "vm-ignition: qemu exited $?; serial: $(tail -c 1500 "$W/serial-vm-ignition.log.txt")"
      grep -q '^PXEBAKE-DONE' "$W/serial-vm-ignition.log.txt" || fail "vm-ignition: the initramfs did not finish"
      cmdline=$(sed -n 's/^PXEBAKE-CMDLINE: //p' "$W/serial-vm-ignition.log.txt")
      case " $cmdline " in
        *" ignition.config.url=$URL/ign/vm-ignition.ign flatcar.first_boot=1 console=ttyS0 pxebake.host=vm-ignition "*) ;;
        *) fail "vm-ignition: kernel command line \`$cmdline\` lacks the Ignition URL" ;;
      esac
      want=$(sha256sum "$TREE/http/ign/vm-ignition.ign" | cut -d' ' -f1)
      got=$(sed -n 's/^PXEBAKE-IGN-SHA256: //p' "$W/serial-vm-ignition.log.txt")
      [ "$got" = "$want" ] || fail "vm-ignition: fetched Ignition config sha256 $got, tree has $want"
      served ign/vm-ignition.ign $ip
      "$BIN" validate ignition "$TREE/http/ign/vm-ignition.ign" >/dev/null 2>&1 || fail "vm-ignition: the served config is not valid Ignition"
      kernel_over_http $ip
      say "  vm-ignition fetched exactly http/ign/vm-ignition.ign (sha256 ${want:0:12}...) from nginx"
      ;;
    events)
      say "events: an unknown machine says hello; discover adds it; it boots its install action; its install report flips it to os"
      mac=52:54:00:e2:e0:f0
      VM_SMBIOS=type=1,manufacturer=PXEBAKE,product=E2E-Box,serial=PXE-E2E-42 run_vm vm-unknown $mac seabios 'No bootable device'
      served ipxe/default.ipxe 10.99.0.2[0-9][0-9]
      grep -q "^pxebake-events/1 .* 10.99.0.2[0-9][0-9] \"ev=hello&mac=52-54-00-e2-e0-f0&serial=PXE-E2E-42&" "$W/nginx/events.log" \
        || fail "vm-unknown: no hello in the events log: $(cat "$W/nginx/events.log" 2>/dev/null)"
      ! grep -q "^10.99.0.2[0-9][0-9] .*GET /boot/images/" "$W/nginx/access.log" || fail "vm-unknown: an unknown machine fetched a kernel"
      (cd "$W" && "$BIN" events nginx/events.log --inventory inventory --output json) >"$W/events.json" || fail "pxebake events failed"
      grep -q '"mac":"52:54:00:e2:e0:f0"' "$W/events.json" && grep -q '"serial":"PXE-E2E-42"' "$W/events.json" \
        && grep -q '"product":"E2E-Box"' "$W/events.json" && grep -q '"network":"lab"' "$W/events.json" \
        || fail "pxebake events: $(cat "$W/events.json")"
      say "  pxebake events: unknown machine $mac, serial PXE-E2E-42, product E2E-Box, on network lab"
      (cd "$W" && "$BIN" -q discover nginx/events.log --inventory inventory --appliance node --network lab) || fail "pxebake discover failed"
      grep -qF '{ network: lab, mac: "52:54:00:e2:e0:f0", ip: 10.99.0.254 }' "$W/inventory/discovered.yaml" \
        || fail "discover: $(cat "$W/inventory/discovered.yaml")"
      (cd "$W" && "$BIN" -q set boot node-0-0 install --inventory inventory) || fail "pxebake set boot failed"
      rebuild
      # dnsmasq reads the new reservation from its hostsdir; the same machine now installs.
      boot node-0-0 $mac 10.99.0.254 seabios
      ipxe_script_ran node-0-0 $mac 10.99.0.254
      kernel_over_http 10.99.0.254
      # The install bootstrap's report() requests, as install/<host>.sh sends them.
      in_ns curl -fsS -o /dev/null "$URL/events?ev=install-start&host=node-0-0" || fail "events endpoint (install-start)"
      in_ns curl -fsS -o /dev/null "$URL/events?ev=installed&host=node-0-0&version=1.0" || fail "events endpoint (installed)"
      (cd "$W" && "$BIN" -q set boot --installed-from nginx/events.log --inventory inventory -- os) || fail "set boot --installed-from failed"
      (cd "$W" && "$BIN" list host node-0-0 --inventory inventory --output json) | grep -q '"boot":"os"' \
        || fail "node-0-0 was not flipped to os"
      say "  discover added node-0-0 (10.99.0.254); it booted its install action; its completed install flipped it to os"
      ;;
    pxelinux)
      say "boot: loader tftp: BIOS PXE -> pxelinux.0 -> pxelinux.cfg (TFTP)"
      grep -v -e '^dhcp-userclass=set:ipxe' -e '^dhcp-match=set:ipxe' "$TREE/etc/dnsmasq.conf" >"$W/dnsmasq-plain-pxe.conf"
      stop_dnsmasq && start_dnsmasq "$W/dnsmasq-plain-pxe.conf"
      mac=52:54:00:e2:e0:01 ip=10.99.0.51
      boot vm-pxelinux $mac $ip seabios
      for f in pxelinux.0 ldlinux.c32 "pxelinux.cfg/01-$(hyphen $mac)"; do sent "$f" $ip; done
      kernel_over_tftp $ip
      grep -qxF "  APPEND $(expect_args vm-pxelinux)" "$TREE/tftp/pxelinux.cfg/01-$(hyphen $mac)" || fail "vm-pxelinux: unexpected pxelinux config"
      stop_dnsmasq && start_dnsmasq "$TREE/etc/dnsmasq.conf"
      ;;
    grub)
      say "boot: loader tftp: UEFI PXE (OVMF) -> grubx64.efi -> grub.cfg (TFTP)"
      mac=52:54:00:e2:e0:03 ip=10.99.0.53
      boot vm-grub $mac $ip ovmf
      for f in grubx64.efi grub/grub.cfg "grub/grub.cfg-01-$(hyphen $mac)"; do sent "$f" $ip; done
      kernel_over_tftp $ip
      grep -qxF "  linux /vmlinuz.testos $(expect_args vm-grub)" "$TREE/tftp/grub/grub.cfg-01-$(hyphen $mac)" \
        || fail "vm-grub: unexpected GRUB config"
      ;;
    hexip)
      say "boot: loader tftp: UEFI PXE (OVMF) -> GRUB's own search -> grub.cfg-<HEXIP>"
      mac=52:54:00:e2:e0:06 ip=10.99.0.56
      rm "$TREE/tftp/grub/grub.cfg-01-$(hyphen $mac)"
      boot vm-hexip $mac $ip ovmf
      sent grub/grub.cfg-0A630038 $ip
      kernel_over_tftp $ip
      ;;
    secureboot)
      say "boot: loader secureboot: UEFI Secure Boot (OVMF, Microsoft keys) -> shimx64.efi -> grubx64.efi -> signed kernel"
      mac=52:54:00:e2:e0:08 ip=10.99.0.58
      grep -qF "$mac,set:loader-secureboot,$ip,vm-secureboot" "$TREE/etc/dnsmasq.hosts/vm-secureboot" \
        || fail "vm-secureboot: its dhcp-host line does not set the loader-secureboot tag"
      boot vm-secureboot $mac $ip ovmf-secureboot
      grep -q "secureboot: Secure boot enabled" "$W/serial-vm-secureboot.log.txt" || fail "vm-secureboot: the kernel did not report Secure Boot"
      for f in shimx64.efi grubx64.efi grub/grub.cfg "grub/grub.cfg-01-$(hyphen $mac)"; do sent "$f" $ip; done
      kernel_over_tftp $ip
      ;;
    localboot)
      say "boot: localboot host over iPXE (BIOS) and GRUB (UEFI) -> exit to the next boot device"
      mac=52:54:00:e2:e0:04 ip=10.99.0.54
      grep -qx exit "$TREE/http/ipxe/$(hyphen $mac).ipxe" || fail "vm-local: no exit in its iPXE script"
      # SeaBIOS after iPXE's exit: no disk either, so it says so (and would retry in 60 s).
      run_vm vm-local-bios $mac seabios 'No bootable device'
      served "ipxe/$(hyphen $mac).ipxe" $ip
      # OVMF after GRUB's exit: every boot option has failed or returned, so it starts its setup UI.
      run_vm vm-local-uefi $mac ovmf 'BdsDxe: loading Boot0000 "UiApp"'
      sent "grub/grub.cfg-01-$(hyphen $mac)" $ip
      grep -qF "DHCPACK(tap0) $ip $mac vm-local" "$W/dnsmasq.log" || fail "vm-local: no DHCPACK"
      ! grep -q "^$ip .*GET /boot/images/" "$W/nginx/access.log" || fail "vm-local: fetched a kernel over HTTP"
      not_sent vmlinuz.testos $ip
      ;;
    arm64)
      say "boot: arm64 UEFI PXE (AAVMF, TCG) -> grubaa64.efi -> grub.cfg (TFTP), \`arch: arm64\`, loader tftp"
      command -v qemu-system-aarch64 >/dev/null || fail "qemu-system-aarch64 is missing (package qemu-system-arm)"
      [ -r /usr/share/AAVMF/AAVMF_CODE.fd ] || fail "AAVMF is missing (package qemu-efi-aarch64)"
      mac=52:54:00:e2:e0:0c ip=10.99.0.62
      # "cannot load image." was GRUB given an amd64 kernel: the arm64 image once shared the amd64
      # image's URL, and so its cached files (now an inventory error). Stop early if it comes back.
      run_vm vm-arm64 $mac aavmf '^PXEBAKE-DONE|cannot load image'
      grep -qF "DHCPACK(tap0) $ip $mac vm-arm64" "$W/dnsmasq.log" || fail "vm-arm64: no DHCPACK $ip $mac vm-arm64"
      grep "tags: " "$W/dnsmasq.log" | grep -w efi-arm64 | grep -qw loader-tftp || fail "vm-arm64: no request tagged efi-arm64 and loader-tftp"
      for f in grubaa64.efi grub/grub.cfg "grub/grub.cfg-01-$(hyphen $mac)"; do sent "$f" $ip; done
      kernel_over_tftp $ip -arm64
      grep -q '^PXEBAKE-DONE' "$W/serial-vm-arm64.log.txt" \
        || fail "vm-arm64: the initramfs did not finish: $(grep -a -o 'error: [^.]*\.' "$W/serial-vm-arm64.log.txt" | head -n1)"
      grep -q "^PXEBAKE-CMDLINE: .* pxebake.host=vm-arm64 " "$W/serial-vm-arm64.log.txt" || fail "vm-arm64: unexpected kernel command line"
      grep -q "^PXEBAKE-CC-SHA256: $(sha256sum "$TREE/http/cc/vm-arm64.yaml" | cut -d' ' -f1)" "$W/serial-vm-arm64.log.txt" \
        || fail "vm-arm64: cloud-config not fetched"
      say "  vm-arm64 booted Debian's arm64 kernel and fetched its cloud-config"
      ;;
    ipv6)
      say "boot: UEFI PXE over IPv6 (OVMF, IPv4 PXE off) -> DHCPv6 -> snponly.efi (TFTP over IPv6) -> iPXE -> HTTP over IPv6"
      # Its reservation is a block, fd99::64/126: OVMF's IPv6 stack, its PXE client and iPXE each
      # take a lease of their own (dnsmasq's manual advises a block for chain netbooting).
      mac=52:54:00:e2:e0:0e ip6='fd99::6[4-7]' url6="http://[fd99::1]:$PORT/boot"
      cp "$W/inventory/site.yaml" "$W/site-ipv4.yaml"
      sed -i -e "s|^  http: http://10.99.0.1:8080/boot|  http: \"$url6\"\n  frontend6: \"fd99::1\"|" \
        -e 's|lab: { address: 10.99.0.0/24, |lab: { address: 10.99.0.0/24, ipv6: "fd99::/64", |' \
        -e 's|mac: "52:54:00:e2:e0:0e", ip: 10.99.0.64 }|mac: "52:54:00:e2:e0:0e", ip: 10.99.0.64, ipv6: "fd99::64/126" }|' \
        -e 's|mac: "52:54:00:e2:e0:0f", ip: 10.99.0.68 }|mac: "52:54:00:e2:e0:0f", ip: 10.99.0.68, ipv6: "fd99::68/126" }|' \
        "$W/inventory/site.yaml"
      rebuild
      for line in 'dhcp-range=set:net-lab,fd99::,static,64,12h' enable-ra \
        'dhcp-option=tag:loader-ipxe,tag:efi-x86_64,tag:!ipxe,option6:bootfile-url,tftp://[fd99::1]/snponly.efi' \
        "dhcp-option=tag:ipxe,option6:bootfile-url,$url6/ipxe/boot.ipxe"; do
        grep -qxF "$line" "$TREE/etc/dnsmasq.conf" || fail "vm-ipv6: no \`$line\` in dnsmasq.conf"
      done
      grep -qxF "$mac,10.99.0.64,[fd99::64/126],vm-ipv6" "$TREE/etc/dnsmasq.hosts/vm-ipv6" || fail "vm-ipv6: no DHCPv6 reservation"
      dnsmasq --test -C "$TREE/etc/dnsmasq.conf" >/dev/null 2>&1 || fail "dnsmasq --test (IPv6 config)"
      in_ns nginx -t -q -p "$W/nginx/" -e stderr -c "$TREE/etc/nginx-standalone.conf" 2>"$W/nginx-test.log" \
        || fail "nginx -t (IPv6 config): $(cat "$W/nginx-test.log")"
      kill -HUP "$NGINX_PID" # nginx re-reads its config: now also `listen [::]:8080`
      stop_dnsmasq
      TEST_RA=()
      start_dnsmasq "$TREE/etc/dnsmasq.conf"
      for _ in $(seq 50); do in_ns curl -gs -o /dev/null "$url6/ipxe/boot.ipxe" && break || sleep 0.1; done
      start=$(ms) rc=0
      run_vm vm-ipv6 $mac ovmf-ipv6 || rc=$?
      say "  vm-ipv6: qemu exited $rc after $(secs "$start") s"
      log=$W/dnsmasq.log
      # The firmware spoke DHCPv6 only: the first DHCP message from the VM is a DHCPv6 Solicit.
      first=$(grep -m1 -E "DHCP[A-Z]+\(tap0\)" "$log" || true)
      case "$first" in DHCPSOLICIT*|*" DHCPSOLICIT(tap0)"*) ;; *) fail "vm-ipv6: first DHCP message is not DHCPv6: $first" ;; esac
      grep -q "DHCPREPLY(tap0) $ip6 .* vm-ipv6" "$log" || fail "vm-ipv6: dnsmasq did not hand out an address of fd99::64/126 over DHCPv6"
      grep "tags: " "$log" | grep -w efi-x86_64 | grep -w loader-ipxe | grep -qw net-lab \
        || fail "vm-ipv6: no DHCPv6 request tagged efi-x86_64 and loader-ipxe"
      grep -q "sent $TREE/tftp/snponly.efi to $ip6" "$log" || fail "vm-ipv6: snponly.efi was not sent over TFTP to fd99::64/126"
      ! grep -q "sent $TREE/tftp/snponly.efi to 10\." "$log" || fail "vm-ipv6: snponly.efi went over IPv4"
      grep -qF "option: 59 bootfile-url  tftp://[fd99::1]/snponly.efi" "$log" || fail "vm-ipv6: no DHCPv6 boot file URL for the PXE client"
      # iPXE asks over DHCPv6 too (user class iPXE): it gets the script's URL in option 59.
      grep "tags: " "$log" | grep -w ipxe | grep -qw dhcpv6 || fail "vm-ipv6: no DHCPv6 request from iPXE"
      grep -qF "option: 59 bootfile-url  $url6/ipxe/boot.ipxe" "$log" || fail "vm-ipv6: iPXE got no DHCPv6 boot file URL"
      say "  vm-ipv6: DHCPv6 leases (reserved by MAC): $(grep -o "DHCPREPLY(tap0) $ip6 " "$log" | cut -d' ' -f2 | sort -u | tr '\n' ' ')"
      say "  vm-ipv6: DHCPv6 option 59: tftp://[fd99::1]/snponly.efi to the PXE client, $url6/ipxe/boot.ipxe to iPXE"
      say "  vm-ipv6: snponly.efi over TFTP to $(grep -o "sent $TREE/tftp/snponly.efi to .*" "$log" | sed 's/.* to //' | head -n1)"
      v6client='\(fd99::6[4-7]\|fe80::5054:ff:fee2:e00e\)' # its reserved or its link-local address
      served ipxe/boot.ipxe "$v6client"
      served "ipxe/$(hyphen $mac).ipxe" "$v6client"
      served images/testos/1.0/vmlinuz "$v6client"
      served images/testos/1.0/initramfs.cpio.gz "$v6client"
      ! grep -q "^10\.99\.0\.64 " "$W/nginx/access.log" || fail "vm-ipv6: fetched something over IPv4 HTTP"
      grep -F "kernel $url6/images/testos/1.0/vmlinuz" "$TREE/http/ipxe/$(hyphen $mac).ipxe" >/dev/null || fail "vm-ipv6: unexpected iPXE script"
      say "  vm-ipv6: boot.ipxe, $(hyphen $mac).ipxe, kernel and initrd over HTTP from [fd99::1] (nginx log: $(grep -o "^$v6client " "$W/nginx/access.log" | sort -u | tr -d '\n'))"
      grep -q '^PXEBAKE-DONE' "$W/serial-vm-ipv6.log.txt" || fail "vm-ipv6: the initramfs did not finish: $(tail -c 1500 "$W/serial-vm-ipv6.log.txt")"
      grep -q "^PXEBAKE-CC-SHA256: $(sha256sum "$TREE/http/cc/vm-ipv6.yaml" | cut -d' ' -f1)" "$W/serial-vm-ipv6.log.txt" \
        || fail "vm-ipv6: cloud-config not fetched over IPv6: $(grep PXEBAKE- "$W/serial-vm-ipv6.log.txt")"
      a=fd99::5054:ff:fee2:e00e # the prefix and the EUI-64 of the VM's MAC, as nginx writes it
      served cc/vm-ipv6.yaml "$a"
      say "  vm-ipv6: the kernel's initramfs ($a) fetched its cloud-config from $url6"
      # loader tftp over IPv6: GRUB from tftp://[fd99::1]/grubx64.efi, its config and the kernel over TFTP.
      mac=52:54:00:e2:e0:0f ip6='fd99::6[89ab]'
      start=$(ms) rc=0
      run_vm vm-ipv6-grub $mac ovmf-ipv6 || rc=$?
      say "  vm-ipv6-grub: qemu exited $rc after $(secs "$start") s"
      grep -qF "option: 59 bootfile-url  tftp://[fd99::1]/grubx64.efi" "$log" || fail "vm-ipv6-grub: no DHCPv6 boot file URL for GRUB"
      for f in grubx64.efi grub/grub.cfg "grub/grub.cfg-01-$(hyphen $mac)" vmlinuz.testos initrd.testos; do
        grep -q "sent $TREE/tftp/$f to $ip6" "$log" || fail "vm-ipv6-grub: tftp/$f was not sent over IPv6: $(grep -o "sent .*" "$log" | tail -n 5)"
      done
      say "  vm-ipv6-grub: grubx64.efi, grub.cfg, grub.cfg-01-$(hyphen $mac), kernel and initrd over TFTP to $(grep -o "sent $TREE/tftp/vmlinuz.testos to .*" "$log" | sed 's/.* to //' | head -n1)"
      grep -q "^PXEBAKE-CC-SHA256: $(sha256sum "$TREE/http/cc/vm-ipv6-grub.yaml" | cut -d' ' -f1)" "$W/serial-vm-ipv6-grub.log.txt" \
        || fail "vm-ipv6-grub: cloud-config not fetched over IPv6: $(grep PXEBAKE- "$W/serial-vm-ipv6-grub.log.txt")"
      # Back to the IPv4 site for the paths that follow (the DHCP log of this path is kept).
      cp "$log" "$W/dnsmasq-ipv6.log"
      cp "$W/site-ipv4.yaml" "$W/inventory/site.yaml"
      rebuild
      stop_dnsmasq
      TEST_RA=(--enable-ra --dhcp-range=::,constructor:tap0,ra-only)
      start_dnsmasq "$TREE/etc/dnsmasq.conf"
      kill -HUP "$NGINX_PID"
      ;;
    proxy)
      say "boot: proxy DHCP (another server gives the address) -> UEFI PXE -> snponly.efi -> iPXE -> HTTP"
      mac=52:54:00:e2:e0:07 ip=10.99.0.57
      stop_dnsmasq
      sed -i -e 's|discovery: 10.99.0.200-10.99.0.220, ||' \
        -e 's|pxe: true, dns: \[10.99.0.1\], ntp: \[10.99.0.1\] }|pxe: true, dhcp: proxy }|' "$W/inventory/site.yaml"
      rebuild
      grep -q '^dhcp-range=set:net-lab,10.99.0.0,proxy,255.255.255.0$' "$TREE/etc/dnsmasq.conf" || fail "no proxy dhcp-range"
      dnsmasq --test -C "$TREE/etc/dnsmasq.conf" >/dev/null 2>&1 || fail "dnsmasq --test (proxy config)"
      # The site's DHCP server: addresses, names, DNS and NTP only, no boot options.
      ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=tap0 --bind-interfaces \
        --dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0 --dhcp-host=$mac,$ip,vm-proxy --dhcp-option=option:router,$SERVER \
        --dhcp-option=option:mtu,1500 --dhcp-option=option:dns-server,$SERVER --dhcp-option=option:ntp-server,$SERVER \
        --domain=e2e.test --log-facility="$W/site-dhcp.log" --log-dhcp \
        --dhcp-leasefile="$W/site-dhcp.leases" --pid-file="$W/site-dhcp.pid" </dev/null >>"$W/site-dhcp.out" 2>&1 &
      PIDS+=("$!")
      start_dnsmasq "$TREE/etc/dnsmasq.conf"
      DHCP_LOG=$W/site-dhcp.log boot vm-proxy $mac $ip ovmf
      grep -q "PXE(tap0) $mac proxy" "$W/dnsmasq.log" || fail "vm-proxy: pxebake's dnsmasq sent no proxy offer"
      ! grep -q "DHCPACK" "$W/dnsmasq.log" || fail "vm-proxy: pxebake's dnsmasq handed out an address in proxy mode"
      sent snponly.efi $ip
      ipxe_script_ran vm-proxy $mac $ip
      kernel_over_http $ip
      ;;
    *) fail "unknown path \`$p\` (${ALL_PATHS[*]})" ;;
  esac
done
say "PASS: ${PATHS[*]}"
