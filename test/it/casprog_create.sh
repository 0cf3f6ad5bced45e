#!/bin/sh
# casprog create: cards in the database and one personalisation file each.
# The files are decoded here with python3 struct, the Conax dates with
# python's datetime, the shared address with hashlib.md5, and the card key
# in each file is compared with the key in its database row, unwrapped with
# the master key by pycryptodome (test/vectors/mkey_wrap.py's scheme):
# nothing is checked against casprog's own code.  Then the refusals: taken
# serials, a file in the way, a full range, dates outside 1990..2069, no
# ecm_key, and a file that cannot be written (the insert is rolled back).
set -eu
: "${BUILD:=build}"
bin=$BUILD/bin
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3	# Debian's, with python3-pycryptodome (Cryptodome)

# The reference ECM key (tvcas3-vectors.json bin[0]); MD5 of its text
# starts 4B BE 8C (tvcas3.md §5).
ECMKEY=7E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE
cat >"$t/cas.conf" <<EOF
db = $t/var/cas.db
master_key = $t/var/master.key
ecm_key = $ECMKEY
trademark = TESTCAS
card.dir = $t/cards
EOF
cp() { "$bin/casprog" -f "$t/cas.conf" "$@"; }
rows() { $PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from cards').fetchone()[0])" "$t/var/cas.db"; }

# ---- three cards with a window and a package ----
cp create -n 3 --ac 0000000A --start 2024-01-01 --finish 2024-12-31T23:59:59 >"$t/out" 2>"$t/err" || fail "create: $(cat "$t/err")"
printf '%s\n' "2100000000 $t/cards/210-000-000-0.bin" "2100000001 $t/cards/210-000-000-1.bin" \
  "2100000002 $t/cards/210-000-000-2.bin" | cmp -s - "$t/out" || fail "create output: $(cat "$t/out")"
grep -q "casprog: info: 3 cards created (2100000000..2100000002), personalisation files in $t/cards" "$t/err" || fail "create log: $(cat "$t/err")"
# Unix seconds work as well; a second run takes the next serials
cp create -n 2 --start 1704067200 --finish 1735689599 >"$t/out2" 2>"$t/err" || fail "create 2: $(cat "$t/err")"
[ "$(cut -d' ' -f1 "$t/out2" | tr '\n' ' ')" = "2100000003 2100000004 " ] || fail "next serials: $(cat "$t/out2")"
# --first elsewhere, and the CAID low byte from super_cas_id 0x0B01....
sed 's/^trademark.*/trademark = OPERATOR TV 15C/' "$t/cas.conf" >"$t/b.conf"
echo "super_cas_id = 0x0B010000" >>"$t/b.conf"
"$bin/casprog" -f "$t/b.conf" create --first 2105000000 --start 2069-12-31T23:59:59 --finish 2069-12-31T23:59:59 >"$t/out3" 2>"$t/err" \
  || fail "create --first: $(cat "$t/err")"
[ "$(cat "$t/out3")" = "2105000000 $t/cards/210-500-000-0.bin" ] || fail "--first output: $(cat "$t/out3")"

[ "$(stat -c %a "$t/cards")" = 700 ] || fail "cards folder mode $(stat -c %a "$t/cards")"
n=0
for f in "$t"/cards/*; do
  n=$((n + 1))
  [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"
  [ "$(stat -c %s "$f")" = 90 ] || fail "$f size"
done
[ $n = 6 ] || fail "$n files in $t/cards, want 6 (no temp file left)"

# ---- every file against the BIN layout (tvcas3.md §5) and its DB row ----
$PY - "$t" "$ECMKEY" <<'EOF' || fail "BIN layout"
import datetime, hashlib, sqlite3, struct, sys
from Cryptodome.Cipher import ChaCha20_Poly1305
t, ecmkey = sys.argv[1], sys.argv[2]

def cdate(ts):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    y = d.year - 1990
    return bytes([(y // 10) << 5 | d.day, (y % 10) << 4 | d.month])

master = open(t + "/var/master.key", "rb").read()
assert len(master) == 32
# libsodium crypto_kdf_derive_from_key(id 1, "FCASmkey") = BLAKE2b (mkey.h)
wrap = hashlib.blake2b(b"", digest_size=32, key=master, salt=struct.pack("<Q", 1) + bytes(8),
                       person=b"FCASmkey" + bytes(8)).digest()
db = sqlite3.connect(t + "/var/cas.db")
want = {
    2100000000: (0x0A, 1704067200, 1735689599, "TESTCAS", 0),
    2100000001: (0x0A, 1704067200, 1735689599, "TESTCAS", 0),
    2100000002: (0x0A, 1704067200, 1735689599, "TESTCAS", 0),
    2100000003: (0, 1704067200, 1735689599, "TESTCAS", 0),
    2100000004: (0, 1704067200, 1735689599, "TESTCAS", 0),
    2105000000: (0, 3155759999, 3155759999, "OPERATOR TV 15C", 1),
}
rows = db.execute("select serial_no, key, access_criteria, pair, type, start, finish, status, blocked_until from cards order by serial_no").fetchall()
assert [r[0] for r in rows] == sorted(want), rows
keys = set()
for serial, blob, ac, pair, typ, start, finish, status, blocked in rows:
    wac, wstart, wfinish, tm, caidlo = want[serial]
    assert (ac, pair, typ, start, finish, status, blocked) == (wac, 0, 1, wstart, wfinish, 1, 0), serial
    ad = b"FreeCAS card key" + bytes([blob[0]]) + struct.pack(">I", serial)
    c = ChaCha20_Poly1305.new(key=wrap, nonce=blob[1:25])
    c.update(ad)
    key = c.decrypt_and_verify(blob[25:41], blob[41:57])
    d = str(serial).zfill(10)
    b = open("%s/cards/%s-%s-%s-%s.bin" % (t, d[0:3], d[3:6], d[6:9], d[9]), "rb").read()
    f = struct.unpack(">IB3s15sIII2s2sBBB32s16s", b)
    assert f[0] == serial
    assert f[1] == caidlo, f[1]
    assert f[2] == hashlib.md5(ecmkey.encode()).digest()[:3] == bytes.fromhex("4BBE8C")
    assert f[3] == tm.encode().ljust(15, b" "), f[3]
    assert (f[4], f[5], f[6]) == (wstart, wfinish, wac)       # finish raw, not + 1
    assert f[7] == cdate(wstart) and f[8] == cdate(wfinish), (f[7].hex(), f[8].hex())
    assert (f[9], f[10], f[11]) == (0, 1, 0)                  # pair 0, protect on
    assert f[12] == bytes.fromhex(ecmkey)
    assert f[13] == key, serial                               # the DB's key
    keys.add(key)
assert len(keys) == 6                                         # fresh keys
# reference dates: 2024-01-01 = 61 41, 2024-12-31 = 7F 4C (tvcas3.md §5)
assert cdate(1704067200) == bytes.fromhex("6141") and cdate(1735689599) == bytes.fromhex("7F4C")
audit = [r[0] for r in db.execute("select message from audit where who = 'casprog'")]
assert "3 cards created (2100000000..2100000002)" in audit, audit
print("ok: 6 files decoded, keys match the database")
EOF
echo "ok: create (serials, files 0600, BIN layout, keys = database, audit)"

# ---- refusals: nothing created ----
# (the next serial is 2105000001: casprog continues after the highest serial
# in card.first_serial..card.last_serial, as TVCAS 3's max + 1)
before=$(rows)
ls "$t/cards" >"$t/files.before"
check_nothing() {
  [ "$(rows)" = "$before" ] || fail "$1: rows changed"
  ls "$t/cards" | cmp -s - "$t/files.before" || fail "$1: files changed: $(ls "$t/cards")"
}
refuse() {	# refuse EXIT MESSAGE ARGS...
  want=$1 msg=$2; shift 2
  set +e; cp "$@" >"$t/out" 2>"$t/err"; rc=$?; set -e
  [ $rc -eq "$want" ] || fail "casprog $*: exit $rc, want $want ($(cat "$t/err"))"
  grep -qxF "$msg" "$t/err" || fail "casprog $*: message $(cat "$t/err")"
  [ ! -s "$t/out" ] || fail "casprog $*: printed $(cat "$t/out")"
  check_nothing "casprog $*"
}
refuse 2 "casprog: fatal: serial 2100000004 is taken (--first 2100000004, 3 cards); nothing created" create --first 2100000004 -n 3
touch "$t/cards/210-500-000-1.bin"; ls "$t/cards" >"$t/files.before"
refuse 2 "casprog: fatal: $t/cards/210-500-000-1.bin already exists: casprog create replaces no file (card 2105000001); nothing created" create -n 2
rm "$t/cards/210-500-000-1.bin"; ls "$t/cards" >"$t/files.before"
refuse 100 "casprog: fatal: usage: --start 1989-12-31T23:59:59 (1989-12-31T23:59:59Z) is outside the Conax date range 1990-01-01..2069-12-31 (see casprog --help)" \
  create --start 1989-12-31T23:59:59
refuse 100 "casprog: fatal: usage: --finish 2070-01-01 (2070-01-01T00:00:00Z) is outside the Conax date range 1990-01-01..2069-12-31 (see casprog --help)" \
  create --finish 2070-01-01
refuse 100 "casprog: fatal: usage: --finish 2024-01-01 is before --start 2024-06-01 (see casprog --help)" create --start 2024-06-01 --finish 2024-01-01
refuse 100 "casprog: fatal: usage: --start wants Unix seconds or a date YYYY-MM-DD[THH:MM:SS] (UTC), not '2024-02-30' (see casprog --help)" create --start 2024-02-30
refuse 100 "casprog: fatal: usage: --ac wants 8 hex digits (the access criteria mask), not '1' (see casprog --help)" create --ac 1
refuse 100 "casprog: fatal: usage: -n wants a number of cards 1..1000000, not '0' (see casprog --help)" create -n 0
refuse 100 "casprog: fatal: usage: --first 42: a card serial needs a non-zero top byte (at least 16777216) (see casprog --help)" create --first 42
echo "card.last_serial = 2105000002" >>"$t/b2.conf"
sed '/^card.last_serial/d' "$t/cas.conf" >>"$t/b2.conf"
set +e; "$bin/casprog" -f "$t/b2.conf" create -n 3 >"$t/out" 2>"$t/err"; rc=$?; set -e
[ $rc -eq 2 ] || fail "full range: exit $rc"
grep -qxF "casprog: fatal: only 2 serials left up to card.last_serial 2105000002, 3 cards asked" "$t/err" || fail "full range: $(cat "$t/err")"
check_nothing "full range"
grep -v '^ecm_key' "$t/cas.conf" >"$t/nokey.conf"
set +e; "$bin/casprog" -f "$t/nokey.conf" create >"$t/out" 2>"$t/err"; rc=$?; set -e
[ $rc -eq 1 ] || fail "no ecm_key: exit $rc"
grep -qxF "casprog: fatal: ecm_key is not set in $t/nokey.conf: casprog create needs it for the personalisation files" "$t/err" || fail "no ecm_key: $(cat "$t/err")"
check_nothing "no ecm_key"
# the second card's file cannot be written (a folder in the way of its
# temp file): the first card's file goes, and so do the rows
mkdir "$t/cards/210-500-000-2.bin.tmp"
ls "$t/cards" >"$t/files.before"
set +e; cp create -n 3 >"$t/out" 2>"$t/err"; rc=$?; set -e
[ $rc -eq 111 ] || fail "write failure: exit $rc ($(cat "$t/err"))"
grep -qxF "casprog: fatal: unable to create $t/cards/210-500-000-2.bin.tmp: Is a directory" "$t/err" || fail "write failure: $(cat "$t/err")"
check_nothing "write failure"
rmdir "$t/cards/210-500-000-2.bin.tmp"
cp create >"$t/out" 2>"$t/err" || fail "create after the failure: $(cat "$t/err")"
[ "$(cat "$t/out")" = "2105000001 $t/cards/210-500-000-1.bin" ] || fail "after the failure: $(cat "$t/out")"
echo "ok: refusals (taken serial, file in the way, full range, dates, usage, no ecm_key, rollback on a write failure)"
