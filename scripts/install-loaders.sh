#!/bin/sh
# Run by `make build` before the build: on a fresh Debian or Ubuntu machine, installs the
# Debian packages whose bootloaders the site needs and this machine lacks (when run as root),
# or prints the one `apt-get install` line and stops with exit 2. pxebake itself says which
# packages are missing (`pxebake loaders --missing`: none when a bundle given with --mirror,
# the cache or --no-bootloaders covers them).
# Usage: scripts/install-loaders.sh PXEBAKE [BUILD FLAGS...]
set -eu
bin=$1
shift
pkgs=$("$bin" --quiet loaders --missing "$@")
[ -n "$pkgs" ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "the site's bootloaders come from Debian packages this machine lacks; install them as root, then run \`make build\` again:" >&2
  echo "  apt-get install -y $pkgs" >&2
  echo "(or build with --mirror DIR from a \`pxebake fetch --bundle DIR\`, or with --no-bootloaders)" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the site's bootloaders come from Debian packages ($pkgs), and this machine has no apt-get; build with --mirror DIR from a \`pxebake fetch --bundle DIR\` made on a Debian machine, or with --no-bootloaders" >&2
  exit 2
fi
echo "installing the Debian packages of the site's bootloaders: $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet.
# shellcheck disable=SC2086 # one word per package
apt-get install -y -q --no-install-recommends $pkgs \
  || { apt-get update -q && apt-get install -y -q --no-install-recommends $pkgs; }
