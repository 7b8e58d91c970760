#!/usr/bin/env bash
# make fuzz: runs every fuzz target (fuzz/fuzz_targets) with cargo fuzz (libFuzzer, nightly
# toolchain) for FUZZ_SECONDS each, seeded from fuzz/seeds and from the example site's own
# inputs and outputs, and records executions and crashes in FUZZING.md. A crashing input is kept
# under fuzz/regressions/<target>/, where tests/fuzz_regressions.rs replays it on every
# `cargo test`.
#
# Environment: BIN (the release binary, default target/release/pxebake), FUZZ_TARGET_DIR (the
# fuzz build's target dir, default fuzz/target), FUZZ_BUILD_WRAP (a command the build step runs
# under, e.g. `flock /tmp/cargo.lock` on a shared machine: only the build, not the fuzzing),
# FUZZ_NICE (the fuzzing's nice level, default 19, so builds elsewhere keep priority).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-600}
TARGETS=(inventory hostfile cloud_config ignition butane events)
BIN=${BIN:-target/release/pxebake}
FUZZ_TARGET_DIR=$(realpath -m "${FUZZ_TARGET_DIR:-fuzz/target}")
read -r -a WRAP <<<"${FUZZ_BUILD_WRAP:-}"
# The source fuzzed: taken now, since the fuzzing takes an hour and work may go on meanwhile.
source_rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src fuzz 2>/dev/null || echo ' with uncommitted changes')"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || { echo "make fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }

work=target/fuzz-run
rm -rf "$work"; mkdir -p "$work"
# Seeds from the example: the inventory, its rendered cloud-configs and Ignition configs.
"$BIN" build --no-images --no-bootloaders --quiet --out "$work/out" >/dev/null
for t in "${TARGETS[@]}"; do mkdir -p "$work/corpus/$t"; cp -r fuzz/seeds/"$t"/. "$work/corpus/$t/" 2>/dev/null || true; done
cp inventory/*.yaml "$work/corpus/inventory/"
cp "$work"/out/http/coreos/*.yaml "$work/corpus/cloud_config/"
for f in "$work"/out/http/ignition/*.ign "$work"/out/http/install/*.ign; do
  cp "$f" "$work/corpus/ignition/$(basename "$(dirname "$f")")-$(basename "$f")"
done

# Build every target first (the only step that needs the wrapper), then fuzz the built binaries.
(cd fuzz && "${WRAP[@]}" cargo +nightly fuzz build -O --target-dir "$FUZZ_TARGET_DIR")
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')

rows=()
total_crashes=0
for t in "${TARGETS[@]}"; do
  log="$work/$t.log"
  artifacts="$work/artifacts/$t"
  mkdir -p "$artifacts"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s" >&2
  status=0
  start=$(date +%s)
  nice -n "${FUZZ_NICE:-19}" "$FUZZ_TARGET_DIR/$triple/release/$t" "$work/corpus/$t" \
      -artifact_prefix="$artifacts/" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 \
      -timeout=10 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || status=$?
  took=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  crashes=0
  if [ "$status" -ne 0 ]; then
    mkdir -p "fuzz/regressions/$t"
    for a in "$artifacts"/*; do
      [ -f "$a" ] || continue
      cp "$a" "fuzz/regressions/$t/"
      crashes=$((crashes + 1))
    done
    [ "$crashes" -gt 0 ] || crashes="failed (see $log)"
  fi
  [ "$crashes" = 0 ] || total_crashes=$((total_crashes + 1))
  rows+=("| \`$t\` | ${took} s | ${runs:-?} | $crashes |")
done

{
  echo "# Fuzzing"
  echo
  echo "Written by \`make fuzz\` (bench/fuzz.sh) on $(date -u +%Y-%m-%d), $(nproc) cores; libFuzzer through"
  echo "cargo fuzz, seeded from fuzz/seeds and the example site. A target's crashing inputs are kept in"
  echo "fuzz/regressions/<target>/ and replayed by \`cargo test\` (tests/fuzz_regressions.rs)."
  echo "Source: commit $source_rev. The hostile inputs tried by"
  echo "hand, and what pxebake does with each, are in [docs/hostile-inputs.md](docs/hostile-inputs.md)."
  echo
  echo "| target | time | executions | crashes |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > FUZZING.md
cat FUZZING.md
[ "$total_crashes" -eq 0 ]
