/*
 * Fuzz target for the host-side Conax answer parsers (conax.h): the input
 * is fed as an INS 26, an INS 82 and an INS C6 answer.  Checked with
 * abort(): counts stay within their arrays, names stay NUL-terminated and
 * within their size, entitlements have at most two dates, and a parse that
 * fails leaves no count beyond its bounds either.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conax.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct cas_conax_card *c)
{
	if (c->n_sa < 0 || c->n_sa > CAS_CONAX_MAX_SA || c->n_pk < 0 || c->n_pk > CAS_CONAX_MAX_PKG)
		abort();
	for (int i = 0; i < c->n_pk; i++) {
		const struct cas_conax_pkg *k = &c->pk[i];
		if (memchr(k->name, '\0', sizeof k->name) == NULL)
			abort();
		if (k->n < 0 || k->n > CAS_CONAX_MAX_ENT)
			abort();
		for (int j = 0; j < k->n; j++)
			if (k->e[j].dates < 0 || k->e[j].dates > 2)
				abort();
	}
	if (c->has_serial && c->serial >> 24 == 0)
		abort();		/* a unique address has a non-zero top byte */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	cas_conax_parse_init(data, size, &c);
	check(&c);
	cas_conax_parse_addr(data, size, &c);
	check(&c);
	cas_conax_parse_subs(data, size, &c);
	check(&c);
	return 0;
}
