#!/bin/sh
# The card logic builds for card firmware: libcas/card.c and what it calls
# (tvcas3_card.c, tdes.c, buf.c) compile with -ffreestanding -nostdlib
# -DCAS_FREESTANDING under the project's warnings; the only system headers
# they include themselves are <stdint.h>, <string.h> (and <stddef.h>, which
# the compiler provides); the linked objects need nothing but memcpy, memset,
# memcmp and memmove; and, linked into a hosted driver, the freestanding
# objects answer the reference card_model APDUs byte for byte.
set -eu
: "${BUILD:=build}"
: "${TOP:=$(pwd)}"
CC=${CC:-cc}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

SRCS="card tvcas3_card tdes buf"
FLAGS="-std=c11 -ffreestanding -nostdlib -DCAS_FREESTANDING -O2 -Wall -Wextra -Werror
 -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wpointer-arith -Wcast-qual
 -Wsign-compare -I$TOP/libcas"

for f in $SRCS; do
  # shellcheck disable=SC2086
  $CC $FLAGS -c "$TOP/libcas/$f.c" -o "$t/$f.o" 2>"$t/$f.err" || { cat "$t/$f.err"; fail "$f.c does not build freestanding"; }
  # -H lists every header with its depth; a header that a libcas file (or
  # the .c itself) includes directly must be libcas's own or an allowed one.
  # shellcheck disable=SC2086
  $CC $FLAGS -H -fsyntax-only "$TOP/libcas/$f.c" 2>"$t/$f.hdr" || fail "$f.c -H"
  awk -v top="$TOP/libcas/" -v src="$f.c" '
    /^\.+ / {
      d = length($1); path = $2
      parent_ours = (d == 1) ? 1 : ours[d - 1]
      ours[d] = (index(path, top) == 1 || path ~ /^libcas\//)
      if (parent_ours && !ours[d]) {
        n = split(path, p, "/"); h = p[n]
        if (h != "stdint.h" && h != "string.h" && h != "stddef.h")
          { print src ": includes " path; bad = 1 }
      }
    }
    END { exit bad }' "$t/$f.hdr" || fail "$f.c includes a header outside stdint/string/stddef"
done
echo "ok: $SRCS build with -ffreestanding -nostdlib -DCAS_FREESTANDING, headers stdint/string/stddef only"

objs=""
for f in $SRCS; do objs="$objs $t/$f.o"; done
# shellcheck disable=SC2086
ld -r -o "$t/card_fw.o" $objs
und=$(nm -u "$t/card_fw.o" | awk '{print $2}' | sort -u | tr '\n' ' ')
for s in $und; do
  case $s in memcpy|memset|memcmp|memmove) ;; *) fail "freestanding card needs $s (undefined: $und)";; esac
done
echo "ok: undefined symbols of the card firmware objects: ${und:-none}"

# A hosted driver around the freestanding objects: the reference APDUs.
cat >"$t/drv.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "card.h"
#include "card_vectors.h"
static size_t unhex(const char *s, uint8_t *o)
{
	size_t n = strlen(s) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		o[i] = (uint8_t)v;
	}
	return n;
}
int main(void)
{
	int bad = 0;
	for (size_t i = 0; i < sizeof V_CARD_APDU / sizeof V_CARD_APDU[0]; i++) {
		static struct cas_card_chip c;
		uint8_t bin[90], cmd[300], out[CAS_CARD_T0_OUT_MAX], want[128], atr[8];
		unhex(V_CARD_APDU[i].bin, bin);
		if (cas_card_init_bin(&c, bin) < 0 || cas_card_t0_reset(&c, atr, sizeof atr) != 7)
			return 2;
		size_t n = unhex(V_CARD_APDU[i].apdu, cmd), o = 0;
		for (size_t k = 0; k < n; k++)
			o = cas_card_t0_rx(&c, cmd[k], out, sizeof out);
		size_t w = unhex(V_CARD_APDU[i].sw, want);
		if (o != w || memcmp(out, want, w) != 0) {
			printf("vector %zu: wrong SW\n", i);
			bad = 1;
		}
		n = unhex(V_CARD_APDU[i].get_response, cmd);
		for (size_t k = 0; k < n; k++)
			o = cas_card_t0_rx(&c, cmd[k], out, sizeof out);
		w = unhex(V_CARD_APDU[i].get_response_reply, want);
		if (o != w || memcmp(out, want, w) != 0) {
			printf("vector %zu: wrong CA reply\n", i);
			bad = 1;
		}
	}
	if (!bad)
		printf("%zu reference APDUs answered byte for byte\n", sizeof V_CARD_APDU / sizeof V_CARD_APDU[0]);
	return bad;
}
EOF
$CC -std=c11 -O2 -I"$TOP/libcas" -I"$TOP/test/unit" -o "$t/drv" "$t/drv.c" "$t/card_fw.o" || fail "driver does not link"
"$t/drv" >"$t/drv.out" || { cat "$t/drv.out"; fail "freestanding card answers differ from the reference"; }
echo "ok: freestanding build: $(cat "$t/drv.out")"
