/* Unit tests: bounds-checked buffers and hex. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "hex.h"

static void reads_big_endian(void **state)
{
	(void)state;
	const uint8_t data[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A };
	struct cas_buf b;
	cas_buf_init(&b, data, sizeof data);
	assert_int_equal(cas_buf_get_u8(&b), 0x01);
	assert_int_equal(cas_buf_get_u16(&b), 0x0203);
	assert_int_equal(cas_buf_get_u24(&b), 0x040506);
	assert_int_equal(cas_buf_get_u32(&b), 0x0708090A);
	assert_int_equal(cas_buf_left(&b), 0);
	assert_int_equal(cas_buf_error(&b), 0);
}

static void short_read_is_sticky_and_zero(void **state)
{
	(void)state;
	const uint8_t data[] = { 0xAA, 0xBB, 0xCC };
	struct cas_buf b;
	cas_buf_init(&b, data, sizeof data);
	assert_int_equal(cas_buf_get_u16(&b), 0xAABB);
	assert_int_equal(cas_buf_get_u16(&b), 0);	/* only one byte left */
	assert_int_equal(cas_buf_error(&b), 1);
	/* once failed, even a read that would fit fails: the parser checks once */
	assert_int_equal(cas_buf_get_u8(&b), 0);
	assert_int_equal(cas_buf_error(&b), 1);
	assert_int_equal(b.pos, 2);
}

static void bytes_ptr_sub_skip(void **state)
{
	(void)state;
	const uint8_t data[] = { 1, 2, 3, 4, 5, 6 };
	struct cas_buf b, sub;
	uint8_t out[4] = { 9, 9, 9, 9 };
	cas_buf_init(&b, data, sizeof data);
	assert_int_equal(cas_buf_get_bytes(&b, out, 2), 0);
	assert_memory_equal(out, data, 2);
	assert_int_equal(cas_buf_get_sub(&b, 3, &sub), 0);
	assert_int_equal(cas_buf_left(&sub), 3);
	assert_int_equal(cas_buf_get_u8(&sub), 3);
	assert_int_equal(cas_buf_skip(&sub, 2), 0);
	assert_int_equal(cas_buf_skip(&sub, 1), -1);
	assert_int_equal(cas_buf_error(&sub), 1);
	assert_int_equal(cas_buf_error(&b), 0);	/* the parent is unaffected */
	assert_ptr_equal(cas_buf_get_ptr(&b, 1), data + 5);
	assert_null(cas_buf_get_ptr(&b, 1));
	assert_int_equal(cas_buf_get_bytes(&b, out, 4), -1);
	static const uint8_t zero[4];
	assert_memory_equal(out, zero, 4);
}

static void huge_length_does_not_wrap(void **state)
{
	(void)state;
	const uint8_t data[8] = { 0 };
	struct cas_buf b;
	cas_buf_init(&b, data, sizeof data);
	cas_buf_get_u8(&b);
	assert_null(cas_buf_get_ptr(&b, SIZE_MAX));
	assert_int_equal(cas_buf_error(&b), 1);
	struct cas_buf sub;
	cas_buf_init(&b, data, sizeof data);
	assert_int_equal(cas_buf_get_sub(&b, SIZE_MAX - 1, &sub), -1);
	assert_int_equal(cas_buf_left(&sub), 0);
	uint8_t v;
	cas_buf_init(&b, data, sizeof data);
	assert_int_equal(cas_buf_peek_u8(&b, 7, &v), 0);
	assert_int_equal(cas_buf_peek_u8(&b, 8, &v), -1);
	assert_int_equal(cas_buf_peek_u8(&b, SIZE_MAX, &v), -1);
}

static void writer_and_overflow(void **state)
{
	(void)state;
	uint8_t out[12];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, sizeof out);
	cas_wbuf_put_u8(&w, 0x02);
	size_t at = cas_wbuf_reserve(&w, 2);
	cas_wbuf_put_u24(&w, 0x0A0B0C);
	cas_wbuf_put_u32(&w, 0xDEADBEEF);
	cas_wbuf_set_u16(&w, at, (uint16_t)(w.len - 3));
	const uint8_t want[] = { 0x02, 0x00, 0x07, 0x0A, 0x0B, 0x0C, 0xDE, 0xAD, 0xBE, 0xEF };
	assert_int_equal(w.len, sizeof want);
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(cas_wbuf_error(&w), 0);
	cas_wbuf_fill(&w, 0xFF, 2);
	assert_int_equal(cas_wbuf_error(&w), 0);
	cas_wbuf_put_u8(&w, 1);		/* 13th byte: overflow */
	assert_int_equal(cas_wbuf_error(&w), 1);
	assert_int_equal(w.len, 12);
	cas_wbuf_put_bytes(&w, "x", 0);
	assert_int_equal(cas_wbuf_error(&w), 1);
	cas_wbuf_set_u16(&w, 11, 1);	/* would write past len */
	assert_int_equal(out[11], 0xFF);
}

static void hex_strict(void **state)
{
	(void)state;
	uint8_t out[4];
	char text[9];
	assert_int_equal(cas_hex_decode("00fFa5C3", 8, out, 4), 0);
	const uint8_t want[] = { 0x00, 0xFF, 0xA5, 0xC3 };
	assert_memory_equal(out, want, 4);
	cas_hex_encode(out, 4, text);
	assert_string_equal(text, "00FFA5C3");
	cas_hex_encode_lower(out, 4, text);
	assert_string_equal(text, "00ffa5c3");
	assert_int_equal(cas_hex_decode("00fFa5C", 7, out, 4), -1);
	assert_int_equal(cas_hex_decode("00fFa5C3", 8, out, 3), -1);
	assert_int_equal(cas_hex_decode("0x112233", 8, out, 4), -1);
	assert_int_equal(cas_hex_decode("1122 334", 8, out, 4), -1);
	assert_int_equal(cas_hex_decode("112233g4", 8, out, 4), -1);
	/* every pair of bytes: accepted exactly when both are hex digits
	 * (strtol as the independent judge), with their value */
	for (int hi = 0; hi < 256; hi++) {
		for (int lo = 0; lo < 256; lo++) {
			char pair[3] = { (char)hi, (char)lo, '\0' };
			char *end = NULL;
			int both = isxdigit(hi) && isxdigit(lo);
			long v = both ? strtol(pair, &end, 16) : -1;
			uint8_t b = 0;
			int rc = cas_hex_decode(pair, 2, &b, 1);
			if (rc != (both ? 0 : -1) || (both && b != (uint8_t)v))
				fail_msg("hex %02X %02X: rc %d, byte %02X", hi, lo, rc, b);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_big_endian),
		cmocka_unit_test(short_read_is_sticky_and_zero),
		cmocka_unit_test(bytes_ptr_sub_skip),
		cmocka_unit_test(huge_length_does_not_wrap),
		cmocka_unit_test(writer_and_overflow),
		cmocka_unit_test(hex_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
