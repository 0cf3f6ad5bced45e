#ifndef CAS_WIPE_H
#define CAS_WIPE_H
/*
 * Wiping secrets (keys, key schedules, plaintexts) so the compiler cannot
 * drop the stores.  Hosted builds use libsodium's sodium_memzero; the
 * freestanding build of the card code (-DCAS_FREESTANDING: card firmware,
 * test/it/card_freestanding.sh) has no libsodium and uses a volatile loop.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef CAS_FREESTANDING
static inline void cas_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}
#else
#include <sodium.h>
#define cas_wipe(p, n) sodium_memzero((p), (n))
#endif

#endif
