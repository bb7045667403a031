/*
 * main.c: the tocsin command line.
 *
 * tocsin [-c FILE] COMMAND [ARGS]: one binary, sysexits exit codes (see
 * tocsin(1)).  Each command loads the configuration, does one job and says
 * what it did or why it could not, naming file, line and remedy.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "certs.h"
#include "channel.h"
#include "check.h"
#include "compose.h"
#include "dispatch.h"
#include "drill.h"
#include "escalate.h"
#include "ingest.h"
#include "log.h"
#include "intake.h"
#include "mailack.h"
#include "ack.h"
#include "audit.h"
#include "base.h"
#include "policy.h"
#include "report.h"
#include "request.h"
#include "status.h"
#include "storeadm.h"
#include "desk.h"
#include "verify.h"
#include "store.h"

#define DEFAULT_CONF "/etc/tocsin/tocsin.conf"

struct cmd {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(const char *conf, int argc, char **argv);
};

static int cmd_check(const char *, int, char **);
static int cmd_submit(const char *, int, char **);
static int cmd_status(const char *, int, char **);
static int cmd_report(const char *, int, char **);
static int cmd_drill(const char *, int, char **);
static int cmd_verify(const char *, int, char **);
static int cmd_audit(const char *, int, char **);
static int cmd_serve(const char *, int, char **);
static int cmd_help(const char *, int, char **);
static int cmd_ack(const char *, int, char **);
static int cmd_escalate(const char *, int, char **);
static int cmd_retry(const char *, int, char **);
static int cmd_ingest_mail(const char *, int, char **);
static int cmd_store(const char *, int, char **);
static int cmd_compose(const char *, int, char **);
static int cmd_desk_token(const char *, int, char **);
static int cmd_requests(const char *, int, char **);
static int cmd_relay(const char *, int, char **);

static const struct cmd cmds[] = {
	{ "check", "", "validate the configuration and the contact repository",
	  cmd_check },
	{ "compose", "TEMPLATE [--to ADDRESS]... [--severity S] [--status "
	  "Actual|Exercise] [--set NAME=VALUE]... [--sender ID] [-o FILE] "
	  "[--preview [--team TEAM] [--pdf-dir DIR]] [--sign KEY "
	  "[--gnupg-home DIR]]",
	  "make a CAP alert from a template of the repository, checked as "
	  "submit would; preview who gets what; sign it", cmd_compose },
	{ "submit", "ALERT [--sig SIG]...",
	  "verify, authorise, plan and queue a signed CAP alert", cmd_submit },
	{ "status", "[ALERT [--unacked] [--state STATE] | --open] [--json]",
	  "alerts (--open: those a team still owes an ack for); per team: "
	  "step, deadline, deliveries, ack", cmd_status },
	{ "audit", "verify [--no-checkpoint] [--witness LINE]... | show "
	  "[--since TIME] [--json]",
	  "check the audit log's hash chain against its signed checkpoint; "
	  "or print its records", cmd_audit },
	{ "help", "[COMMAND]", "show this help, or one command's", cmd_help },
	{ "serve", "[--until-idle] [--quiet] [--log-level LEVEL]",
	  "run the dispatcher; --until-idle returns once nothing is due or in "
	  "flight", cmd_serve },
	{ "ack", "ALERT TEAM --by NAME --via HOW [--note TEXT]",
	  "record an ack an operator took (a call, a fax back): it stops the "
	  "team's ladder", cmd_ack },
	{ "escalate", "ALERT TEAM", "move a team that has not acked to its "
	  "ladder's next step now (audited with who ran it)", cmd_escalate },
	{ "retry", "DELIVERY | ALERT [TEAM]", "make dead deliveries due again, "
	  "their attempts forgotten: one, a team's or an alert's (audited)",
	  cmd_retry },
	{ "ingest-mail", "", "record an ack from an e-mail reply on standard "
	  "input (an MTA pipe): signed by a contact's key, or with the code; "
	  "or a team's request for help (a signed text with a line "
	  "\"Request:\")",
	  cmd_ingest_mail },
	{ "report", "ALERT [--format html|json|csv] [-o FILE]",
	  "after-action report: times to first delivery and to ack, "
	  "escalations, unreached teams, failures (default json)", cmd_report },
	{ "drill", "SCENARIO [--format json|html|csv] [-o FILE] [--quiet]",
	  "tabletop exercise on a simulated clock: no message leaves; "
	  "writes the after-action report (default json)", cmd_drill },
	{ "verify-contacts", "[TEAM|GROUP|region:XX|all...] | --stale [--json]",
	  "ask every contact to confirm each of their endpoints with its own "
	  "link or code (an alert of status System, no ladder); --stale lists "
	  "the endpoints not confirmed within gateway.verify_after",
	  cmd_verify },
	{ "store", "backup FILE | prune --before DATE [--dry-run] | copy "
	  "--from STORE --to STORE",
	  "a consistent copy of the store (and its audit checkpoint) taken "
	  "while serve runs; remove the personal data of the alerts "
	  "accepted before DATE; or copy a store into a new one of another "
	  "engine (a SQLite file into PostgreSQL), its audit chain verified",
	  cmd_store },
	{ "requests", "[--all] [--json]", "the teams' requests for help not "
	  "relayed yet (--all: every one), with their text, escaped",
	  cmd_requests },
	{ "relay", "REQUEST --to GROUP|TEAM... [--template NAME] [-o FILE]",
	  "make a team's request into a CAP draft from the desk, unsigned: "
	  "issuers sign and submit it like any alert; the team is told",
	  cmd_relay },
	{ "desk-token", "NAME", "make a fresh token for an operator of the "
	  "desk board (/desk): prints it once, and the line for "
	  "gateway.desk_tokens", cmd_desk_token },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *out)
{
	fprintf(out, "usage: tocsin [-c FILE] COMMAND [ARGS]\n\n"
	    "  -c FILE   configuration file (default %s)\n\ncommands:\n",
	    DEFAULT_CONF);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-16s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out, "\n'tocsin help COMMAND' shows a command's arguments; "
	    "tocsin(1) has the details.\nexit codes: 0 ok, 64 usage, 65 bad "
	    "data, 66 no input, 69 unavailable, 75 temporary failure,\n"
	    "77 permission (signature, authorisation, replay), 78 "
	    "configuration\n");
}

static int
cmd_help(const char *conf, int argc, char **argv)
{
	(void)conf;
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, argv[1]) == 0) {
			printf("usage: tocsin [-c FILE] %s %s\n  %s\n",
			    cmds[i].name, cmds[i].args, cmds[i].summary);
			return 0;
		}
	fprintf(stderr, "tocsin: no command '%s'; see 'tocsin help'\n", argv[1]);
	return EX_USAGE;
}

static int
fail(const char *what, const struct tocsin_err *e, int code)
{
	fprintf(stderr, "tocsin %s: %s\n", what, e->msg);
	return tocsin_exit_code(code);
}

static int
load_repo(const char *conf, struct policy_repo **repo)
{
	struct tocsin_err e;
	int rc;

	if ((rc = policy_load(conf, repo, NULL, &e)) != 0) {
		fprintf(stderr, "tocsin: %s\n(run 'tocsin -c %s check' for "
		    "every problem)\n", e.msg, conf);
		return tocsin_exit_code(rc);
	}
	return 0;
}

/* After a command that may have appended to the audit log: its head
   signed, a failure said as a warning (audit_anchor_exit). */
static void
anchor(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx)
{
	audit_anchor_exit(repo, st, cx, (int64_t)time(NULL), base_log_file,
	    stderr);
}

static int
cmd_check(const char *conf, int argc, char **argv)
{
	struct policy_diag diag;
	struct policy_repo *repo = NULL;
	struct tocsin_err e;
	char engine[512] = "";
	size_t teams = 0, contacts = 0;
	int rc;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tocsin [-c FILE] check\n");
		return EX_USAGE;
	}
	policy_diag_init(&diag);
	rc = check_load(conf, &repo, &diag, &e);
	if (repo != NULL) {
		check_stale(repo, (int64_t)time(NULL), &diag);
		check_modes(repo, &diag);
		check_engine(repo, &diag, engine, sizeof(engine));
		teams = repo->nteams;
		for (size_t t = 0; t < repo->nteams; t++)
			contacts += repo->teams[t].ncontacts;
	}
	check_print(stdout, &diag);
	if (engine[0] != '\0')
		printf("%s\n", engine);
	if (repo != NULL && diag.errors == 0 && rc == 0)
		check_explain_quorum(stdout, repo);
	if (diag.errors == 0 && rc == 0)
		printf("%s: ok: %zu teams, %zu contacts, %zu issuers, %zu "
		    "warnings\n", conf, teams, contacts,
		    repo ? repo->nissuers : 0, diag.warnings);
	else
		printf("%s: %zu errors, %zu warnings\n", conf,
		    diag.errors ? diag.errors : 1, diag.warnings);
	rc = diag.errors == 0 && rc == 0 ? 0 : EX_CONFIG;
	policy_diag_free(&diag);
	policy_free(repo);
	return rc;
}

/* The teams whose language an accepted alert has no text in, said on
   stderr: they get it in another language. */
static void
submit_language_warning(const struct policy_repo *repo, const char *path)
{
	struct cap_alert *a = NULL;
	struct base_buf b;
	struct tocsin_err e;
	bool *mark = calloc(repo->nteams + 1, sizeof(*mark));
	char *xml = NULL;
	size_t len = 0, nt = 0, n;

	base_buf_init(&b, 64 * 1024);
	if (mark != NULL && intake_read_file(path, repo->gateway.max_alert_bytes
	    > 0 ? repo->gateway.max_alert_bytes : 256 * 1024, &xml, &len,
	    &e) == 0 && compose_check(repo, xml, len, &a, mark, &nt, &e) == 0 &&
	    (n = compose_language_gaps(repo, a, mark, &b)) > 0 && b.p != NULL)
		fprintf(stderr, "tocsin submit: warning: %zu team%s will read a "
		    "text that is not in their primary contact's first "
		    "language:\n%s", n, n == 1 ? "" : "s", b.p);
	base_buf_free(&b);
	cap_free(a);
	free(xml);
	free(mark);
}

/* A file written whole: aside, then renamed, mode 0644 (an alert and its
   signature are for issuers to pass around). */
static int
write_whole(const char *path, const char *data, size_t len,
    struct tocsin_err *e)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return tocsin_fail(e, TOCSIN_EUSAGE, "the path %s is too long",
		    path);
	if ((f = fopen(tmp, "wx")) == NULL)
		return tocsin_fail(e, TOCSIN_EIO, "cannot write %s: %s", tmp,
		    strerror(errno));
	if (fwrite(data, 1, len, f) != len || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		(void)fclose(f);
		(void)unlink(tmp);
		return tocsin_fail(e, TOCSIN_EIO, "cannot write %s: %s", tmp,
		    strerror(errno));
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return tocsin_fail(e, TOCSIN_EIO, "cannot write %s: %s", path,
		    strerror(errno));
	}
	return 0;
}

/* The signing key of --sign: an issuer's name (its OpenPGP key) or a
   fingerprint, into fpr; the issuer's name into who. */
static int
compose_signer(const struct policy_repo *repo, const char *key,
    char fpr[POLICY_FPR_LEN + 1], const char **who, struct tocsin_err *e)
{
	for (size_t i = 0; i < repo->nissuers; i++) {
		const struct policy_issuer *is = &repo->issuers[i];

		if (is->openpgp[0] != '\0' && (strcmp(is->name, key) == 0 ||
		    strcasecmp(is->openpgp, key) == 0)) {
			memcpy(fpr, is->openpgp, POLICY_FPR_LEN + 1);
			*who = is->name;
			return 0;
		}
	}
	return tocsin_fail(e, TOCSIN_EUSAGE, "--sign %.60s is no issuer of the "
	    "configuration with an OpenPGP key (give its name or its key's "
	    "fingerprint)", key);
}

/* The desk as a CAP sender, at the gateway's own host: into buf. */
static const char *
desk_sender(const struct policy_repo *repo, char *buf, size_t len)
{
	const char *u = repo->gateway.public_url, *h;
	size_t n;

	h = u != NULL && strstr(u, "://") != NULL ? strstr(u, "://") + 3 :
	    "tocsin.invalid";
	n = strcspn(h, ":/");
	(void)snprintf(buf, len, "desk@%.*s", (int)(n < 200 ? n : 200), h);
	return buf;
}

static int
cmd_compose(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "severity", required_argument, NULL, 'v' },
		{ "status", required_argument, NULL, 'S' },
		{ "set", required_argument, NULL, 's' },
		{ "sender", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "preview", no_argument, NULL, 'p' },
		{ "team", required_argument, NULL, 'T' },
		{ "pdf-dir", required_argument, NULL, 'd' },
		{ "sign", required_argument, NULL, 'k' },
		{ "gnupg-home", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	static const char use[] = "usage: tocsin compose TEMPLATE [--to "
	    "ADDRESS]... [--severity S] [--status Actual|Exercise] [--set "
	    "NAME=VALUE]... [--sender ID] [-o FILE] [--preview [--team TEAM] "
	    "[--pdf-dir DIR]] [--sign KEY [--gnupg-home DIR]]\n";
	const char *to[64], *set[COMPOSE_MAX_SET + 1];
	const char *out = NULL, *team = NULL, *dir = NULL, *key = NULL;
	const char *home = NULL, *sender = NULL, *who = NULL;
	struct compose_req rq = { 0 };
	struct policy_repo *repo = NULL;
	struct cap_alert *alert = NULL;
	struct certs_ctx *cx = NULL;
	struct tocsin_err e = { 0 };
	struct base_buf pv;
	bool preview = false, *mark = NULL;
	char *xml = NULL, *sig = NULL, fpr[POLICY_FPR_LEN + 1], micalg[32];
	char sender_buf[300];
	size_t len = 0, siglen = 0, nt = 0;
	int ch, rc;

	optind = 1;
	base_buf_init(&pv, 8 * 1024 * 1024);
	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (rq.nto == sizeof(to) / sizeof(to[0])) {
				fprintf(stderr, "tocsin compose: at most 64 --to\n");
				return EX_USAGE;
			}
			to[rq.nto++] = optarg;
			break;
		case 'v':
			if ((rq.severity = policy_severity_parse(optarg)) ==
			    POLICY_SEV_UNKNOWN) {
				fprintf(stderr, "tocsin compose: --severity is "
				    "Extreme, Severe, Moderate or Minor\n");
				return EX_USAGE;
			}
			break;
		case 'S': rq.status = optarg; break;
		case 's':
			if (rq.nset == COMPOSE_MAX_SET) {
				fprintf(stderr, "tocsin compose: at most %d "
				    "--set\n", COMPOSE_MAX_SET);
				return EX_USAGE;
			}
			set[rq.nset++] = optarg;
			break;
		case 'n': sender = optarg; break;
		case 'o': out = optarg; break;
		case 'p': preview = true; break;
		case 'T': team = optarg; break;
		case 'd': dir = optarg; break;
		case 'k': key = optarg; break;
		case 'g': home = optarg; break;
		default:
			fputs(use, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1 || ((team != NULL || dir != NULL) && !preview) ||
	    (home != NULL && key == NULL)) {
		fputs(use, stderr);
		return EX_USAGE;
	}
	if (key != NULL && out == NULL) {
		fprintf(stderr, "tocsin compose: --sign needs -o FILE: the "
		    "signature goes beside it\n");
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rq.tmpl = policy_template_find(repo, argv[optind])) == NULL) {
		fprintf(stderr, "tocsin compose: no template %.60s in the "
		    "configuration's templates section%s\n", argv[optind],
		    repo->ntemplates == 0 ? " (it has none; see "
		    "examples/templates.conf)" : "");
		rc = EX_USAGE;
		goto done;
	}
	if (sender == NULL)
		sender = desk_sender(repo, sender_buf, sizeof(sender_buf));
	rq.to = to;
	rq.set = set;
	rq.sender = sender;
	rq.now = (int64_t)time(NULL);
	if ((mark = calloc(repo->nteams + 1, sizeof(*mark))) == NULL) {
		rc = EX_OSERR;
		goto done;
	}
	if ((rc = compose_build(&rq, &xml, &len, &e)) != 0 ||
	    (rc = compose_check(repo, xml, len, &alert, mark, &nt, &e)) != 0) {
		rc = fail("compose", &e, rc);
		goto done;
	}
	if (preview) {
		if ((rc = chan_global_init(&e)) != 0 ||
		    (rc = compose_preview(repo, alert, mark, team, dir, &pv,
		    &e)) != 0) {
			rc = fail("compose", &e, rc);
			goto done;
		}
		fwrite(pv.p, 1, pv.len, stdout);
	}
	if (out == NULL && !preview)
		fwrite(xml, 1, len, stdout);
	if (out != NULL && (rc = write_whole(out, xml, len, &e)) != 0) {
		rc = fail("compose", &e, rc);
		goto done;
	}
	if (key != NULL) {
		char path[4096];

		if ((rc = compose_signer(repo, key, fpr, &who, &e)) != 0 ||
		    (rc = certs_open(home, &cx, &e)) != 0 ||
		    (rc = certs_sign_detached(cx, fpr, xml, len, &sig, &siglen,
		    micalg, &e)) != 0) {
			rc = fail("compose", &e, rc);
			goto done;
		}
		(void)snprintf(path, sizeof(path), "%s.%s.asc", out, who);
		if ((rc = write_whole(path, sig, siglen, &e)) != 0) {
			rc = fail("compose", &e, rc);
			goto done;
		}
		fprintf(stderr, "tocsin compose: signed by %s into %s\n", who,
		    path);
	}
	if (out != NULL)
		fprintf(stderr, "tocsin compose: %s: %zu team%s; submit it with "
		    "each issuer's signature: tocsin submit %s --sig ...\n",
		    out, nt, nt == 1 ? "" : "s", out);
	rc = 0;
done:
	base_buf_free(&pv);
	certs_close(cx);
	cap_free(alert);
	free(xml);
	free(sig);
	free(mark);
	policy_free(repo);
	return rc;
}

static int
cmd_submit(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sig", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sigs[CERTS_MAX_SIGS];
	struct intake_request rq = { 0 };
	struct intake_result res;
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct certs_ctx *cx = NULL;
	struct tocsin_err e;
	char actor[128];
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		if (ch != 's') {
			fprintf(stderr, "usage: tocsin submit ALERT [--sig SIG]...\n");
			return EX_USAGE;
		}
		if (rq.nsigs == CERTS_MAX_SIGS) {
			fprintf(stderr, "tocsin submit: at most %d --sig\n",
			    CERTS_MAX_SIGS);
			return EX_USAGE;
		}
		sigs[rq.nsigs++] = optarg;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: tocsin submit ALERT [--sig SIG]...\n");
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	rq.alert_path = argv[optind];
	rq.sig_paths = sigs;
	rq.actor = audit_actor(actor, sizeof(actor));
	rq.now = (int64_t)time(NULL);
	if ((rc = store_open(repo->gateway.store, &st, &e)) != 0 ||
	    (rc = certs_open(repo->gateway.gnupg_home, &cx, &e)) != 0) {
		rc = fail("submit", &e, rc);
		goto out;
	}
	if ((rc = intake_submit(repo, st, cx, &rq, &res, &e)) != 0) {
		rc = fail("submit", &e, rc);
		goto out;
	}
	/* the alert is stored: its id goes out now, whatever happens after
	   (the audit anchor below signs through gpg, and a child process
	   must not find it still in the buffer) */
	printf("%s\n", res.alert_id);
	fflush(stdout);
	submit_language_warning(repo, rq.alert_path);
	fprintf(stderr, "tocsin submit: accepted %s as alert %s: %zu teams, "
	    "%zu deliveries planned; signed by", res.identifier, res.alert_id,
	    res.nteams, res.ndeliveries);
	for (size_t i = 0; i < res.nissuers; i++)
		fprintf(stderr, "%s %s", i ? "," : "", res.issuers[i]);
	fputc('\n', stderr);
out:
	anchor(repo, st, cx);
	certs_close(cx);
	store_close(st);
	policy_free(repo);
	return rc;
}

/*
 * Give back to the system the memory a repository's reading left free.
 * libconfig's trees are freed once the repository is built (the teams
 * list is read a slice of teams at a time; one that cannot be is a tree
 * of about 2 KiB a contact, 31 MiB at 15,000), but the repository's own
 * strings sit between their nodes, so the heap cannot shrink from the
 * top and the freed pages would stay resident for the whole life of
 * serve.
 */
static void
serve_trim(void)
{
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

static int
serve_reload_check(void *arg, struct tocsin_err *err)
{
	int rc = check_reload(arg, err);

	serve_trim();
	return rc;
}

/* After a reload: this program again, with the same configuration path
   and serve's arguments, in this process (systemd's main PID stays). */
static int
serve_again(const char *conf, int argc, char **argv)
{
	char *av[16];
	int n = 0;

	av[n++] = (char *)"tocsin";
	av[n++] = (char *)"-c";
	av[n++] = (char *)conf;
	for (int i = 0; i < argc && n < 15; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	fflush(NULL);
	execv("/proc/self/exe", av);
	fprintf(stderr, "tocsin serve: cannot start again after the reload "
	    "(%s); start serve again by hand\n", strerror(errno));
	return EX_OSERR;
}

static int
cmd_serve(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "until-idle", no_argument, NULL, 'u' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "log-level", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] = "usage: tocsin serve [--until-idle] "
	    "[--quiet] [--log-level LEVEL]\n";
	struct dispatch_opts o = { .progress = stderr };
	struct log_sink sink;
	int level = TLOG_NOTICE;
	struct policy_repo *repo = NULL;
	struct tocsin_err e;
	bool reexec = false;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "uql:", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o.until_idle = true;
			break;
		case 'q':
			o.progress = NULL;
			break;
		case 'l':
			if ((level = log_level_parse(optarg)) >= 0)
				break;
			fprintf(stderr, "tocsin serve: --log-level is one of "
			    "err, warning, notice, info, debug\n");
			/* FALLTHROUGH */
		default:
			fputs(usage_line, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	serve_trim();
	log_sink_init(&sink, stderr, level, "tocsin serve");
	o.log = &sink;
	o.reload_check = serve_reload_check;
	o.reload_arg = (void *)conf;
	o.reexec = &reexec;
	if ((rc = dispatch_serve(repo, &o, &e)) != 0)
		rc = fail("serve", &e, rc);
	policy_free(repo);
	log_sink_fini(&sink);
	if (rc == 0 && reexec)
		rc = serve_again(conf, argc, argv);
	return rc;
}

/* What the overview tells beside the alerts; what cannot be read is
   left out (-1), as the alerts still are worth showing. */
static void
status_more_of(const struct policy_repo *repo, struct store *st,
    struct status_more *m)
{
	struct store_request_row *rq = NULL;
	struct verify_contact *v = NULL;
	struct tocsin_err e = { 0 };
	size_t nrq = 0, n = 0, total = 0;

	*m = (struct status_more){ .requests_open = -1, .stale_contacts = -1,
		.contacts = -1, .stale_endpoints = -1,
		.stale_days = (long)(repo->gateway.verify_after / 86400) };
	if (store_requests(st, true, &rq, &nrq, &e) == 0)
		m->requests_open = (long)nrq;
	store_request_rows_free(rq, nrq);
	if (verify_stale(repo, st, (int64_t)time(NULL), &v, &n, &total,
	    &e) == 0) {
		m->stale_contacts = (long)verify_stale_contacts(v, n);
		m->contacts = (long)total;
		m->stale_endpoints = (long)n;
	}
	free(v);
}

static int
cmd_status(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "unacked", no_argument, NULL, 'u' },
		{ "state", required_argument, NULL, 's' },
		{ "open", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] = "usage: tocsin status [ALERT "
	    "[--unacked] [--state STATE] | --open] [--json]\n";
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e;
	struct status_filter f = { 0 };
	bool json = false, open = false;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "jus:o", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'o')
			open = true;
		else if (ch == 'u')
			f.unacked = true;
		else if (ch == 's' && status_state_ok(optarg))
			f.state = optarg;
		else {
			if (ch == 's')
				fprintf(stderr, "tocsin status: --state is one "
				    "of active, held, acked, unreached, "
				    "cancelled, updated, told, checking\n");
			fputs(usage_line, stderr);
			return EX_USAGE;
		}
	}
	/* --unacked and --state choose teams of one alert; --open chooses
	   alerts of the list */
	if (argc - optind > 1 || ((f.unacked || f.state != NULL) &&
	    argc - optind != 1) || (open && argc - optind != 0)) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) == 0) {
		if (optind < argc)
			rc = status_alert(st, argv[optind], &f, stdout, json,
			    &e);
		else {
			struct status_more more;

			status_more_of(repo, st, &more);
			rc = status_alerts(st, &more, stdout, json, open,
			    &e);
		}
	}
	if (rc != 0)
		rc = fail("status", &e, rc);
	store_close(st);
	policy_free(repo);
	return rc;
}

static int
cmd_relay(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "template", required_argument, NULL, 'T' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] = "usage: tocsin relay REQUEST --to "
	    "GROUP|TEAM... [--template NAME] [-o FILE]\n";
	const char *to[COMPOSE_MAX_SET], *tname = NULL, *out = NULL;
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e = { 0 };
	char sender_buf[256], ident[96], *xml = NULL;
	size_t nto = 0, len = 0;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "t:T:o:", opts, NULL)) != -1) {
		if (ch == 't' && nto < COMPOSE_MAX_SET)
			to[nto++] = optarg;
		else if (ch == 'T')
			tname = optarg;
		else if (ch == 'o')
			out = optarg;
		else {
			fputs(usage_line, stderr);
			return EX_USAGE;
		}
	}
	/* "--to a b c": the words after the request are addresses too */
	for (int i = optind + 1; i < argc && nto > 0 && nto < COMPOSE_MAX_SET;
	    i++)
		to[nto++] = argv[i];
	if (argc - optind < 1 || nto == 0 || (int)nto < argc - optind - 1) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	{
		struct request_relay_in rin = { .id = argv[optind], .to = to,
			.nto = nto, .sender = desk_sender(repo, sender_buf,
			    sizeof(sender_buf)) };
		struct request_ctx c = { .repo = repo, .now = (int64_t)time(NULL),
			.actor = "operator", .log = base_log_file,
			.log_arg = stderr };

		if (tname != NULL && (rin.tmpl = policy_template_find(repo,
		    tname)) == NULL)
			rc = tocsin_fail(&e, TOCSIN_EUSAGE, "no template %.60s in "
			    "the configuration's templates section", tname);
		else if ((rc = store_open(repo->gateway.store, &st, &e)) == 0) {
			c.st = st;
			rc = request_relay(&c, &rin, &xml, &len, ident, &e);
		}
	}
	if (rc == 0 && out != NULL)
		rc = write_whole(out, xml, len, &e);
	else if (rc == 0)
		fwrite(xml, 1, len, stdout);
	if (rc == 0)
		fprintf(stderr, "tocsin relay: request %s is draft %s%s%s, not "
		    "signed: issuers sign it and submit it like any alert "
		    "(tocsin submit FILE --sig ...); the team is told\n",
		    argv[optind], ident, out != NULL ? " in " : "",
		    out != NULL ? out : "");
	else
		rc = fail("relay", &e, rc);
	free(xml);
	store_close(st);
	policy_free(repo);
	return rc;
}

static int
cmd_requests(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e = { 0 };
	bool json = false, all = false;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "ja", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'a')
			all = true;
		else {
			fputs("usage: tocsin requests [--all] [--json]\n",
			    stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs("usage: tocsin requests [--all] [--json]\n", stderr);
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) == 0)
		rc = request_list(st, stdout, json, all, NULL, &e);
	if (rc != 0)
		rc = fail("requests", &e, rc);
	store_close(st);
	policy_free(repo);
	return rc;
}

/* What report and drill take: one argument, --format, -o and (drill)
   --quiet.  0 with optind at the argument, or EX_USAGE said. */
struct report_opts {
	const char *format, *out;
	bool quiet;
};

static int
report_opts(int argc, char **argv, bool quiet_too, const char *usage_line,
    struct report_opts *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct report_opts){ .format = "json" };
	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:o:q", opts, NULL)) != -1) {
		if (ch == 'f')
			o->format = optarg;
		else if (ch == 'o')
			o->out = optarg;
		else if (ch == 'q' && quiet_too)
			o->quiet = true;
		else
			break;
	}
	if (ch != -1 || argc - optind != 1 || (strcmp(o->format, "json") != 0 &&
	    strcmp(o->format, "csv") != 0 && strcmp(o->format, "html") != 0)) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	return 0;
}

static int
cmd_report(const char *conf, int argc, char **argv)
{
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct report *r = NULL;
	struct report_opts o;
	struct tocsin_err e;
	const char *format, *out;
	int rc;

	if (report_opts(argc, argv, false, "usage: tocsin report ALERT "
	    "[--format html|json|csv] [-o FILE]\n", &o) != 0)
		return EX_USAGE;
	format = o.format;
	out = o.out;
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) == 0 &&
	    (rc = report_build(st, repo, argv[optind], &r, &e)) == 0)
		rc = report_write(r, format, out, &e);
	if (rc != 0)
		rc = fail("report", &e, rc);
	else if (out != NULL)
		fprintf(stderr, "tocsin report: %s written (%zu teams: %zu "
		    "acked, %zu unreached, %zu pending)\n", out, r->nteams,
		    r->nacked, r->nunreached, r->npending);
	report_free(r);
	store_close(st);
	policy_free(repo);
	return rc;
}

static void
drill_progress(void *arg, int64_t sim, size_t acked, size_t teams)
{
	(void)arg;
	fprintf(stderr, "tocsin drill: +%lldh simulated: %zu of %zu teams "
	    "acknowledged\n", (long long)(sim / 3600), acked, teams);
}

static int
cmd_drill(const char *conf, int argc, char **argv)
{
	struct policy_repo *repo = NULL;
	struct drill_scenario *sc = NULL;
	struct report *r = NULL;
	struct report_opts o;
	struct tocsin_err e;
	struct timespec t0, t1;
	const char *format, *out;
	bool quiet;
	int rc;

	if (report_opts(argc, argv, true, "usage: tocsin drill SCENARIO "
	    "[--format json|html|csv] [-o FILE] [--quiet]\n", &o) != 0)
		return EX_USAGE;
	format = o.format;
	out = o.out;
	quiet = o.quiet;
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = drill_scenario_load(argv[optind], repo, &sc, &e)) == 0 &&
	    (rc = drill_run(repo, sc, quiet ? NULL : drill_progress, NULL, &r,
	    &e)) == 0)
		rc = report_write(r, format, out, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != 0)
		rc = fail("drill", &e, rc);
	else if (!quiet)
		fprintf(stderr, "tocsin drill: %zu teams: %zu acknowledged, %zu "
		    "unreached, %zu pending; %zu escalations; %.1f s%s%s\n",
		    r->nteams, r->nacked, r->nunreached, r->npending,
		    r->nescalations, (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		    out != NULL ? "; report in " : "", out != NULL ? out : "");
	report_free(r);
	drill_scenario_free(sc);
	policy_free(repo);
	return rc;
}

static int
cmd_verify(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stale", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] = "usage: tocsin verify-contacts "
	    "[TEAM|GROUP|region:XX|all...] | --stale [--json]\n";
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct certs_ctx *cx = NULL;
	struct tocsin_err e;
	bool stale = false, json = false;
	char actor[128];
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "sj", opts, NULL)) != -1) {
		if (ch == 's')
			stale = true;
		else if (ch == 'j')
			json = true;
		else {
			fputs(usage_line, stderr);
			return EX_USAGE;
		}
	}
	if ((json && !stale) || (stale && optind < argc)) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	for (int i = optind; i < argc; i++)
		if (!base_text_ok(argv[i], 64)) {
			fputs(usage_line, stderr);
			return EX_USAGE;
		}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) != 0 ||
	    (!stale && (rc = certs_open(repo->gateway.gnupg_home, &cx, &e))
	    != 0))
		goto out;
	if (stale) {
		struct verify_contact *v = NULL;
		size_t n = 0, total = 0;

		if ((rc = verify_stale(repo, st, (int64_t)time(NULL), &v, &n,
		    &total, &e)) == 0)
			verify_print(stdout, v, n, total,
			    repo->gateway.verify_after, json);
		free(v);
	} else {
		struct verify_result res;

		if ((rc = verify_campaign(repo, st, cx, (const char *const *)argv +
		    optind, (size_t)(argc - optind), (int64_t)time(NULL),
		    audit_actor(actor, sizeof(actor)), &res, &e)) == 0) {
			printf("%s\n", res.alert_id);
			fprintf(stderr, "tocsin verify-contacts: check %s queued: "
			    "%zu teams, %zu messages; serve sends them, and each "
			    "contact who answers is confirmed\n", res.alert_id,
			    res.nteams, res.ndeliveries);
		}
	}
out:
	if (rc != 0)
		rc = fail("verify-contacts", &e, rc);
	if (!stale)
		anchor(repo, st, cx);
	certs_close(cx);
	store_close(st);
	policy_free(repo);
	return rc;
}

#define AUDIT_MAX_WITNESSES 16

static int
cmd_audit(const char *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-checkpoint", no_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "witness", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] = "usage: tocsin audit verify "
	    "[--no-checkpoint] [--witness LINE]... | show [--since TIME] "
	    "[--json]\n";
	const char *wit[AUDIT_MAX_WITNESSES];
	size_t nwit = 0;
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e;
	bool verify, no_cp = false, json = false;
	int64_t since = 0;
	int ch, rc;

	if (argc < 2 || (strcmp(argv[1], "verify") != 0 &&
	    strcmp(argv[1], "show") != 0)) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	verify = strcmp(argv[1], "verify") == 0;
	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		if (ch == 'n' && verify)
			no_cp = true;
		else if (ch == 'w' && verify && nwit < AUDIT_MAX_WITNESSES)
			wit[nwit++] = optarg;
		else if (ch == 'j' && !verify)
			json = true;
		else if (ch == 's' && !verify && audit_since_parse(optarg,
		    (int64_t)time(NULL), &since) == 0)
			continue;
		else {
			if (ch == 's' && !verify)
				fprintf(stderr, "tocsin audit show: --since "
				    "takes an RFC 3339 time (2026-12-01T10:00:00Z)"
				    " or a time back from now (-1h, -30m, -2d)\n");
			fputs(usage_line, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) != 0)
		rc = fail("audit", &e, rc);
	else if (verify && (rc = audit_verify(repo, st, no_cp, wit, nwit,
	    stdout, &e)) != 0)
		rc = fail("audit verify", &e, rc);
	else if (!verify && (rc = audit_show(st, since, json, stdout,
	    &e)) != 0)
		rc = fail("audit show", &e, rc);
	store_close(st);
	policy_free(repo);
	return rc;
}

/* Needs no configuration: the token is printed once and only its hash
   goes into the file, which the operator edits by hand. */
static int
cmd_desk_token(const char *conf, int argc, char **argv)
{
	char token[DESK_TOKEN_LEN + 1], line[DESK_NAME_MAX + 80];
	struct tocsin_err e = { 0 };
	int rc;

	(void)conf;
	if (argc != 2) {
		fprintf(stderr, "usage: tocsin desk-token NAME\n");
		return EX_USAGE;
	}
	if ((rc = desk_token_make(argv[1], token, line, sizeof(line),
	    &e)) != 0) {
		fprintf(stderr, "tocsin desk-token: %s\n", e.msg);
		return rc == TOCSIN_EDATA ? EX_USAGE : EX_UNAVAILABLE;
	}
	printf("token for %s (give it to them; it is not shown again):\n%s\n\n"
	    "line for the file named by gateway.desk_tokens (mode 0600):\n"
	    "%s\n", argv[1], token, line);
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

static int
cmd_ack(const char *conf, int argc, char **argv)
{
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e = { 0 };
	struct store_ack_in a = { 0 };
	char via[96], actor[128];
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: tocsin ack ALERT TEAM --by NAME --via HOW "
		    "[--note TEXT]\n");
		return EX_USAGE;
	}
	a.alert_id = argv[1];
	a.team = argv[2];
	for (int i = 3; i < argc; i += 2) {
		const char **slot = strcmp(argv[i], "--by") == 0 ? &a.by :
		    strcmp(argv[i], "--via") == 0 ? &a.via :
		    strcmp(argv[i], "--note") == 0 ? &a.note : NULL;

		if (slot == NULL || i + 1 >= argc) {
			fprintf(stderr, "tocsin ack: unknown or incomplete option "
			    "%s; see 'tocsin help ack'\n", argv[i]);
			return EX_USAGE;
		}
		*slot = argv[i + 1];
	}
	if (a.by == NULL || a.via == NULL || !base_text_ok(a.by, 200) ||
	    !base_text_ok(a.via, 64) || (a.note != NULL &&
	    !base_text_ok(a.note, 1000)) || !base_text_ok(a.alert_id, 64) ||
	    !base_text_ok(a.team, 64)) {
		fprintf(stderr, "tocsin ack: --by NAME and --via HOW are needed "
		    "(e.g. --via phone), printable, NAME at most 200 bytes, "
		    "HOW 64, the note 1000\n");
		return EX_USAGE;
	}
	(void)audit_actor(actor, sizeof(actor));
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) == 0)
		rc = ack_by_operator(repo, st, &a, via, sizeof(via), actor,
		    (int64_t)time(NULL), &e);
	if (rc == 0)
		printf("team %s acknowledged alert %s (by %s, %s): its ladder "
		    "stops\n", a.team, a.alert_id, a.by, a.via);
	else if (rc == 1) {
		printf("team %s had already acknowledged alert %s; this ack is "
		    "recorded too\n", a.team, a.alert_id);
		rc = 0;
	} else
		rc = fail("ack", &e, rc);
	anchor(repo, st, NULL);
	store_close(st);
	policy_free(repo);
	return rc;
}

static int
cmd_escalate(const char *conf, int argc, char **argv)
{
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e = { 0 };
	unsigned char secret[ACK_SECRET_LEN];
	char actor[128];
	struct escalate_env env = { .log = base_log_file, .log_arg = stdout };
	int rc;

	if (argc != 3 || !base_text_ok(argv[1], 64) ||
	    !base_text_ok(argv[2], 64)) {
		fprintf(stderr, "usage: tocsin escalate ALERT TEAM\n");
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	env.repo = repo;
	env.secret = secret;
	env.actor = audit_actor(actor, sizeof(actor));
	env.now = (int64_t)time(NULL);
	if ((rc = ack_secret_load(repo, secret, &e)) == 0 &&
	    (rc = store_open(repo->gateway.store, &st, &e)) == 0)
		rc = escalate_now(st, &env, argv[1], argv[2], &e);
	if (rc != 0)
		rc = fail("escalate", &e, rc);
	anchor(repo, st, NULL);
	OPENSSL_cleanse(secret, sizeof(secret));
	store_close(st);
	policy_free(repo);
	return rc;
}

static int
cmd_retry(const char *conf, int argc, char **argv)
{
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct tocsin_err e = { 0 };
	char actor[128], *end = NULL;
	long long id = 0;
	size_t n = 0;
	int rc;

	if (argc < 2 || argc > 3 || !base_text_ok(argv[1], 64) ||
	    (argc == 3 && !base_text_ok(argv[2], 64))) {
		fprintf(stderr, "usage: tocsin retry DELIVERY | ALERT [TEAM]\n");
		return EX_USAGE;
	}
	/* a number alone is a delivery's id (status --json shows them) */
	if (argc == 2) {
		id = strtoll(argv[1], &end, 10);
		if (end == argv[1] || *end != '\0' || id <= 0)
			id = 0;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &st, &e)) == 0)
		rc = store_retry_dead(st, id > 0 ? NULL : argv[1], argc == 3 ?
		    argv[2] : NULL, id, (int64_t)time(NULL),
		    audit_actor(actor, sizeof(actor)), &n, &e);
	if (rc == 0 && n == 0) {
		fprintf(stderr, "tocsin retry: no dead delivery of %s%s%s; "
		    "'tocsin status %s' shows what there is\n", argv[1],
		    argc == 3 ? " for team " : "", argc == 3 ? argv[2] : "",
		    id > 0 ? "" : argv[1]);
		rc = EX_DATAERR;
	} else if (rc == 0)
		printf("%zu dead deliver%s due again now; serve sends %s\n", n,
		    n == 1 ? "y is" : "ies are", n == 1 ? "it" : "them");
	else
		rc = fail("retry", &e, rc);
	anchor(repo, st, NULL);
	store_close(st);
	policy_free(repo);
	return rc;
}

static int
cmd_ingest_mail(const char *conf, int argc, char **argv)
{
	struct policy_repo *repo = NULL;
	struct store *st = NULL;
	struct certs_ctx *cx = NULL;
	struct ingest_result res;
	struct tocsin_err e = { 0 };
	unsigned char secret[ACK_SECRET_LEN];
	char *raw = NULL;
	size_t len = 0;
	int rc;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tocsin ingest-mail < MESSAGE\n");
		return EX_USAGE;
	}
	if ((rc = ingest_read_fd(STDIN_FILENO, &raw, &len, &e)) != 0) {
		/* the limit is said; out of memory only exits EX_OSERR */
		if (rc == TOCSIN_ETOOBIG)
			fprintf(stderr, "tocsin ingest-mail: %s\n", e.msg);
		return tocsin_exit_code(rc);
	}
	if ((rc = load_repo(conf, &repo)) != 0) {
		free(raw);
		return rc;
	}
	mailack_init();		/* start-up init of GMime, once */
	if ((rc = ack_secret_load(repo, secret, &e)) == 0 &&
	    (rc = store_open(repo->gateway.store, &st, &e)) == 0 &&
	    (rc = certs_open(repo->gateway.gnupg_home, &cx, &e)) == 0) {
		struct ingest_ctx c = { .repo = repo, .st = st, .certs = cx,
			.secret = secret, .now = (int64_t)time(NULL) };

		rc = ingest_mail(&c, raw, len, &res, &e);
	}
	if (rc == 0 && res.is_request)
		printf("team %s: %s request %s by %s (e-mail)%s\n", res.team,
		    res.strength, res.request, res.by, res.page_alert[0] !=
		    '\0' ? "; the desk is paged" : "; the desk was not paged "
		    "(no gateway.desk_team?)");
	else if (rc == 0) {
		printf("team %s: %s ack of alert %s by %s (e-mail)%s\n",
		    res.team, res.strength, res.alert, res.by,
		    res.recorded_only ? "; recorded only: the team's policy "
		    "does not count unsigned acks" : res.repeat ? "; a repeat" :
		    "; its ladder stops");
		if (res.sig_note[0] != '\0')
			printf("its signature made no signed ack: %s\n",
			    res.sig_note);
	} else
		rc = fail("ingest-mail", &e, rc);
	anchor(repo, st, cx);
	OPENSSL_cleanse(secret, sizeof(secret));
	free(raw);
	certs_close(cx);
	store_close(st);
	policy_free(repo);
	mailack_shutdown();
	return rc;
}

/* store backup FILE | store prune --before DATE [--dry-run]: the
   arguments; storeadm.c does the work. */
/* tocsin store copy: no configuration needed, both stores are named. */
static int
cmd_store_copy(int argc, char **argv, const char *usage_line)
{
	const char *from = NULL, *to = NULL;
	struct tocsin_err e;
	char actor[128];
	int rc;

	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else
			from = to = NULL, i = argc;
	if (from == NULL || to == NULL || from[0] == '\0' || to[0] == '\0') {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	if ((rc = storeadm_copy(from, to, audit_actor(actor, sizeof(actor)),
	    stdout, stderr, &e)) != 0)
		return fail("store copy", &e, rc);
	return 0;
}

static int
cmd_store(const char *conf, int argc, char **argv)
{
	static const char usage_line[] = "usage: tocsin store backup FILE | "
	    "prune --before DATE [--dry-run] | copy --from STORE --to STORE\n";
	struct policy_repo *repo = NULL;
	struct tocsin_err e;
	const char *before = NULL;
	bool prune = argc >= 2 && strcmp(argv[1], "prune") == 0;
	bool dry_run = false, bad = false;
	int64_t t = 0;
	char actor[128];
	int rc;

	if (argc >= 2 && strcmp(argv[1], "copy") == 0)
		return cmd_store_copy(argc, argv, usage_line);
	for (int i = 2; prune && !bad && i < argc; i++)
		if (strcmp(argv[i], "--dry-run") == 0)
			dry_run = true;
		else if (strcmp(argv[i], "--before") == 0 && i + 1 < argc)
			before = argv[++i];
		else
			bad = true;
	if (prune ? bad || before == NULL : argc != 3 ||
	    strcmp(argv[1], "backup") != 0 || argv[2][0] == '\0') {
		fputs(usage_line, stderr);
		return EX_USAGE;
	}
	if (prune && storeadm_date_parse(before, &t) != 0) {
		fprintf(stderr, "tocsin store prune: --before takes an ISO 8601 "
		    "date (2026-01-31) or date-time in UTC "
		    "(2026-01-31T12:00:00Z)\n");
		return EX_USAGE;
	}
	if ((rc = load_repo(conf, &repo)) != 0)
		return rc;
	if (prune)
		rc = storeadm_prune(repo, t, dry_run, audit_actor(actor,
		    sizeof(actor)), stdout, stderr, &e);
	else
		rc = storeadm_backup(repo, argv[2], stdout, stderr, &e);
	if (rc != 0)
		rc = fail(prune ? "store prune" : "store backup", &e, rc);
	policy_free(repo);
	return rc;
}

#if defined(__has_feature) && !defined(__SANITIZE_ADDRESS__)
#if __has_feature(address_sanitizer)
#define __SANITIZE_ADDRESS__ 1	/* clang names it so */
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
/*
 * fontconfig links what it keeps (its configuration, its caches) by
 * offsets rather than pointers, so LeakSanitizer takes them for leaks at
 * exit.  They were freed by FcFini, which cannot run safely while Pango's
 * own threads may hold a cache (see channels/faxpdf.c); the gateway never
 * allocates through fontconfig itself, so its module is left out of the
 * leak report.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}

/* and no table of the suppressions used at exit: standard error carries
   the gateway's log lines alone */
const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}
#endif

int
main(int argc, char **argv)
{
	const char *conf = DEFAULT_CONF;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if ((strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			conf = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("tocsin 0.1.0\n");
			return 0;
		} else {
			fprintf(stderr, "tocsin: unknown option %s\n", argv[i]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t k = 0; k < NCMDS; k++)
		if (strcmp(cmds[k].name, argv[i]) == 0) {
			if (argc - i > 1 && (strcmp(argv[i + 1], "--help") == 0 ||
			    strcmp(argv[i + 1], "-h") == 0)) {
				char *hv[] = { "help", argv[i], NULL };

				return cmd_help(conf, 2, hv);
			}
			{
				struct tocsin_err e;

				/* Start-up, before any thread: libcurl, and the
				   channels' kinds for the repository reader. */
				if (chan_global_init(&e) != 0) {
					fprintf(stderr, "tocsin: %s\n", e.msg);
					return EX_UNAVAILABLE;
				}
			}
			return cmds[k].run(conf, argc - i, argv + i);
		}
	fprintf(stderr, "tocsin: no command '%s'\n", argv[i]);
	usage(stderr);
	return EX_USAGE;
}
