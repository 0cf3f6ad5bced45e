#ifndef CAS_MD5_H
#define CAS_MD5_H
/*
 * MD5 (RFC 1321).  Not for security: TVCAS 3 uses it to derive the EMM
 * filler (tvcas3.md §3.2) and the BIN shared address (§5), and FreeCAS must
 * reproduce those bytes exactly.
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_MD5_LEN 16

struct cas_md5 {
	uint32_t h[4];
	uint64_t nbytes;	/* message length so far */
	uint8_t block[64];	/* pending input, nbytes % 64 bytes of it */
};

void cas_md5_init(struct cas_md5 *c);
void cas_md5_update(struct cas_md5 *c, const void *data, size_t n);
/* Writes the digest and wipes the context. */
void cas_md5_final(struct cas_md5 *c, uint8_t digest[CAS_MD5_LEN]);
/* One-shot digest of n bytes. */
void cas_md5(const void *data, size_t n, uint8_t digest[CAS_MD5_LEN]);

#endif
