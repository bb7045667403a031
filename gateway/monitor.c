/*
 * monitor.c: the monitor's thread (see monitor.h).
 *
 * Jobs are taken in the order asked, and the jobs of the same kind that
 * wait together share one answer: one read of the store for the scrapes,
 * one probe for the health checks (a second a moment later would tell
 * nothing the first did not, and health checks waiting 2 s each for a
 * busy store, one after the other, would never catch up).  The store
 * connection is the monitor's alone, opened read-write because /healthz
 * probes a write.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "monitor.h"
#include "store.h"

struct monitor {
	struct store *st;
	struct metrics *m;
	monitor_ready_fn ready;
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct monitor_job *head, *tail;	/* waiting, oldest first */
	size_t waiting;
	bool stop;
};

/* A job's answer: text copied from s (n bytes), or 503 when it cannot be
   kept. */
static void
monitor_answer(struct monitor_job *j, unsigned int status, const char *s,
    size_t n, const char *type)
{
	j->type = type;
	j->status = status;
	j->len = 0;
	if ((j->text = malloc(n > 0 ? n : 1)) == NULL) {
		/* an empty 503: the listener still answers */
		j->status = 503;
		j->type = "text/plain; charset=utf-8";
		return;
	}
	memcpy(j->text, s, n);
	j->len = n;
}

/* A job's answer with the sentence of err and a newline. */
static void
monitor_answer_err(struct monitor_job *j, unsigned int status,
    const char *prefix, const struct tocsin_err *e)
{
	char line[TOCSIN_ERRLEN + 64];
	int n = snprintf(line, sizeof(line), "%s%s\n", prefix, e->msg);

	monitor_answer(j, status, line, n < 0 ? 0 : n >= (int)sizeof(line) ?
	    sizeof(line) - 1 : (size_t)n, "text/plain; charset=utf-8");
}

/* The next job, or NULL when stopping; with every job of its kind
   waiting behind it chained to it, so that one answer serves them all. */
static struct monitor_job *
monitor_take(struct monitor *mo)
{
	struct monitor_job *j;

	pthread_mutex_lock(&mo->mu);
	while (mo->head == NULL && !mo->stop)
		pthread_cond_wait(&mo->cv, &mo->mu);
	if (mo->stop) {
		pthread_mutex_unlock(&mo->mu);
		return NULL;
	}
	j = mo->head;
	mo->head = j->next;
	j->next = NULL;
	mo->waiting--;
	for (struct monitor_job **pp = &mo->head, *last = j; *pp != NULL;) {
		struct monitor_job *k = *pp;

		if (k->health != j->health) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		k->next = NULL;
		last->next = k;
		last = k;
		mo->waiting--;
	}
	mo->tail = NULL;
	for (struct monitor_job *k = mo->head; k != NULL; k = k->next)
		mo->tail = k;
	pthread_mutex_unlock(&mo->mu);
	return j;
}

/* /healthz for j and the jobs chained after it. */
static void
monitor_health(struct monitor *mo, struct monitor_job *j)
{
	struct tocsin_err e = { 0 };
	static const char ok[] = "ok\n";
	int rc = metrics_health(mo->m, mo->st, base_mono_ms(), &e);

	for (struct monitor_job *k = j; k != NULL; k = k->next) {
		if (rc == 0)
			monitor_answer(k, 200, ok, sizeof(ok) - 1,
			    "text/plain; charset=utf-8");
		else
			monitor_answer_err(k, 503, "", &e);
	}
}

/* /metrics for j and the jobs chained after it. */
static void
monitor_metrics(struct monitor *mo, struct monitor_job *j)
{
	struct tocsin_err e = { 0 };
	struct base_buf b;
	int rc;

	base_buf_init(&b, METRICS_TEXT_MAX);
	rc = metrics_render(mo->m, mo->st, (int64_t)time(NULL),
	    base_mono_ms(), &b, &e);
	for (struct monitor_job *k = j; k != NULL; k = k->next) {
		if (rc == 0 && b.p != NULL)
			monitor_answer(k, 200, b.p, b.len, "text/plain; "
			    "version=0.0.4; charset=utf-8");
		else
			monitor_answer_err(k, 503, "the store cannot be read "
			    "now: ", &e);
	}
	base_buf_free(&b);
}

static void *
monitor_loop(void *arg)
{
	struct monitor *mo = arg;
	struct monitor_job *j;

	while ((j = monitor_take(mo)) != NULL) {
		if (j->health)
			monitor_health(mo, j);
		else
			monitor_metrics(mo, j);
		/* next is read before ready: once told, the caller may free
		   the job */
		while (j != NULL) {
			struct monitor_job *next = j->next;

			j->next = NULL;
			mo->ready(j->conn, mo->arg);
			j = next;
		}
	}
	return NULL;
}

int
monitor_start(const char *store, struct metrics *m, monitor_ready_fn ready,
    void *arg, struct monitor **ret, struct tocsin_err *err)
{
	struct monitor *mo = calloc(1, sizeof(*mo));
	int rc;

	*ret = NULL;
	if (mo == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	mo->m = m;
	mo->ready = ready;
	mo->arg = arg;
	if ((rc = store_open(store, &mo->st, err)) != 0) {
		free(mo);
		return rc;
	}
	pthread_mutex_init(&mo->mu, NULL);
	pthread_cond_init(&mo->cv, NULL);
	if (pthread_create(&mo->thread, NULL, monitor_loop, mo) != 0) {
		pthread_cond_destroy(&mo->cv);
		pthread_mutex_destroy(&mo->mu);
		store_close(mo->st);
		free(mo);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot start the "
		    "monitor's thread");
	}
	*ret = mo;
	return 0;
}

bool
monitor_full(struct monitor *mo)
{
	bool full;

	pthread_mutex_lock(&mo->mu);
	full = mo->waiting >= MONITOR_QUEUE_MAX;
	pthread_mutex_unlock(&mo->mu);
	return full;
}

int
monitor_ask(struct monitor *mo, struct monitor_job *job)
{
	pthread_mutex_lock(&mo->mu);
	if (mo->waiting >= MONITOR_QUEUE_MAX || mo->stop) {
		pthread_mutex_unlock(&mo->mu);
		return TOCSIN_ETEMP;
	}
	job->next = NULL;
	if (mo->tail != NULL)
		mo->tail->next = job;
	else
		mo->head = job;
	mo->tail = job;
	mo->waiting++;
	pthread_cond_signal(&mo->cv);
	pthread_mutex_unlock(&mo->mu);
	return 0;
}

void
monitor_stop(struct monitor *mo)
{
	struct monitor_job *j;
	static const char bye[] = "the gateway is stopping\n";

	if (mo == NULL)
		return;
	pthread_mutex_lock(&mo->mu);
	mo->stop = true;
	pthread_cond_signal(&mo->cv);
	pthread_mutex_unlock(&mo->mu);
	(void)pthread_join(mo->thread, NULL);
	/* the thread is gone: what still waits is answered here */
	while ((j = mo->head) != NULL) {
		mo->head = j->next;
		j->next = NULL;
		monitor_answer(j, 503, bye, sizeof(bye) - 1,
		    "text/plain; charset=utf-8");
		mo->ready(j->conn, mo->arg);
	}
	pthread_cond_destroy(&mo->cv);
	pthread_mutex_destroy(&mo->mu);
	store_close(mo->st);
	free(mo);
}
