/*
 * test_dropack.c: the pure parts of the drop host's ack files.
 *
 * dropack_name: which names are "alert-ALERT.TEAM[.anything]", and what
 * comes out of them, byte for byte.  dropack_by: the "By: NAME" line of an
 * unsigned ack file, found only at the start of a line, cleaned of
 * controls, trimmed, cut at 100 bytes, and never read past the length it
 * is given.
 *
 * dropack_take, against a real store and real gpg signatures (an issuer
 * key of certs/mkpki.sh pinned as the contact's): a signature made before
 * the alert was accepted makes no signed ack (refused without the code,
 * an unsigned ack with it); a signature acks once, whether it acked by
 * file or by e-mail; a store held by another writer keeps the file and
 * nothing of it, and the next look acks once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "dropack.h"
#include "unit_util.h"

/* ---- dropack_name ---- */

struct name_case {
	const char *name;
	int rc;
	const char *alert, *team;	/* when rc is 0 */
};

static const struct name_case name_cases[] = {
	/* valid */
	{ "alert-20261127-a1b2c3d4e5f6.ke", 0, "20261127-a1b2c3d4e5f6", "ke" },
	{ "alert-20261127-a1b2c3d4e5f6.ke.txt", 0, "20261127-a1b2c3d4e5f6",
	    "ke" },
	{ "alert-X.ke.s0.txt.asc", 0, "X", "ke" },
	{ "alert-X.ke.", 0, "X", "ke" },
	{ "alert-X.ke.a b/../c", 0, "X", "ke" },	/* anything after */
	{ "alert-a-B-9.Team-01", 0, "a-B-9", "Team-01" },
	{ "alert---.-", 0, "--", "-" },
	/* invalid */
	{ "", -1, NULL, NULL },
	{ "alert-", -1, NULL, NULL },
	{ "alert-.ke", -1, NULL, NULL },
	{ "alert-X.", -1, NULL, NULL },
	{ "alert-X", -1, NULL, NULL },
	{ "alrt-X.ke", -1, NULL, NULL },
	{ "Alert-X.ke", -1, NULL, NULL },
	{ "alert", -1, NULL, NULL },
	{ "alert-X.k e", -1, NULL, NULL },
	{ "alert-X/..ke", -1, NULL, NULL },
	{ "alert-X..txt", -1, NULL, NULL },
	{ "alert-X.ke/", -1, NULL, NULL },
	{ "alert-X.k\ne", -1, NULL, NULL },
	{ "alert-X\x01.ke", -1, NULL, NULL },
	{ "alert-X_Y.ke", -1, NULL, NULL },
	{ "alert-X.k\xc3\xa9", -1, NULL, NULL },
	{ " alert-X.ke", -1, NULL, NULL },
	{ "alert-.", -1, NULL, NULL },
	{ "alert-..", -1, NULL, NULL },
};

static void
test_name_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]);
	    i++) {
		const struct name_case *c = &name_cases[i];
		char alert[64], team[64];
		int rc;

		memset(alert, 'Z', sizeof(alert));
		memset(team, 'Z', sizeof(team));
		rc = dropack_name(c->name, alert, team);
		if (rc != c->rc)
			fail_msg("dropack_name(\"%s\") = %d, want %d", c->name,
			    rc, c->rc);
		if (rc != 0)
			continue;
		assert_string_equal(alert, c->alert);
		assert_string_equal(team, c->team);
	}
	assert_int_equal(dropack_name(NULL, (char[64]){ 0 },
	    (char[64]){ 0 }), -1);
}

/* Ids and teams of 63 bytes fit alert[64] and team[64]; 64 and more do
   not, whatever follows. */
static void
test_name_lengths(void **state)
{
	char alert[64], team[64], name[512];
	char *s63 = unit_rep("a", 63), *s64 = unit_rep("b", 64);
	char *s200 = unit_rep("c", 200);

	(void)state;
	(void)snprintf(name, sizeof(name), "alert-%s.ke", s63);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, s63);
	assert_string_equal(team, "ke");
	(void)snprintf(name, sizeof(name), "alert-X.%s.txt", s63);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, "X");
	assert_string_equal(team, s63);
	(void)snprintf(name, sizeof(name), "alert-%s.%s", s63, s63);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, s63);
	assert_string_equal(team, s63);

	(void)snprintf(name, sizeof(name), "alert-%s.ke", s64);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-X.%s", s64);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-X.%s.txt", s64);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-%s.ke.txt", s200);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-X.%s", s200);
	assert_int_equal(dropack_name(name, alert, team), -1);
	/* a long tail is fine: it is not part of either */
	(void)snprintf(name, sizeof(name), "alert-X.ke.%s", s200);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, "X");
	assert_string_equal(team, "ke");
	free(s63);
	free(s64);
	free(s200);
}

/* ---- dropack_by ---- */

struct by_case {
	const char *text;
	bool found;
	const char *by;		/* when found */
};

static const struct by_case by_cases[] = {
	{ "By: Ann\n", true, "Ann" },
	{ "by:   Ann Lee  \nACK 1\n", true, "Ann Lee" },
	{ "BY:\tAnn\n", true, "Ann" },
	{ "By:Ann", true, "Ann" },			/* no final newline */
	{ "By: Ann Lee", true, "Ann Lee" },
	{ "By: Ann\r\n", true, "Ann" },			/* CR is cut off */
	{ "ACK 1234 5678\nBy: Bo\n", true, "Bo" },	/* not line 1 */
	{ "By: Bo\nBy: Cy\n", true, "Bo" },		/* the first one */
	{ "By: A\x01" "B\x1f" "C\x7f" "D\n", true, "A B C D" },
	{ "By: A\tB\n", true, "A B" },
	{ "By: \xc3\xa9mile\n", true, "\xc3\xa9mile" },	/* UTF-8 kept */
	{ "By: Ann\x01\x02\n", true, "Ann" },		/* trailing controls */
	{ "By: \x01\x02" "Ann\n", true, "Ann" },	/* leading controls */
	{ "By: A\xc2\x85" "B\n", true, "A B" },		/* NEL */
	{ "By: A\xe2\x80\xa8" "B\xe2\x80\xae" "C\n", true, "A B C" },
	{ "By: A\xff\xc3" "B\n", true, "A B" },		/* invalid bytes */
	{ "By: A\xe0\x80\x80" "B\n", true, "A B" },	/* overlong */
	/* none */
	{ "", false, NULL },
	{ "ACK 1234 5678\n", false, NULL },
	{ "By:\n", false, NULL },
	{ "By:", false, NULL },
	{ "By:   \n", false, NULL },
	{ "By: \x01\x02\n", false, NULL },
	{ "xBy: a\n", false, NULL },
	{ "xBy: a", false, NULL },
	{ " By: a\n", false, NULL },
	{ "Bye: a\n", false, NULL },
	{ "B y: a\n", false, NULL },
	{ "\n\n\n", false, NULL },
};

static void
test_by_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(by_cases) / sizeof(by_cases[0]); i++) {
		const struct by_case *c = &by_cases[i];
		size_t len = strlen(c->text);
		/* an exact-size copy without a NUL, so a sanitizer sees any
		   read past len */
		char *text = malloc(len > 0 ? len : 1);
		char by[128];
		bool found;

		assert_non_null(text);
		memcpy(text, c->text, len);
		memset(by, 'Z', sizeof(by));
		found = dropack_by(text, len, by);
		free(text);
		if (found != c->found)
			fail_msg("dropack_by(case %zu) = %d, want %d", i,
			    found, c->found);
		if (found)
			assert_string_equal(by, c->by);
	}
}

/* Controls become spaces; only leading blanks are skipped and only
   trailing spaces dropped. */
static void
test_by_controls(void **state)
{
	static const char text[] = "By: A\0B\x1b[31mC\x7f\n";
	char by[128];

	(void)state;
	/* a NUL inside the line is a control too */
	assert_true(dropack_by(text, sizeof(text) - 1, by));
	assert_string_equal(by, "A B [31mC");
	for (const char *p = by; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 &&
		    (unsigned char)*p != 0x7f);
}

/* A cut never splits a character: "a" and 60 two-byte letters keep 49. */
static void
test_by_cut_utf8(void **state)
{
	char *name = unit_rep("\xc3\xa9", 60);
	char *text, by[128];

	(void)state;
	assert_true(asprintf(&text, "By: a%s\n", name) > 0);
	assert_true(dropack_by(text, strlen(text), by));
	assert_int_equal(strlen(by), 99);
	assert_memory_equal(by + 1, name, 98);
	free(text);
	free(name);
}

/* 300 bytes of name: cut at 100, and by stays terminated. */
static void
test_by_long(void **state)
{
	char *name = unit_rep("n", 300);
	char *text, by[128];
	size_t len;

	(void)state;
	assert_true(asprintf(&text, "By: %s\nACK 1\n", name) > 0);
	len = strlen(text);
	memset(by, 'Z', sizeof(by));
	assert_true(dropack_by(text, len, by));
	assert_int_equal(strlen(by), 100);
	assert_memory_equal(by, name, 100);
	free(text);

	/* trailing spaces inside the first 100 bytes still go */
	{
		char *pad = unit_rep(" ", 200);

		assert_true(asprintf(&text, "By: Ann%s", pad) > 0);
		assert_true(dropack_by(text, strlen(text), by));
		assert_string_equal(by, "Ann");
		free(text);
		free(pad);
	}
	/* exactly 100 is kept whole; leading blanks do not count */
	name[100] = '\0';
	assert_true(asprintf(&text, "By: \t  %s\n", name) > 0);
	assert_true(dropack_by(text, strlen(text), by));
	assert_string_equal(by, name);
	free(text);
	free(name);
}

/* len, not the NUL, ends the text. */
static void
test_by_len(void **state)
{
	static const char text[] = "By: Ann Lee\nBy: Bo\n";
	char by[128];

	(void)state;
	/* the line ends at len, even mid-line */
	assert_true(dropack_by(text, 7, by));
	assert_string_equal(by, "Ann");
	assert_true(dropack_by(text, 5, by));
	assert_string_equal(by, "A");
	/* "By: " alone, and shorter, is no name */
	assert_false(dropack_by(text, 4, by));
	assert_false(dropack_by(text, 3, by));
	assert_false(dropack_by(text, 2, by));
	assert_false(dropack_by(text, 0, by));
	/* text after len is never seen */
	{
		static const char t2[] = "ACK 1\nBy: Cy\n";

		assert_false(dropack_by(t2, 6, by));
		assert_false(dropack_by(t2, 9, by));
		assert_true(dropack_by(t2, 11, by));
		assert_string_equal(by, "C");
	}
	/* exact-size heap copies, no NUL after: ASan sees any over-read */
	for (size_t n = 0; n <= sizeof(text) - 1; n++) {
		char *p = malloc(n > 0 ? n : 1);

		assert_non_null(p);
		memcpy(p, text, n);
		(void)dropack_by(p, n, by);
		free(p);
	}
}

/* ---- dropack_take ---- */

#define OLD 1000		/* an alert accepted long ago */
#define LATER 4102444800	/* one accepted after any signature (2100) */

struct take_fx {
	char dir[64], db[128];
	char fpr[41];
	struct policy_repo *repo;
	struct store *st;
	struct certs_ctx *cx;
	unsigned char secret[ACK_SECRET_LEN];
	struct dropack_ctx c;
	time_t signed_at;		/* of the last signature made */
};

/* Teams ke and tz, each with one contact whose pinned key is desk-1. */
static int
take_setup(void **state)
{
	static char text[2048];
	struct take_fx *f = calloc(1, sizeof(*f));
	struct tocsin_err e;
	char home[128];

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tdk-XXXXXX");
	if (mkdtemp(f->dir) == NULL || unit_pki_make(f->dir) != 0)
		return -1;
	unit_pki_fpr(f->dir, "desk-1", f->fpr);
#define TAKE_TEAM(id) "{ id = \"" id "\"; domain = \"" id "\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\"; contacts = " \
	"( { name = \"Ann " id "\"; role = \"r\"; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; email = \"a@" id ".example\"; pgp = \"%s\"; " \
	"mobile = \"+254700555101\"; } ); }"
	(void)snprintf(text, sizeof(text),
	    "gateway = { store = \"s.db\"; gnupg_home = \"g\"; signing_key = "
	    "\"%s\"; public_url = \"https://x.example/\"; };\n"
	    "issuers = ( { name = \"d\"; openpgp = \"%s\"; may_address = "
	    "[ \"all\" ]; } );\n"
	    "policies = { p = { steps = ( { after = \"0s\"; notify = "
	    "[ \"primary:pgp-email\" ]; } ); }; };\n"
	    "teams = ( " TAKE_TEAM("ke") ", " TAKE_TEAM("tz") " );\n",
	    f->fpr, f->fpr, f->fpr, f->fpr);
	f->repo = unit_load_repo(text);
	(void)snprintf(f->db, sizeof(f->db), "%s/t.db", f->dir);
	(void)snprintf(home, sizeof(home), "%s/pki/gnupg", f->dir);
	if (store_open(f->db, &f->st, &e) != 0 ||
	    certs_open(home, &f->cx, &e) != 0)
		return -1;
	memset(f->secret, 7, sizeof(f->secret));
	f->c = (struct dropack_ctx){ .repo = f->repo, .st = f->st,
		.certs = f->cx, .secret = f->secret, .now = 2000 };
	*state = f;
	return 0;
}

static int
take_teardown(void **state)
{
	struct take_fx *f = *state;

	if (f == NULL)
		return 0;
	certs_close(f->cx);
	store_close(f->st);
	policy_free(f->repo);
	unit_pki_remove(f->dir);
	free(f);
	return 0;
}

/* Alert id for teams ke and tz, accepted at received. */
static void
take_alert(struct take_fx *f, const char *id, int64_t received)
{
	struct store_team_plan tp[] = { { "ke", 0, received + 900 },
		{ "tz", 0, received + 900 } };
	struct store_signature sig = { "d", "openpgp", f->fpr, "sig", 3 };
	struct store_alert a = { .id = id, .identifier = id, .sender = "d@x",
		.sent = "s", .sent_t = received, .status = "Actual",
		.msg_type = "Alert", .scope = "Private", .severity = 3,
		.headline = "h", .cap = "<alert/>", .cap_len = 8,
		.received = received };
	struct tocsin_err e;

	assert_int_equal(store_submit(f->st, &a, &sig, 1, tp, 2, NULL, 0,
	    "test", &e), 0);
}

/* text clear-signed by desk-1, now; malloc'd, the caller's.  Each in a
   second of its own: two signatures by one key in one second are one
   signature to the once rule (ack.h). */
static char *
take_sign(struct take_fx *f, const char *text, size_t *len)
{
	struct timespec ts = { 0, 50000000L };
	char in[128], out[128];
	FILE *fp;

	while (time(NULL) <= f->signed_at)
		nanosleep(&ts, NULL);
	f->signed_at = time(NULL);
	(void)snprintf(in, sizeof(in), "%s/ack.txt", f->dir);
	(void)snprintf(out, sizeof(out), "%s/ack.txt.asc", f->dir);
	fp = fopen(in, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return unit_pki_sign(f->dir, f->fpr, "--clearsign", in, out, len);
}

static enum chan_ackfile_fate
take(struct take_fx *f, const char *team, const char *name, const char *data,
    size_t len)
{
	struct chan_ackfile af = { .host = "h", .team = team, .name = name,
		.data = data, .len = len };

	return dropack_take(&f->c, &af);
}

static int
take_count(struct take_fx *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The state of team of alert, and how strong its ack is ("" when none). */
static void
take_state(struct take_fx *f, const char *alert, const char *team,
    char state[16], char strength[16])
{
	struct store_team_row *t = NULL;
	struct tocsin_err e;
	size_t n = 0;

	assert_int_equal(store_teams(f->st, alert, &t, &n, &e), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].team, team) == 0) {
			(void)snprintf(state, 16, "%s", t[i].state);
			(void)snprintf(strength, 16, "%s", t[i].ack_strength !=
			    NULL ? t[i].ack_strength : "");
		}
	store_team_rows_free(t, n);
}

/* The details of the last drop-ack-refused audit record. */
static void
take_refusal(struct take_fx *f, char *out, size_t outlen)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	out[0] = '\0';
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT details FROM audit "
	    "WHERE action = 'drop-ack-refused' ORDER BY seq DESC LIMIT 1", -1,
	    &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		(void)snprintf(out, outlen, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Signed now, naming an alert accepted before: a signed ack; the same
   file again under another name, or in the other team's folder: refused,
   one ack, one signature kept. */
static void
test_take_signed_once(void **state)
{
	struct take_fx *f = *state;
	char st[16], sg[16], why[1024], text[128];
	size_t len;
	char *data;

	take_alert(f, "A1", OLD);
	(void)snprintf(text, sizeof(text), "Received alert A1; on it.\n");
	data = take_sign(f, text, &len);
	assert_int_equal(take(f, "ke", "alert-A1.ke.txt", data, len),
	    CHAN_ACKFILE_DONE);
	take_state(f, "A1", "ke", st, sg);
	assert_string_equal(st, "acked");
	assert_string_equal(sg, "signed");
	assert_int_equal(take(f, "ke", "alert-A1.ke.again", data, len),
	    CHAN_ACKFILE_REFUSED);
	take_refusal(f, why, sizeof(why));
	assert_non_null(strstr(why, "signature already used"));
	assert_non_null(strstr(why, "alert A1 for team ke"));
	/* the contact's key is pinned for tz too: still once */
	assert_int_equal(take(f, "tz", "alert-A1.tz.txt", data, len),
	    CHAN_ACKFILE_REFUSED);
	take_state(f, "A1", "tz", st, sg);
	assert_string_equal(st, "active");
	assert_int_equal(take_count(f, "SELECT count(*) FROM acks WHERE "
	    "alert_id = 'A1'"), 1);
	assert_int_equal(take_count(f, "SELECT count(*) FROM ack_signatures"),
	    1);
	free(data);
}

/* Signed now, naming an alert accepted later (as a signature made before
   it would be): without the code refused, the ladder untouched; with the
   code an unsigned ack, by the file's name, and no signature kept. */
static void
test_take_older_than_the_alert(void **state)
{
	struct take_fx *f = *state;
	char st[16], sg[16], why[1024], text[128], code[ACK_CODE_LEN + 1];
	size_t len;
	char *data;

	take_alert(f, "A2", LATER);
	data = take_sign(f, "Received alert A2; on it.\n", &len);
	assert_int_equal(take(f, "ke", "alert-A2.ke.txt", data, len),
	    CHAN_ACKFILE_REFUSED);
	free(data);
	take_refusal(f, why, sizeof(why));
	assert_non_null(strstr(why, "is older than alert A2"));
	assert_non_null(strstr(why, "no code"));
	take_state(f, "A2", "ke", st, sg);
	assert_string_equal(st, "active");
	ack_code(f->secret, "A2", "ke", code);
	(void)snprintf(text, sizeof(text), "Alert A2. ACK %s\n", code);
	data = take_sign(f, text, &len);
	assert_int_equal(take(f, "ke", "alert-A2.ke.code", data, len),
	    CHAN_ACKFILE_DONE);
	free(data);
	take_state(f, "A2", "ke", st, sg);
	assert_string_equal(st, "acked");
	assert_string_equal(sg, "unsigned");
	assert_int_equal(take_count(f, "SELECT count(*) FROM acks WHERE "
	    "alert_id = 'A2' AND strength = 'unsigned' AND by_whom = "
	    "'ack file alert-A2.ke.code'"), 1);
	assert_int_equal(take_count(f, "SELECT count(*) FROM ack_signatures "
	    "WHERE alert_id = 'A2'"), 0);
}

/* A signature that acked by e-mail (the same digest) acks no file. */
static void
test_take_after_mail(void **state)
{
	struct take_fx *f = *state;
	struct certs_sigs sigs = { 0 };
	struct tocsin_err e;
	char digest[65], st[16], sg[16], why[1024], *plain = NULL;
	size_t len, plen;
	char *data;

	take_alert(f, "A3", OLD);
	data = take_sign(f, "Alert A3: on it.\n", &len);
	assert_int_equal(certs_verify_inline(f->cx, data, len, len, &plain,
	    &plen, &sigs, &e), 0);
	assert_true(sigs.n > 0 && sigs.sig[0].good);
	ack_sig_digest(sigs.sig[0].signer, sigs.sig[0].created, plain, plen,
	    digest);
	free(plain);
	{
		struct store_ack_in a = { .alert_id = "A3", .team = "tz",
			.by = "Ann tz", .via = "mail", .strength = "signed",
			.sig_digest = digest };

		assert_int_equal(store_ack(f->st, &a, 2000, "test", &e), 0);
	}
	assert_int_equal(take(f, "ke", "alert-A3.ke.txt", data, len),
	    CHAN_ACKFILE_REFUSED);
	take_refusal(f, why, sizeof(why));
	assert_non_null(strstr(why, "signature already used"));
	take_state(f, "A3", "ke", st, sg);
	assert_string_equal(st, "active");
	free(data);
}

/* The store held by another writer: the file is kept, nothing of it is
   (no ack, no signature); the next look acks once. */
static void
test_take_store_busy(void **state)
{
	struct take_fx *f = *state;
	char st[16], sg[16];
	sqlite3 *db;
	size_t len;
	char *data;

	take_alert(f, "A4", OLD);
	data = take_sign(f, "Alert A4: on it.\n", &len);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	{
		char *msg = NULL;
		int rc = sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, &msg);

		if (rc != SQLITE_OK)
			fail_msg("BEGIN EXCLUSIVE: %s", msg);
	}
	assert_int_equal(take(f, "ke", "alert-A4.ke.txt", data, len),
	    CHAN_ACKFILE_KEEP);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(take_count(f, "SELECT count(*) FROM ack_signatures "
	    "WHERE alert_id = 'A4'"), 0);
	assert_int_equal(take(f, "ke", "alert-A4.ke.txt", data, len),
	    CHAN_ACKFILE_DONE);
	take_state(f, "A4", "ke", st, sg);
	assert_string_equal(sg, "signed");
	assert_int_equal(take_count(f, "SELECT count(*) FROM acks WHERE "
	    "alert_id = 'A4'"), 1);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_table),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_by_table),
		cmocka_unit_test(test_by_controls),
		cmocka_unit_test(test_by_long),
		cmocka_unit_test(test_by_cut_utf8),
		cmocka_unit_test(test_by_len),
	};
	const struct CMUnitTest take_tests[] = {
		cmocka_unit_test(test_take_signed_once),
		cmocka_unit_test(test_take_older_than_the_alert),
		cmocka_unit_test(test_take_after_mail),
		cmocka_unit_test(test_take_store_busy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) +
	    cmocka_run_group_tests_name("take", take_tests, take_setup,
	    take_teardown);
}
