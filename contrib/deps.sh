#!/bin/sh
# Installs the Debian packages FreeCAS needs to build, test, benchmark and
# run its demo.  As root it runs apt-get; otherwise it prints the command.
# Called by `make check`, `make bench`, `make demo` and `make fuzz`.
set -u
PKGS="build-essential pkg-config clang libclang-rt-14-dev
 libsodium-dev libevent-dev libsqlite3-dev sqlite3 libcmocka-dev
 libcurl4-openssl-dev openssl python3 python3-pycryptodome tshark
 libdvbcsa-dev vsmartcard-vpcd pcscd pcsc-tools libpcsclite-dev
 wrk valgrind runit socat curl"
missing=""
for p in $PKGS; do
  case $p in *-) continue;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps: run as root: apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get install -y -q --no-install-recommends $missing >/tmp/freecas-apt.log 2>&1 || {
  apt-get update -q >/tmp/freecas-apt-update.log 2>&1
  apt-get install -y -q --no-install-recommends $missing >/tmp/freecas-apt.log 2>&1 || {
    tail -n 30 /tmp/freecas-apt.log >&2
    echo "deps: fatal: apt-get install failed; see /tmp/freecas-apt.log" >&2
    exit 111
  }
}
# pcscd and runit must not start system services inside a build machine;
# tests start their own instances in temporary folders.
echo "deps: installed:$missing"
exit 0
