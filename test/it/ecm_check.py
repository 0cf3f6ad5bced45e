#!/usr/bin/python3
"""Independent checks of ecmgd's ECMs with pycryptodome (not libcas).

  ecm_check.py records KEYHEX [KEY2HEX] FILE
      FILE holds one line per ECM, written by scs_sim -e:
      CP DATAGRAM CW(CP) CW(CP+1) AC TMIN TMAX KEY(1|2)
      Each datagram (a section, or TS packets) is parsed here, decrypted
      with DES3 under the key half its table_id selects, and its plaintext
      checked against reference/tvcas3.md section 2.2: time, odd CW at 4,
      even CW at 12, AC at 20, sum8 at 47.

  ecm_check.py vectors PORT VECTORS_JSON
      Replays the ecmg_scs requests of test/vectors/tvcas3_ecmg_scs.json
      (TVCAS 3's own bytes, from reference/tvcas3-vectors.json) to ecmgd on
      127.0.0.1:PORT, which must run with that file's ecm_key: the ECM_response envelope must equal TVCAS 3's byte for
      byte, and the ECM must decrypt to the vector's CWs and AC.

Prints "ok: ..." and exits 0, or "FAIL: ..." and exits 1.
"""
import json
import socket
import sys

from Cryptodome.Cipher import DES3

fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL: " + msg)


def decrypt(key32, table, ct):
    half = key32[0:16] if table == 0x80 else key32[16:32]
    # 16-byte key: two-key EDE, K3 = K1 (tvcas3.md section 1)
    return DES3.new(half, DES3.MODE_ECB).decrypt(ct)


def section_of(dg):
    """The section carried by a datagram: itself, or parsed out of TS packets
    (pointer_field 0, payload_unit_start, 0xFF stuffing)."""
    if dg[0] != 0x47:
        if 3 + (((dg[1] & 0x0F) << 8) | dg[2]) != len(dg):
            raise ValueError("section length field does not match the datagram")
        return dg
    if len(dg) % 188 != 0:
        raise ValueError("TS datagram of %d bytes" % len(dg))
    payload = b""
    for i in range(0, len(dg), 188):
        p = dg[i:i + 188]
        if p[0] != 0x47 or (p[3] & 0x30) != 0x10 or (p[3] & 0xC0) != 0:
            raise ValueError("bad TS packet header")
        pusi = (p[1] >> 6) & 1
        if (i == 0) != bool(pusi):
            raise ValueError("payload_unit_start on the wrong packet")
        payload += p[5:] if i == 0 else p[4:]
        if i == 0 and p[4] != 0:
            raise ValueError("pointer_field %d" % p[4])
    n = 3 + (((payload[1] & 0x0F) << 8) | payload[2])
    if any(b != 0xFF for b in payload[n:]):
        raise ValueError("stuffing is not 0xFF")
    return payload[:n]


def check_ecm(key, sec, cp, cw_cp, cw_next, ac, tmin, tmax):
    table = 0x80 | (cp & 1)
    if len(sec) != 55 or sec[0] != table or sec[1:7] != bytes.fromhex("703470326421"):
        return "header %s for CP %d" % (sec[:7].hex(), cp)
    pt = decrypt(key, table, sec[7:])
    odd, even = (cw_cp, cw_next) if cp & 1 else (cw_next, cw_cp)
    t = int.from_bytes(pt[0:4], "big")
    if pt[4:12] != odd or pt[12:20] != even:
        return "CWs do not come back for CP %d" % cp
    if int.from_bytes(pt[20:24], "big") != ac:
        return "AC %s, want %08X" % (pt[20:24].hex(), ac)
    if not tmin <= t <= tmax:
        return "time %d outside %d..%d" % (t, tmin, tmax)
    if sum(pt[0:47]) & 0xFF != pt[47]:
        return "checksum"
    return None


def records(args):
    keys = [bytes.fromhex(k) for k in args[:-1]]
    n = 0
    tables = set()
    for line in open(args[-1]):
        f = line.split()
        cp, dg = int(f[0]), bytes.fromhex(f[1])
        cw_cp, cw_next = bytes.fromhex(f[2]), bytes.fromhex(f[3])
        ac, tmin, tmax, k = int(f[4], 16), int(f[5]), int(f[6]), int(f[7])
        try:
            sec = section_of(dg)
        except ValueError as e:
            fail("CP %d: %s" % (cp, e))
            continue
        why = check_ecm(keys[k - 1], sec, cp, cw_cp, cw_next, ac, tmin, tmax)
        if why:
            fail(why)
            continue
        tables.add(sec[0])
        n += 1
    if n == 0:
        fail("no ECM to check")
    else:
        print("ok: %d ECMs decrypted with pycryptodome: CWs, parity (tables %s), AC, time, checksum"
              % (n, " ".join("%02X" % t for t in sorted(tables))))


def recv_msg(s):
    buf = b""
    while len(buf) < 5:
        c = s.recv(5 - len(buf))
        if not c:
            raise EOFError
        buf += c
    n = int.from_bytes(buf[3:5], "big")
    while len(buf) < 5 + n:
        c = s.recv(5 + n - len(buf))
        if not c:
            raise EOFError
        buf += c
    return buf


def vectors(port, path):
    v = json.load(open(path))
    key = bytes.fromhex(v["ecm_key"])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    for x in v["ecmg_scs"]:
        s.sendall(bytes.fromhex(x["request_hex"]))
        got = recv_msg(s)
        want = bytes.fromhex(x["reply_hex"])
        if "cp_number" not in x:
            # channel_status/stream_status: TVCAS 3's answers carry its own
            # settings; the message type and the channel/stream ids match.
            if got[1:3] != want[1:3] or got[0] != want[0]:
                fail("%s: reply type %s, TVCAS 3 %s" % (x["what"], got[:3].hex(), want[:3].hex()))
            continue
        # ECM_response: everything up to the ciphertext is TVCAS 3's bytes
        # (version, type, length, channel, stream, CP_number, datagram
        # header, section header); the ciphertext differs by time and filler.
        head = 5 + 6 + 6 + 6 + 4 + 7
        if got[:head] != want[:head] or len(got) != len(want):
            fail("%s CP %d: envelope %s, TVCAS 3 %s" % (x["what"], x["cp_number"], got[:head].hex(),
                                                       want[:head].hex()))
            continue
        sec = got[head - 7:]
        pt = decrypt(key, sec[0], sec[7:])
        vpt = bytes.fromhex(x["ecm_plaintext_hex"])
        if pt[4:24] != vpt[4:24]:
            fail("CP %d: plaintext CWs/AC %s, TVCAS 3 %s" % (x["cp_number"], pt[4:24].hex(), vpt[4:24].hex()))
            continue
        if sum(pt[0:47]) & 0xFF != pt[47]:
            fail("CP %d: checksum" % x["cp_number"])
            continue
        print("ok: %s CP %d: envelope equals TVCAS 3's, CWs and AC as in the vector"
              % (x["what"], x["cp_number"]))
    s.close()


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "records":
        records(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "vectors":
        vectors(int(sys.argv[2]), sys.argv[3])
    else:
        print(__doc__)
        sys.exit(100)
    sys.exit(1 if fails else 0)


main()
