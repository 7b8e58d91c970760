# pxebake: `make build` renders the example site into out/, `make test` runs every test.
CARGO ?= cargo
# The release binary (under $CARGO_TARGET_DIR when that is set).
BIN := $(or $(CARGO_TARGET_DIR),target)/release/pxebake
PXEBAKE_FLAGS ?=

.PHONY: build binary test unit e2e bench fuzz clean lint deploy

build: binary
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

# Copies out/ to the boot server, to the `site.root` the configs name: symlinks and hard links
# kept, stale files deleted, and updated files renamed into place together at the end, so a
# machine booting meanwhile never sees a half-updated tree. A tree whose build was cut short
# (a pending journal, a stage or `.pxebake-new.*` temporaries) is refused: `pxebake diff` or the
# next build finishes or undoes that write first. The build lock is held while copying.
DEST ?=
deploy:
	@test -n "$(DEST)" || { echo "usage: make deploy DEST=user@host:/srv/pxebake" >&2; exit 2; }
	@test -f out/.pxebake-tree || { echo "out/ is not a pxebake tree; run make build first" >&2; exit 2; }
	@if [ -e .out.pxebake-journal ] || [ -e .out.pxebake-journal.tmp ] || [ -e .out.pxebake-stage ] \
	    || [ -n "$$(find out -name '.pxebake-new.*' -print -quit)" ]; then \
	  echo "refusing to deploy: a build of out/ was cut short (pending journal or temporaries); run \`make build\` (or \`pxebake diff\`) to finish or undo it, then deploy again" >&2; exit 2; fi
	@flock -n -E 75 .out.pxebake-lock rsync -aH --delete-delay --delay-updates out/ $(DEST)/; rc=$$?; \
	  if [ $$rc = 75 ]; then echo "refusing to deploy: a pxebake build is writing out/ right now; deploy when it is done" >&2; exit 2; fi; exit $$rc

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
