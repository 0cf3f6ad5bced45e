#ifndef CAS_RAND_H
#define CAS_RAND_H
/* Cryptographically secure randomness (libsodium randombytes). */
#include <stddef.h>
#include <stdint.h>

/* Initialises libsodium once; returns -1 if it cannot be used. */
int cas_rand_init(void);
void cas_rand_bytes(void *out, size_t n);
uint32_t cas_rand_u32(void);
/* Uniform in [0, upper) without modulo bias; upper > 0. */
uint32_t cas_rand_uniform(uint32_t upper);

#endif
