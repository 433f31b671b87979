#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (as root, Node.js 20 installed) install what the
# lab needs, build shipshape, start the local lab (`shipshape lab up`), apply the lab site (examples/lab),
# and print the result and a drift report. Re-runnable: a second run finds the lab running and applies no change.
#   sudo bash scripts/lab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)/examples/lab"   # the lab site: its shipshape.yaml, systems, profiles, roles and OS catalog
t0=$(date +%s)
step=0
say() { step=$((step + 1)); echo; echo "== [$step/8] $* ($(( $(date +%s) - t0 )) s)"; }
fail() { echo "lab.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs Debian packages and starts an sshd): sudo bash scripts/lab.sh"
command -v node >/dev/null 2>&1 || fail "Node.js is missing: install Node.js 20 (https://nodejs.org or NodeSource's Debian packages), then run again"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js $(node --version) is too old: shipshape needs Node.js 20 or newer"

say "Debian packages (bind9, isc-dhcp-server, kea, openssh-server, golang + govmomi for vcsim)"
bash scripts/install-system-deps.sh

say "npm packages"
if npm ls --depth=0 >/dev/null 2>&1; then echo "npm packages: all present"; else npm ci --no-audit --no-fund; fi

say "build shipshape (npm run build: bin/shipshape runs dist/)"
npm run --silent build
echo "built"

say "build vcsim (the vCenter simulator; about 30 s the first time)"
bash scripts/build-vcsim.sh

say "the lab's SSH user (and AppArmor, where it confines the daemons)"
# shipshape.yaml logs in to the lab's DNS and DHCP "servers" as this user (key only; '*' is no password, not locked).
if id shipshape >/dev/null 2>&1; then echo "user shipshape: present"; else useradd --system --create-home --shell /bin/sh -p '*' shipshape && echo "user shipshape: created"; fi

# Debian confines named, dhcpd and kea-dhcp4 with AppArmor (enforced on a fresh VM, absent in most containers):
# their profiles allow /etc/bind, /var/lib/dhcp …, not the lab's folders. A marked local override adds them.
if [ -d /sys/kernel/security/apparmor ] && command -v apparmor_parser >/dev/null 2>&1; then
  for prof in usr.sbin.named usr.sbin.dhcpd usr.sbin.kea-dhcp4; do
    [ -f "/etc/apparmor.d/$prof" ] || continue
    local_file="/etc/apparmor.d/local/$prof"
    mkdir -p /etc/apparmor.d/local && touch "$local_file"
    if ! grep -q "shipshape lab: $repo/" "$local_file"; then
      printf '# shipshape lab: %s/\n/var/lib/shipshape-lab/ r,\n/var/lib/shipshape-lab/** rwk,\n%s/.lab/ r,\n%s/.lab/** rwk,\n' "$repo" "$repo" "$repo" >> "$local_file"
      apparmor_parser -r "/etc/apparmor.d/$prof" && echo "AppArmor: $prof may use the lab's folders"
    fi
  done
fi

say "start the lab (shipshape lab up)"
bin/shipshape lab up -C "$repo"
set -a
# shellcheck disable=SC1091
. "$repo/.lab/credentials.env"
set +a
export SHIPSHAPE_STATE_DIR="$repo/.lab/state"   # the lab's run lock, drift history and create journals

say "apply the lab site (shipshape apply -C $repo, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
bin/shipshape apply -C "$repo"

say "drift report (shipshape drift)"
set +e
bin/shipshape drift -C "$repo"
drift=$?
set -e
[ "$drift" -le 2 ] || fail "shipshape drift failed (exit $drift)"

echo
echo "== what the lab holds now"
bin/shipshape lab world -C "$repo"
echo
echo "Done in $(( $(date +%s) - t0 )) s. Look around:"
echo "  set -a; . examples/lab/.lab/credentials.env; set +a; export SHIPSHAPE_STATE_DIR=examples/lab/.lab/state"
echo "  dig @127.0.0.1 -p 10053 web-dev-01.dev.example.com     # DNS"
echo "  bin/shipshape plan -C examples/lab                      # after editing examples/lab/systems/*.yaml"
echo "  bin/shipshape lab status -C examples/lab                # what runs where"
echo "  bin/shipshape lab down -C examples/lab                  # stop the lab"
