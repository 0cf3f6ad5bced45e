/* Effective rights of a card (see rights.h). */
#include "rights.h"

#include <stddef.h>

enum cas_rights_state cas_rights_state(int status, int64_t blocked_until, int64_t now)
{
	/* cards.status: 0 disabled, 1 active, 2 expired (db.h). */
	if (status == 2)
		return CAS_RIGHTS_EXPIRED;
	if (status != 1)
		return CAS_RIGHTS_DISABLED;
	if (blocked_until > now)
		return CAS_RIGHTS_BLOCKED;
	return CAS_RIGHTS_ACTIVE;
}

uint32_t cas_rights_effective_ac(int status, int64_t blocked_until, uint32_t ac, int64_t now,
				 enum cas_rights_state *state)
{
	enum cas_rights_state s = cas_rights_state(status, blocked_until, now);
	if (state != NULL)
		*state = s;
	return s == CAS_RIGHTS_ACTIVE ? ac : 0;
}

const char *cas_rights_state_name(enum cas_rights_state state)
{
	switch (state) {
	case CAS_RIGHTS_ACTIVE: return "active";
	case CAS_RIGHTS_DISABLED: return "disabled";
	case CAS_RIGHTS_EXPIRED: return "expired";
	case CAS_RIGHTS_BLOCKED: return "blocked";
	case CAS_RIGHTS_DELETED: return "deleted";
	}
	return "unknown";
}
