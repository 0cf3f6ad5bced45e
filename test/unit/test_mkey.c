/* Master key file and card-key wrapping (libcas/mkey.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "mkey.h"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/test_mkey.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/sub/dir/master.key", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static const uint8_t card_key[16] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF,
};

/* A missing file is created 0600 with 32 bytes (folders too); loading it
 * again gives the same key: what one wraps, the other unwraps. */
static void test_create_then_load(void **state)
{
	struct fx *f = *state;
	struct cas_mkey a, b;
	struct stat st;
	uint8_t blob[CAS_MKEY_WRAPPED_SIZE], out[16];

	assert_int_equal(cas_mkey_load(&a, f->path, 0), -1);	/* no create flag */
	char want[300];
	snprintf(want, sizeof want, "master key %s: No such file or directory", f->path);
	assert_string_equal(a.err, want);

	umask(022);
	assert_int_equal(cas_mkey_load(&a, f->path, CAS_MKEY_CREATE), 1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(cas_mkey_load(&b, f->path, CAS_MKEY_CREATE), 0);	/* read, not made again */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 32);

	assert_int_equal(cas_mkey_wrap(&a, 2100000001, card_key, blob), 0);
	assert_int_equal(cas_mkey_unwrap(&b, 2100000001, blob, sizeof blob, out), 0);
	assert_memory_equal(out, card_key, 16);
	/* no temporary file left behind */
	char tmp[200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", f->path, (long)getpid());
	assert_int_equal(access(tmp, F_OK), -1);
	cas_mkey_clear(&a);
	cas_mkey_clear(&b);
}

static void test_refuse_group_readable(void **state)
{
	struct fx *f = *state;
	struct cas_mkey mk;
	uint8_t key[32] = { 1 };
	char want[400];
	snprintf(f->path, sizeof f->path, "%s/open.key", f->dir);
	write_file(f->path, key, sizeof key, 0644);
	assert_int_equal(cas_mkey_load(&mk, f->path, CAS_MKEY_CREATE), -1);
	snprintf(want, sizeof want,
		 "master key %s: mode 0644 gives access to group or others (chmod 600 %s)",
		 f->path, f->path);
	assert_string_equal(mk.err, want);
	assert_int_equal(mk.loaded, 0);

	chmod(f->path, 0640);
	assert_int_equal(cas_mkey_load(&mk, f->path, 0), -1);
	chmod(f->path, 0600);
	assert_int_equal(cas_mkey_load(&mk, f->path, 0), 0);
	cas_mkey_clear(&mk);
}

static void test_refuse_wrong_size(void **state)
{
	struct fx *f = *state;
	struct cas_mkey mk;
	uint8_t key[33] = { 0 };
	char want[300];
	snprintf(f->path, sizeof f->path, "%s/short.key", f->dir);
	write_file(f->path, key, 31, 0600);
	assert_int_equal(cas_mkey_load(&mk, f->path, CAS_MKEY_CREATE), -1);
	snprintf(want, sizeof want, "master key %s: 31 bytes, expected 32", f->path);
	assert_string_equal(mk.err, want);

	write_file(f->path, key, 33, 0600);
	assert_int_equal(cas_mkey_load(&mk, f->path, 0), -1);
	snprintf(want, sizeof want, "master key %s: 33 bytes, expected 32", f->path);
	assert_string_equal(mk.err, want);

	write_file(f->path, key, 0, 0600);
	assert_int_equal(cas_mkey_load(&mk, f->path, CAS_MKEY_CREATE), -1);
	snprintf(want, sizeof want, "master key %s: 0 bytes, expected 32", f->path);
	assert_string_equal(mk.err, want);

	/* a folder is not a key */
	assert_int_equal(cas_mkey_load(&mk, f->dir, 0), -1);
	snprintf(want, sizeof want, "master key %s: not a regular file", f->dir);
	assert_string_equal(mk.err, want);
}

static void test_refuse_symlink(void **state)
{
	struct fx *f = *state;
	struct cas_mkey mk;
	uint8_t key[32] = { 7 };
	char target[200], want[300];
	snprintf(target, sizeof target, "%s/real.key", f->dir);
	write_file(target, key, sizeof key, 0600);
	snprintf(f->path, sizeof f->path, "%s/link.key", f->dir);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_equal(cas_mkey_load(&mk, f->path, 0), -1);
	snprintf(want, sizeof want, "master key %s: is a symbolic link; give the real path", f->path);
	assert_string_equal(mk.err, want);
}

/* A blob made by an independent implementation (test/vectors/mkey_wrap.py:
 * hashlib BLAKE2b + pycryptodome XChaCha20-Poly1305) unwraps, and the check
 * value matches: the format in mkey.h is what the code does. */
static void test_python_vector(void **state)
{
	(void)state;
	static const char blob_hex[] =
		"01404142434445464748494A4B4C4D4E4F505152535455565795EEBB3CCD93BBA5F05C1AEF"
		"429750256DBBF1FDD8D0B9D930CCED650ABC3F4F";
	uint8_t master[32], blob[CAS_MKEY_WRAPPED_SIZE], out[16], check[16], want_check[16];
	struct cas_mkey mk;
	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)i;
	assert_int_equal(cas_hex_decode(blob_hex, strlen(blob_hex), blob, sizeof blob), 0);
	assert_int_equal(cas_hex_decode("333100A53ECEC4BA0750A38C55263B68", 32, want_check, 16), 0);
	assert_int_equal(cas_mkey_from_bytes(&mk, master), 0);
	assert_int_equal(cas_mkey_unwrap(&mk, 2100000000, blob, sizeof blob, out), 0);
	assert_memory_equal(out, card_key, 16);
	cas_mkey_check_value(&mk, check);
	assert_memory_equal(check, want_check, 16);
	/* wrapping with the vector's nonce (0x40..0x57) gives its bytes */
	uint8_t nonce[CAS_MKEY_NONCE_SIZE], again[CAS_MKEY_WRAPPED_SIZE];
	for (int i = 0; i < CAS_MKEY_NONCE_SIZE; i++)
		nonce[i] = (uint8_t)(0x40 + i);
	assert_int_equal(cas_mkey_wrap_nonce(&mk, 2100000000, card_key, nonce, again), 0);
	assert_memory_equal(again, blob, sizeof blob);
	/* any other serial fails: the serial is associated data */
	assert_int_equal(cas_mkey_unwrap(&mk, 2100000001, blob, sizeof blob, out), -1);
	uint8_t zero[16] = { 0 };
	assert_memory_equal(out, zero, 16);	/* nothing half-decrypted left */
	cas_mkey_clear(&mk);
}

static void test_wrap_properties(void **state)
{
	(void)state;
	uint8_t m1[32], m2[32];
	uint8_t b1[CAS_MKEY_WRAPPED_SIZE], b2[CAS_MKEY_WRAPPED_SIZE], out[16];
	struct cas_mkey k1, k2;
	memset(m1, 0x11, sizeof m1);
	memset(m2, 0x11, sizeof m2);
	m2[31] ^= 1;
	assert_int_equal(cas_mkey_from_bytes(&k1, m1), 0);
	assert_int_equal(cas_mkey_from_bytes(&k2, m2), 0);

	assert_int_equal(cas_mkey_wrap(&k1, 2100000005, card_key, b1), 0);
	assert_int_equal(cas_mkey_wrap(&k1, 2100000005, card_key, b2), 0);
	assert_int_equal(b1[0], 1);
	/* random nonce: two wraps of one key differ */
	assert_memory_not_equal(b1, b2, sizeof b1);
	/* the key does not appear in the blob */
	for (size_t i = 0; i + 16 <= sizeof b1; i++)
		assert_memory_not_equal(b1 + i, card_key, 16);

	assert_int_equal(cas_mkey_unwrap(&k1, 2100000005, b1, sizeof b1, out), 0);
	assert_memory_equal(out, card_key, 16);
	assert_int_equal(cas_mkey_unwrap(&k1, 2100000005, b2, sizeof b2, out), 0);
	assert_memory_equal(out, card_key, 16);
	/* wrong master key */
	assert_int_equal(cas_mkey_unwrap(&k2, 2100000005, b1, sizeof b1, out), -1);
	/* moved to another card */
	assert_int_equal(cas_mkey_unwrap(&k1, 2100000006, b1, sizeof b1, out), -1);
	/* any flipped bit */
	for (size_t i = 0; i < sizeof b1; i++) {
		memcpy(b2, b1, sizeof b1);
		b2[i] ^= 0x01;
		assert_int_equal(cas_mkey_unwrap(&k1, 2100000005, b2, sizeof b2, out), -1);
	}
	/* wrong sizes */
	assert_int_equal(cas_mkey_unwrap(&k1, 2100000005, b1, sizeof b1 - 1, out), -1);
	assert_int_equal(cas_mkey_unwrap(&k1, 2100000005, NULL, 0, out), -1);
	/* the check values of two keys differ */
	uint8_t c1[16], c2[16];
	cas_mkey_check_value(&k1, c1);
	cas_mkey_check_value(&k2, c2);
	assert_memory_not_equal(c1, c2, 16);
	/* a cleared key wraps nothing */
	cas_mkey_clear(&k1);
	assert_int_equal(cas_mkey_wrap(&k1, 1, card_key, b1), -1);
	assert_int_equal(cas_mkey_unwrap(&k1, 2100000005, b2, sizeof b2, out), -1);
	cas_mkey_clear(&k2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_then_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_group_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_wrong_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_symlink, setup, teardown),
		cmocka_unit_test(test_python_vector),
		cmocka_unit_test(test_wrap_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
