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

# What a newcomer sees of `openhix build`: one line per step. What the tools
# say (apt, dpkg, CMake, ninja, make, the compilers) goes to the step's log,
# $OPENHIX_LOG_DIR/STEP.log, which a failing step shows the end of.
say() { printf 'openhix: %s\n' "$*" >&2; }

# seconds N: N seconds as "42 s" or "14 min 3 s".
seconds() {
  if [ "$1" -lt 60 ]; then echo "$1 s"; else echo "$(($1 / 60)) min $(($1 % 60)) s"; fi
}

# run_step [-o VAR] STEP 'WHAT' COMMAND...: run COMMAND with its output in
# $OPENHIX_LOG_DIR/STEP.log (-o: its stdout into VAR instead) and say
# "openhix: WHAT... done", or "(cached)" when it reports its cache up to date
# (a "[openhix] ... up to date" line). A failing
# COMMAND ends the script after its exit status, the log's last 30 lines and
# the log's path. COMMAND runs in a subshell with errexit on, as a script
# would, so a shell function may be a step.
run_step() {
  local _var=""
  if [ "$1" = -o ]; then
    _var=$2
    shift 2
  fi
  local _step=$1 _what=$2
  shift 2
  local _log=$OPENHIX_LOG_DIR/$_step.log _out=$OPENHIX_LOG_DIR/.$_step.stdout
  local _t0=$SECONDS _rc=0
  mkdir -p "$OPENHIX_LOG_DIR"
  printf '# openhix: %s (%s)\n' "$_what" "$(date -u '+%F %T UTC')" >"$_log"
  printf 'openhix: %s... ' "$_what" >&2
  set +e
  if [ -n "$_var" ]; then
    (set -e; "$@") >"$_out" 2>>"$_log"
  else
    (set -e; "$@") >>"$_log" 2>&1
  fi
  _rc=$?
  set -e
  if [ "$_rc" -ne 0 ]; then
    printf 'FAILED (exit status %s)\n' "$_rc" >&2
    tail -n 30 "$_log" | sed 's/^/    /' >&2
    say "error: $_what failed (exit status $_rc); above: the last 30 lines of $_log"
    rm -f "$_out"
    exit "$_rc"
  fi
  if [ -n "$_var" ]; then
    printf -v "$_var" '%s' "$(cat "$_out")"
    rm -f "$_out"
  fi
  if grep -qE '^\[openhix\] .* up to date' "$_log"; then
    printf '(cached)\n' >&2
  else
    printf 'done (%s)\n' "$(seconds $((SECONDS - _t0)))" >&2
  fi
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

# list_packages NAME...: the packages named in qemu_scripts/packages/NAME.list
# (comments and blank lines skipped), one a line.
list_packages() {
  local n
  for n in "$@"; do
    sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$OPENHIX_ROOT/qemu_scripts/packages/$n.list"
  done
}

# missing_packages PKG...: those of PKG that are not installed, one a line.
missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
      printf '%s\n' "$p"
  done
}

# ensure_packages PKG...: install whichever of PKG are not installed yet.
ensure_packages() {
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
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

# The cloud kernel flavour apt offers now, e.g. 6.1.0-56-cloud-amd64: the
# guest image boots it and build-modules builds against its headers. Empty
# when apt has no package lists yet (callers then run apt_update_once).
kernel_release() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/.*Depends: linux-image-\([0-9].*-cloud-amd64\)$/\1/p' | head -n1
}

# Version apt would install for a binary package (the candidate).
apt_candidate() {
  apt-cache policy "$1" | awk '/Candidate:/ { print $2 }'
}
