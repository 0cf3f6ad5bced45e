#include "profile.h"

#include <string.h>

#include "tvcas3.h"

/* A new profile: one module, one line here, one choice in the `profile`
 * enum of conf_keys.c. */
static const struct cas_profile *const profiles[] = {
	&cas_tvcas3_profile,
};

const struct cas_profile *cas_profile_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
		if (strcmp(profiles[i]->name, name) == 0)
			return profiles[i];
	return NULL;
}

const struct cas_profile *cas_profile_at(size_t i)
{
	return i < sizeof profiles / sizeof profiles[0] ? profiles[i] : NULL;
}
