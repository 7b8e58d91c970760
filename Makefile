# pxebake: `make build` renders the example site into out/, `make test` runs every test.
CARGO ?= cargo
# The release binary (under $CARGO_TARGET_DIR when that is set).
BIN := $(or $(CARGO_TARGET_DIR),target)/release/pxebake
PXEBAKE_FLAGS ?=

.PHONY: build binary test unit e2e bench fuzz clean lint deploy

# On a fresh Debian/Ubuntu machine, first installs the Debian packages of the site's bootloaders
# (as root; otherwise prints the one apt-get line and stops with exit 2).
build: binary
	@sh scripts/install-loaders.sh $(BIN) $(PXEBAKE_FLAGS)
	$(BIN) build $(PXEBAKE_FLAGS)

binary:
	$(CARGO) build --release --locked

# Unit and integration tests (the integration tests run the real binary on fixtures).
test: lint
	$(CARGO) test --locked
	$(MAKE) e2e

# PXE-boots QEMU VMs on every loader chain (BIOS -> undionly.kpxe, UEFI -> snponly.efi, UEFI HTTP
# Boot, iPXE ROMs, PXELINUX, GRUB, Secure Boot, proxy DHCP) from a pxebake tree served by stock
# dnsmasq and nginx in a private network namespace. Needs root and the packages of .ci/run; ~3 min.
e2e: binary
	PXEBAKE=$(abspath $(BIN)) tests/e2e/boot.sh

# Deploys out/ to the boot server as a release: `pxebake deploy` rsyncs it (over ssh for
# user@host:/path) into a new release directory beside `site.root` (`--link-dest` to the current
# one), switches the `site.root` symlink to it in one step, keeps the last 5 and, given
# `--reload CMD`, reloads dnsmasq when the reservations changed. A tree whose build was cut short
# (a pending journal, a stage or `.pxebake-new.*` temporaries) is refused; the build lock is held
# while copying. DEPLOY_FLAGS: e.g. `--keep 10 --reload 'systemctl reload dnsmasq' --ssh 'ssh -p 2222'`;
# `make deploy DEST=... DEPLOY_FLAGS=--rollback` switches back.
DEST ?=
DEPLOY_FLAGS ?=
PXEBAKE ?= $(BIN)
deploy:
	@test -n "$(DEST)" || { echo "usage: make deploy DEST=user@host:/srv/pxebake [DEPLOY_FLAGS=...]" >&2; exit 2; }
	@test -x "$(PXEBAKE)" || { echo "\`$(PXEBAKE)\` is missing; run make build first" >&2; exit 2; }
	$(PXEBAKE) deploy "$(DEST)" $(DEPLOY_FLAGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf out .out.pxebake-*

# Benchmarks: image verification and download (bench/images.sh), the boot storm (bench/boot-storm.sh:
# 1, 10, 50 clients over nginx and TFTP; needs root), then scale (benches/scale.rs); all record their
# results in BENCHMARKS.md. Takes about 25 minutes on 2 cores.
bench: binary
	mkdir -p target
	BIN=$(BIN) bench/images.sh > target/bench-images.md
	BIN=$(BIN) bench/boot-storm.sh
	$(CARGO) bench --locked --bench scale

# Fuzzing: every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS each with cargo fuzz (libFuzzer;
# needs the nightly toolchain), results in FUZZING.md, crashing inputs kept as regression tests.
FUZZ_SECONDS ?= 600
fuzz: binary
	BIN=$(BIN) bench/fuzz.sh $(FUZZ_SECONDS)
