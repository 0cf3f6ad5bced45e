#!/usr/bin/python3
# Independent reference for libcas/json.c: how PHP's json_encode (default
# flags) writes a string, rebuilt with Python's json module.
#   - json.dumps(ensure_ascii=True) escapes exactly like PHP: \" \\ \b \f \n
#     \r \t, other controls as \u00xx, non-ASCII as \uxxxx (lower-case hex,
#     surrogate pairs above U+FFFF) ...
#   - ... except two things: PHP writes "/" as "\/", and PHP leaves DEL
#     (0x7F) as it is where Python writes \u007f.
#   - ill-formed UTF-8: decoded with errors="replace", one U+FFFD per
#     maximal subpart (PHP's JSON_INVALID_UTF8_SUBSTITUTE; plain
#     json_encode would fail).
# Input: one hex-encoded byte string per line; output: one JSON string per line.
import json
import sys

for line in sys.stdin:
    raw = bytes.fromhex(line.strip())
    text = raw.decode("utf-8", errors="replace")
    out = json.dumps(text, ensure_ascii=True)
    out = out.replace("/", "\\/").replace("\\u007f", "\x7f")
    sys.stdout.write(out + "\n")
