# Shared helpers for the OpenHIX build and launch scripts (sourced, not run).
#
# Caches live outside the checkout, under $OPENHIX_CACHE (default
# /var/cache/openhix), keyed by a hash of their inputs, so a fresh clone reuses
# a QEMU or image build when nothing that feeds it changed.

set -euo pipefail

OPENHIX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OPENHIX_CACHE=${OPENHIX_CACHE:-/var/cache/openhix}
export OPENHIX_ROOT OPENHIX_CACHE

log() { printf '[openhix] %s\n' "$*" >&2; }
die() {
  printf '[openhix] error: %s\n' "$*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "this step installs Debian packages; run it as root"
}

# apt-get update at most once per script run, and only when something is missing.
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
}

# ensure_packages PKG...: install whichever of PKG are not installed yet.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
      missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  need_root
  apt_update_once
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

# The Debian source entries are derived from the machine's own binary
# entries (same mirror, suites, components), so the repo names no host.
enable_deb_src() {
  local out=/etc/apt/sources.list.d/openhix-deb-src.sources
  local legacy=/etc/apt/sources.list.d/openhix-deb-src.list
  if apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -qx Sources; then
    return 0
  fi
  need_root
  log "deriving deb-src entries from the existing apt sources"
  local f
  : >"$out.tmp"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    [ "$f" = "$out" ] && continue
    # Copy each stanza whose Types include "deb", switching it to deb-src.
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*(^|[ \t])deb([ \t]|\n|$)/ {
           gsub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print
         }' "$f" >>"$out.tmp"
  done
  if [ -s "$out.tmp" ]; then
    mv "$out.tmp" "$out"
  else
    rm -f "$out.tmp"
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$legacy"
    [ -s "$legacy" ] || rm -f "$legacy"
  fi
  [ -e "$out" ] || [ -e "$legacy" ] || die "no Debian binary apt sources found to derive deb-src entries from"
  apt_updated=0
  apt_update_once
}

# hash_inputs PATH...: one SHA-256 over the contents and names of every file
# under the given paths (sorted, so the order on disk does not matter).
hash_inputs() {
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then
      find "$p" -type f -print0 | LC_ALL=C sort -z |
        xargs -0 sha256sum | sed "s|$OPENHIX_ROOT/||"
    else
      sha256sum "$p" | sed "s|$OPENHIX_ROOT/||"
    fi
  done | sha256sum | cut -c1-16
}

# Version apt would install for a binary package (the candidate).
apt_candidate() {
  apt-cache policy "$1" | awk '/Candidate:/ { print $2 }'
}
