/* Randomness from libsodium (getrandom(2) / the kernel CSPRNG). */
#include "rand.h"

#include <sodium.h>
#include <stdatomic.h>

static atomic_int rand_ready;

int cas_rand_init(void)
{
	if (sodium_init() < 0)
		return -1;
	atomic_store(&rand_ready, 1);
	return 0;
}

/* sodium_init() is idempotent and thread-safe; this only saves its lock on
 * every call once a program has called cas_rand_init(). */
static void ensure_init(void)
{
	if (!atomic_load_explicit(&rand_ready, memory_order_relaxed))
		(void)cas_rand_init();
}

void cas_rand_bytes(void *out, size_t n)
{
	ensure_init();
	randombytes_buf(out, n);
}

uint32_t cas_rand_u32(void)
{
	ensure_init();
	return randombytes_random();
}

uint32_t cas_rand_uniform(uint32_t upper)
{
	ensure_init();
	return upper > 0 ? randombytes_uniform(upper) : 0;
}
