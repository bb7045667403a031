/*
 * ratelog.c: repeated errors logged once per kind per interval (see
 * ratelog.h).
 *
 * The lines are formatted under the lock and written through the caller's
 * callback after it is released, so that a slow log never holds back a
 * worker that has nothing to say.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "ratelog.h"

static int64_t
ratelog_monotonic(void *arg)
{
	(void)arg;
	return base_mono_ms();
}

void
ratelog_init(struct ratelog *rl, int64_t interval_ms, ratelog_clock_fn clock,
    void *clock_arg)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->mu, NULL);
	rl->interval = interval_ms > 0 ? interval_ms : 1;
	rl->clock = clock != NULL ? clock : ratelog_monotonic;
	rl->clock_arg = clock_arg;
}

void
ratelog_fini(struct ratelog *rl)
{
	pthread_mutex_destroy(&rl->mu);
}

/* The slot of kind (made on first use; the last slot is shared when all
   are taken, so a burst of odd kinds is still bounded).  Under the lock. */
static struct ratelog_kind *
ratelog_slot(struct ratelog *rl, const char *kind, int64_t now)
{
	for (size_t i = 0; i < rl->n; i++)
		if (strcmp(rl->k[i].kind, kind) == 0)
			return &rl->k[i];
	if (rl->n == RATELOG_KINDS)
		return &rl->k[RATELOG_KINDS - 1];
	snprintf(rl->k[rl->n].kind, RATELOG_KIND_LEN, "%s", kind);
	/* so that the first line is due at once */
	rl->k[rl->n].since = now - rl->interval;
	return &rl->k[rl->n++];
}

/* " (N more like this in the last S s)" into out, "" when none held. */
static void
ratelog_more(const struct ratelog_kind *k, int64_t now, char *out,
    size_t outlen)
{
	int64_t s = (now - k->since + 999) / 1000;

	out[0] = '\0';
	if (k->held > 0)
		snprintf(out, outlen, "%llu more like this in the last %lld s",
		    (unsigned long long)k->held, (long long)(s < 1 ? 1 : s));
}

bool
ratelog_line(struct ratelog *rl, const char *kind, ratelog_out_fn out,
    void *out_arg, const char *fmt, ...)
{
	char line[RATELOG_LINE_LEN], more[96], whole[RATELOG_LINE_LEN + 100];
	struct ratelog_kind *k;
	int64_t now;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&rl->mu);
	now = rl->clock(rl->clock_arg);
	k = ratelog_slot(rl, kind, now);
	if (now - k->since < rl->interval) {
		k->held++;
		memcpy(k->last, line, sizeof(line));
		pthread_mutex_unlock(&rl->mu);
		return false;
	}
	ratelog_more(k, now, more, sizeof(more));
	k->since = now;
	k->held = 0;
	pthread_mutex_unlock(&rl->mu);
	if (more[0] != '\0')
		snprintf(whole, sizeof(whole), "%s (%s)", line, more);
	else
		snprintf(whole, sizeof(whole), "%s", line);
	if (out != NULL)
		out(out_arg, whole);
	return true;
}

void
ratelog_flush(struct ratelog *rl, ratelog_out_fn out, void *out_arg,
    bool all)
{
	for (size_t i = 0; i < RATELOG_KINDS; i++) {
		char more[96], whole[RATELOG_LINE_LEN + 100];
		struct ratelog_kind *k = &rl->k[i];
		int64_t now;

		pthread_mutex_lock(&rl->mu);
		now = rl->clock(rl->clock_arg);
		if (i >= rl->n || k->held == 0 ||
		    (!all && now - k->since < rl->interval)) {
			pthread_mutex_unlock(&rl->mu);
			continue;
		}
		ratelog_more(k, now, more, sizeof(more));
		snprintf(whole, sizeof(whole), "%s: %s", more, k->last);
		/* the interval starts again: the next line of the kind waits
		   for it, as the burst may go on */
		k->since = now;
		k->held = 0;
		pthread_mutex_unlock(&rl->mu);
		if (out != NULL)
			out(out_arg, whole);
	}
}
