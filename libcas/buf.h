#ifndef CAS_BUF_H
#define CAS_BUF_H
/*
 * Bounds-checked reader and writer for wire data.  Every parser in FreeCAS
 * reads through struct cas_buf: a read past the end returns 0 (or fails),
 * sets a sticky error flag and never touches memory outside the buffer, so a
 * parser can read a whole structure and check cas_buf_error() once at the end.
 * All integers are big-endian (network order), as in SimulCrypt, MPEG
 * sections, TVCAS 3 and Conax.
 */
#include <stddef.h>
#include <stdint.h>

struct cas_buf {
	const uint8_t *data;
	size_t len;
	size_t pos;
	int err;		/* sticky: set by any short read */
};

void cas_buf_init(struct cas_buf *b, const void *data, size_t len);
size_t cas_buf_left(const struct cas_buf *b);
int cas_buf_error(const struct cas_buf *b);
uint8_t cas_buf_get_u8(struct cas_buf *b);
uint16_t cas_buf_get_u16(struct cas_buf *b);
uint32_t cas_buf_get_u24(struct cas_buf *b);
uint32_t cas_buf_get_u32(struct cas_buf *b);
/* Copies n bytes to out; on a short buffer copies nothing, zeroes out and
 * returns -1. */
int cas_buf_get_bytes(struct cas_buf *b, void *out, size_t n);
/* Returns a pointer to the next n bytes and advances, or NULL. */
const uint8_t *cas_buf_get_ptr(struct cas_buf *b, size_t n);
/* Splits off the next n bytes as a reader of their own. */
int cas_buf_get_sub(struct cas_buf *b, size_t n, struct cas_buf *sub);
int cas_buf_skip(struct cas_buf *b, size_t n);
/* Peeks without advancing; 0 and error flag untouched if short (returns -1). */
int cas_buf_peek_u8(const struct cas_buf *b, size_t offset, uint8_t *out);

struct cas_wbuf {
	uint8_t *data;
	size_t cap;
	size_t len;
	int err;		/* sticky: set when a write would overflow */
};

void cas_wbuf_init(struct cas_wbuf *w, void *data, size_t cap);
int cas_wbuf_error(const struct cas_wbuf *w);
void cas_wbuf_put_u8(struct cas_wbuf *w, uint8_t v);
void cas_wbuf_put_u16(struct cas_wbuf *w, uint16_t v);
void cas_wbuf_put_u24(struct cas_wbuf *w, uint32_t v);
void cas_wbuf_put_u32(struct cas_wbuf *w, uint32_t v);
void cas_wbuf_put_bytes(struct cas_wbuf *w, const void *p, size_t n);
void cas_wbuf_fill(struct cas_wbuf *w, uint8_t v, size_t n);
/* Reserves n bytes to be written later (e.g. a length field); returns their
 * offset, or (size_t)-1 with the error flag set. */
size_t cas_wbuf_reserve(struct cas_wbuf *w, size_t n);
/* Writes a u16 at an earlier offset (for lengths known only at the end). */
void cas_wbuf_set_u16(struct cas_wbuf *w, size_t offset, uint16_t v);

/* Unaligned big-endian helpers for code that already checked its bounds. */
static inline uint16_t cas_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t cas_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void cas_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void cas_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#endif
