/*
 * channel.c: the registry of channel drivers.
 */
#include <string.h>

#include "channel.h"

static const struct chan_ops *const chan_table[] = {
	&chan_pgp_email,
	NULL
};

const struct chan_ops *
chan_find(const char *name)
{
	for (size_t i = 0; chan_table[i] != NULL; i++)
		if (strcmp(chan_table[i]->name, name) == 0)
			return chan_table[i];
	return NULL;
}

const struct chan_ops *const *
chan_all(void)
{
	return chan_table;
}
