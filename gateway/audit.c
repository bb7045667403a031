/*
 * audit.c: the audit log's checkpoint, its witnesses, `audit verify` and
 * `audit show`, and the name a command is audited under.
 *
 * The checkpoint is a text of four lines (magic, seq, hash, time),
 * clear-signed by the gateway key and kept beside the store as
 * STORE.checkpoint (for a PostgreSQL store, by each node as
 * audit.checkpoint beside its ack secret).  Trust model: whoever can
 * write the store can also write that folder, but cannot sign with the
 * gateway key (held by gpg-agent under the gateway's GnuPG home).  They can remove the file
 * (verify then says there is none), or put back an older checkpoint
 * together with a log cut back to it: that is found only by the
 * witnesses, the "Audit-Head:" lines of the signed messages recipients
 * hold.  Records appended after the last checkpoint can be removed
 * unnoticed: commands sign the head before they exit, serve at most every
 * AUDIT_CP_EVERY_MS (tocsin(1) states the window).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "base.h"
#include "cap.h"
#include "jsonw.h"
#include "status.h"

#define AUDIT_SEQ_DIGITS 18

int
audit_checkpoint_format(const struct audit_checkpoint *cp, char *buf,
    size_t len, struct tocsin_err *err)
{
	char tb[32];
	int n;

	n = snprintf(buf, len, "%s\nseq: %lld\nhash: %s\ntime: %s\n",
	    AUDIT_CP_MAGIC, (long long)cp->seq, cp->hash,
	    jsonw_fmt_time(cp->time, tb, sizeof(tb)));
	if (n < 0 || (size_t)n >= len)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the checkpoint does "
		    "not fit its buffer");
	return 0;
}

/* The next line of [*p, end) without its LF (and CR): 0, or -1 at the
   end.  A NUL inside makes the line not match anything. */
static int
cp_line(const char **p, const char *end, const char **ret, size_t *ret_len)
{
	const char *s = *p, *nl;

	if (s >= end)
		return -1;
	nl = memchr(s, '\n', (size_t)(end - s));
	*ret = s;
	*ret_len = (size_t)((nl != NULL ? nl : end) - s);
	*p = nl != NULL ? nl + 1 : end;
	if (*ret_len > 0 && s[*ret_len - 1] == '\r')
		(*ret_len)--;
	return 0;
}

/* "key: value" with value copied into v (size vlen): 0, or -1. */
static int
cp_field(const char **p, const char *end, const char *key, char *v,
    size_t vlen)
{
	const char *l;
	size_t n, k = strlen(key);

	if (cp_line(p, end, &l, &n) != 0 || n < k + 2 ||
	    memcmp(l, key, k) != 0 || l[k] != ':' || l[k + 1] != ' ' ||
	    n - k - 2 >= vlen || memchr(l, '\0', n) != NULL)
		return -1;
	memcpy(v, l + k + 2, n - k - 2);
	v[n - k - 2] = '\0';
	return 0;
}

static bool
cp_seq(const char *s, int64_t *ret)
{
	int64_t v = 0;
	size_t i;

	if (s[0] < '1' || s[0] > '9')
		return false;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == AUDIT_SEQ_DIGITS)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return s[i] == '\0';
}

static bool
cp_hash(const char *s)
{
	size_t i;

	for (i = 0; (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
	    s[i] <= 'f'); i++)
		;
	return i == 64 && s[i] == '\0';
}

int
audit_checkpoint_parse(const char *text, size_t len,
    struct audit_checkpoint *ret, struct tocsin_err *err)
{
	const char *p = text, *end = text + len, *l;
	char seq[32], tm[48];
	time_t t;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (len > AUDIT_CP_TEXT_MAX)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the checkpoint's text "
		    "is over %d bytes", AUDIT_CP_TEXT_MAX);
	if (cp_line(&p, end, &l, &n) != 0 || n != strlen(AUDIT_CP_MAGIC) ||
	    memcmp(l, AUDIT_CP_MAGIC, n) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "the checkpoint does not "
		    "start with \"%s\"", AUDIT_CP_MAGIC);
	if (cp_field(&p, end, "seq", seq, sizeof(seq)) != 0 ||
	    !cp_seq(seq, &ret->seq))
		return tocsin_fail(err, TOCSIN_EDATA, "the checkpoint's second "
		    "line is not \"seq: \" and a record number");
	if (cp_field(&p, end, "hash", ret->hash, sizeof(ret->hash)) != 0 ||
	    !cp_hash(ret->hash))
		return tocsin_fail(err, TOCSIN_EDATA, "the checkpoint's third "
		    "line is not \"hash: \" and 64 lower-case hex digits");
	if (cp_field(&p, end, "time", tm, sizeof(tm)) != 0 ||
	    cap_datetime_parse(tm, &t) != 0 || t <= 0)
		return tocsin_fail(err, TOCSIN_EDATA, "the checkpoint's fourth "
		    "line is not \"time: \" and an RFC 3339 time");
	ret->time = (int64_t)t;
	while (cp_line(&p, end, &l, &n) == 0)
		if (n != 0)
			return tocsin_fail(err, TOCSIN_EDATA, "the checkpoint "
			    "has more than its four lines");
	return 0;
}

int
audit_checkpoint_path(const struct policy_repo *repo, char *buf, size_t len,
    struct tocsin_err *err)
{
	const char *key = repo->gateway.ack_secret, *slash;
	int n;

	/* a PostgreSQL store is no file: each node keeps its checkpoint in
	   the folder of the ack secret it must have (policy/sections.c) */
	if (policy_store_is_pg(repo->gateway.store) && key != NULL &&
	    (slash = strrchr(key, '/')) != NULL)
		n = snprintf(buf, len, "%.*s/audit.checkpoint",
		    (int)(slash - key), key);
	else if (policy_store_is_pg(repo->gateway.store))
		n = snprintf(buf, len, "audit.checkpoint");
	else
		n = snprintf(buf, len, "%s.checkpoint", repo->gateway.store);

	if (n < 0 || (size_t)n >= len)
		return tocsin_fail(err, TOCSIN_ECONFIG, "the store's path is "
		    "too long for its checkpoint's");
	return 0;
}

/* The whole file at path, at most AUDIT_CP_FILE_MAX bytes, into buf
   (size AUDIT_CP_FILE_MAX + 1, NUL-terminated). */
static int
cp_read(const char *path, char *buf, size_t *ret_len, struct tocsin_err *err)
{
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return tocsin_fail(err, errno == ENOENT ? TOCSIN_ENOINPUT :
		    TOCSIN_EIO, "cannot read the audit checkpoint %s: %s", path,
		    strerror(errno));
	while (n <= AUDIT_CP_FILE_MAX && (r = read(fd, buf + n,
	    AUDIT_CP_FILE_MAX + 1 - n)) > 0)
		n += (size_t)r;
	(void)close(fd);
	if (n > AUDIT_CP_FILE_MAX)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the audit checkpoint %s "
		    "is over %d bytes", path, AUDIT_CP_FILE_MAX);
	buf[n] = '\0';
	*ret_len = n;
	return 0;
}

/* The signed text of buf, checked: one good signature by the gateway key. */
static int
cp_verify(const struct policy_repo *repo, struct certs_ctx *cx,
    const char *path, const char *buf, size_t n, struct audit_checkpoint *ret,
    struct tocsin_err *err)
{
	struct certs_sigs sigs = { 0 };
	char *plain = NULL;
	size_t plen = 0;
	int rc;

	if (!certs_is_inline_openpgp(buf, n) || (rc = certs_verify_inline(cx,
	    buf, n, AUDIT_CP_TEXT_MAX, &plain, &plen, &sigs, err)) != 0) {
		free(plain);
		return tocsin_fail(err, TOCSIN_EPERM, "the audit checkpoint %s "
		    "is not a message signed by the gateway key; it is not "
		    "trusted", path);
	}
	if (sigs.n != 1 || !sigs.sig[0].good || strcasecmp(sigs.sig[0].signer,
	    repo->gateway.signing_key) != 0) {
		rc = tocsin_fail(err, TOCSIN_EPERM, "the signature of the audit "
		    "checkpoint %s does not hold (%s); it is not trusted", path,
		    sigs.n != 1 ? "not exactly one signature" :
		    !sigs.sig[0].good ? sigs.sig[0].reason : "not made by "
		    "gateway.signing_key");
		free(plain);
		return rc;
	}
	rc = audit_checkpoint_parse(plain, plen, ret, err);
	free(plain);
	return rc;
}

int
audit_checkpoint_load(const struct policy_repo *repo, struct certs_ctx *cx,
    struct audit_checkpoint *ret, struct tocsin_err *err)
{
	char path[4200];
	char *buf;
	size_t n = 0;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = audit_checkpoint_path(repo, path, sizeof(path), err)) != 0)
		return rc;
	if ((buf = malloc(AUDIT_CP_FILE_MAX + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = cp_read(path, buf, &n, err)) == 0)
		rc = cp_verify(repo, cx, path, buf, n, ret, err);
	free(buf);
	return rc;
}

/* Whether the log holds record seq with hash; who names what says so. */
static int
head_check(struct store *st, int64_t seq, const char *hash, const char *who,
    struct tocsin_err *err)
{
	char have[65], head_hash[65];
	int64_t ts, head = 0;
	int rc;

	rc = store_audit_at(st, seq, have, &ts, err);
	if (rc == TOCSIN_ENOTFOUND) {
		if ((rc = store_audit_head(st, &head, head_hash, err)) != 0)
			return rc;
		return tocsin_fail(err, TOCSIN_EDATA, "truncated: %s names "
		    "record %lld, the log ends at %lld", who, (long long)seq,
		    (long long)head);
	}
	if (rc != 0)
		return rc;
	if (strcmp(have, hash) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "rewritten: record %lld's "
		    "hash is %.16s..., %s says %.16s...", (long long)seq, have,
		    who, hash);
	return 0;
}

int
audit_checkpoint_check(struct store *st, const struct audit_checkpoint *cp,
    struct tocsin_err *err)
{
	char tb[32], who[64];

	(void)snprintf(who, sizeof(who), "the checkpoint of %s",
	    jsonw_fmt_time(cp->time, tb, sizeof(tb)));
	return head_check(st, cp->seq, cp->hash, who, err);
}

int
audit_witness_check(struct store *st, const char *line,
    struct tocsin_err *err)
{
	static const char tag[] = "Audit-Head:";
	char seq[32], hash[65];
	const char *p = line, *sp;
	int64_t n;

	if (strlen(line) > 128)
		return tocsin_fail(err, TOCSIN_EUSAGE, "a witness is one "
		    "Audit-Head line, at most 128 bytes");
	if (strncmp(p, tag, sizeof(tag) - 1) == 0)
		p += sizeof(tag) - 1;
	while (*p == ' ')
		p++;
	if ((sp = strchr(p, ' ')) == NULL || (size_t)(sp - p) >= sizeof(seq) ||
	    strlen(sp + 1) >= sizeof(hash))
		goto bad;
	memcpy(seq, p, (size_t)(sp - p));
	seq[sp - p] = '\0';
	(void)snprintf(hash, sizeof(hash), "%s", sp + 1);
	if (cp_seq(seq, &n) && cp_hash(hash))
		return head_check(st, n, hash, "the witness", err);
bad:
	return tocsin_fail(err, TOCSIN_EUSAGE, "a witness is the line "
	    "\"Audit-Head: SEQ HASH\" of a message the gateway signed, or "
	    "\"SEQ HASH\"");
}

/* Write text to path through a temporary file in the same folder: mode
   0600, fsync, rename, fsync of the folder. */
static int
cp_replace(const char *path, const char *text, size_t len,
    struct tocsin_err *err)
{
	char tmp[4300], dir[4200];
	char *slash;
	size_t off = 0;
	bool ok;
	int fd, dfd, e;

	(void)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return tocsin_fail(err, TOCSIN_EIO, "cannot write the audit "
		    "checkpoint beside %s: %s", path, strerror(errno));
	(void)fchmod(fd, 0600);
	errno = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* fd is closed once whatever happens: serve's other threads open
	   files too, and a second close could hit one of theirs */
	ok = off == len && fsync(fd) == 0;
	e = errno != 0 ? errno : EIO;
	if (close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		(void)unlink(tmp);
		return tocsin_fail(err, TOCSIN_EIO, "cannot write the audit "
		    "checkpoint %s: %s", path, strerror(e));
	}
	(void)snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(dfd);
			(void)close(dfd);
		}
	}
	return 0;
}

/* The part of audit_checkpoint_write under the lock. */
static int
cp_write_locked(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const char *path, int64_t now, int64_t *ret_seq,
    struct tocsin_err *err)
{
	struct audit_checkpoint old, cp = { .time = now };
	struct tocsin_err why = { 0 };
	char text[AUDIT_CP_TEXT_MAX + 1];
	char *signd = NULL;
	size_t slen = 0;
	int rc;

	if ((rc = store_audit_head(st, &cp.seq, cp.hash, err)) != 0)
		return rc;
	rc = audit_checkpoint_load(repo, cx, &old, &why);
	if (rc == 0)
		rc = audit_checkpoint_check(st, &old, &why);
	if (rc != 0 && rc != TOCSIN_ENOINPUT)
		return tocsin_fail(err, rc, "%s; the checkpoint %s is kept as "
		    "evidence and no new one is signed: run 'tocsin audit "
		    "verify'", why.msg, path);
	*ret_seq = rc == 0 ? old.seq : 0;
	if (cp.seq == 0 || (rc == 0 && old.seq >= cp.seq))
		return 0;
	if ((rc = audit_checkpoint_format(&cp, text, sizeof(text), err)) != 0 ||
	    (rc = certs_clearsign(cx, repo->gateway.signing_key, text,
	    strlen(text), &signd, &slen, err)) != 0 ||
	    (rc = cp_replace(path, signd, slen, err)) != 0) {
		free(signd);
		return rc;
	}
	free(signd);
	*ret_seq = cp.seq;
	return 0;
}

int
audit_checkpoint_write(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, int64_t now, int64_t *ret_seq,
    struct tocsin_err *err)
{
	struct certs_ctx *own = NULL;
	char path[4200], lock[4300];
	int64_t seq = 0;
	int fd, rc;

	if ((rc = audit_checkpoint_path(repo, path, sizeof(path), err)) != 0)
		return rc;
	(void)snprintf(lock, sizeof(lock), "%s.lock", path);
	/* one writer at a time, reading the head under the lock: a
	   checkpoint never names a head older than one before it */
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0 || flock(fd, LOCK_EX) != 0) {
		rc = tocsin_fail(err, TOCSIN_EIO, "cannot lock %s: %s", lock,
		    strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return rc;
	}
	if (cx == NULL && (rc = certs_open(repo->gateway.gnupg_home, &own,
	    err)) != 0) {
		(void)close(fd);
		return rc;
	}
	rc = cp_write_locked(repo, st, cx != NULL ? cx : own, path, now, &seq,
	    err);
	certs_close(own);
	(void)close(fd);
	if (ret_seq != NULL)
		*ret_seq = seq;
	return rc;
}

void
audit_anchor_tick(struct audit_anchor *a, const struct policy_repo *repo,
    struct store *st, struct certs_ctx *cx, bool force, tocsin_log_fn log,
    void *log_arg)
{
	struct tocsin_err err = { 0 };
	char hash[65];
	int64_t head = 0, now_ms;

	now_ms = base_mono_ms();
	if (!force && a->last_ms != 0 && now_ms - a->last_ms <
	    AUDIT_CP_EVERY_MS)
		return;
	if (store_audit_head(st, &head, hash, &err) == 0 && head == a->seq &&
	    !a->failing)
		return;
	a->last_ms = now_ms;
	if (audit_checkpoint_write(repo, st, cx, (int64_t)time(NULL), &a->seq,
	    &err) != 0) {
		if (!a->failing)
			tocsin_logf(log, log_arg, "audit checkpoint: %s",
			    err.msg);
		a->failing = true;
		return;
	}
	if (a->failing)
		tocsin_logf(log, log_arg, "audit checkpoint: written again, at "
		    "record %lld", (long long)a->seq);
	a->failing = false;
}

int
audit_stamp(struct store *st, char **body, size_t *len,
    struct tocsin_err *err)
{
	char line[128], hash[65];
	int64_t seq = 0;
	bool nl = *len > 0 && (*body)[*len - 1] != '\n';
	char *p;
	int rc, n;

	if ((rc = store_audit_head(st, &seq, hash, err)) != 0)
		return rc;
	n = snprintf(line, sizeof(line), "%sAudit-Head: %lld %s\n", nl ? "\n" :
	    "", (long long)seq, seq > 0 ? hash : "-");
	if ((p = realloc(*body, *len + (size_t)n + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	memcpy(p + *len, line, (size_t)n + 1);
	*body = p;
	*len += (size_t)n;
	return 0;
}

int
audit_since_parse(const char *s, int64_t now, int64_t *ret)
{
	int64_t d;
	time_t t;

	if (s == NULL)
		return TOCSIN_EDATA;
	if (s[0] == '-') {
		if (policy_duration_parse(s + 1, &d) != 0)
			return TOCSIN_EDATA;
		*ret = now - d;
		return 0;
	}
	if (strlen(s) > 64 || cap_datetime_parse(s, &t) != 0)
		return TOCSIN_EDATA;
	*ret = (int64_t)t;
	return 0;
}

static void
show_json_row(FILE *out, const struct store_audit_row *r, bool first)
{
	const struct jsonw_member m[] = {
		{ "actor", r->actor },
		{ "action", r->action },
		{ "object", r->object },
		{ "details", r->details },
		{ "hash", r->hash },
	};

	fprintf(out, "%s{\"seq\":%lld,", first ? "" : ",", (long long)r->seq);
	jsonw_key(out, "time"); jsonw_time(out, r->ts);
	fputc(',', out);
	jsonw_members(out, m, sizeof(m) / sizeof(m[0]));
	fputs("}\n", out);
}

int
audit_show(struct store *st, int64_t since, bool json, FILE *out,
    struct tocsin_err *err)
{
	struct store_audit_row *rows = NULL;
	size_t n = 0;
	char tb[32];
	int rc;

	if ((rc = store_audit_since(st, since, &rows, &n, err)) != 0) {
		store_audit_rows_free(rows, n);
		return rc;
	}
	if (json)
		fputs("[", out);
	for (size_t i = 0; i < n; i++) {
		const struct store_audit_row *r = &rows[i];

		if (json) {
			show_json_row(out, r, i == 0);
			continue;
		}
		fprintf(out, "%6lld  %s  ", (long long)r->seq,
		    jsonw_fmt_time(r->ts, tb, sizeof(tb)));
		status_safe(out, r->actor, 64);
		fputs("  ", out);
		status_safe(out, r->action, 32);
		fputs("  ", out);
		status_safe(out, r->object, 64);
		fputs("  ", out);
		status_safe(out, r->details, 600);
		fputc('\n', out);
	}
	if (json)
		fputs("]\n", out);
	store_audit_rows_free(rows, n);
	return 0;
}

const char *
audit_actor(char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	uid_t uid = getuid();

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 ||
	    res == NULL || !base_text_ok(res->pw_name, 64))
		(void)snprintf(buf, len, "unix:?(%lu)", (unsigned long)uid);
	else
		(void)snprintf(buf, len, "unix:%s(%lu)", res->pw_name,
		    (unsigned long)uid);
	return buf;
}

void
audit_anchor_exit(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, int64_t now, tocsin_log_fn log, void *log_arg)
{
	struct tocsin_err e;

	if (repo != NULL && st != NULL && audit_checkpoint_write(repo, st, cx,
	    now, NULL, &e) != 0)
		tocsin_logf(log, log_arg, "tocsin: warning: the audit log's "
		    "head is not anchored: %s", e.msg);
}

/* The checkpoint is missing: fine for an empty log or with no_cp (what
   that leaves unchecked is said), else TOCSIN_ENOINPUT. */
static int
audit_verify_no_cp(int64_t count, bool no_cp, FILE *out,
    struct tocsin_err *err)
{
	if (count == 0 || no_cp) {
		fprintf(out, "audit log intact: %lld records, hash chain "
		    "verified; no checkpoint%s\n", (long long)count, count > 0 ?
		    " (--no-checkpoint): records removed from its end would "
		    "not be noticed" : "");
		return 0;
	}
	return tocsin_fail(err, TOCSIN_ENOINPUT, "the audit log has records "
	    "but no checkpoint: it was removed, or the log was never "
	    "anchored; records removed from its end would not be noticed "
	    "('tocsin audit verify --no-checkpoint' checks the chain alone)");
}

int
audit_verify(const struct policy_repo *repo, struct store *st, bool no_cp,
    const char *const *wit, size_t nwit, FILE *out, struct tocsin_err *err)
{
	struct audit_checkpoint cp;
	struct certs_ctx *cx = NULL;
	int64_t bad = 0, count = 0;
	char tb[32];
	int rc;

	if ((rc = store_audit_verify(st, &bad, &count, err)) != 0 ||
	    (rc = certs_open(repo->gateway.gnupg_home, &cx, err)) != 0)
		return rc;
	rc = audit_checkpoint_load(repo, cx, &cp, err);
	certs_close(cx);
	for (size_t i = 0; i < nwit; i++) {
		struct tocsin_err we;
		int wrc = audit_witness_check(st, wit[i], &we);

		if (wrc != 0) {
			*err = we;
			return wrc;
		}
	}
	if (nwit > 0)
		fprintf(out, "%zu witness%s held\n", nwit, nwit > 1 ? "es" : "");
	if (rc == TOCSIN_ENOINPUT)
		return audit_verify_no_cp(count, no_cp, out, err);
	if (rc != 0 || (rc = audit_checkpoint_check(st, &cp, err)) != 0)
		return rc;
	fprintf(out, "audit log intact: %lld records, hash chain verified, "
	    "checkpoint at %lld of %s", (long long)count, (long long)cp.seq,
	    jsonw_fmt_time(cp.time, tb, sizeof(tb)));
	if (count > cp.seq)
		fprintf(out, "; %lld later records not yet anchored",
		    (long long)(count - cp.seq));
	fputc('\n', out);
	return 0;
}
