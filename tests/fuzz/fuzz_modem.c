/*
 * fuzz_modem.c: libFuzzer target for the modem's AT dialogue (modem.c),
 * the real driver on a real serial line: a pseudo-terminal whose master
 * side a thread of this target plays as the modem.
 *
 * The input: its first byte chooses the set-up (bit 0: a SIM PIN "1234"
 * is configured; bits 1-2: the text sent, one GSM 7-bit part, three
 * parts, one UCS-2 part, or one needing four parts, which is refused
 * before any dialogue; bit 3: the receive callback keeps every second
 * message instead of taking it).  The rest is the modem's answers,
 * chunks separated by the byte 0xFF: each time the driver ends a command
 * (CR) or a PDU (Ctrl-Z) the thread writes the next chunk, whole (an
 * empty chunk: no answer to that command); ESC is no command.  With the
 * chunks used up the modem falls silent.  0xFF never occurs in an answer
 * the driver understands (they are ASCII), and NUL stays available
 * inside the answers.  Then, on one struct modem: modem_probe,
 * modem_send of the chosen text to +254700000001 and modem_receive, in
 * this order, as serve and `check` use it.  The seeds in
 * tests/fuzz/corpus/modem are such dialogues; FUZZ_MODEM_TRACE=1 in the
 * environment prints what each call returned.
 *
 * Waiting is virtual, so that a silent modem costs no real time (with
 * real deadlines most inputs, which lack a final result, would each wait
 * them out) and each run goes the same way whatever the scheduler does:
 * the binary is linked with --wrap for poll, read, write, tcflush and
 * base_mono_ms.  On the pty's slave (the driver's device) they count the
 * bytes each way.  The driver's poll for input returns only once the
 * line has settled (the modem thread has read every byte the driver
 * wrote and written all it will until the driver writes again, and every
 * such byte is read or waits in the driver's queue), or once more bytes
 * wait than md_line reads at a time: so each read gets the same bytes.
 * Nothing readable then, nothing can come: the poll returns 0 with the
 * virtual clock (base_mono_ms) moved on by its timeout.  tcflush reads
 * and counts what it would discard, once the line has settled.  Every
 * other descriptor, and the clock outside a run, pass through unchanged.
 * This target holds the slave open for the whole run, so that the pty's
 * number is not given to another process while the driver reopens it.
 *
 * Checked: the return codes are those modem.h documents; the sentences
 * and the outputs are NUL-terminated; no call waits past its deadline
 * (virtual time); a received SMS-DELIVER has NUL-terminated fields and a
 * sane concatenation; at most 32 messages a look; no descriptor or
 * memory is left behind (libFuzzer's -detect_leaks, and the pty is
 * closed at each run's end).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "gsmpdu.h"
#include "modem.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the real functions, under --wrap */
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_tcflush(int fd, int queue);
int64_t __real_base_mono_ms(void);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_tcflush(int fd, int queue);
int64_t __wrap_base_mono_ms(void);

#define FZ_SEP		0xFF		/* between two answers */
#define FZ_READ_MAX	1024		/* modem.c's MD_LINE_MAX */
#define FZ_WAIT_MS	5000		/* real time a quiet line may take to
					   settle; past it the harness is wrong */

/* The harness's own code is kept out of the coverage libFuzzer measures:
   how often it loops waiting depends on the scheduler. */
#if defined(__clang__)
#define HARNESS __attribute__((no_sanitize("coverage")))
#else
#define HARNESS
#endif

/* One run's state, shared by the driver (this thread) and the modem
   thread under mu. */
static struct {
	pthread_mutex_t mu;
	bool active;			/* a run is on: wrap the slave */
	dev_t rdev;			/* the slave's device number */
	int master, slave, stop[2];
	int kick[2];			/* the modem thread's state changed */
	const uint8_t *in;		/* answers not yet given */
	size_t inlen;
	bool exhausted;			/* no answer left */
	size_t pending;			/* commands not yet answered */
	const uint8_t *out;		/* the answer being written */
	size_t outlen;
	uint64_t drv_wrote, thr_read;	/* driver -> modem */
	uint64_t thr_wrote, drv_read;	/* modem -> driver */
	uint64_t discarded;		/* by tcflush */
	int64_t clock;			/* virtual ms */
} fz = { .mu = PTHREAD_MUTEX_INITIALIZER, .master = -1, .slave = -1,
	.stop = { -1, -1 }, .kick = { -1, -1 } };

HARNESS static int64_t
real_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

HARNESS static bool
is_slave(int fd)
{
	struct stat st;

	return fz.active && fd >= 0 && fd != fz.master && fstat(fd, &st) == 0 &&
	    S_ISCHR(st.st_mode) && st.st_rdev == fz.rdev;
}

/* The modem thread has read all the driver wrote and written all it will
   until the driver writes again.  Called with fz.mu held. */
HARNESS static bool
quiet(void)
{
	return fz.outlen == 0 && (fz.pending == 0 || fz.exhausted) &&
	    fz.thr_read == fz.drv_wrote;
}

/* Nothing more to come: the modem thread is quiet and every byte it wrote
   is either read, discarded or in the driver's input queue, which holds
   *inq bytes. */
HARNESS static bool
settled(int fd, int *inq)
{
	bool ok;

	if (ioctl(fd, FIONREAD, inq) != 0 || *inq < 0)
		*inq = 0;
	pthread_mutex_lock(&fz.mu);
	ok = quiet() && fz.thr_wrote == fz.drv_read + fz.discarded +
	    (uint64_t)*inq;
	pthread_mutex_unlock(&fz.mu);
	return ok;
}

/* Until the modem thread's state changes or fd becomes readable, at most
   a millisecond.  With fd readable already the rest of a delivery under
   way gives no wake-up: a short sleep, rather than a spin that keeps the
   delivery from the CPU. */
HARNESS static void
wait_change(int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
		{ .fd = fz.kick[0], .events = POLLIN } };
	char buf[64];

	if (__real_poll(p, 1, 0) > 0) {
		struct timespec ts = { 0, 20000 };

		(void)nanosleep(&ts, NULL);
	} else
		(void)__real_poll(p, 2, 1);
	while (__real_read(fz.kick[0], buf, sizeof(buf)) > 0)
		;
}

/* Called by the modem thread with fz.mu held, after a change. */
HARNESS static void
kick(void)
{
	(void)__real_write(fz.kick[1], "k", 1);
}

HARNESS int64_t
__wrap_base_mono_ms(void)
{
	return fz.active ? fz.clock : __real_base_mono_ms();
}

HARNESS ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
	ssize_t r = __real_read(fd, buf, n);

	if (r > 0 && is_slave(fd)) {
		pthread_mutex_lock(&fz.mu);
		fz.drv_read += (uint64_t)r;
		pthread_mutex_unlock(&fz.mu);
	}
	return r;
}

HARNESS ssize_t
__wrap_write(int fd, const void *buf, size_t n)
{
	ssize_t w = __real_write(fd, buf, n);

	if (w > 0 && is_slave(fd)) {
		pthread_mutex_lock(&fz.mu);
		fz.drv_wrote += (uint64_t)w;
		pthread_mutex_unlock(&fz.mu);
	}
	return w;
}

HARNESS int
__wrap_tcflush(int fd, int queue)
{
	int64_t until = real_ms() + FZ_WAIT_MS;
	int inq;

	if (!is_slave(fd))
		return __real_tcflush(fd, queue);
	/* what the modem wrote is read here and thrown away, as the flush
	   would, but counted, and only once the modem is done: what is
	   discarded does not depend on the scheduler */
	for (;;) {
		char buf[512];
		ssize_t r = __real_read(fd, buf, sizeof(buf));

		if (r > 0) {
			pthread_mutex_lock(&fz.mu);
			fz.discarded += (uint64_t)r;
			pthread_mutex_unlock(&fz.mu);
			continue;
		}
		if (settled(fd, &inq) && inq == 0)
			break;
		if (real_ms() > until) {
			(void)fprintf(stderr, "fuzz_modem: the line did not "
			    "settle before tcflush\n");
			abort();
		}
		wait_change(fd);
	}
	return __real_tcflush(fd, queue);
}

/*
 * The driver reads only once the line has settled, or once more waits
 * than md_line takes at a time (MD_LINE_MAX): so a read gets the same
 * bytes whatever the scheduler did, and so do the driver's loops.
 */
HARNESS int
__wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int64_t until = real_ms() + FZ_WAIT_MS;
	int r, inq;

	if (n != 1 || fds[0].events != POLLIN || !is_slave(fds[0].fd))
		return __real_poll(fds, n, timeout);
	for (;;) {
		/* FIONREAD first: it waits for a delivery under way, whose
		   bytes the poll after it then sees */
		bool ok = settled(fds[0].fd, &inq) || inq >= FZ_READ_MAX;

		if ((r = __real_poll(fds, n, 0)) < 0 ||
		    (fds[0].revents & ~POLLIN) != 0)
			return r;
		if (ok && (r > 0 || inq == 0))
			break;
		if (real_ms() > until) {
			(void)fprintf(stderr, "fuzz_modem: the line did not "
			    "settle\n");
			abort();
		}
		wait_change(fds[0].fd);
	}
	if (r > 0)
		return r;
	if (timeout > 0)
		fz.clock += timeout;
	return 0;
}

/* The modem: answers each command with the next chunk of the input. */
HARNESS static void *
modem_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = fz.master, .events = POLLIN },
			{ .fd = fz.stop[0], .events = POLLIN } };
		const uint8_t *out;
		size_t outlen;
		int wait = -1;

		pthread_mutex_lock(&fz.mu);
		if (fz.outlen > 0)
			p[0].events |= POLLOUT;
		else if (fz.pending > 0)
			wait = 0;		/* the next answer is due */
		pthread_mutex_unlock(&fz.mu);
		if (__real_poll(p, 2, wait) < 0 && errno != EINTR)
			abort();
		if (p[1].revents != 0)
			return NULL;
		if ((p[0].revents & POLLIN) != 0) {
			uint8_t buf[512];
			ssize_t r = __real_read(fz.master, buf, sizeof(buf));

			pthread_mutex_lock(&fz.mu);
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] == '\r' || buf[i] == 0x1a)
					fz.pending++;
			if (r > 0)
				fz.thr_read += (uint64_t)r;
			kick();
			pthread_mutex_unlock(&fz.mu);
		}
		pthread_mutex_lock(&fz.mu);
		if (fz.outlen == 0 && fz.pending > 0) {
			if (fz.inlen == 0 && !fz.exhausted)
				fz.exhausted = true;
			if (fz.exhausted) {
				fz.pending = 0;
			} else {
				const uint8_t *e = memchr(fz.in, FZ_SEP,
				    fz.inlen);
				size_t l = e != NULL ? (size_t)(e - fz.in) :
				    fz.inlen;

				fz.out = fz.in;
				fz.outlen = l;
				fz.in += e != NULL ? l + 1 : l;
				fz.inlen -= e != NULL ? l + 1 : l;
				fz.pending--;
			}
			kick();
		}
		out = fz.out;
		outlen = fz.outlen;
		pthread_mutex_unlock(&fz.mu);
		if (outlen > 0) {
			ssize_t w = __real_write(fz.master, out, outlen);

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				abort();
			pthread_mutex_lock(&fz.mu);
			if (w > 0) {
				fz.out += w;
				fz.outlen -= (size_t)w;
				fz.thr_wrote += (uint64_t)w;
				kick();
			}
			pthread_mutex_unlock(&fz.mu);
		}
	}
}

/* FUZZ_MODEM_TRACE=1 in the environment: each call's outcome on
   stderr, to check what a seed reaches. */
static bool
tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_MODEM_TRACE") != NULL;
	return on != 0;
}

static void
check_err(const char *what, int rc, const struct tocsin_err *e)
{
	if (strnlen(e->msg, sizeof(e->msg)) == sizeof(e->msg))
		abort();
	if (tracing())
		(void)fprintf(stderr, "fuzz_modem: %s: %d at %lld ms %s\n",
		    what, rc, (long long)(fz.clock - 1000000),
		    rc != 0 ? e->msg : "");
}

struct rx {
	bool keep_odd;
	size_t seen;
};

static enum modem_fate
on_sms(void *ctx, const struct gsmpdu_deliver *d, const char *why)
{
	struct rx *rx = ctx;
	size_t fl, tl;

	rx->seen++;
	if (d == NULL) {
		if (why == NULL || strnlen(why, TOCSIN_ERRLEN) == TOCSIN_ERRLEN)
			abort();
		if (tracing())
			(void)fprintf(stderr, "fuzz_modem: unreadable: %s\n",
			    why);
		return MODEM_TAKE;
	}
	if (why != NULL)
		abort();
	if (tracing())
		(void)fprintf(stderr, "fuzz_modem: received from %.24s: "
		    "%.60s (%u/%u)\n", d->from, d->text, d->seq, d->total);
	fl = strnlen(d->from, sizeof(d->from));
	tl = strnlen(d->text, sizeof(d->text));
	if (fl == sizeof(d->from) || tl == sizeof(d->text))
		abort();
	if (d->concatenated && (d->seq == 0 || d->seq > d->total))
		abort();
	return rx->keep_odd && rx->seen % 2 == 1 ? MODEM_KEEP : MODEM_TAKE;
}

/* The texts sent: one part, three, UCS-2, and one over the 3 allowed. */
static const char *
text_of(unsigned k, char *buf, size_t len)
{
	static const char *const words = "The pump in station 4 stopped at "
	    "03:12; pressure falls. ";

	switch (k) {
	case 0:
		return "disk full on db1";
	case 2:
		return "\xc3\x9c" "berlauf \xe2\x98\x83 Pumpe 4";
	default:
		buf[0] = '\0';
		for (size_t off = 0; off + strlen(words) < len &&
		    off < (k == 1 ? 400u : 560u); off += strlen(words))
			memcpy(buf + off, words, strlen(words) + 1);
		return buf;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_provider cfg;
	char device[128], text[640], out[256], mrs[64];
	struct termios t;
	struct stat st;
	struct modem *m = NULL;
	struct tocsin_err e = { 0 };
	struct rx rx = { 0 };
	pthread_t th;
	const char *msg;
	unsigned flags;
	int64_t dl;
	int rc, parts;
	bool reached;

	if (size < 1)
		return 0;
	flags = data[0];
	fz.master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fz.master < 0 || grantpt(fz.master) != 0 ||
	    unlockpt(fz.master) != 0 ||
	    ptsname_r(fz.master, device, sizeof(device)) != 0)
		abort();
	/* held for the whole run: the pty stays ours (its number is not
	   given to another process) while the driver closes and reopens */
	fz.slave = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fz.slave < 0 || tcgetattr(fz.slave, &t) != 0 ||
	    fstat(fz.slave, &st) != 0)
		abort();
	cfmakeraw(&t);
	if (tcsetattr(fz.slave, TCSANOW, &t) != 0 ||
	    pipe2(fz.stop, O_CLOEXEC) != 0 ||
	    pipe2(fz.kick, O_CLOEXEC | O_NONBLOCK) != 0)
		abort();
	fz.rdev = st.st_rdev;
	fz.in = data + 1;
	fz.inlen = size - 1;
	fz.exhausted = false;
	fz.pending = fz.outlen = 0;
	fz.out = NULL;
	fz.drv_wrote = fz.thr_read = fz.thr_wrote = fz.drv_read = 0;
	fz.discarded = 0;
	fz.clock = 1000000;
	fz.active = true;
	if (pthread_create(&th, NULL, modem_thread, NULL) != 0)
		abort();

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "fz";
	cfg.kind = POLICY_PK_MODEM;
	cfg.device = device;
	cfg.baud = 115200;
	cfg.timeout = 1;
	cfg.segments = 3;
	cfg.secret = "/etc/tocsin/sim-pin";
	if (modem_new(&cfg, (flags & 1) != 0 ? "1234" : NULL, &m, &e) != 0)
		abort();

	dl = base_mono_ms() + 10000;
	rc = modem_probe(m, dl, out, sizeof(out), &e);
	if ((rc != 0 && rc != TOCSIN_EUNAVAIL) || base_mono_ms() > dl)
		abort();
	if (rc == 0 && strnlen(out, sizeof(out)) == sizeof(out))
		abort();
	check_err("probe", rc, &e);
	if (tracing() && rc == 0)
		(void)fprintf(stderr, "fuzz_modem: probe: %s\n", out);

	msg = text_of((flags >> 1) & 3, text, sizeof(text));
	dl = base_mono_ms() + 30000;
	rc = modem_send(m, "+254700000001", msg, strlen(msg), 42, 3, dl, mrs,
	    sizeof(mrs), &parts, &reached, &e);
	if ((rc != 0 && rc != TOCSIN_EUNAVAIL && rc != TOCSIN_EPERM &&
	    rc != TOCSIN_ETOOBIG) || base_mono_ms() > dl || parts < 0 ||
	    parts > 3 || strnlen(mrs, sizeof(mrs)) == sizeof(mrs))
		abort();
	if (rc == 0 && (!reached || parts == 0))
		abort();
	check_err("send", rc, &e);
	if (tracing())
		(void)fprintf(stderr, "fuzz_modem: send: %d parts, %s\n",
		    parts, mrs);

	rx.keep_odd = (flags & 8) != 0;
	dl = base_mono_ms() + 10000;
	rc = modem_receive(m, dl, on_sms, &rx, &e);
	if ((rc != 0 && rc != TOCSIN_EUNAVAIL) || base_mono_ms() > dl ||
	    rx.seen > 32)
		abort();
	check_err("receive", rc, &e);
	if (tracing())
		(void)fprintf(stderr, "fuzz_modem: virtual time %lld ms\n",
		    (long long)(fz.clock - 1000000));

	modem_free(m);
	if (__real_write(fz.stop[1], "x", 1) != 1 ||
	    pthread_join(th, NULL) != 0)
		abort();
	fz.active = false;
	(void)close(fz.stop[0]);
	(void)close(fz.stop[1]);
	(void)close(fz.kick[0]);
	(void)close(fz.kick[1]);
	(void)close(fz.slave);
	(void)close(fz.master);
	fz.master = fz.slave = fz.stop[0] = fz.stop[1] = -1;
	fz.kick[0] = fz.kick[1] = -1;
	return 0;
}
