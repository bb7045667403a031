/*
 * check.h: `tocsin check`: the repository as loaded by policy/, plus what
 * only the trust module can tell (keys present, usable and unexpired;
 * certificates readable), every problem printed with file:line.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "policy.h"

/*
 * Add to diag the problems of keys and certificates named by repo.  Needs
 * the repository's GnuPG home; a missing home is itself reported.
 */
void check_trust(const struct policy_repo *repo, struct policy_diag *diag);

/* Add the channel drivers' configuration problems (and templates). */
void check_channels(const struct policy_repo *repo, struct policy_diag *diag);

/*
 * Add a warning for each contact not confirmed within
 * gateway.verify_after at now (or one warning when no contact ever
 * confirmed), when the store is there to say: check never makes one, and
 * a store it cannot read adds nothing.
 */
void check_stale(const struct policy_repo *repo, int64_t now,
    struct policy_diag *diag);
/* Warn about the store, its folder, the ack secret and the GnuPG home
   when their group or others can read them (those that exist), naming
   the file, its mode and the chmod that closes it. */
void check_modes(const struct policy_repo *repo, struct policy_diag *diag);

/* Load the keys as serve will, with gateway.pgp_engine: an error when
   they cannot be loaded, a warning when part of the work would go through
   gpgme although librnp was asked for; line (when it loaded) says which
   engine and how many keys, for the operator. */
void check_engine(const struct policy_repo *repo, struct policy_diag *diag,
    char *line, size_t linelen);

/* Print what each quorum rule applies to, one sentence a line, so that
   the operator reads the meaning the gateway enforces. */
void check_explain_quorum(FILE *out, const struct policy_repo *repo);

/* Print diag items as "FILE:LINE: error: TEXT", one a line. */
void check_print(FILE *out, const struct policy_diag *diag);

/*
 * The configuration at conf read and checked as `tocsin check` does
 * (the repository, then trust and the channels when it was read):
 * policy_load_check's result, *repo (policy_free) and diag filled.
 */
int check_load(const char *conf, struct policy_repo **repo,
    struct policy_diag *diag, struct tocsin_err *err);

/*
 * What serve asks on SIGHUP: whether the configuration at conf (and its
 * repository) is one `tocsin check` takes, errors only (the same checks:
 * the repository, trust, the channels).  0, or TOCSIN_ECONFIG with the
 * first error as "FILE:LINE: text (N errors)" in err.
 */
int check_reload(const char *conf, struct tocsin_err *err);

#endif
