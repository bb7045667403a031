/*
 * report.c: the figures of an after-action report, from the store, and
 * its JSON and CSV forms (report_html.c writes the HTML one).
 *
 * Everything is worked out from what the store keeps anyway: deliveries
 * with their times, team states with their acks, and the audit records of
 * escalations.  No report needs data of its own, so a report can be made
 * of any alert at any time, during the alert as well as after it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "channel.h"
#include "jsonw.h"
#include "report.h"
#include "utf8.h"

#define REPORT_REASON_MAX 160		/* bytes of a failure reason kept */

/* ---- small helpers ---- */

static int
report_i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void
report_stats_of(int64_t *v, size_t n, struct report_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), report_i64_cmp);
	out->n = n;
	out->median = v[(n - 1) / 2];
	/* nearest rank: the smallest value with 90 % at or below it */
	out->p90 = v[(n * 9 + 9) / 10 - 1];
	out->max = v[n - 1];
}

static char *
report_dup(const char *s, int *rc)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*rc = TOCSIN_ENOMEM;
	return d;
}

/* A reason for the failure table: one line of printable text, cut. */
static char *
report_reason(const char *s, int *rc)
{
	char buf[REPORT_REASON_MAX + 1];
	size_t n = 0;

	size_t len = s != NULL ? strlen(s) : 0;

	/* whole characters only, a bad byte as '?', controls as spaces */
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t skip = 1, k = utf8_next((const unsigned char *)s + i,
		    len - i, &cp, &skip);

		if (k == 0) {
			if (n + 1 > REPORT_REASON_MAX)
				break;
			buf[n++] = '?';
			i += skip;
			continue;
		}
		if (n + k > REPORT_REASON_MAX)
			break;
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			buf[n++] = ' ';
		else {
			memcpy(buf + n, s + i, k);
			n += k;
		}
		i += k;
	}
	buf[n] = '\0';
	return report_dup(n > 0 ? buf : "(no reason given)", rc);
}

/* "team=ID" and "step=A->B" out of an audit record's details. */
static bool
report_detail(const char *details, const char *key, char *out, size_t len)
{
	const char *p = details;
	size_t klen = strlen(key), n = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			while (p[n] != '\0' && p[n] != ' ' && n + 1 < len) {
				out[n] = p[n];
				n++;
			}
			out[n] = '\0';
			return n > 0;
		}
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	}
	return false;
}

static int
report_team_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct report_team *)elem)->id);
}

/* Teams come from the store ordered by id (byte order, as strcmp), so a
   look-up for each of thousands of deliveries is a binary search. */
static struct report_team *
report_team_of(struct report *r, const char *id)
{
	return r->nteams > 0 ? bsearch(id, r->teams, r->nteams,
	    sizeof(*r->teams), report_team_cmp) : NULL;
}

static int
report_event_add(struct report *r, size_t *cap, int64_t at,
    enum report_event_kind kind, const char *team, const char *channel,
    int step)
{
	struct report_event *e;
	int rc = 0;

	if (base_grow(&r->events, cap, r->nevents + 1, sizeof(*r->events)) != 0)
		return TOCSIN_ENOMEM;
	e = &r->events[r->nevents++];
	memset(e, 0, sizeof(*e));
	e->at = at;
	e->kind = kind;
	e->step = step;
	e->team = report_dup(team, &rc);
	e->channel = report_dup(channel, &rc);
	return rc;
}

static int
report_event_cmp(const void *a, const void *b)
{
	const struct report_event *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->team != NULL ? x->team : "",
	    y->team != NULL ? y->team : "");
}

/* ---- groups: by channel, region, strength ---- */

struct report_acc {
	char *key;
	int64_t *first, *ack;
	size_t nfirst, nack, teams;
};

static struct report_acc *
report_acc_get(struct report_acc **v, size_t *n, const char *key, int *rc)
{
	struct report_acc *a;
	size_t cap = *n;	/* as allocated: the array grows one at a time */

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].key, key) == 0)
			return &(*v)[i];
	if (base_grow(v, &cap, *n + 1, sizeof(**v)) != 0) {
		*rc = TOCSIN_ENOMEM;
		return NULL;
	}
	a = &(*v)[(*n)++];
	memset(a, 0, sizeof(*a));
	a->key = report_dup(key, rc);
	return a;
}

/* Room for every team in each accumulator: at most one value a team. */
static int
report_acc_put(struct report_acc *a, size_t nteams, bool first, int64_t v)
{
	int64_t **arr = first ? &a->first : &a->ack;
	size_t *n = first ? &a->nfirst : &a->nack;

	if (*arr == NULL && (*arr = calloc(nteams + 1, sizeof(**arr))) == NULL)
		return TOCSIN_ENOMEM;
	if (*n <= nteams)
		(*arr)[(*n)++] = v;
	return 0;
}

static int
report_acc_key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_acc *)a)->key,
	    ((const struct report_acc *)b)->key);
}

/* The accumulators as groups, sorted by key; frees the accumulators. */
static int
report_groups(struct report_acc *acc, size_t n, struct report_group **ret,
    size_t *nret)
{
	int rc = 0;

	*ret = NULL;
	*nret = 0;
	if (n > 0)
		qsort(acc, n, sizeof(*acc), report_acc_key_cmp);
	if (n > 0 && (*ret = calloc(n, sizeof(**ret))) == NULL)
		rc = TOCSIN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			struct report_group *g = &(*ret)[(*nret)++];

			g->key = acc[i].key;
			acc[i].key = NULL;
			g->teams = acc[i].teams;
			report_stats_of(acc[i].first, acc[i].nfirst, &g->first);
			report_stats_of(acc[i].ack, acc[i].nack, &g->ack);
		}
		free(acc[i].key);
		free(acc[i].first);
		free(acc[i].ack);
	}
	free(acc);
	return rc;
}

/* A delivery of the alert itself that went out. */
static bool
report_sent(const struct store_delivery_row *d)
{
	return !d->notice && (d->state == STORE_D_SENT ||
	    d->state == STORE_D_DELIVERED || d->state == STORE_D_UNDELIVERED);
}

/* The channel an ack came through, for the by-channel figures. */
static const char *
report_ack_path(const char *via)
{
	const struct chan_ops *ops = chan_of_ack_via(via);

	if (via == NULL)
		return NULL;
	if (ops != NULL)
		return ops->kind.name;
	if (strcmp(via, "link") == 0)
		return "link";
	return strncmp(via, "operator:", 9) == 0 ? "operator" : "other";
}

static int
report_figures(struct report *r, const struct store_delivery_row *d,
    size_t nd)
{
	struct report_acc *ch = NULL, *rg = NULL, *sg = NULL;
	size_t nch = 0, nrg = 0, nsg = 0;
	int64_t *first = calloc(r->nteams + 1, sizeof(*first));
	int64_t *ack = calloc(r->nteams + 1, sizeof(*ack));
	size_t nfirst = 0, nack = 0;
	int rc = 0;

	if (first == NULL || ack == NULL)
		rc = TOCSIN_ENOMEM;
	for (size_t i = 0; i < r->nteams && rc == 0; i++) {
		const struct report_team *t = &r->teams[i];
		struct report_acc *a;

		if (t->first >= 0)
			first[nfirst++] = t->first;
		if (t->ack >= 0)
			ack[nack++] = t->ack;
		if ((a = report_acc_get(&rg, &nrg, t->region, &rc)) != NULL) {
			a->teams++;
			if (t->first >= 0)
				rc = report_acc_put(a, r->nteams, true,
				    t->first);
			if (rc == 0 && t->ack >= 0)
				rc = report_acc_put(a, r->nteams, false, t->ack);
		}
		if (rc == 0 && (a = report_acc_get(&sg, &nsg,
		    t->ack_strength != NULL && t->ack >= 0 ? t->ack_strength :
		    "none", &rc)) != NULL) {
			a->teams++;
			if (t->ack >= 0)
				rc = report_acc_put(a, r->nteams, false, t->ack);
		}
		if (rc == 0 && t->ack >= 0 && (a = report_acc_get(&ch, &nch,
		    report_ack_path(t->ack_via), &rc)) != NULL)
			rc = report_acc_put(a, r->nteams, false, t->ack);
	}
	/* by channel: each team's first delivery on that channel; rows come
	   ordered by team, so one pass over each team's run of rows */
	for (size_t lo = 0, hi; lo < nd && rc == 0; lo = hi) {
		struct { const char *channel; int64_t best; } seen[8];
		size_t ns = 0;

		for (hi = lo; hi < nd && strcmp(d[hi].team, d[lo].team) == 0;
		    hi++) {
			size_t k;

			if (!report_sent(&d[hi]))
				continue;
			for (k = 0; k < ns && strcmp(seen[k].channel,
			    d[hi].channel) != 0; k++)
				;
			if (k == ns && ns < sizeof(seen) / sizeof(seen[0])) {
				seen[ns].channel = d[hi].channel;
				seen[ns++].best = d[hi].updated - r->accepted;
			} else if (k < ns && d[hi].updated - r->accepted <
			    seen[k].best)
				seen[k].best = d[hi].updated - r->accepted;
		}
		if (report_team_of(r, d[lo].team) == NULL)
			continue;
		for (size_t k = 0; k < ns && rc == 0; k++) {
			struct report_acc *a = report_acc_get(&ch, &nch,
			    seen[k].channel, &rc);

			if (a != NULL) {
				a->teams++;
				rc = report_acc_put(a, r->nteams, true,
				    seen[k].best < 0 ? 0 : seen[k].best);
			}
		}
	}
	report_stats_of(first, nfirst, &r->first);
	report_stats_of(ack, nack, &r->ack);
	free(first);
	free(ack);
	if (report_groups(ch, nch, &r->by_channel, &r->nchannel) != 0 ||
	    report_groups(rg, nrg, &r->by_region, &r->nregion) != 0 ||
	    report_groups(sg, nsg, &r->by_strength, &r->nstrength) != 0)
		rc = TOCSIN_ENOMEM;
	return rc;
}

/* ---- failures ---- */

/* The failure a delivery met, for the failure table: its reason (owned
   by the caller) and which of the kinds of report_failure it is; NULL
   when it met none.  A cancelled one carries its last failure after
   "; last: " (store.c keeps it there). */
static char *
report_failure_of(const struct store_delivery_row *d, int *kind, int *rc)
{
	static const char last[] = "; last: ";
	const char *e = d->last_error, *p;

	switch (d->state) {
	case STORE_D_DEAD:
	case STORE_D_UNDELIVERED:
		*kind = 0;
		return report_reason(e, rc);
	case STORE_D_CANCELLED:
		if (e == NULL || (p = strstr(e, last)) == NULL ||
		    p[sizeof(last) - 1] == '\0')
			return NULL;
		*kind = 1;
		return report_reason(p + sizeof(last) - 1, rc);
	case STORE_D_FAILED:
		if (e == NULL)
			return NULL;
		*kind = 2;
		return report_reason(e, rc);
	default:
		return NULL;
	}
}

static int
report_failures(struct report *r, const struct store_delivery_row *d,
    size_t nd)
{
	int rc = 0;

	for (size_t i = 0; i < nd && rc == 0; i++) {
		struct report_failure *f = NULL;
		const struct report_team *t = report_team_of(r, d[i].team);
		const char *region = t != NULL && t->region != NULL ?
		    t->region : "";
		size_t cap, tried;
		int kind = 0;
		char *reason;

		if ((reason = report_failure_of(&d[i], &kind, &rc)) == NULL)
			continue;
		for (size_t k = 0; k < r->nfailures && f == NULL; k++)
			if (strcmp(r->failures[k].reason, reason) == 0 &&
			    strcmp(r->failures[k].channel, d[i].channel) == 0 &&
			    strcmp(r->failures[k].region, region) == 0)
				f = &r->failures[k];
		if (f != NULL) {
			free(reason);
		} else {
			cap = r->nfailures;
			if (base_grow(&r->failures, &cap, r->nfailures + 1,
			    sizeof(*r->failures)) != 0) {
				free(reason);
				return TOCSIN_ENOMEM;
			}
			f = &r->failures[r->nfailures++];
			memset(f, 0, sizeof(*f));
			f->reason = reason;
			f->channel = report_dup(d[i].channel, &rc);
			f->region = report_dup(region, &rc);
		}
		f->count++;
		if (kind == 0)
			f->dead++;
		else if (kind == 1)
			f->cancelled++;
		else
			f->retrying++;
		/* an undelivered one was accepted by its attempt */
		tried = d[i].attempts > 0 ? (size_t)d[i].attempts : 1;
		f->attempts += d[i].state == STORE_D_UNDELIVERED ? 1 : tried;
	}
	/* most frequent first: a few rows, a simple sort */
	for (size_t i = 1; i < r->nfailures; i++)
		for (size_t k = i; k > 0 && r->failures[k].count >
		    r->failures[k - 1].count; k--) {
			struct report_failure t = r->failures[k];

			r->failures[k] = r->failures[k - 1];
			r->failures[k - 1] = t;
		}
	return rc;
}

/* ---- escalations, from the audit log ---- */

static int
report_audit(struct report *r, const struct store_audit_row *a, size_t na,
    size_t *ecap)
{
	int64_t *since = calloc(r->nteams + 1, sizeof(*since));
	int rc = 0;

	if (since == NULL)
		return TOCSIN_ENOMEM;
	for (size_t i = 0; i < na && rc == 0; i++) {
		char team[64], steps[32], desk[64], trig[128], why[16];
		struct report_team *t;
		struct report_escalation *e;
		size_t cap;
		int from = 0, to = 0;
		int64_t at = a[i].ts - r->accepted;

		if (strcmp(a[i].action, "page-desk") == 0) {
			if (report_detail(a[i].details, "desk", desk,
			    sizeof(desk)))
				rc = report_event_add(r, ecap, at,
				    REPORT_EV_DESK, desk, NULL, 0);
			continue;
		}
		if ((strcmp(a[i].action, "escalate") != 0 &&
		    strcmp(a[i].action, "unreached") != 0) ||
		    !report_detail(a[i].details, "team", team, sizeof(team)) ||
		    (t = report_team_of(r, team)) == NULL)
			continue;
		if (strcmp(a[i].action, "unreached") == 0) {
			rc = report_event_add(r, ecap, at, REPORT_EV_UNREACHED,
			    team, NULL, t->step);
			continue;
		}
		if (!report_detail(a[i].details, "step", steps, sizeof(steps)) ||
		    sscanf(steps, "%d->%d", &from, &to) != 2)
			continue;
		cap = r->nescalations;
		if (base_grow(&r->escalations, &cap, r->nescalations + 1,
		    sizeof(*r->escalations)) != 0) {
			rc = TOCSIN_ENOMEM;
			break;
		}
		e = &r->escalations[r->nescalations++];
		memset(e, 0, sizeof(*e));
		e->team = report_dup(team, &rc);
		e->from_step = from;
		e->to_step = to;
		e->at = at;
		if (!report_detail(a[i].details, "why", why, sizeof(why)))
			why[0] = '\0';
		if (from < 0)
			(void)snprintf(trig, sizeof(trig), "business hours "
			    "opened (held for quiet hours)");
		else if (strcmp(why, "failed") == 0)
			(void)snprintf(trig, sizeof(trig), "step %d failed on "
			    "every channel %lld s after it was sent", from,
			    (long long)(at - since[t - r->teams]));
		else if (strcmp(why, "operator") == 0)
			(void)snprintf(trig, sizeof(trig), "moved on by an "
			    "operator %lld s after step %d", (long long)(at -
			    since[t - r->teams]), from);
		else
			(void)snprintf(trig, sizeof(trig), "no ack %lld s after "
			    "step %d", (long long)(at - since[t - r->teams]),
			    from);
		since[t - r->teams] = at;
		e->trigger = report_dup(trig, &rc);
		if (from >= 0)
			t->escalations++;
		if (rc == 0)
			rc = report_event_add(r, ecap, at, REPORT_EV_ESCALATED,
			    team, NULL, to);
	}
	free(since);
	return rc;
}

/* ---- building ---- */

static enum report_outcome
report_outcome_of(const struct report_team *t)
{
	if (strcmp(t->state, "acked") == 0)
		return t->escalations > 0 ? REPORT_ACKED_ESCALATED :
		    REPORT_ACKED;
	if (strcmp(t->state, "unreached") == 0)
		return REPORT_UNREACHED;
	if (strcmp(t->state, "cancelled") == 0 ||
	    strcmp(t->state, "updated") == 0)
		return REPORT_CANCELLED;
	/* a receipt or a relay's notice asks nothing: never pending */
	if (strcmp(t->state, "told") == 0)
		return REPORT_TOLD;
	if (strcmp(t->state, "checking") == 0)
		return REPORT_CHECKING;
	return REPORT_PENDING;
}

static int
report_teams(struct report *r, const struct policy_repo *repo,
    const struct store_team_row *tr, size_t nt,
    const struct store_delivery_row *d, size_t nd, size_t *ecap)
{
	int rc = 0;

	if ((r->teams = calloc(nt + 1, sizeof(*r->teams))) == NULL)
		return TOCSIN_ENOMEM;
	for (size_t i = 0; i < nt && rc == 0; i++) {
		const struct policy_team *pt = repo != NULL ?
		    policy_team_find(repo, tr[i].team) : NULL;
		struct report_team *t = &r->teams[r->nteams++];

		t->id = report_dup(tr[i].team, &rc);
		t->region = report_dup(pt != NULL && pt->region != NULL ?
		    pt->region : "", &rc);
		t->state = report_dup(tr[i].state, &rc);
		t->step = tr[i].step;
		t->first = -1;
		t->ack = -1;
		if (strcmp(tr[i].state, "acked") == 0 && tr[i].ack_at > 0) {
			t->ack = tr[i].ack_at - r->accepted;
			t->ack_by = report_dup(tr[i].ack_by, &rc);
			t->ack_via = report_dup(tr[i].ack_via, &rc);
			t->ack_strength = report_dup(tr[i].ack_strength, &rc);
			if (rc == 0)
				rc = report_event_add(r, ecap, t->ack,
				    REPORT_EV_ACKED, t->id, NULL, t->step);
		}
	}
	for (size_t i = 0; i < nd && rc == 0; i++) {
		struct report_team *t = report_team_of(r, d[i].team);
		bool sent = d[i].state == STORE_D_SENT ||
		    d[i].state == STORE_D_DELIVERED ||
		    d[i].state == STORE_D_UNDELIVERED;
		int64_t at = d[i].updated - r->accepted;

		if (t == NULL || d[i].notice)
			continue;
		if (sent) {
			t->sent++;
			if (t->first < 0 || at < t->first) {
				t->first = at;
				free(t->first_channel);
				t->first_channel = report_dup(d[i].channel, &rc);
			}
			if (rc == 0)
				rc = report_event_add(r, ecap, at, REPORT_EV_SENT,
				    t->id, d[i].channel, d[i].step);
		} else if (d[i].state == STORE_D_DEAD ||
		    (d[i].state == STORE_D_FAILED && d[i].last_error != NULL) ||
		    (d[i].state == STORE_D_CANCELLED && d[i].last_error != NULL
		    && strstr(d[i].last_error, "; last: ") != NULL)) {
			/* given up, still failing, or cut short while failing:
			   the timeline shows each where it last stood */
			if (d[i].state == STORE_D_DEAD)
				t->failed++;
			rc = report_event_add(r, ecap, at, REPORT_EV_FAILED,
			    t->id, d[i].channel, d[i].step);
		}
	}
	return rc;
}

int
report_build(struct store *st, const struct policy_repo *repo,
    const char *alert_id, struct report **ret, struct tocsin_err *err)
{
	struct store_alert_row *a = NULL;
	struct store_team_row *tr = NULL;
	struct store_delivery_row *d = NULL;
	struct store_audit_row *au = NULL;
	struct report *r = NULL;
	size_t nt = 0, nd = 0, na = 0, ecap = 0;
	int rc;

	*ret = NULL;
	if ((rc = store_alert_get(st, alert_id, &a, err)) != 0)
		return rc;
	if ((rc = store_teams(st, alert_id, &tr, &nt, err)) != 0 ||
	    (rc = store_deliveries(st, alert_id, NULL, &d, &nd, err)) != 0 ||
	    (rc = store_audit_rows(st, alert_id, &au, &na, err)) != 0)
		goto out;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = TOCSIN_ENOMEM;
		goto out;
	}
	r->alert_id = report_dup(a->id, &rc);
	r->identifier = report_dup(a->identifier, &rc);
	r->sender = report_dup(a->sender, &rc);
	r->status = report_dup(a->status, &rc);
	r->msg_type = report_dup(a->msg_type, &rc);
	r->headline = report_dup(a->headline, &rc);
	r->severity = a->severity;
	r->accepted = a->received;
	if (rc == 0)
		rc = report_teams(r, repo, tr, nt, d, nd, &ecap);
	if (rc == 0)
		rc = report_audit(r, au, na, &ecap);
	for (size_t i = 0; i < r->nteams && rc == 0; i++) {
		struct report_team *t = &r->teams[i];

		t->outcome = report_outcome_of(t);
		r->nacked += t->outcome == REPORT_ACKED ||
		    t->outcome == REPORT_ACKED_ESCALATED;
		r->nunreached += t->outcome == REPORT_UNREACHED;
		r->npending += t->outcome == REPORT_PENDING;
		r->ntold += t->outcome == REPORT_TOLD;
		r->nchecking += t->outcome == REPORT_CHECKING;
	}
	if (rc == 0)
		rc = report_figures(r, d, nd);
	if (rc == 0)
		rc = report_failures(r, d, nd);
	if (rc == 0 && r->nevents > 1)
		qsort(r->events, r->nevents, sizeof(*r->events),
		    report_event_cmp);
out:
	if (rc == TOCSIN_ENOMEM)
		(void)tocsin_fail(err, rc, "out of memory");
	if (rc != 0) {
		report_free(r);
		r = NULL;
	}
	*ret = r;
	store_alert_rows_free(a, 1);
	store_team_rows_free(tr, nt);
	store_delivery_rows_free(d, nd);
	store_audit_rows_free(au, na);
	return rc;
}

static void
report_groups_free(struct report_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].key);
	free(g);
}

void
report_free(struct report *r)
{
	if (r == NULL)
		return;
	free(r->alert_id);
	free(r->identifier);
	free(r->sender);
	free(r->status);
	free(r->msg_type);
	free(r->headline);
	report_groups_free(r->by_channel, r->nchannel);
	report_groups_free(r->by_region, r->nregion);
	report_groups_free(r->by_strength, r->nstrength);
	for (size_t i = 0; i < r->nteams; i++) {
		struct report_team *t = &r->teams[i];

		free(t->id);
		free(t->region);
		free(t->state);
		free(t->first_channel);
		free(t->ack_by);
		free(t->ack_via);
		free(t->ack_strength);
	}
	free(r->teams);
	for (size_t i = 0; i < r->nescalations; i++) {
		free(r->escalations[i].team);
		free(r->escalations[i].trigger);
	}
	free(r->escalations);
	for (size_t i = 0; i < r->nfailures; i++) {
		free(r->failures[i].reason);
		free(r->failures[i].channel);
		free(r->failures[i].region);
	}
	free(r->failures);
	for (size_t i = 0; i < r->nevents; i++) {
		free(r->events[i].team);
		free(r->events[i].channel);
	}
	free(r->events);
	for (size_t i = 0; i < r->nrequests; i++) {
		free(r->requests[i].id);
		free(r->requests[i].team);
		free(r->requests[i].via);
	}
	free(r->requests);
	free(r);
}

/* ---- JSON ---- */

static const char *const report_outcome_names[] = {
	[REPORT_ACKED] = "acked", [REPORT_ACKED_ESCALATED] = "acked-escalated",
	[REPORT_UNREACHED] = "unreached", [REPORT_PENDING] = "pending",
	[REPORT_CANCELLED] = "cancelled", [REPORT_TOLD] = "told",
	[REPORT_CHECKING] = "checking",
};

static const char *const report_event_names[] = {
	[REPORT_EV_SENT] = "sent", [REPORT_EV_FAILED] = "failed",
	[REPORT_EV_ESCALATED] = "escalated", [REPORT_EV_ACKED] = "acked",
	[REPORT_EV_UNREACHED] = "unreached", [REPORT_EV_DESK] = "desk-paged",
};

static void
report_json_stats(FILE *f, const char *key, const struct report_stats *s)
{
	jsonw_key(f, key);
	if (s->n == 0) {
		fputs("{\"n\":0,\"median\":null,\"p90\":null,\"max\":null}", f);
		return;
	}
	fprintf(f, "{\"n\":%zu,\"median\":%lld,\"p90\":%lld,\"max\":%lld}",
	    s->n, (long long)s->median, (long long)s->p90, (long long)s->max);
}

static void
report_json_groups(FILE *f, const char *key, const struct report_group *g,
    size_t n)
{
	jsonw_key(f, key);
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{" : "{", f);
		jsonw_key(f, "key");
		jsonw_str(f, g[i].key);
		fprintf(f, ",\"teams\":%zu,", g[i].teams);
		report_json_stats(f, "first_delivery", &g[i].first);
		fputc(',', f);
		report_json_stats(f, "ack", &g[i].ack);
		fputc('}', f);
	}
	fputc(']', f);
}

static void
report_json_i64(FILE *f, const char *key, int64_t v)
{
	jsonw_key(f, key);
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%lld", (long long)v);
}

int
report_json(const struct report *r, FILE *f, struct tocsin_err *err)
{
	const struct jsonw_member head[] = {
		{ "alert", r->alert_id },
		{ "identifier", r->identifier },
		{ "sender", r->sender },
		{ "status", r->status },
		{ "msg_type", r->msg_type },
		{ "headline", r->headline },
	};

	fputc('{', f);
	jsonw_members(f, head, sizeof(head) / sizeof(head[0]));
	fprintf(f, ",\"severity\":%d,", r->severity);
	jsonw_key(f, "accepted"); jsonw_time(f, r->accepted);
	fprintf(f, ",\"drill\":%s,\"teams\":%zu,\"acked\":%zu,"
	    "\"unreached\":%zu,\"pending\":%zu,\"told\":%zu,"
	    "\"checking\":%zu,", r->drill ? "true" : "false", r->nteams,
	    r->nacked, r->nunreached, r->npending, r->ntold, r->nchecking);
	report_json_stats(f, "first_delivery", &r->first);
	fputc(',', f);
	report_json_stats(f, "ack", &r->ack);
	fputc(',', f);
	report_json_groups(f, "by_channel", r->by_channel, r->nchannel);
	fputc(',', f);
	report_json_groups(f, "by_region", r->by_region, r->nregion);
	fputc(',', f);
	report_json_groups(f, "by_strength", r->by_strength, r->nstrength);
	fputs(",\"unreached_teams\":[", f);
	for (size_t i = 0, k = 0; i < r->nteams; i++)
		if (r->teams[i].outcome == REPORT_UNREACHED) {
			if (k++ > 0)
				fputc(',', f);
			jsonw_str(f, r->teams[i].id);
		}
	fputs("],\"escalations\":[", f);
	for (size_t i = 0; i < r->nescalations; i++) {
		const struct report_escalation *e = &r->escalations[i];

		fputs(i ? ",{" : "{", f);
		jsonw_key(f, "team"); jsonw_str(f, e->team);
		fprintf(f, ",\"from_step\":%d,\"to_step\":%d,\"at\":%lld,",
		    e->from_step, e->to_step, (long long)e->at);
		jsonw_key(f, "trigger"); jsonw_str(f, e->trigger);
		fputc('}', f);
	}
	fputs("],\"failures\":[", f);
	for (size_t i = 0; i < r->nfailures; i++) {
		const struct report_failure *x = &r->failures[i];

		fputs(i ? ",{" : "{", f);
		jsonw_key(f, "reason"); jsonw_str(f, x->reason);
		fputc(',', f); jsonw_key(f, "channel");
		jsonw_str(f, x->channel);
		fputc(',', f); jsonw_key(f, "region");
		jsonw_str(f, x->region);
		fprintf(f, ",\"count\":%zu,\"dead\":%zu,\"cancelled\":%zu,"
		    "\"retrying\":%zu,\"attempts\":%zu}", x->count, x->dead,
		    x->cancelled, x->retrying, x->attempts);
	}
	fputs("],\"per_team\":[", f);
	for (size_t i = 0; i < r->nteams; i++) {
		const struct report_team *t = &r->teams[i];

		fputs(i ? ",{" : "{", f);
		jsonw_key(f, "team"); jsonw_str(f, t->id);
		fputc(',', f); jsonw_key(f, "region"); jsonw_str(f, t->region);
		fputc(',', f); jsonw_key(f, "state"); jsonw_str(f, t->state);
		fputc(',', f); jsonw_key(f, "outcome");
		jsonw_str(f, report_outcome_names[t->outcome]);
		fprintf(f, ",\"step\":%d,\"escalations\":%d,\"sent\":%zu,"
		    "\"failed\":%zu,", t->step, t->escalations, t->sent,
		    t->failed);
		report_json_i64(f, "first_delivery", t->first);
		fputc(',', f); jsonw_key(f, "first_channel");
		jsonw_str(f, t->first_channel);
		fputc(',', f); report_json_i64(f, "ack", t->ack);
		fputc(',', f); jsonw_key(f, "ack_by"); jsonw_str(f, t->ack_by);
		fputc(',', f); jsonw_key(f, "ack_via"); jsonw_str(f, t->ack_via);
		fputc(',', f); jsonw_key(f, "ack_strength");
		jsonw_str(f, t->ack_strength);
		fputc('}', f);
	}
	if (r->nrequests > 0) {
		fputs("],\"requests\":[", f);
		for (size_t i = 0; i < r->nrequests; i++) {
			const struct report_request *q = &r->requests[i];

			fprintf(f, "%s{\"at\":%lld,", i ? "," : "",
			    (long long)q->at);
			jsonw_key(f, "id"); jsonw_str(f, q->id);
			fputc(',', f); jsonw_key(f, "team"); jsonw_str(f, q->team);
			fputc(',', f); jsonw_key(f, "via"); jsonw_str(f, q->via);
			fputc(',', f); report_json_i64(f, "desk_ack",
			    q->desk_ack);
			fputc('}', f);
		}
	}
	fputs("],\"events\":[", f);
	for (size_t i = 0; i < r->nevents; i++) {
		const struct report_event *e = &r->events[i];

		fprintf(f, "%s{\"at\":%lld,", i ? "," : "", (long long)e->at);
		jsonw_key(f, "event"); jsonw_str(f, report_event_names[e->kind]);
		fputc(',', f); jsonw_key(f, "team"); jsonw_str(f, e->team);
		if (e->channel != NULL) {
			fputc(',', f);
			jsonw_key(f, "channel");
			jsonw_str(f, e->channel);
		}
		fprintf(f, ",\"step\":%d}", e->step);
	}
	fputs("]}\n", f);
	if (ferror(f))
		return tocsin_fail(err, TOCSIN_EIO, "cannot write the report");
	return 0;
}

/* ---- CSV (RFC 4180) ---- */

static void
report_csv_str(FILE *f, const char *s)
{
	if (s == NULL)
		return;
	/* a cell a spreadsheet would run as a formula gets a quote mark */
	fputc('"', f);
	if (strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0')
		fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
	}
	fputc('"', f);
}

static void
report_csv_i64(FILE *f, int64_t v)
{
	if (v >= 0)
		fprintf(f, "%lld", (long long)v);
}

static void
report_csv_stats(FILE *f, const char *section, const char *key,
    const struct report_stats *s)
{
	report_csv_str(f, section);
	fputc(',', f);
	report_csv_str(f, key);
	fprintf(f, ",%zu,", s->n);
	if (s->n > 0)
		fprintf(f, "%lld,%lld,%lld", (long long)s->median,
		    (long long)s->p90, (long long)s->max);
	else
		fputs(",,", f);
	fputs("\r\n", f);
}

int
report_csv(const struct report *r, FILE *f, struct tocsin_err *err)
{
	static const struct {
		const char *name;
		size_t off, count;
	} groups[] = {
		{ "channel", offsetof(struct report, by_channel),
		  offsetof(struct report, nchannel) },
		{ "region", offsetof(struct report, by_region),
		  offsetof(struct report, nregion) },
		{ "strength", offsetof(struct report, by_strength),
		  offsetof(struct report, nstrength) },
	};

	fputs("team,region,outcome,state,step,escalations,sent,failed,"
	    "first_delivery_s,first_channel,ack_s,ack_by,ack_via,ack_strength"
	    "\r\n", f);
	for (size_t i = 0; i < r->nteams; i++) {
		const struct report_team *t = &r->teams[i];

		report_csv_str(f, t->id); fputc(',', f);
		report_csv_str(f, t->region); fputc(',', f);
		report_csv_str(f, report_outcome_names[t->outcome]);
		fputc(',', f);
		report_csv_str(f, t->state);
		fprintf(f, ",%d,%d,%zu,%zu,", t->step, t->escalations, t->sent,
		    t->failed);
		report_csv_i64(f, t->first); fputc(',', f);
		report_csv_str(f, t->first_channel); fputc(',', f);
		report_csv_i64(f, t->ack); fputc(',', f);
		report_csv_str(f, t->ack_by); fputc(',', f);
		report_csv_str(f, t->ack_via); fputc(',', f);
		report_csv_str(f, t->ack_strength);
		fputs("\r\n", f);
	}
	fputs("\r\nsection,key,n,median_s,p90_s,max_s\r\n", f);
	report_csv_stats(f, "overall", "first_delivery", &r->first);
	report_csv_stats(f, "overall", "ack", &r->ack);
	for (size_t k = 0; k < sizeof(groups) / sizeof(groups[0]); k++) {
		const struct report_group *g = *(struct report_group *const *)
		    ((const char *)r + groups[k].off);
		size_t n = *(const size_t *)((const char *)r +
		    groups[k].count);
		char sec[64];

		for (size_t i = 0; i < n; i++) {
			(void)snprintf(sec, sizeof(sec), "%s first_delivery",
			    groups[k].name);
			report_csv_stats(f, sec, g[i].key, &g[i].first);
			(void)snprintf(sec, sizeof(sec), "%s ack",
			    groups[k].name);
			report_csv_stats(f, sec, g[i].key, &g[i].ack);
		}
	}
	if (ferror(f))
		return tocsin_fail(err, TOCSIN_EIO, "cannot write the report");
	return 0;
}

/* ---- to a file ---- */

int
report_write(const struct report *r, const char *format, const char *path,
    struct tocsin_err *err)
{
	int (*fn)(const struct report *, FILE *, struct tocsin_err *);
	char *tmp = NULL;
	FILE *f = stdout;
	struct stat sb;
	int fd, rc;

	if (strcmp(format, "json") == 0)
		fn = report_json;
	else if (strcmp(format, "csv") == 0)
		fn = report_csv;
	else if (strcmp(format, "html") == 0)
		fn = report_html;
	else
		return tocsin_fail(err, TOCSIN_EUSAGE, "no report format '%.40s'; "
		    "use html, json or csv", format);
	if (path != NULL && stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		/* a device or a pipe (/dev/stdout, /dev/null, a FIFO) is
		   written as it is: renaming over it would replace it */
		if ((f = fopen(path, "w")) == NULL)
			return tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s",
			    path, strerror(errno));
		rc = fn(r, f, err);
		if (fclose(f) != 0 && rc == 0)
			rc = tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s",
			    path, strerror(errno));
		return rc;
	}
	if (path != NULL) {
		/* a whole report or none: written aside, then renamed */
		if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, 0640) != 0 ||
		    (f = fdopen(fd, "w")) == NULL) {
			rc = tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s",
			    path, strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(tmp);
			}
			free(tmp);
			return rc;
		}
	}
	rc = fn(r, f, err);
	if (path == NULL)
		return rc == 0 && fflush(f) != 0 ? tocsin_fail(err, TOCSIN_EIO,
		    "cannot write the report") : rc;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = rc != 0 ? rc : tocsin_fail(err, TOCSIN_EIO, "cannot write "
		    "%s: %s", path, strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s", path,
		    strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s", path,
		    strerror(errno));
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}
