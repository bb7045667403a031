/*
 * sqlscan.c: what a process's SQLite statements cost, for the tests only.
 *
 * Preloaded (LD_PRELOAD) into a tocsin serve on a SQLite store, it counts
 * per statement text how many times it ran and how many rows it stepped
 * through in full scans (SQLITE_STMTSTATUS_FULLSCAN_STEP: a table, or a
 * whole index, walked from end to end rather than searched), read from
 * SQLite itself at each sqlite3_reset and sqlite3_finalize, and writes
 * them at exit to the file SQLSCAN_OUT names, one statement a line:
 * "RUNS<TAB>FULLSCAN_STEPS<TAB>SQL" (the text's tabs and newlines made
 * spaces).  That is an outcome of the statements' plans, not a timing:
 * a statement that reads only what it needs through an index makes no
 * full-scan step however large the table.  Built by the test itself;
 * never part of tocsin.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define SQLSCAN_MAX 512			/* statement texts kept */
#define SQLSCAN_TEXT 1024		/* of each, at most */

static struct {
	char sql[SQLSCAN_TEXT];
	long long runs, fullscan;
} seen[SQLSCAN_MAX];
static int nseen;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Only serve itself: its children (gpg) are not watched. */
__attribute__((constructor)) static void
sqlscan_init(void)
{
	(void)unsetenv("LD_PRELOAD");
}

/* The counters of st's text, made on first sight; NULL when full. */
static int
slot(sqlite3_stmt *st)
{
	const char *sql = sqlite3_sql(st);
	char text[SQLSCAN_TEXT];

	(void)snprintf(text, sizeof(text), "%s", sql != NULL ? sql : "");
	for (char *c = text; *c != '\0'; c++)
		if (*c == '\t' || *c == '\n')
			*c = ' ';
	for (int i = 0; i < nseen; i++)
		if (strcmp(seen[i].sql, text) == 0)
			return i;
	if (nseen >= SQLSCAN_MAX)
		return -1;
	(void)snprintf(seen[nseen].sql, sizeof(seen[0].sql), "%s", text);
	return nseen++;
}

/* The full-scan steps since the last harvest into st's text's line. */
static void
harvest(sqlite3_stmt *st)
{
	int n, i;

	if (st == NULL)
		return;
	n = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
	pthread_mutex_lock(&mu);
	if ((i = slot(st)) >= 0)
		seen[i].fullscan += n;
	pthread_mutex_unlock(&mu);
}

int
sqlite3_step(sqlite3_stmt *st)
{
	static int (*real)(sqlite3_stmt *);
	int i;

	if (real == NULL)
		real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
	/* a statement not yet stepped since its reset starts a run */
	if (st != NULL && !sqlite3_stmt_busy(st)) {
		pthread_mutex_lock(&mu);
		if ((i = slot(st)) >= 0)
			seen[i].runs++;
		pthread_mutex_unlock(&mu);
	}
	return real(st);
}

int
sqlite3_reset(sqlite3_stmt *st)
{
	static int (*real)(sqlite3_stmt *);

	if (real == NULL)
		real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT,
		    "sqlite3_reset");
	harvest(st);
	return real(st);
}

int
sqlite3_finalize(sqlite3_stmt *st)
{
	static int (*real)(sqlite3_stmt *);

	if (real == NULL)
		real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT,
		    "sqlite3_finalize");
	harvest(st);
	return real(st);
}

__attribute__((destructor)) static void
sqlscan_write(void)
{
	const char *path = getenv("SQLSCAN_OUT");
	FILE *f;

	if (path == NULL || (f = fopen(path, "w")) == NULL)
		return;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nseen; i++)
		fprintf(f, "%lld\t%lld\t%s\n", seen[i].runs, seen[i].fullscan,
		    seen[i].sql);
	pthread_mutex_unlock(&mu);
	fclose(f);
}
