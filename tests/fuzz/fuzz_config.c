/*
 * fuzz_config.c: libFuzzer target for the configuration loader.
 *
 * Feeds arbitrary text (up to 64 KiB, NUL-terminated copy) to
 * policy_load_string with a diag, so that every reader and check runs, and
 * then exercises the loaded repository's questions.  The base folder does
 * not exist, so path values and secrets point nowhere; includes are refused
 * by policy_load_string, so no input can make the loader open its files.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "policy.h"

#define FUZZ_MAX_LEN (64 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 leaks its string buffer when a syntax error follows a
 * string (the input '""' is enough): a few bytes once per failed load, in
 * the library, not here.  Suppressed by module so that leaks of our own
 * code still stop the fuzzer.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the built-in channels' kinds, as serve hands them over at
	   start-up: a repository names them */
	chan_kinds_publish();
	return 0;
}

/* Ask a loaded repository what the gateway will ask it. */
static void
fuzz_use(const struct policy_repo *repo)
{
	static const char *const addrs[] = { "all", "region:EU", "region:af",
		"ke", "gulf", "nowhere" };
	size_t idx[64], n;
	bool *mark;

	if ((mark = calloc(repo->nteams + 1, sizeof(bool))) == NULL)
		return;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		(void)policy_resolve(repo, addrs[i], mark, NULL);
	for (size_t i = 0; i < repo->ngroups; i++)
		(void)policy_resolve(repo, repo->groups[i].name, mark, NULL);
	/* every quorum rule against the audience marked so far, and in
	   words: a sentence that fits its buffer, however long the names */
	for (size_t q = 0; q < repo->nquorum; q++) {
		char why[96];

		for (int sev = -1; sev <= POLICY_SEV_COUNT; sev++)
			if (policy_quorum_applies(repo, &repo->quorum[q], sev,
			    mark) < 0)
				abort();
		policy_quorum_explain(repo, &repo->quorum[q], why, sizeof(why));
		if (memchr(why, '\0', sizeof(why)) == NULL)
			abort();
	}
	for (size_t i = 0; i < repo->nteams; i++) {
		const struct policy_team *t = &repo->teams[i];

		if (t->policy == NULL || t->ncontacts > 64)
			continue;
		for (size_t s = 0; s < t->policy->nsteps; s++)
			for (size_t k = 0; k < t->policy->steps[s].ntargets;
			    k++) {
				const struct policy_target *tg =
				    &t->policy->steps[s].targets[k];

				policy_target_contacts(t, tg, idx, &n);
				for (size_t c = 0; c < n; c++)
					(void)policy_contact_endpoint(
					    &t->contacts[idx[c]], tg);
			}
		/* a drop address is one folder right under its host's path */
		if (t->drop != NULL && (policy_drop_find(repo, t->drop->name) !=
		    t->drop || strncmp(t->drop_address, t->drop->name,
		    strlen(t->drop->name)) != 0 || strstr(t->drop_folder, "..")
		    == t->drop_folder || strchr(t->drop_folder, '/') != NULL))
			abort();
		for (size_t c = 0; c < t->ncontacts && repo->fax != NULL; c++) {
			char a[300];

			if (t->contacts[c].fax != NULL &&
			    policy_fax_address(repo->fax, t->contacts[c].fax, a,
			    sizeof(a)) == 0 && (strlen(a) > 254 ||
			    strpbrk(a, " \r\n\"<>") != NULL))
				abort();
		}
	}
	free(mark);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_diag diag;
	struct policy_repo *repo = NULL;
	struct tocsin_err err;
	char *text;

	if (size > FUZZ_MAX_LEN)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	policy_diag_init(&diag);
	if (policy_load_string(text, "fuzz.conf", "/nonexistent-tocsin-fuzz",
	    &repo, &diag, &err) == 0) {
		fuzz_use(repo);
		policy_free(repo);
	} else if (repo != NULL) {
		abort();	/* the contract: no repository on error */
	}
	if (diag.errors + diag.warnings != diag.n)
		abort();
	policy_diag_free(&diag);
	free(text);
	return 0;
}
