#!/bin/sh
# Builds the vcsim harness (tools/vcsim/*.go) against Debian's govmomi into .cache/vcsim/vcsim.
# Reused when the binary is newer than every .go file there. Installs golang-go and
# golang-github-vmware-govmomi-dev from Debian only when they are missing and we are root.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tools/vcsim"
out="$root/.cache/vcsim/vcsim"
gopath=/usr/share/gocode

if [ -x "$out" ] && [ -z "$(find "$src" -name '*.go' -newer "$out")" ]; then
  echo "$out"
  exit 0
fi

if ! command -v go >/dev/null 2>&1 || [ ! -d "$gopath/src/github.com/vmware/govmomi/simulator" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-github-vmware-govmomi-dev >&2
  else
    echo "build-vcsim: need golang-go and golang-github-vmware-govmomi-dev (apt-get install as root)" >&2
    exit 1
  fi
fi

mkdir -p "$root/.cache/vcsim" "$root/.cache/go-build"
cd "$root/tools/vcsim"
# Debian ships govmomi as a GOPATH tree, not a module: build in GOPATH mode.
GO111MODULE=off GOPATH="$gopath" GOCACHE="$root/.cache/go-build" GOFLAGS= \
  go build -o "$out.tmp.$$" .
# Per-process temp name + rename: two test workers building at once both end with a whole binary.
mv "$out.tmp.$$" "$out"
echo "$out"
