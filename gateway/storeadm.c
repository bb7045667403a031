/*
 * storeadm.c: `tocsin store backup` and `tocsin store prune`.
 *
 * A backup is one consistent copy of the store (SQLite's online backup,
 * in steps: serve goes on), written under FILE.tmp, synced, then linked to
 * FILE: link() refuses a FILE made meanwhile, so a backup never replaces
 * a file, and a crash never leaves a half copy under the real name.  The
 * copy is 0600 from its first byte whatever the umask (it holds every
 * contact's address).  The audit checkpoint is copied beside it as
 * FILE.checkpoint, read before the store is copied: the log only grows,
 * so the checkpoint names a record the copy holds, and `audit verify` of
 * the copy checks it against a signed head.
 *
 * A prune blanks the personal data of old alerts (store_prune) and anchors
 * its audit record.  What it never touches: alerts still active, the
 * audit log (its records hash what they say), and the contacts' current
 * confirmation dates (the repository still names those contacts).
 *
 * A copy moves a store to another engine (a SQLite file into PostgreSQL,
 * for several serve nodes): every row, then the copy's audit chain is
 * verified and its head compared with the source's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cap.h"
#include "jsonw.h"
#include "store.h"
#include "storeadm.h"

/* Progress of a backup, a line per tenth. */
struct adm_progress {
	FILE *f;
	int shown;			/* tenths told */
};

static void
adm_progress(void *arg, int64_t done, int64_t total)
{
	struct adm_progress *p = arg;
	int tenth = total > 0 ? (int)(done * 10 / total) : 10;

	if (p->f == NULL || total < STOREADM_PROGRESS_PAGES || tenth <= p->shown)
		return;
	p->shown = tenth;
	fprintf(p->f, "tocsin store backup: %d%% (%lld of %lld pages)\n",
	    tenth * 10, (long long)done, (long long)total);
}

/* Refuse a path that exists: a backup never replaces a file. */
static int
adm_refuse_existing(const char *path, struct tocsin_err *err)
{
	struct stat sb;

	if (lstat(path, &sb) == 0)
		return tocsin_fail(err, TOCSIN_EUSAGE, "%s exists; a backup "
		    "never replaces a file: name a new file, or move %s away "
		    "first", path, path);
	if (errno != ENOENT)
		return tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s", path,
		    strerror(errno));
	return 0;
}

/* Make tmp, new and empty, mode 0600 whatever the umask; the descriptor
   or a negative TOCSIN_E* code. */
static int
adm_create(const char *tmp, struct tocsin_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);

	if (fd < 0 && errno == EEXIST)
		return tocsin_fail(err, TOCSIN_EUSAGE, "%s exists (a backup "
		    "that did not finish?); remove it and run again", tmp);
	if (fd < 0)
		return tocsin_fail(err, TOCSIN_EIO, "cannot make %s: %s", tmp,
		    strerror(errno));
	if (fchmod(fd, 0600) != 0) {
		int e = errno;

		(void)close(fd);
		(void)unlink(tmp);
		return tocsin_fail(err, TOCSIN_EIO, "cannot make %s: %s", tmp,
		    strerror(e));
	}
	return fd;
}

/* Sync tmp (open as fd, closed here), link it to path and drop the
   temporary name, then sync the folder; tmp is removed on failure. */
static int
adm_publish(int fd, const char *tmp, const char *path, struct tocsin_err *err)
{
	char dir[4200];
	char *slash;
	int e = 0, dfd;

	if (fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && link(tmp, path) != 0)
		e = errno;
	(void)unlink(tmp);
	if (e == EEXIST)
		return adm_refuse_existing(path, err);
	if (e != 0)
		return tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s", path,
		    strerror(e));
	(void)snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		(void)snprintf(dir, sizeof(dir), ".");
	else
		*(slash == dir ? slash + 1 : slash) = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		(void)close(dfd);
	}
	return 0;
}

/* Write len bytes of buf to a new file path (through path.tmp). */
static int
adm_write_new(const char *path, const char *buf, size_t len,
    struct tocsin_err *err)
{
	char tmp[4400];
	size_t off = 0;
	int fd;

	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = adm_create(tmp, err)) < 0)
		return fd;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			(void)close(fd);
			(void)unlink(tmp);
			return tocsin_fail(err, TOCSIN_EIO, "cannot write %s: %s",
			    tmp, strerror(e));
		}
		off += (size_t)w;
	}
	return adm_publish(fd, tmp, path, err);
}

/* The checkpoint file as it is, into buf (at most AUDIT_CP_FILE_MAX);
   *len 0 when there is none. */
static int
adm_read_checkpoint(const char *path, char *buf, size_t *len,
    struct tocsin_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t r = 0;

	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : tocsin_fail(err, TOCSIN_EIO,
		    "cannot read the audit checkpoint %s: %s", path,
		    strerror(errno));
	while (*len <= AUDIT_CP_FILE_MAX &&
	    (r = read(fd, buf + *len, AUDIT_CP_FILE_MAX + 1 - *len)) > 0)
		*len += (size_t)r;
	(void)close(fd);
	if (r < 0)
		return tocsin_fail(err, TOCSIN_EIO, "cannot read the audit "
		    "checkpoint %s: %s", path, strerror(errno));
	if (*len > AUDIT_CP_FILE_MAX)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the audit checkpoint "
		    "%s is over %d bytes; it is not copied", path,
		    AUDIT_CP_FILE_MAX);
	return 0;
}

/* Open the store of repo when it is there: a backup or a prune never
   makes one. */
static int
adm_open(const struct policy_repo *repo, struct store **st,
    struct tocsin_err *err)
{
	if (!policy_store_is_pg(repo->gateway.store) &&
	    access(repo->gateway.store, F_OK) != 0)
		return tocsin_fail(err, TOCSIN_ENOINPUT, "there is no store at "
		    "%s (gateway.store): nothing to do", repo->gateway.store);
	return store_open(repo->gateway.store, st, err);
}

/* The store's copy: path.tmp made, filled, synced and linked to path. */
static int
adm_copy_store(struct store *st, const char *path, FILE *progress,
    struct tocsin_err *err)
{
	struct adm_progress pr = { .f = progress };
	char tmp[4300];
	int fd, rc;

	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = adm_create(tmp, err)) < 0)
		return fd;
	if ((rc = store_backup(st, tmp, adm_progress, &pr, err)) != 0) {
		(void)close(fd);
		(void)unlink(tmp);
		return rc;
	}
	return adm_publish(fd, tmp, path, err);
}

int
storeadm_backup(const struct policy_repo *repo, const char *path, FILE *out,
    FILE *progress, struct tocsin_err *err)
{
	char cp[4200], cpcopy[4300];
	char *cpbuf = NULL;
	struct store *st = NULL;
	size_t cplen = 0;
	int rc;

	if (snprintf(cpcopy, sizeof(cpcopy), "%s.checkpoint", path) >=
	    (int)sizeof(cpcopy) - 8)
		return tocsin_fail(err, TOCSIN_EUSAGE, "the backup's path is "
		    "too long");
	if ((cpbuf = malloc(AUDIT_CP_FILE_MAX + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = adm_refuse_existing(path, err)) != 0 ||
	    (rc = adm_refuse_existing(cpcopy, err)) != 0 ||
	    (rc = audit_checkpoint_path(repo, cp, sizeof(cp), err)) != 0 ||
	    (rc = adm_read_checkpoint(cp, cpbuf, &cplen, err)) != 0 ||
	    (rc = adm_open(repo, &st, err)) != 0) {
		store_close(st);
		free(cpbuf);
		return rc;
	}
	rc = adm_copy_store(st, path, progress, err);
	store_close(st);
	if (rc == 0 && cplen > 0)
		rc = adm_write_new(cpcopy, cpbuf, cplen, err);
	if (rc == 0)
		fprintf(out, "backed up %s to %s%s%s\n", repo->gateway.store,
		    path, cplen > 0 ? ", its audit checkpoint to " : " (no audit "
		    "checkpoint yet)", cplen > 0 ? cpcopy : "");
	free(cpbuf);
	return rc;
}

int
storeadm_date_parse(const char *s, int64_t *ret)
{
	char full[40];
	size_t n = strlen(s);
	time_t t;

	/* a date is its midnight UTC; a date-time without a zone is UTC */
	if (n == 10)
		(void)snprintf(full, sizeof(full), "%sT00:00:00Z", s);
	else if (n == 19)
		(void)snprintf(full, sizeof(full), "%sZ", s);
	else if (n < sizeof(full))
		(void)snprintf(full, sizeof(full), "%s", s);
	else
		return TOCSIN_EDATA;
	if (cap_datetime_parse(full, &t) != 0)
		return TOCSIN_EDATA;
	*ret = (int64_t)t;
	return 0;
}

/* What a prune did (or would do), alert by alert, then in all. */
static void
adm_prune_say(FILE *out, const struct store_prune *p, int64_t before,
    bool dry_run)
{
	size_t live = 0;
	char tb[32];

	for (size_t i = 0; i < p->nalerts; i++) {
		const struct store_prune_alert *a = &p->alerts[i];

		live += a->live;
		if (a->live)
			fprintf(out, "alert %s: still active (a ladder or a "
			    "delivery not ended); not pruned\n", a->id);
		else
			fprintf(out, "alert %s: %s %zu deliveries, %zu acks, "
			    "%zu teams' ack names\n", a->id, dry_run ?
			    "would prune" : "pruned", a->deliveries, a->acks,
			    a->teams);
	}
	fprintf(out, "%s %zu alerts accepted before %s: %zu deliveries, %zu "
	    "acks, %zu teams' ack names, %zu tries at codes, %zu requests for "
	    "help; %zu active alerts kept%s\n", dry_run ? "would prune" :
	    "pruned", p->nalerts - live, jsonw_fmt_time(before, tb,
	    sizeof(tb)), p->deliveries, p->acks, p->teams, p->guesses,
	    p->requests, live, dry_run ? " (dry run: nothing changed)" :
	    "");
}

int
storeadm_prune(const struct policy_repo *repo, int64_t before, bool dry_run,
    const char *actor, FILE *out, FILE *warn, struct tocsin_err *err)
{
	struct store_prune p = { 0 };
	struct store *st = NULL;
	struct tocsin_err e;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = adm_open(repo, &st, err)) != 0 ||
	    (rc = store_prune(st, before, dry_run, now, actor, &p, err)) != 0) {
		store_close(st);
		return rc;
	}
	adm_prune_say(out, &p, before, dry_run);
	if (p.scrub_failed)
		fprintf(warn, "tocsin store prune: warning: the store file could "
		    "not be rewritten now (another process holds it): what was "
		    "removed may stay in its free pages until 'tocsin store "
		    "prune' runs again with serve stopped\n");
	if (!dry_run && audit_checkpoint_write(repo, st, NULL, now, NULL,
	    &e) != 0)
		fprintf(warn, "tocsin: warning: the audit log's head is not "
		    "anchored: %s\n", e.msg);
	store_prune_free(&p);
	store_close(st);
	return 0;
}

static void
adm_copy_told(void *arg, const char *table, int64_t rows)
{
	if (arg != NULL)
		fprintf(arg, "tocsin store copy: %s: %lld rows\n", table,
		    (long long)rows);
}

/* A store named for a message: a file's path, or what a conninfo is. */
static const char *
adm_name(const char *target)
{
	return policy_store_is_pg(target) ? "the PostgreSQL database" : target;
}

int
storeadm_copy(const char *from, const char *to, const char *actor,
    FILE *out, FILE *progress, struct tocsin_err *err)
{
	struct store *src = NULL, *dst = NULL;
	char details[256], hash[65];
	int64_t rows = 0, seq = 0;
	int rc;

	if (strcmp(from, to) == 0)
		return tocsin_fail(err, TOCSIN_EUSAGE, "--from and --to name "
		    "the same store");
	/* a copy never makes the store it reads */
	if (!policy_store_is_pg(from) && access(from, R_OK) != 0)
		return tocsin_fail(err, TOCSIN_ENOINPUT, "there is no store at "
		    "%s to copy: %s", from, strerror(errno));
	if ((rc = store_open(from, &src, err)) != 0)
		return rc;
	if ((rc = store_open(to, &dst, err)) != 0) {
		store_close(src);
		return rc;
	}
	if ((rc = store_copy(src, dst, adm_copy_told, progress, &rows,
	    err)) == 0 && (rc = store_audit_head(dst, &seq, hash, err)) == 0) {
		(void)snprintf(details, sizeof(details), "from=%.160s rows=%lld "
		    "head=%lld", adm_name(from), (long long)rows,
		    (long long)seq);
		rc = store_audit(dst, (int64_t)time(NULL), actor, "store-copy",
		    "store", details, err);
	}
	if (rc == 0)
		fprintf(out, "copied %lld rows from %s to %s; the copy's audit "
		    "chain verifies and ends at record %lld, as the store's "
		    "does\n", (long long)rows, adm_name(from), adm_name(to),
		    (long long)seq);
	store_close(dst);
	store_close(src);
	return rc;
}
