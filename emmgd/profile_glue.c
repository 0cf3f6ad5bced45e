/* The profile by name, for main.c. */
#include "emmgd.h"
#include "profile.h"

const struct cas_profile *emmgd_profile(const char *name, size_t *emm_max_len)
{
	const struct cas_profile *p = cas_profile_find(name);
	if (p != NULL && emm_max_len != NULL)
		*emm_max_len = p->emm_max_len;
	return p;
}
