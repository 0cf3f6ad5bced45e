#!/usr/bin/python3
# Independent implementation of FreeCAS card-key wrapping (libcas/mkey.h),
# with hashlib's BLAKE2b and pycryptodome's XChaCha20-Poly1305, to make the
# golden vectors in test/unit/test_mkey.c.  Run: /usr/bin/python3 mkey_wrap.py
import hashlib
import struct
from Cryptodome.Cipher import ChaCha20_Poly1305

master = bytes(range(32))


def kdf(subkey_id, ctx=b"FCASmkey"):
    # libsodium crypto_kdf_derive_from_key: BLAKE2b, key = master key,
    # salt = subkey id (u64 LE) padded to 16, personal = context padded to 16.
    salt = struct.pack("<Q", subkey_id) + bytes(8)
    person = ctx + bytes(8)
    return hashlib.blake2b(b"", digest_size=32, key=master, salt=salt, person=person).digest()


wrap_key = kdf(1)
check_key = kdf(2)
check = hashlib.blake2b(b"FreeCAS master key check", digest_size=16, key=check_key).digest()

serial = 2100000000
card_key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
nonce = bytes(range(0x40, 0x58))  # 24 bytes: XChaCha20
version = 1
ad = b"FreeCAS card key" + bytes([version]) + struct.pack(">I", serial)
c = ChaCha20_Poly1305.new(key=wrap_key, nonce=nonce)
c.update(ad)
ct, tag = c.encrypt_and_digest(card_key)
blob = bytes([version]) + nonce + ct + tag
print("check", check.hex().upper())
print("serial", serial)
print("blob", blob.hex().upper())
