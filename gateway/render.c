/*
 * render.c: the plain-text body and the subject of a message for one team
 * and step, from a verified CAP alert.
 *
 * Layout, top to bottom, the action first: "ACTUAL ALERT" or the banner of
 * anything that is not a real incident (Exercise, Test, System, Draft), the
 * highest severity, the headline and how to acknowledge (link, code, duty
 * desk); then what the message does to earlier alerts (Update, Cancel) and
 * the CAP note; one section per language of the step's contacts (a time
 * the alert does not give has no line); a footer with the identities, and
 * the banner again.
 *
 * Alert text is outside input even when signed: it is cleaned character by
 * character (CR LF and lone CR are line breaks, other C0 controls, DEL and
 * C1 controls are dropped, invalid UTF-8 becomes U+FFFD, every valid
 * character is kept as it is), and then either folded onto one labelled
 * line or indented, so that no alert text can begin a line at the left
 * margin where the gateway's own lines are.  C1 controls go because NEL
 * (U+0085) is a line break to some readers.
 *
 * Sizes: each field is cut at RENDER_FIELD_MAX, the whole at
 * RENDER_BODY_MAX.  The action lines come first and are short, and the
 * footer is rendered first and its room kept, so neither is ever cut.
 *
 * The gateway's own words (labels, banners, the ack instructions) are in
 * the language of the step's first contact when a catalog has it
 * (i18n.h), else English; the alert's own text is never translated.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ack.h"
#include "base.h"
#include "i18n.h"
#include "render.h"
#include "utf8.h"
#include "tz.h"

#define RENDER_FOOT_FIELD_MAX 1024	/* ids and names in the footer */
#define RENDER_SHORT_MAX 256		/* value-set words, language tags */
#define RENDER_ACTION_MAX 400		/* the headline at the top */
#define RENDER_TRUNCATED "[truncated]"
#define RENDER_BODY_CUT "\n" RENDER_TRUNCATED "\n"

static const char render_exercise_banner[] =
    N_("*** EXERCISE - EXERCISE - EXERCISE ***");
static const char render_test_banner[] = N_("*** TEST - TEST - TEST ***");
static const char render_draft_banner[] =
    N_("*** DRAFT - NOT ACTIONABLE ***");

/* The CAP name of a severity (subjects: ASCII, never translated). */
static const char *
render_severity_name(int sev)
{
	static const char *const names[] = { "Unknown", "Minor", "Moderate",
		"Severe", "Extreme" };

	if (sev < 0 || sev >= (int)(sizeof(names) / sizeof(names[0])))
		return "Unknown";
	return names[sev];
}

/* The same for a reader (the action line of a body). */
static const char *
render_severity_word(int sev)
{
	static const char *const names[] = { N_("Unknown"), N_("Minor"),
		N_("Moderate"), N_("Severe"), N_("Extreme") };

	if (sev < 0 || sev >= (int)(sizeof(names) / sizeof(names[0])))
		return names[0];
	return names[sev];
}

/* Where local times come from, decided once per body, and the language
   of the gateway's own words. */
struct render_zone {
	const char *zonedir;
	const char *zone;	/* NULL when local times are unavailable */
	char why[TOCSIN_ERRLEN];	/* then, the reason */
	const struct i18n_cat *cat;
	const char *lang;	/* of the step's first contact, or NULL */
};

/* A text of the gateway's in the reader's language. */
#define RT(z, s) i18n_text((z)->cat, (z)->lang, (s))

enum render_mode {
	RENDER_LINE,		/* line breaks become spaces */
	RENDER_BLOCK,		/* line breaks kept, each line indented */
	RENDER_PARA		/* line breaks kept, nothing added (a page
				   laid out by the channel) */
};

/*
 * The length of the well-formed UTF-8 sequence at p, or 0 with *skip the
 * bytes that become one U+FFFD (utf8.h).  p is NUL-terminated, and a NUL
 * is never a continuation byte, so reading stops at the end.
 */
static size_t
render_utf8(const unsigned char *p, size_t *skip)
{
	uint32_t cp;

	return utf8_next(p, strnlen((const char *)p, 4), &cp, skip);
}

/*
 * Append alert text s, cleaned as the file comment says, at most max bytes
 * of it (line breaks counted, indentation not), then a marker if it was
 * cut.
 */
static void
render_text(struct base_buf *b, const char *s, enum render_mode mode,
    size_t max)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	bool line_start = true;
	size_t used = 0;

	if (s == NULL)
		return;
	while (*p != '\0') {
		const char *c = (const char *)p;
		size_t n, skip = 0;
		bool brk = false;

		if (*p == '\r') {
			p += p[1] == '\n' ? 2 : 1;
			brk = true;
		} else if (*p == '\n') {
			p++;
			brk = true;
		} else if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			p++;
			continue;
		} else if ((n = render_utf8(p, &skip)) == 0) {
			p += skip;
			c = fffd;
			n = 3;
		} else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			p += 2;		/* a C1 control */
			continue;
		} else {
			p += n;
		}
		if (brk) {
			c = mode == RENDER_LINE ? " " : "\n";
			n = 1;
		}
		if (used + n > max) {
			if (mode != RENDER_LINE && line_start)
				base_buf_puts(b, "  " RENDER_TRUNCATED);
			else
				base_buf_puts(b, " " RENDER_TRUNCATED);
			return;
		}
		used += n;
		if (brk && mode != RENDER_LINE) {
			/* indented lazily, so blank lines stay empty */
			base_buf_put(b, "\n", 1);
			line_start = true;
			continue;
		}
		if (mode == RENDER_BLOCK && line_start)
			base_buf_put(b, "  ", 2);
		line_start = false;
		base_buf_put(b, c, n);
	}
}

/* "Label: value" on one line; nothing when value is NULL. */
static void
render_line(struct base_buf *b, const char *label, const char *value,
    size_t max)
{
	if (value == NULL)
		return;
	base_buf_puts(b, label);
	base_buf_puts(b, ": ");
	render_text(b, value, RENDER_LINE, max);
	base_buf_put(b, "\n", 1);
}

/* "Label:" then the indented lines of value; nothing when it is NULL. */
static void
render_block(struct base_buf *b, const char *label, const char *value)
{
	if (value == NULL)
		return;
	base_buf_puts(b, label);
	base_buf_puts(b, ":\n");
	render_text(b, value, RENDER_BLOCK, RENDER_FIELD_MAX);
	base_buf_put(b, "\n", 1);
}

/* ", local 2026-11-25 13:00 EAT (UTC+03:00)", or nothing. */
static void
render_local(struct base_buf *b, const struct render_zone *z, int64_t t)
{
	char s[TZ_FORMAT_MAX];

	if (z->zone == NULL ||
	    tz_format(z->zonedir, z->zone, t, s, sizeof(s), NULL) != 0)
		return;
	base_buf_puts(b, ", ");
	i18n_put(b, RT(z, N_("local {time}")), "time", s, NULL);
}

/* "Label: <UTC>, local <local>[ (note)]" for an instant. */
static void
render_instant(struct base_buf *b, const struct render_zone *z,
    const char *label, int64_t t, const char *note)
{
	char s[TZ_FORMAT_MAX];

	base_buf_puts(b, label);
	base_buf_puts(b, ": ");
	if (tz_format_utc(t, s, sizeof(s), NULL) != 0) {
		base_buf_puts(b, RT(z, N_("(out of range)")));
		base_buf_puts(b, "\n");
		return;
	}
	base_buf_puts(b, s);
	render_local(b, z, t);
	if (note != NULL) {
		base_buf_puts(b, " ");
		base_buf_puts(b, note);
	}
	base_buf_put(b, "\n", 1);
}

/* A CAP dateTime element: in UTC and local time; when absent, the
   fallback instant with a note, or no line at all. */
static void
render_time(struct base_buf *b, const struct render_zone *z,
    const char *label, const char *value, const time_t *fallback,
    const char *fallback_note)
{
	time_t t;

	if (value == NULL) {
		/* a time the alert does not give is left out: a line that
		   says nothing is one more to read past */
		if (fallback != NULL)
			render_instant(b, z, label, (int64_t)*fallback,
			    fallback_note);
		return;
	}
	/* cap_parse checked it; this is only for a value it did not */
	if (cap_datetime_parse(value, &t) != 0) {
		base_buf_puts(b, label);
		base_buf_puts(b, ": ");
		render_text(b, value, RENDER_LINE, RENDER_SHORT_MAX);
		base_buf_puts(b, " ");
		base_buf_puts(b, RT(z, N_("(as written)")));
		base_buf_puts(b, "\n");
		return;
	}
	render_instant(b, z, label, (int64_t)t, NULL);
}

/* s, then a line feed. */
static void
render_ln(struct base_buf *b, const char *s)
{
	base_buf_puts(b, s);
	base_buf_put(b, "\n", 1);
}

static void
render_banner(struct base_buf *b, const struct render_zone *z,
    const char *status, bool closing)
{
	if (status == NULL)
		return;
	if (strcmp(status, "Actual") == 0) {
		/* said first, so a real alert is never taken for a drill */
		if (!closing)
			render_ln(b, RT(z, N_("ACTUAL ALERT")));
	} else if (strcmp(status, "Exercise") == 0) {
		render_ln(b, RT(z, render_exercise_banner));
		if (!closing)
			render_ln(b, RT(z, N_("This is a drill. No real "
			    "incident.")));
	} else if (strcmp(status, "Test") == 0) {
		render_ln(b, RT(z, render_test_banner));
		if (!closing)
			render_ln(b, RT(z, N_("This is a test message. No "
			    "real incident.")));
	} else if (strcmp(status, "System") == 0) {
		render_ln(b, RT(z, render_test_banner));
		if (!closing)
			render_ln(b, RT(z, N_("This is a system message, for "
			    "example a check of contacts. No real "
			    "incident.")));
	} else if (strcmp(status, "Draft") == 0) {
		render_ln(b, RT(z, render_draft_banner));
		if (!closing)
			render_ln(b, RT(z, N_("This is a draft. Do not act on "
			    "it.")));
	}
}

/* What the message does to earlier alerts, the note, the time zone. */
static void
render_head(struct base_buf *b, const struct cap_alert *a,
    const struct render_zone *z)
{
	const char *mt = a->msg_type != NULL ? a->msg_type : "";

	if (strcmp(mt, "Update") == 0 || strcmp(mt, "Cancel") == 0) {
		base_buf_puts(b, mt[0] == 'U' ? RT(z, N_("Update: this message "
		    "replaces an earlier alert")) : RT(z, N_("Cancel: this "
		    "message cancels an earlier alert")));
		if (a->references != NULL) {
			base_buf_puts(b, " (");
			render_text(b, a->references, RENDER_LINE,
			    RENDER_FOOT_FIELD_MAX);
			base_buf_puts(b, ")");
		}
		base_buf_puts(b, ".\n");
	} else if (strcmp(mt, "Ack") == 0 || strcmp(mt, "Error") == 0) {
		render_line(b, RT(z, N_("Message type")), mt,
		    RENDER_SHORT_MAX);
	}
	render_block(b, RT(z, N_("Note")), a->note);
	base_buf_puts(b, RT(z, N_("Local times")));
	base_buf_puts(b, ": ");
	if (z->zone != NULL) {
		base_buf_puts(b, z->zone);	/* checked by tz_name_check */
	} else {
		base_buf_puts(b, RT(z, N_("unavailable")));
		base_buf_puts(b, " (");
		render_text(b, z->why, RENDER_LINE, RENDER_SHORT_MAX * 2);
		base_buf_puts(b, "); ");
		base_buf_puts(b, RT(z, N_("all times are UTC")));
	}
	base_buf_put(b, "\n", 1);
}

/* Whether two language tags have the same primary subtag ("ru" ~ "ru-RU"). */
static bool
render_lang_match(const char *tag, const char *lang)
{
	size_t a = strcspn(tag, "-_"), b = strcspn(lang, "-_");

	return a == b && strncasecmp(tag, lang, a) == 0;
}

static void
render_info(struct base_buf *b, const struct cap_alert *a,
    const struct cap_info *in, const char *wanted,
    const struct render_zone *z)
{
	const char *lang = in->language != NULL ? in->language : "";

	base_buf_puts(b, "\n== ");
	base_buf_puts(b, RT(z, N_("Language")));
	base_buf_puts(b, ": ");
	render_text(b, lang, RENDER_LINE, RENDER_SHORT_MAX);
	base_buf_puts(b, " ==\n");
	if (wanted != NULL && !render_lang_match(lang, wanted)) {
		struct base_buf w = { .limit = RENDER_SHORT_MAX * 4 };
		struct base_buf h = { .limit = RENDER_SHORT_MAX * 4 };

		render_text(&w, wanted, RENDER_LINE, RENDER_SHORT_MAX);
		render_text(&h, lang, RENDER_LINE, RENDER_SHORT_MAX);
		base_buf_puts(b, "(");
		i18n_put(b, RT(z, N_("The alert has no text in {wanted}; this "
		    "is its {lang} text.")), "wanted", w.p != NULL ? w.p : "",
		    "lang", h.p != NULL ? h.p : "", NULL);
		base_buf_puts(b, ")\n");
		base_buf_free(&w);
		base_buf_free(&h);
	}
	render_line(b, RT(z, N_("Headline")), in->headline, RENDER_FIELD_MAX);
	render_line(b, RT(z, N_("Event")), in->event, RENDER_FIELD_MAX);
	if (in->sender_name != NULL && a->sender != NULL) {
		base_buf_puts(b, RT(z, N_("Sender")));
		base_buf_puts(b, ": ");
		render_text(b, in->sender_name, RENDER_LINE, RENDER_FIELD_MAX);
		base_buf_puts(b, " (");
		render_text(b, a->sender, RENDER_LINE, RENDER_FIELD_MAX);
		base_buf_puts(b, ")\n");
	} else {
		render_line(b, RT(z, N_("Sender")), in->sender_name != NULL ?
		    in->sender_name : a->sender, RENDER_FIELD_MAX);
	}
	base_buf_puts(b, RT(z, N_("Severity")));
	base_buf_puts(b, ": ");
	render_text(b, in->severity, RENDER_LINE, RENDER_SHORT_MAX);
	base_buf_puts(b, " / ");
	base_buf_puts(b, RT(z, N_("Urgency")));
	base_buf_puts(b, ": ");
	render_text(b, in->urgency, RENDER_LINE, RENDER_SHORT_MAX);
	base_buf_puts(b, " / ");
	base_buf_puts(b, RT(z, N_("Certainty")));
	base_buf_puts(b, ": ");
	render_text(b, in->certainty, RENDER_LINE, RENDER_SHORT_MAX);
	base_buf_put(b, "\n", 1);
	for (size_t i = 0; i < in->nareas; i++)
		render_line(b, RT(z, N_("Area")), in->areas[i].area_desc,
		    RENDER_FIELD_MAX);
	render_time(b, z, RT(z, N_("Effective")), in->effective, &a->sent_t,
	    RT(z, N_("(when sent; no effective time was given)")));
	render_time(b, z, RT(z, N_("Onset")), in->onset, NULL, NULL);
	render_time(b, z, RT(z, N_("Expires")), in->expires, NULL, NULL);
	render_block(b, RT(z, N_("Description")), in->description);
	render_block(b, RT(z, N_("Instruction")), in->instruction);
	render_line(b, RT(z, N_("Web")), in->web, RENDER_FIELD_MAX);
	render_line(b, RT(z, N_("Contact")), in->contact, RENDER_FIELD_MAX);
}

/* One section per distinct language, in the order of the contacts; two
   languages that fall back to the same block show it once. */
static int
render_infos(struct base_buf *b, const struct render_in *in,
    const struct render_zone *z)
{
	const struct cap_alert *a = in->alert;
	const struct cap_info **done;
	size_t ndone = 0;

	if (a->ninfos == 0) {
		base_buf_puts(b, "\n");
		render_ln(b, RT(z, N_("This message carries no further "
		    "details.")));
		return 0;
	}
	if (in->nlangs == 0 || in->langs == NULL) {
		render_info(b, a, cap_info_for(a, NULL), NULL, z);
		return 0;
	}
	if ((done = calloc(a->ninfos, sizeof(*done))) == NULL)
		return TOCSIN_ENOMEM;
	for (size_t i = 0; i < in->nlangs; i++) {
		const char *lang = in->langs[i];
		const struct cap_info *info;
		bool seen = false;

		if (lang == NULL)
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = in->langs[k] != NULL &&
			    strcasecmp(in->langs[k], lang) == 0;
		if (seen || (info = cap_info_for(a, lang)) == NULL)
			continue;
		for (size_t k = 0; k < ndone && !seen; k++)
			seen = done[k] == info;
		if (seen)
			continue;
		done[ndone++] = info;
		render_info(b, a, info, lang, z);
	}
	if (ndone == 0)		/* every language was NULL */
		render_info(b, a, cap_info_for(a, NULL), NULL, z);
	free(done);
	return 0;
}

static void
render_footer(struct base_buf *b, const struct render_in *in,
    const struct render_zone *z)
{
	const struct cap_alert *a = in->alert;
	const struct policy_team *team = in->team;

	base_buf_puts(b, "\n----\n");
	render_line(b, RT(z, N_("Alert id")), in->alert_id,
	    RENDER_FOOT_FIELD_MAX);
	render_line(b, RT(z, N_("CAP identifier")), a->identifier,
	    RENDER_FOOT_FIELD_MAX);
	render_line(b, RT(z, N_("CAP sender")), a->sender,
	    RENDER_FOOT_FIELD_MAX);
	render_instant(b, z, RT(z, N_("Sent")), (int64_t)a->sent_t, NULL);
	base_buf_puts(b, RT(z, N_("Team")));
	base_buf_puts(b, ": ");
	render_text(b, team->id, RENDER_LINE, RENDER_FOOT_FIELD_MAX);
	if (team->domain != NULL) {
		base_buf_puts(b, ", ");
		base_buf_puts(b, RT(z, N_("domain")));
		base_buf_puts(b, " ");
		render_text(b, team->domain, RENDER_LINE,
		    RENDER_FOOT_FIELD_MAX);
	}
	if (team->cctld_operator != NULL) {
		base_buf_puts(b, " (");
		render_text(b, team->cctld_operator, RENDER_LINE,
		    RENDER_FOOT_FIELD_MAX);
		base_buf_puts(b, ")");
	}
	base_buf_put(b, "\n", 1);
	render_banner(b, z, a->status, true);
}

/* The acknowledgement instructions: the team's link and code, and the
   duty desk to call; nothing when there is neither link nor code. */
static void
render_ack_lines(struct base_buf *b, const struct render_in *in,
    const struct render_zone *z)
{
	const char *url = in->ack_url, *code = in->ack_code;
	char phone[BASE_PHONE_MAX];

	if (url != NULL && url[0] == '\0')
		url = NULL;
	if (code != NULL && code[0] == '\0')
		code = NULL;
	if (url == NULL && code == NULL)
		return;
	/* whole sentences, so that a translation can order them its way;
	   the values are the gateway's own (a team id the repository
	   checked, the link made of public_url and a hex token, digits) */
	i18n_put(b, url != NULL && code != NULL ? RT(z, N_("To acknowledge "
	    "for team {team}: open {link} and press the button, or reply "
	    "with code {code}")) : url != NULL ? RT(z, N_("To acknowledge for "
	    "team {team}: open {link} and press the button")) : RT(z,
	    N_("To acknowledge for team {team}: reply with code {code}")),
	    "team", in->team->id, "link", url, "code", code, NULL);
	base_buf_put(b, "\n", 1);
	if (in->duty_phone != NULL && in->duty_phone[0] != '\0') {
		(void)base_phone_group(in->duty_phone, phone, sizeof(phone));
		i18n_put(b, code != NULL ? RT(z, N_("Or call the duty desk: "
		    "{phone} and give the code")) : RT(z, N_("Or call the duty "
		    "desk: {phone}")), "phone", phone, NULL);
		base_buf_put(b, "\n", 1);
	}
}

/*
 * The acknowledgement instructions in the message's language, then in the
 * first language of each other reader whose words differ (a language
 * without a catalog reads the English ones): a contact must be able to
 * read how to acknowledge whatever language the labels are in.
 */
static void
render_ack_readers(struct base_buf *b, const struct render_in *in,
    const struct render_zone *z)
{
	struct base_buf said[RENDER_ACK_LANGS];
	size_t nsaid = 0;

	base_buf_init(&said[nsaid], RENDER_ACTION_MAX * 4);
	render_ack_lines(&said[nsaid++], in, z);
	for (size_t i = 0; i < in->nreaders && in->readers != NULL &&
	    nsaid < RENDER_ACK_LANGS && said[0].len > 0; i++) {
		struct render_zone zr = *z;
		struct base_buf *t = &said[nsaid];
		bool again = false;

		if (in->readers[i] == NULL || in->readers[i][0] == '\0')
			continue;
		zr.lang = in->readers[i];
		base_buf_init(t, RENDER_ACTION_MAX * 4);
		render_ack_lines(t, in, &zr);
		for (size_t k = 0; k < nsaid && !again; k++)
			again = t->len == said[k].len && (t->len == 0 ||
			    memcmp(t->p, said[k].p, t->len) == 0);
		if (again || t->rc != 0 || t->full)
			base_buf_free(t);
		else
			nsaid++;
	}
	for (size_t k = 0; k < nsaid; k++) {
		if (said[k].rc == 0 && !said[k].full && said[k].len > 0)
			base_buf_put(b, said[k].p, said[k].len);
		base_buf_free(&said[k]);
	}
}

/*
 * What the reader must see first, before any detail: whether this is a
 * real alert or an exercise (the banner), the highest severity, the
 * headline (of the first contact's language), and how to acknowledge.
 * The same lines come again in the detail below, whole.
 */
static void
render_action(struct base_buf *b, const struct render_in *in,
    const struct render_zone *z)
{
	const struct cap_alert *a = in->alert;
	const struct cap_info *info = cap_info_for(a, in->nlangs > 0 &&
	    in->langs != NULL ? in->langs[0] : NULL);
	const char *what = info == NULL ? NULL : info->headline != NULL ?
	    info->headline : info->event;

	render_banner(b, z, a->status, false);
	if (in->unreached != NULL) {
		/* the desk's page: why it gets the alert comes next; the
		   marker stays as it is, for the desk's filters */
		base_buf_puts(b, "UNREACHED: ");
		render_text(b, in->unreached, RENDER_LINE,
		    RENDER_FOOT_FIELD_MAX);
		base_buf_puts(b, "\n");
		render_ln(b, RT(z, N_("These teams did not acknowledge this "
		    "alert after every step of their ladders.")));
		render_ln(b, RT(z, N_("Reach them by other means, then "
		    "acknowledge this message.")));
	}
	if (a->ninfos > 0) {
		base_buf_puts(b, RT(z, N_("Severity")));
		base_buf_puts(b, ": ");
		render_ln(b, RT(z, render_severity_word(a->max_severity)));
	}
	render_line(b, RT(z, N_("Headline")), what, RENDER_ACTION_MAX);
	render_ack_readers(b, in, z);
	base_buf_put(b, "\n", 1);
}

/* The zone for local times, tried once so that each time line need not
   explain a failure again. */
static void
render_zone_pick(const struct render_in *in, struct render_zone *z)
{
	const char *zone = in->timezone;
	struct tocsin_err e = { 0 };

	z->zonedir = in->zonedir;
	z->zone = NULL;
	z->cat = in->cat;
	z->lang = in->nlangs > 0 && in->langs != NULL ? in->langs[0] : NULL;
	if (zone == NULL && in->team->ncontacts > 0 &&
	    in->team->contacts != NULL)
		zone = in->team->contacts[0].timezone;
	if (zone == NULL) {
		(void)snprintf(z->why, sizeof(z->why), "%s", RT(z,
		    N_("no time zone is known for the team")));
		return;
	}
	if (tz_offset(in->zonedir, zone, (int64_t)in->alert->sent_t, NULL,
	    NULL, 0, &e) != 0) {
		(void)snprintf(z->why, sizeof(z->why), "%s", e.msg);
		return;
	}
	z->zone = zone;
}

int
render_body(const struct render_in *in, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	struct base_buf foot = { .limit = RENDER_BODY_MAX / 2 };
	struct base_buf body = { 0 };
	struct render_zone z;
	int rc;

	if (in == NULL || in->alert == NULL || in->team == NULL ||
	    in->alert_id == NULL || ret == NULL || ret_len == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "render_body: an "
		    "alert, its id and a team are needed");
	render_zone_pick(in, &z);

	/* the footer first: its room is kept whatever the sections need */
	render_footer(&foot, in, &z);
	if (foot.rc != 0 || foot.full) {
		rc = foot.rc != 0 ? foot.rc : TOCSIN_EINTERNAL;
		goto fail;
	}
	body.limit = RENDER_BODY_MAX - foot.len - strlen(RENDER_BODY_CUT);
	/* a few short lines, so always within the limit */
	render_action(&body, in, &z);
	render_head(&body, in->alert, &z);
	if ((rc = render_infos(&body, in, &z)) != 0)
		goto fail;
	body.limit = RENDER_BODY_MAX;
	if (body.full) {
		body.full = false;
		base_buf_puts(&body, RENDER_BODY_CUT);
	}
	base_buf_put(&body, foot.p, foot.len);
	if (body.rc != 0 || body.full) {
		rc = body.rc != 0 ? body.rc : TOCSIN_EINTERNAL;
		goto fail;
	}
	free(foot.p);
	*ret = body.p;
	*ret_len = body.len;
	return 0;
fail:
	free(foot.p);
	free(body.p);
	if (rc == TOCSIN_ENOMEM)
		return tocsin_fail(err, rc, "out of memory");
	return tocsin_fail(err, rc, "render_body: the message did not fit "
	    "its limit");
}

/* ---- subject ---- */


/* Subject output: printable ASCII, one space at a time, cut at the end. */
struct render_line_out {
	char *p;
	size_t len, size;
};

static void
render_sput(struct render_line_out *o, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e)
			continue;
		if (c == ' ' && (o->len == 0 || o->p[o->len - 1] == ' '))
			continue;
		if (o->len + 1 >= o->size)
			return;
		o->p[o->len++] = (char)c;
	}
}

int
render_subject(const char *tmpl, const struct cap_alert *alert,
    const char *alert_id, char *out, size_t outlen, struct tocsin_err *err)
{
	struct render_line_out o = { out, 0, outlen };
	const char *p;
	bool exercise;

	if (tmpl == NULL || alert == NULL || out == NULL || outlen == 0)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "render_subject: a "
		    "template, an alert and room for the result are needed");
	out[0] = '\0';
	/* the whole template is checked before anything is written */
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '\0' || strchr("istme%", p[1]) == NULL)
			return tocsin_fail(err, TOCSIN_ECONFIG, "subject template "
			    "has %s; use %%i, %%s, %%t, %%m, %%e or %%%%",
			    p[1] == '\0' ? "a lone % at its end" :
			    "an unknown placeholder");
		p++;
	}
	exercise = alert->status != NULL &&
	    strcmp(alert->status, "Exercise") == 0;
	p = tmpl;
	if (exercise) {
		render_sput(&o, "[EXERCISE] ");
		/* the template's own marker is the one just written */
		if (strncmp(p, "%e", 2) == 0)
			p += 2;
		else if (strncmp(p, "[EXERCISE]", 10) == 0)
			p += 10;
	}
	for (; *p != '\0'; p++) {
		char lit[2] = { *p, '\0' };

		if (*p != '%') {
			render_sput(&o, lit);
			continue;
		}
		switch (*++p) {
		case 'i':
			render_sput(&o, alert_id);
			break;
		case 's':
			render_sput(&o, render_severity_name(alert->max_severity));
			break;
		case 't':
			render_sput(&o, alert->status);
			break;
		case 'm':
			render_sput(&o, alert->msg_type);
			break;
		case '%':
			render_sput(&o, "%");
			break;
		default:	/* 'e': the marker is in front, or not due */
			break;
		}
	}
	while (o.len > 0 && out[o.len - 1] == ' ')
		o.len--;
	out[o.len] = '\0';
	return 0;
}

int
render_short(const struct cap_alert *a, const char *lang,
    const struct i18n_cat *cat, char **ret, size_t *own,
    struct tocsin_err *err)
{
	struct base_buf b = { .limit = 4096 };
	const struct cap_info *info;
	const char *what;

	if (a == NULL || ret == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "render_short: no "
		    "alert");
	info = cap_info_for(a, lang != NULL ? lang : "en");
	what = info == NULL ? NULL : info->headline != NULL ? info->headline :
	    info->event;
	base_buf_puts(&b, i18n_text(cat, lang,
	    render_severity_word(a->max_severity)));
	base_buf_puts(&b, ": ");
	if (own != NULL)
		*own = b.len;
	/* One line: the SMS layer keeps the marker and the ack code and
	   shortens this text to fit. */
	render_text(&b, what != NULL ? what : a->identifier, RENDER_LINE,
	    1024);
	if (b.rc != 0 || b.p == NULL) {
		free(b.p);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	*ret = b.p;
	return 0;
}

/* ---- what an outsider typed, quoted ---- */

#define RENDER_CUT "[\xe2\x80\xa6]"	/* "[…]": something was taken out */

/* A character that may not stand in a quote: controls, line and paragraph
   separators, and the marks that reorder text (bidi embeddings,
   overrides, isolates, LRM/RLM/ALM), which could make a quote read as
   something else. */
static bool
render_quote_drop(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	    cp == 0x061c || cp == 0x200e || cp == 0x200f || cp == 0x2028 ||
	    cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* Whether word [w, w+n) looks like a link or an address: a scheme, www.,
   an e-mail address or a dotted host name (a dot between two letters or
   digits, and a letter after the last dot). */
static bool
render_urlish(const char *w, size_t n)
{
	const char *last = NULL;

	if (n >= 4 && strncasecmp(w, "www.", 4) == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '@' || (w[i] == ':' && i + 2 < n && w[i + 1] == '/'
		    && w[i + 2] == '/'))
			return true;
		if (w[i] == '.' && i > 0 && i + 1 < n &&
		    ((unsigned char)w[i - 1] >= 0x80 || isalnum((unsigned char)
		    w[i - 1])) && ((unsigned char)w[i + 1] >= 0x80 ||
		    isalnum((unsigned char)w[i + 1])))
			last = w + i;
	}
	return last != NULL && ((unsigned char)last[1] >= 0x80 ||
	    isalpha((unsigned char)last[1]));
}

/* The length of a phone-number-like run at p (a '+' or digit, then digits
   and the separators people type between them) with at least
   RENDER_QUOTE_DIGITS digits; 0 when there is none. */
static size_t
render_phoneish(const char *p)
{
	size_t i = 0, end = 0;
	int digits = 0;

	if (p[0] == '+')
		i++;
	if (!isdigit((unsigned char)p[i]))
		return 0;
	for (; p[i] != '\0' && strchr("0123456789 -.()/+", p[i]) != NULL; i++)
		if (isdigit((unsigned char)p[i])) {
			digits++;
			end = i + 1;
		}
	return digits >= RENDER_QUOTE_DIGITS ? end : 0;
}

/* "[…]" at one[k], once for things taken out one after the other; the
   new length. */
static size_t
render_quote_cut(char *one, size_t k)
{
	size_t m = strlen(RENDER_CUT);

	while (k > 0 && one[k - 1] == ' ')
		k--;
	if (k >= m && memcmp(one + k - m, RENDER_CUT, m) == 0)
		return k;
	if (k > 0)
		one[k++] = ' ';
	memcpy(one + k, RENDER_CUT, m);
	one[k + m] = '\0';
	return k + m;
}

/* First pass: whole characters, none that may not stand in a quote,
   whitespace as one space; *n bytes into out (room for in's length). */
static void
render_quote_chars(const char *in, char *out, size_t *n)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t k = 0;

	while (*p != '\0') {
		uint32_t cp = 0;
		size_t skip = 1, l = utf8_next(p, strnlen((const char *)p, 4),
		    &cp, &skip);

		if (l == 0) {
			p += skip;
			continue;
		}
		if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x85 ||
		    cp == 0x2028 || cp == 0x2029 || cp == 0xa0) {
			if (k > 0 && out[k - 1] != ' ')
				out[k++] = ' ';
		} else if (!render_quote_drop(cp)) {
			/* a quote mark of the text would end our quote */
			if (cp == '"')
				out[k++] = '\'';
			else {
				memcpy(out + k, p, l);
				k += l;
			}
		}
		p += l;
	}
	out[k] = '\0';
	*n = k;
}

int
render_quote(const char *in, size_t max_chars, char **ret,
    struct tocsin_err *err)
{
	struct base_buf b = { .limit = 4 * RENDER_QUOTE_IN + 64 };
	size_t len = in != NULL ? strnlen(in, RENDER_QUOTE_IN) : 0, n, i = 0;
	size_t chars = 0;
	char *clean = malloc(len + 1), *cut = NULL, *one = NULL;
	int rc = 0;

	if (clean == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	memcpy(clean, in != NULL ? in : "", len);
	clean[len] = '\0';
	/* whatever comes past RENDER_QUOTE_IN bytes is never looked at */
	if ((cut = malloc(len + 1)) == NULL || (one = malloc(len * 5 + 16)) ==
	    NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	one[0] = '\0';
	render_quote_chars(clean, cut, &n);
	/* numbers and links out, punctuation to spaces */
	for (size_t k = 0; i < n;) {
		size_t w, from = i;

		if (cut[i] == ' ') {
			i++;
			continue;
		}
		for (w = i; w < n && cut[w] != ' '; w++)
			;
		if (render_urlish(cut + i, w - i)) {
			k = render_quote_cut(one, k);
			i = w;
			continue;
		}
		if (k > 0 && one[k - 1] != ' ')
			one[k++] = ' ';
		while (i < w) {
			unsigned char ch = (unsigned char)cut[i];
			size_t pl = i == from || !isdigit((unsigned char)
			    cut[i - 1]) ? render_phoneish(cut + i) : 0;

			if (pl > 0) {
				k = render_quote_cut(one, k);
				i += pl;
				break;
			}
			one[k++] = ch >= 0x80 || isalnum(ch) ||
			    strchr(".-'", ch) != NULL ? (char)ch : ' ';
			i++;
		}
		one[k] = '\0';
	}
	/* spaces once, none at the ends; cut at max_chars characters */
	for (i = 0; one[i] != '\0'; ) {
		uint32_t cp;
		size_t skip = 1, l = utf8_next((const unsigned char *)one + i,
		    strnlen(one + i, 4), &cp, &skip);

		if (l == 0) {
			i += skip;
			continue;
		}
		if (one[i] == ' ' && (b.len == 0 || b.p[b.len - 1] == ' ')) {
			i++;
			continue;
		}
		if (chars == max_chars) {
			base_buf_puts(&b, "\xe2\x80\xa6");
			break;
		}
		base_buf_put(&b, one + i, l);
		chars++;
		i += l;
	}
	while (b.len > 0 && b.p[b.len - 1] == ' ')
		b.p[--b.len] = '\0';
	base_buf_puts(&b, "");
	if (b.rc != 0 || (b.p == NULL && (b.p = strdup("")) == NULL)) {
		free(b.p);
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	*ret = b.p;
out:
	free(clean);
	free(cut);
	free(one);
	return rc;
}

/* ---- the notice that a team acknowledged ---- */

/* How a name that the gateway cannot vouch for came. */
static const char *
render_given(const struct render_zone *z, const char *via)
{
	return strcmp(via, "link") == 0 ? RT(z, N_("name typed on the page")) :
	    strcmp(via, "drop") == 0 ? RT(z, N_("name written in the ack "
	    "file")) : RT(z, N_("name given"));
}

int
render_notice(const struct render_in *in, const struct render_ack *ack,
    char **body, size_t *body_len, char **short_text, struct tocsin_err *err)
{
	struct base_buf b = { .limit = RENDER_BODY_MAX };
	struct base_buf sh = { .limit = 1024 };
	struct render_zone z;
	const struct cap_info *info;
	const char *what;
	char utc[TZ_FORMAT_MAX] = "", *quote = NULL;
	bool known;

	if (in == NULL || in->alert == NULL || in->team == NULL ||
	    in->alert_id == NULL || ack == NULL || ack->by == NULL ||
	    ack->via == NULL || ack->strength == NULL || body == NULL ||
	    body_len == NULL || short_text == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "render_notice: an "
		    "alert, a team and its ack are needed");
	render_zone_pick(in, &z);
	info = cap_info_for(in->alert, in->nlangs > 0 ? in->langs[0] : "en");
	what = info == NULL ? NULL : info->headline != NULL ? info->headline :
	    info->event;
	if (tz_format_utc(ack->at, utc, sizeof(utc), NULL) != 0)
		(void)snprintf(utc, sizeof(utc), "%s", RT(&z, N_("an unknown "
		    "time")));

	/* who: the contact as the gateway knows them, an operator's entry,
	   or else only a quote of what someone gave, marked unverified */
	known = ack->contact != NULL || strncmp(ack->via, "operator", 8) == 0;
	if (!known && render_quote(strcmp(ack->by, ACK_BY_LINK) == 0 ? "" :
	    ack->by, RENDER_QUOTE_MAX, &quote, err) != 0)
		return TOCSIN_ENOMEM;
	/* "ACKNOWLEDGED" stays first in every language: the word a reader
	   and a filter look for; what follows is in theirs */
	base_buf_puts(&b, "ACKNOWLEDGED\n");
	render_banner(&b, &z, in->alert->status, true);
	i18n_put(&b, RT(&z, N_("Team {team} has acknowledged this alert; "
	    "nothing more is asked of you for it.")), "team", in->team->id,
	    NULL);
	base_buf_puts(&b, "\n\n");
	if (known)
		render_line(&b, RT(&z, N_("Acknowledged by")), ack->contact !=
		    NULL ? ack->contact : ack->by, RENDER_SHORT_MAX);
	else {
		base_buf_puts(&b, RT(&z, N_("Acknowledged by")));
		base_buf_puts(&b, ": ");
		render_ln(&b, RT(&z, N_("someone the gateway does not know by "
		    "number, key or own link")));
		base_buf_puts(&b, RT(&z, N_("Unverified")));
		base_buf_puts(&b, ": ");
		base_buf_puts(&b, render_given(&z, ack->via));
		if (quote[0] != '\0') {
			base_buf_puts(&b, ": \"");
			base_buf_puts(&b, quote);
			base_buf_puts(&b, "\"\n");
		} else {
			base_buf_puts(&b, ": ");
			render_ln(&b, RT(&z, N_("none")));
		}
	}
	render_line(&b, RT(&z, N_("How")), ack->via, RENDER_SHORT_MAX);
	render_line(&b, RT(&z, N_("Strength")), ack->strength,
	    RENDER_SHORT_MAX);
	render_instant(&b, &z, RT(&z, N_("When")), ack->at, NULL);
	render_line(&b, RT(&z, N_("Alert")), in->alert_id, RENDER_SHORT_MAX);
	render_line(&b, RT(&z, N_("Headline")), what, RENDER_SHORT_MAX);

	base_buf_puts(&sh, "ACKNOWLEDGED ");
	base_buf_puts(&sh, in->team->id);
	base_buf_puts(&sh, " ");
	if (known) {
		struct base_buf w = { .limit = 1024 }, v = { .limit = 256 };

		render_text(&w, ack->contact != NULL ? ack->contact : ack->by,
		    RENDER_LINE, 100);
		render_text(&v, ack->via, RENDER_LINE, 40);
		i18n_put(&sh, RT(&z, N_("by {who} ({via})")), "who", w.p !=
		    NULL ? w.p : "", "via", v.p != NULL ? v.p : "", NULL);
		base_buf_free(&w);
		base_buf_free(&v);
	} else {
		struct base_buf v = { .limit = 256 }, g = { .limit = 256 };

		render_text(&v, ack->via, RENDER_LINE, 40);
		render_text(&g, ack->strength, RENDER_LINE, 16);
		i18n_put(&sh, RT(&z, N_("via {via} ({strength})")), "via",
		    v.p != NULL ? v.p : "", "strength", g.p != NULL ? g.p : "",
		    NULL);
		base_buf_free(&v);
		base_buf_free(&g);
		base_buf_puts(&sh, "; ");
		base_buf_puts(&sh, render_given(&z, ack->via));
		if (quote[0] != '\0') {
			base_buf_puts(&sh, ", ");
			base_buf_puts(&sh, RT(&z, N_("unverified")));
			base_buf_puts(&sh, ": \"");
			base_buf_puts(&sh, quote);
			base_buf_puts(&sh, "\"");
		} else {
			base_buf_puts(&sh, ": ");
			base_buf_puts(&sh, RT(&z, N_("none")));
		}
	}
	free(quote);
	base_buf_puts(&sh, " ");
	i18n_put(&sh, RT(&z, N_("at {time}. No action needed:")), "time", utc,
	    NULL);
	base_buf_puts(&sh, " ");
	render_text(&sh, what != NULL ? what : in->alert_id, RENDER_LINE, 400);
	if (b.rc != 0 || sh.rc != 0 || b.p == NULL || sh.p == NULL) {
		free(b.p);
		free(sh.p);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	*body = b.p;
	*body_len = b.len;
	*short_text = sh.p;
	return 0;
}

/* ---- the fields of a page (fax) ---- */

#define RENDER_DOC_SHORT 600		/* one-line fields on a page */

/* A cleaned copy of value, or NULL for NULL; *rc keeps the first error. */
static char *
render_dup(const char *value, enum render_mode mode, size_t max, int *rc)
{
	struct base_buf b = { .limit = max + 64 };

	if (value == NULL || *rc != 0)
		return NULL;
	render_text(&b, value, mode, max);
	base_buf_put(&b, "", 0);
	if (b.rc != 0 || b.p == NULL) {
		free(b.p);
		*rc = TOCSIN_ENOMEM;
		return NULL;
	}
	return b.p;
}

static char *
render_sdup(const char *s, int *rc)
{
	char *p;

	if (s == NULL || *rc != 0)
		return NULL;
	if ((p = strdup(s)) == NULL)
		*rc = TOCSIN_ENOMEM;
	return p;
}

void
render_doc_free(struct chan_doc *d)
{
	if (d == NULL)
		return;
	free(d->status);
	free(d->msg_type_line);
	free(d->alert_id);
	free(d->cap_identifier);
	free(d->issuer);
	free(d->sent_utc);
	free(d->sent_local);
	free(d->team);
	free(d->recipient);
	free(d->number);
	free(d->lang);
	free(d->headline);
	free(d->event);
	free(d->grading);
	free(d->area);
	free(d->description);
	free(d->instruction);
	free(d->note);
	free(d->duty_phone);
	free(d->ack_phone);
	memset(d, 0, sizeof(*d));
}

/* For an Update or a Cancel, the first line of the head (what the message
   does), else NULL; *rc keeps the first error. */
static char *
render_doc_msg_type(const struct cap_alert *a, const struct render_zone *z,
    int *rc)
{
	struct base_buf m = { .limit = 2 * RENDER_DOC_SHORT };

	if (a->msg_type == NULL || (strcmp(a->msg_type, "Update") != 0 &&
	    strcmp(a->msg_type, "Cancel") != 0))
		return NULL;
	render_head(&m, a, z);
	/* the first line only: what the message does */
	if (m.p != NULL)
		m.p[strcspn(m.p, "\n")] = '\0';
	if (m.rc != 0)
		*rc = m.rc;
	return m.p;
}

/* The issuer: "sender name (sender)" when the info names it, else the
   sender alone; *rc keeps the first error. */
static char *
render_doc_issuer(const struct cap_alert *a, const struct cap_info *info,
    int *rc)
{
	struct base_buf b = { .limit = 4 * RENDER_DOC_SHORT };

	if (info == NULL || info->sender_name == NULL || a->sender == NULL)
		return render_dup(a->sender, RENDER_LINE, RENDER_DOC_SHORT, rc);
	render_text(&b, info->sender_name, RENDER_LINE, RENDER_DOC_SHORT);
	base_buf_puts(&b, " (");
	render_text(&b, a->sender, RENDER_LINE, RENDER_DOC_SHORT);
	base_buf_puts(&b, ")");
	if (b.rc != 0)
		*rc = b.rc;
	return b.p;
}

/* When the alert was sent, in UTC and in the zone of z when there is
   one ("<time>, <zone>"), into d; *rc keeps the first error. */
static void
render_doc_sent(const struct cap_alert *a, const struct render_zone *z,
    struct chan_doc *d, int *rc)
{
	char t[TZ_FORMAT_MAX];
	struct base_buf l = { .limit = 256 };

	if (tz_format_utc((int64_t)a->sent_t, t, sizeof(t), NULL) == 0)
		d->sent_utc = render_sdup(t, rc);
	if (z->zone == NULL || tz_format(z->zonedir, z->zone,
	    (int64_t)a->sent_t, t, sizeof(t), NULL) != 0)
		return;
	base_buf_puts(&l, t);
	base_buf_puts(&l, ", ");
	base_buf_puts(&l, z->zone);	/* checked by tz_name_check */
	if (l.rc != 0)
		*rc = l.rc;
	d->sent_local = l.p;
}

/* The team: "id, domain D (operator)", each part when known; *rc keeps
   the first error. */
static char *
render_doc_team(const struct policy_team *team, const struct render_zone *z,
    int *rc)
{
	struct base_buf tb = { .limit = 3 * RENDER_DOC_SHORT };

	render_text(&tb, team->id, RENDER_LINE, 64);
	if (team->domain != NULL) {
		base_buf_puts(&tb, ", ");
		base_buf_puts(&tb, RT(z, N_("domain")));
		base_buf_puts(&tb, " ");
		render_text(&tb, team->domain, RENDER_LINE, 256);
	}
	if (team->cctld_operator != NULL) {
		base_buf_puts(&tb, " (");
		render_text(&tb, team->cctld_operator, RENDER_LINE,
		    RENDER_DOC_SHORT);
		base_buf_puts(&tb, ")");
	}
	if (tb.rc != 0)
		*rc = tb.rc;
	return tb.p;
}

/* The fields of the info into d: language, headline, event, grading
   ("severity / urgency / certainty"), the first area, and with full the
   long texts; *rc keeps the first error. */
static void
render_doc_info(const struct cap_info *info, bool full, struct chan_doc *d,
    int *rc)
{
	struct base_buf g = { .limit = 256 };

	d->lang = render_dup(info->language, RENDER_LINE, 64, rc);
	d->headline = render_dup(info->headline, RENDER_LINE, 400, rc);
	d->event = render_dup(info->event, RENDER_LINE, RENDER_DOC_SHORT, rc);
	render_text(&g, info->severity, RENDER_LINE, 32);
	base_buf_puts(&g, " / ");
	render_text(&g, info->urgency, RENDER_LINE, 32);
	base_buf_puts(&g, " / ");
	render_text(&g, info->certainty, RENDER_LINE, 32);
	if (g.rc != 0)
		*rc = g.rc;
	d->grading = g.p;
	if (info->nareas > 0)
		d->area = render_dup(info->areas[0].area_desc, RENDER_LINE,
		    RENDER_DOC_SHORT, rc);
	if (full) {
		d->description = render_dup(info->description, RENDER_PARA,
		    RENDER_FIELD_MAX, rc);
		d->instruction = render_dup(info->instruction, RENDER_PARA,
		    RENDER_FIELD_MAX, rc);
	}
}

int
render_doc(const struct render_in *in, const struct render_doc_in *di,
    struct chan_doc *out, struct tocsin_err *err)
{
	const struct cap_alert *a;
	const struct cap_info *info;
	struct render_zone z;
	struct chan_doc d = { 0 };
	int rc = 0;

	if (in == NULL || in->alert == NULL || in->team == NULL ||
	    in->alert_id == NULL || di == NULL || out == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "render_doc: an "
		    "alert, its id and a team are needed");
	a = in->alert;
	render_zone_pick(in, &z);
	info = cap_info_for(a, in->nlangs > 0 && in->langs != NULL ?
	    in->langs[0] : NULL);

	d.status = render_dup(a->status, RENDER_LINE, 32, &rc);
	d.msg_type_line = render_doc_msg_type(a, &z, &rc);
	d.alert_id = render_dup(in->alert_id, RENDER_LINE, 128, &rc);
	d.cap_identifier = render_dup(a->identifier, RENDER_LINE,
	    RENDER_DOC_SHORT, &rc);
	d.issuer = render_doc_issuer(a, info, &rc);
	render_doc_sent(a, &z, &d, &rc);
	d.team = render_doc_team(in->team, &z, &rc);
	d.recipient = render_dup(di->recipient, RENDER_LINE, RENDER_DOC_SHORT,
	    &rc);
	d.number = render_dup(di->number, RENDER_LINE, 32, &rc);
	d.duty_phone = render_sdup(di->duty_phone, &rc);
	d.ack_phone = render_sdup(di->ack_phone, &rc);
	d.full = di->full;
	if (info != NULL)
		render_doc_info(info, di->full, &d, &rc);
	if (di->full)
		d.note = render_dup(a->note, RENDER_PARA, RENDER_FIELD_MAX,
		    &rc);
	if (rc != 0) {
		render_doc_free(&d);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	*out = d;
	return 0;
}
