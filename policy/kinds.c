/*
 * kinds.c: the channel kinds the repository knows, as the channels
 * described themselves (policy.h's struct policy_kind).  policy/ has no
 * list of channels of its own: the table is handed over once at start-up
 * and only read after, by every thread.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_int.h"

static const struct policy_kind *const policy_no_kinds[] = { NULL };
/* Set once before threads start (start-up init), read-only after. */
static const struct policy_kind *const *policy_kind_table = policy_no_kinds;

void
policy_kinds_set(const struct policy_kind *const *kinds)
{
	policy_kind_table = kinds != NULL ? kinds : policy_no_kinds;
}

const struct policy_kind *const *
policy_kinds(void)
{
	return policy_kind_table;
}

const struct policy_kind *
policy_kind_find(const char *name)
{
	for (size_t i = 0; policy_kind_table[i] != NULL; i++)
		if (strcmp(policy_kind_table[i]->name, name) == 0)
			return policy_kind_table[i];
	return NULL;
}

size_t
policy_kind_index(const struct policy_kind *k)
{
	size_t i;

	for (i = 0; policy_kind_table[i] != NULL; i++)
		if (policy_kind_table[i] == k)
			break;
	return i;
}

bool
policy_sends(const struct policy_policy *pol, const struct policy_kind *kind)
{
	for (size_t s = 0; s < pol->nsteps; s++)
		for (size_t k = 0; k < pol->steps[s].ntargets; k++)
			if (pol->steps[s].targets[k].channel == kind)
				return true;
	return false;
}

const char *
policy_kinds_join(char *buf, size_t len, bool (*pick)(
    const struct policy_kind *), const char *last)
{
	size_t n = 0, had = 0, total = 0;

	for (size_t i = 0; policy_kind_table[i] != NULL; i++)
		total += pick == NULL || pick(policy_kind_table[i]);
	buf[0] = '\0';
	for (size_t i = 0; policy_kind_table[i] != NULL && n < len; i++) {
		if (pick != NULL && !pick(policy_kind_table[i]))
			continue;
		had++;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", had == 1 ? "" :
		    had == total ? last : ", ", policy_kind_table[i]->name);
	}
	if (had == 0)
		(void)snprintf(buf, len, "(none built in)");
	return buf;
}
