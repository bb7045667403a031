/*
 * status.c: what an operator on duty needs at a glance.
 *
 * Never prints secrets: only what the store holds, and the store holds
 * no credentials.  Alert text (headline) is printed with control characters
 * and bidi overrides replaced (base_esc_term), so a hostile headline cannot
 * drive the operator's terminal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "jsonw.h"
#include "status.h"

static const char *sev_names[] = { "Unknown", "Minor", "Moderate", "Severe",
	"Extreme" };

static const char *
status_sev(int s)
{
	return s >= 0 && s < 5 ? sev_names[s] : "Unknown";
}

void
status_safe(FILE *out, const char *s, size_t max)
{
	/* every byte is at most itself or one '?', then "..." */
	struct base_buf b = { .limit = max < SIZE_MAX - 8 ? max + 8 :
	    SIZE_MAX };

	base_esc_term(&b, s, max);
	if (b.p != NULL)
		fputs(b.p, out);
	free(b.p);
}

static const char *const status_states[] = { "active", "held", "acked",
	"unreached", "cancelled", "updated", "told", "checking", NULL };

bool
status_state_ok(const char *s)
{
	for (size_t i = 0; status_states[i] != NULL; i++)
		if (strcmp(s, status_states[i]) == 0)
			return true;
	return false;
}

/* A team's state as shown: an active team whose first step is held for
   quiet hours (step -1) is "held". */
static const char *
status_team_state(const struct store_team_row *t)
{
	return t->step < 0 && strcmp(t->state, "active") == 0 ? "held" :
	    t->state;
}

static bool
status_shown(const struct store_team_row *t, const struct status_filter *f)
{
	if (f == NULL)
		return true;
	/* a team told something that asks nothing owes no ack, nor does a
	   team whose contacts are being checked */
	if (f->unacked && (strcmp(t->state, "acked") == 0 ||
	    strcmp(t->state, "told") == 0 ||
	    strcmp(t->state, "checking") == 0))
		return false;
	return f->state == NULL || strcmp(status_team_state(t), f->state) == 0;
}

/* The teams of an alert cancelled or updated: those in no other count. */
static int
status_ended(const struct store_alert_row *a)
{
	return a->nteams - a->nacked - a->nactive - a->nheld - a->nunreached -
	    a->ntold - a->nchecking;
}

/* The teams of an alert by state, as JSON members of an object. */
static void
status_json_states(FILE *out, const struct store_alert_row *a)
{
	fprintf(out, ",\"team_states\":{\"acked\":%d,\"active\":%d,"
	    "\"held\":%d,\"unreached\":%d,\"told\":%d,\"checking\":%d,"
	    "\"other\":%d}", a->nacked, a->nactive, a->nheld, a->nunreached,
	    a->ntold, a->nchecking, status_ended(a));
}

/*
 * The members that head an alert's object in JSON, for the list of alerts
 * (full false) and for one alert (full: with sent, scope and headline
 * too), in one order so that both read alike.
 */
static void
status_json_head(FILE *out, const struct store_alert_row *a, bool full)
{
	const struct jsonw_member m[] = {
		{ "id", a->id },
		{ "identifier", a->identifier },
		{ "sender", a->sender },
		{ full ? "sent" : NULL, a->sent },
		{ "status", a->status },
		{ "msg_type", a->msg_type },
		{ full ? "scope" : NULL, a->scope },
		{ "severity", status_sev(a->severity) },
		{ full ? "headline" : NULL, a->headline },
	};

	jsonw_members(out, m, sizeof(m) / sizeof(m[0]));
	fputc(',', out);
	jsonw_key(out, "received");
	jsonw_time(out, a->received);
}

/* Which serve node holds what: the deliveries being sent, by owner
   (tocsin/HOST/PID/WORKER) and channel, and the turns at the jobs one
   node does at a time.  Nothing when nothing is held. */
static void
status_holders(FILE *out, const struct store_holder_row *h, size_t n,
    bool json)
{
	char tb[32];

	if (json) {
		fputs(",\"holders\":[", out);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ",{" : "{", out);
			jsonw_key(out, h[i].turn ? "turn" : "channel");
			jsonw_str(out, h[i].channel);
			fputc(',', out);
			jsonw_key(out, "owner");
			jsonw_str(out, h[i].owner);
			fprintf(out, ",\"deliveries\":%lld,", (long long)h[i].n);
			jsonw_key(out, "until");
			jsonw_time(out, h[i].until);
			fputc('}', out);
		}
		fputc(']', out);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fputs(i == 0 ? "\nheld by serve nodes:\n  " : "  ", out);
		status_safe(out, h[i].owner, 100);
		if (h[i].turn) {
			fputs(" has the turn at ", out);
			status_safe(out, h[i].channel, 40);
		} else {
			fprintf(out, " sends %lld ", (long long)h[i].n);
			status_safe(out, h[i].channel, 40);
			fputs(h[i].n == 1 ? " delivery" : " deliveries", out);
		}
		fprintf(out, ", until %s\n", jsonw_fmt_time(h[i].until, tb,
		    sizeof(tb)));
	}
}

/* The overview's lines after the alerts: open requests, stale
   contacts. */
static void
status_more_text(FILE *out, const struct status_more *m)
{
	if (m == NULL)
		return;
	if (m->requests_open > 0)
		fprintf(out, "\n%ld open request%s for help from teams: "
		    "'tocsin requests' lists them\n", m->requests_open,
		    m->requests_open == 1 ? "" : "s");
	if (m->stale_endpoints > 0)
		fprintf(out, "\n%ld of %ld contacts are stale, and %ld "
		    "endpoints (not confirmed within %ld days): 'tocsin "
		    "verify-contacts --stale' lists them\n", m->stale_contacts,
		    m->contacts, m->stale_endpoints, m->stale_days);
}

/* The same as members of the overview's JSON object. */
static void
status_more_json(FILE *out, const struct status_more *m)
{
	if (m == NULL)
		return;
	if (m->requests_open >= 0)
		fprintf(out, ",\"requests_open\":%ld", m->requests_open);
	if (m->stale_endpoints >= 0)
		fprintf(out, ",\"stale\":{\"contacts\":%ld,\"of\":%ld,"
		    "\"endpoints\":%ld,\"days\":%ld}", m->stale_contacts,
		    m->contacts, m->stale_endpoints, m->stale_days);
}

/* Whether an alert is open: an Alert or an Update (not a Cancel, an Ack
   or an Error) with a team whose ladder runs, active or held. */
static bool
status_open(const struct store_alert_row *a)
{
	return store_alert_asks(a) && a->nactive + a->nheld > 0;
}

int
status_alerts(struct store *st, const struct status_more *more, FILE *out,
    bool json, bool open, struct tocsin_err *err)
{
	struct store_holder_row *h = NULL;
	size_t nh = 0, shown = 0;
	struct store_alert_row *rows = NULL;
	size_t n = 0;
	char tb[32];
	int rc;

	if ((rc = store_alerts(st, &rows, &n, err)) != 0)
		return rc;
	if ((rc = store_holders(st, &h, &nh, err)) != 0) {
		store_alert_rows_free(rows, n);
		return rc;
	}
	/* with --open, the open alerts are moved to the front, in their
	   order: the first shown of the n are listed */
	for (size_t i = 0; i < n; i++)
		if (!open || status_open(&rows[i])) {
			struct store_alert_row r = rows[shown];

			rows[shown++] = rows[i];
			rows[i] = r;
		}
	if (json) {
		fputs("{\"alerts\":[", out);
		for (size_t i = 0; i < shown; i++) {
			struct store_alert_row *a = &rows[i];

			fputs(i ? ",{" : "{", out);
			status_json_head(out, a, false);
			fprintf(out, ",\"teams\":%d", a->nteams);
			status_json_states(out, a);
			fputc('}', out);
		}
		fputc(']', out);
		status_holders(out, h, nh, true);
		status_more_json(out, more);
		fputs("}\n", out);
	} else if (shown == 0) {
		if (open && n > 0)
			fprintf(out, "no open alerts (%zu closed: status without "
			    "--open lists them)\n", n);
		else
			fputs(open ? "no open alerts\n" : "no alerts\n", out);
		status_holders(out, h, nh, false);
		status_more_text(out, more);
	} else {
		fprintf(out, "%-22s %-20s %-8s %-8s %5s %5s %6s %5s %5s  %s\n",
		    "ALERT", "RECEIVED", "SEVERITY", "STATUS", "TEAMS", "ACKED",
		    "ACTIVE", "HELD", "UNREA", "HEADLINE");
		for (size_t i = 0; i < shown; i++) {
			fprintf(out, "%-22s %-20s %-8s %-8s %5d %5d %6d %5d "
			    "%5d  ", rows[i].id, jsonw_fmt_time(
			    rows[i].received, tb, sizeof(tb)),
			    status_sev(rows[i].severity), rows[i].status,
			    rows[i].nteams, rows[i].nacked, rows[i].nactive,
			    rows[i].nheld, rows[i].nunreached);
			status_safe(out, rows[i].headline, 60);
			fputc('\n', out);
		}
		if (open && shown < n)
			fprintf(out, "%zu open of %zu alerts; status without "
			    "--open lists them all\n", shown, n);
		status_holders(out, h, nh, false);
		status_more_text(out, more);
	}
	store_holder_rows_free(h, nh);
	store_alert_rows_free(rows, n);
	return 0;
}

static void
status_json_delivery(FILE *out, const struct store_delivery_row *d, bool first)
{
	const struct jsonw_member where[] = {
		{ "channel", d->channel },
		{ "contact", d->contact },
		{ "address", d->address },
		{ "state", store_dstate_name(d->state) },
	}, outcome[] = {
		{ "provider_ref", d->provider_ref },
		{ "last_error", d->last_error },
	};

	fputs(first ? "{" : ",{", out);
	fprintf(out, "\"id\":%lld,\"step\":%d,", (long long)d->id, d->step);
	jsonw_members(out, where, sizeof(where) / sizeof(where[0]));
	fprintf(out, ",\"attempts\":%d,", d->attempts);
	jsonw_key(out, "next_attempt"); jsonw_time(out, d->next_attempt);
	fputc(',', out);
	jsonw_members(out, outcome, sizeof(outcome) / sizeof(outcome[0]));
	fputc('}', out);
}

/* Why a team is at its step, in words; NULL when its time ran out (or it
   is at step 0). */
static const char *
status_why(const struct store_team_row *t, char *buf, size_t len)
{
	if (t->why == NULL)
		return NULL;
	if (strcmp(t->why, "failed") == 0) {
		/* an unreached team stays at the step that failed */
		int step = strcmp(t->state, "unreached") == 0 ? t->step :
		    t->step - 1;

		if (step < 0)
			return NULL;
		(void)snprintf(buf, len, "step %d failed on every channel",
		    step);
		return buf;
	}
	if (strcmp(t->why, "operator") == 0)
		return "moved on by an operator";
	return NULL;
}

static void
status_json(FILE *out, const struct store_alert_row *a,
    const struct store_team_row *t, size_t nt,
    const struct store_delivery_row *d, size_t nd,
    const struct status_filter *f)
{
	size_t j = 0;
	bool any = false;

	fputc('{', out);
	status_json_head(out, a, true);
	status_json_states(out, a);
	fputs(",\"teams\":[", out);
	for (size_t i = 0; i < nt; i++) {
		bool first = true;

		if (!status_shown(&t[i], f))
			continue;
		fputs(any ? ",{" : "{", out);
		any = true;
		jsonw_key(out, "team"); jsonw_str(out, t[i].team);
		fprintf(out, ",\"step\":%d,", t[i].step);
		jsonw_key(out, "state"); jsonw_str(out, t[i].state);
		fputc(',', out); jsonw_key(out, "deadline");
		jsonw_time(out, t[i].deadline);
		{
			char wb[64];
			const char *why = status_why(&t[i], wb, sizeof(wb));

			fputc(',', out); jsonw_key(out, "why");
			if (why != NULL)
				jsonw_str(out, why);
			else
				fputs("null", out);
		}
		fputs(",\"counts\":{", out);
		for (int s = 0; s < STORE_D_COUNT; s++)
			fprintf(out, "%s\"%s\":%d", s ? "," : "",
			    store_dstate_name((enum store_dstate)s),
			    t[i].counts[s]);
		fputs("},\"ack\":", out);
		if (t[i].ack_by == NULL) {
			fputs("null", out);
		} else {
			const struct jsonw_member m[] = {
				{ "by", t[i].ack_by },
				{ "via", t[i].ack_via },
				{ "strength", t[i].ack_strength },
			};

			fputc('{', out);
			jsonw_members(out, m, sizeof(m) / sizeof(m[0]));
			fputc(',', out); jsonw_key(out, "at");
			jsonw_time(out, t[i].ack_at);
			fputc('}', out);
		}
		fputs(",\"deliveries\":[", out);
		/* deliveries come ordered by team, as teams do */
		while (j < nd && strcmp(d[j].team, t[i].team) < 0)
			j++;
		for (; j < nd && strcmp(d[j].team, t[i].team) == 0; j++) {
			status_json_delivery(out, &d[j], first);
			first = false;
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
}

static void
status_text(FILE *out, const struct store_alert_row *a,
    const struct store_team_row *t, size_t nt,
    const struct store_delivery_row *d, size_t nd,
    const struct status_filter *f)
{
	char tb[32];
	size_t j = 0, shown = 0, total[STORE_D_COUNT] = { 0 };

	fprintf(out, "alert %s  %s %s %s, received %s\n", a->id, a->status,
	    a->msg_type, status_sev(a->severity),
	    jsonw_fmt_time(a->received, tb, sizeof(tb)));
	fprintf(out, "  identifier %s from %s, sent %s\n  headline: ",
	    a->identifier, a->sender, a->sent);
	status_safe(out, a->headline, 200);
	fprintf(out, "\n\n%-10s %4s %-10s %-20s %7s %7s %5s %6s %4s  %s\n",
	    "TEAM", "STEP", "STATE", "NEXT-DEADLINE", "PENDING", "SENDING",
	    "SENT", "FAILED", "DEAD", "DELIVERIES / ACK");
	for (size_t i = 0; i < nt; i++) {
		const struct store_team_row *r = &t[i];

		for (int s = 0; s < STORE_D_COUNT; s++)
			total[s] += (size_t)r->counts[s];
		if (!status_shown(r, f))
			continue;
		shown++;
		/* step -1: held for quiet hours until the deadline */
		fprintf(out, "%-10s %4d %-10s %-20s %7d %7d %5d %6d %4d  ",
		    r->team, r->step, status_team_state(r),
		    jsonw_fmt_time(r->deadline, tb, sizeof(tb)),
		    r->counts[STORE_D_PENDING], r->counts[STORE_D_SENDING],
		    r->counts[STORE_D_SENT], r->counts[STORE_D_FAILED],
		    r->counts[STORE_D_DEAD]);
		while (j < nd && strcmp(d[j].team, r->team) < 0)
			j++;
		for (bool first = true; j < nd && strcmp(d[j].team, r->team) == 0;
		    j++, first = false) {
			fprintf(out, "%s%s ", first ? "" : ", ", d[j].channel);
			status_safe(out, d[j].address, 64);
		}
		{
			char wb[64];
			const char *why = status_why(r, wb, sizeof(wb));

			if (why != NULL)
				fprintf(out, "  (%s)", why);
		}
		if (r->ack_by != NULL) {
			fputs("  acked by ", out);
			status_safe(out, r->ack_by, 64);
			fprintf(out, " via %s (%s)", r->ack_via ? r->ack_via : "?",
			    r->ack_strength ? r->ack_strength : "?");
		}
		fputc('\n', out);
	}
	if (shown < nt)
		fprintf(out, "(%zu of %zu teams shown)\n", shown, nt);
	fprintf(out, "\nteams: %d acked, %d active, %d held, %d unreached, "
	    "%d cancelled or updated", a->nacked, a->nactive, a->nheld,
	    a->nunreached, status_ended(a));
	if (a->ntold > 0)
		fprintf(out, ", %d told (nothing asked)", a->ntold);
	if (a->nchecking > 0)
		fprintf(out, ", %d checking (contacts asked to confirm)",
		    a->nchecking);
	fputc('\n', out);
	fprintf(out, "%zu teams; deliveries: %zu pending, %zu sending, %zu "
	    "sent, %zu failed, %zu dead, %zu cancelled", nt,
	    total[STORE_D_PENDING], total[STORE_D_SENDING], total[STORE_D_SENT],
	    total[STORE_D_FAILED], total[STORE_D_DEAD], total[STORE_D_CANCELLED]);
	if (total[STORE_D_DELIVERED] + total[STORE_D_UNDELIVERED] > 0)
		fprintf(out, "; receipts: %zu delivered, %zu undelivered",
		    total[STORE_D_DELIVERED], total[STORE_D_UNDELIVERED]);
	fputc('\n', out);
}

int
status_alert(struct store *st, const char *alert_id,
    const struct status_filter *filter, FILE *out, bool json,
    struct tocsin_err *err)
{
	struct store_alert_row *a = NULL;
	struct store_team_row *t = NULL;
	struct store_delivery_row *d = NULL;
	size_t nt = 0, nd = 0;
	int rc;

	if ((rc = store_alert_get(st, alert_id, &a, err)) != 0)
		return rc;
	if ((rc = store_teams(st, alert_id, &t, &nt, err)) == 0 &&
	    (rc = store_deliveries(st, alert_id, NULL, &d, &nd, err)) == 0) {
		if (json)
			status_json(out, a, t, nt, d, nd, filter);
		else
			status_text(out, a, t, nt, d, nd, filter);
	}
	store_delivery_rows_free(d, nd);
	store_team_rows_free(t, nt);
	store_alert_rows_free(a, 1);
	return rc;
}
