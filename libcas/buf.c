#include "buf.h"

#include <string.h>

void cas_buf_init(struct cas_buf *b, const void *data, size_t len)
{
	b->data = data;
	b->len = data != NULL ? len : 0;
	b->pos = 0;
	b->err = 0;
}

size_t cas_buf_left(const struct cas_buf *b)
{
	return b->len - b->pos;
}

int cas_buf_error(const struct cas_buf *b)
{
	return b->err;
}

/* Returns the next n bytes, or NULL (and the sticky error) if fewer are left. */
static const uint8_t *take(struct cas_buf *b, size_t n)
{
	if (b->err || n > b->len - b->pos) {
		b->err = 1;
		return NULL;
	}
	const uint8_t *p = b->data + b->pos;
	b->pos += n;
	return p;
}

uint8_t cas_buf_get_u8(struct cas_buf *b)
{
	const uint8_t *p = take(b, 1);
	return p != NULL ? p[0] : 0;
}

uint16_t cas_buf_get_u16(struct cas_buf *b)
{
	const uint8_t *p = take(b, 2);
	return p != NULL ? cas_be16(p) : 0;
}

uint32_t cas_buf_get_u24(struct cas_buf *b)
{
	const uint8_t *p = take(b, 3);
	return p != NULL ? ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2] : 0;
}

uint32_t cas_buf_get_u32(struct cas_buf *b)
{
	const uint8_t *p = take(b, 4);
	return p != NULL ? cas_be32(p) : 0;
}

int cas_buf_get_bytes(struct cas_buf *b, void *out, size_t n)
{
	const uint8_t *p = take(b, n);
	if (p == NULL) {
		if (n > 0)
			memset(out, 0, n);
		return -1;
	}
	if (n > 0)
		memcpy(out, p, n);
	return 0;
}

const uint8_t *cas_buf_get_ptr(struct cas_buf *b, size_t n)
{
	return take(b, n);
}

int cas_buf_get_sub(struct cas_buf *b, size_t n, struct cas_buf *sub)
{
	const uint8_t *p = take(b, n);
	if (p == NULL) {
		cas_buf_init(sub, NULL, 0);
		sub->err = 1;
		return -1;
	}
	cas_buf_init(sub, p, n);
	return 0;
}

int cas_buf_skip(struct cas_buf *b, size_t n)
{
	return take(b, n) != NULL ? 0 : -1;
}

int cas_buf_peek_u8(const struct cas_buf *b, size_t offset, uint8_t *out)
{
	if (b->err || offset >= b->len - b->pos)
		return -1;
	*out = b->data[b->pos + offset];
	return 0;
}

void cas_wbuf_init(struct cas_wbuf *w, void *data, size_t cap)
{
	w->data = data;
	w->cap = data != NULL ? cap : 0;
	w->len = 0;
	w->err = 0;
}

int cas_wbuf_error(const struct cas_wbuf *w)
{
	return w->err;
}

/* Returns room for n more bytes, or NULL (and the sticky error). */
static uint8_t *room(struct cas_wbuf *w, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = 1;
		return NULL;
	}
	uint8_t *p = w->data + w->len;
	w->len += n;
	return p;
}

void cas_wbuf_put_u8(struct cas_wbuf *w, uint8_t v)
{
	uint8_t *p = room(w, 1);
	if (p != NULL)
		p[0] = v;
}

void cas_wbuf_put_u16(struct cas_wbuf *w, uint16_t v)
{
	uint8_t *p = room(w, 2);
	if (p != NULL)
		cas_put_be16(p, v);
}

void cas_wbuf_put_u24(struct cas_wbuf *w, uint32_t v)
{
	uint8_t *p = room(w, 3);
	if (p != NULL) {
		p[0] = (uint8_t)(v >> 16);
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)v;
	}
}

void cas_wbuf_put_u32(struct cas_wbuf *w, uint32_t v)
{
	uint8_t *p = room(w, 4);
	if (p != NULL)
		cas_put_be32(p, v);
}

void cas_wbuf_put_bytes(struct cas_wbuf *w, const void *src, size_t n)
{
	uint8_t *p = room(w, n);
	if (p != NULL && n > 0)
		memcpy(p, src, n);
}

void cas_wbuf_fill(struct cas_wbuf *w, uint8_t v, size_t n)
{
	uint8_t *p = room(w, n);
	if (p != NULL && n > 0)
		memset(p, v, n);
}

size_t cas_wbuf_reserve(struct cas_wbuf *w, size_t n)
{
	size_t at = w->len;
	uint8_t *p = room(w, n);
	if (p == NULL)
		return (size_t)-1;
	memset(p, 0, n);
	return at;
}

void cas_wbuf_set_u16(struct cas_wbuf *w, size_t offset, uint16_t v)
{
	if (w->err || offset > w->len || w->len - offset < 2) {
		w->err = 1;
		return;
	}
	cas_put_be16(w->data + offset, v);
}
