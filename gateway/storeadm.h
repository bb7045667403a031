/*
 * storeadm.h: `tocsin store backup` and `tocsin store prune`, the
 * operator's care of the store: a consistent copy taken while serve runs,
 * and the removal of personal data from old alerts.  The store's own work
 * is done through store.h (store_backup, store_prune); this module makes
 * the files (mode 0600 whatever the umask, never over an existing one),
 * copies the audit checkpoint beside the copy, anchors the prune's audit
 * record and says what was done.
 */
#ifndef STOREADM_H
#define STOREADM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"
#include "tocsin.h"

/* A store of more pages than this has its backup's progress told. */
#define STOREADM_PROGRESS_PAGES 2560

/*
 * Copy the store of repo into path, and its audit checkpoint (when there
 * is one) into path.checkpoint, each written under a temporary name
 * (path.tmp), synced, then linked into place.  A path or path.checkpoint
 * that exists is refused (TOCSIN_EUSAGE) and left as it is.  The
 * checkpoint is read before the store is copied, so that it never names a
 * record the copy lacks.  progress (may be NULL) gets a line per tenth for
 * a big store; out the line that says what was written.
 */
int storeadm_backup(const struct policy_repo *repo, const char *path,
    FILE *out, FILE *progress, struct tocsin_err *err);

/* --before: an ISO 8601 date (2026-01-31, midnight UTC) or date-time in
   UTC (2026-01-31T12:00:00, with Z or an offset allowed).  0, or
   TOCSIN_EDATA. */
int storeadm_date_parse(const char *s, int64_t *ret);

/*
 * Prune the personal data of the alerts of repo's store accepted before
 * `before` (see store_prune), by actor, and say on out what was pruned,
 * alert by alert, and which alerts were kept as still active; a dry run
 * changes nothing.  The prune's audit record is anchored in the signed
 * checkpoint before this returns; a failure to anchor or to rewrite the
 * file is a warning on warn, the prune stands.
 */
/*
 * `tocsin store copy --from FROM --to TO`: every row of the store FROM (a
 * SQLite file that must exist, or a PostgreSQL conninfo) into the new,
 * empty store TO (made when it is a file or a database without the
 * schema), the copy's audit chain verified against FROM's head, then a
 * "store-copy" record appended to TO's log by actor.  A line per table on
 * progress (may be NULL), the result on out.  serve must not be running
 * on FROM: what it writes meanwhile is not in the copy.
 */
int storeadm_copy(const char *from, const char *to, const char *actor,
    FILE *out, FILE *progress, struct tocsin_err *err);

int storeadm_prune(const struct policy_repo *repo, int64_t before,
    bool dry_run, const char *actor, FILE *out, FILE *warn,
    struct tocsin_err *err);

#endif
