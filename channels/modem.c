/*
 * modem.c: a GSM modem on a serial port, spoken to with AT commands on
 * termios (TS 27.007 for SIM and network, TS 27.005 PDU mode for SMS).
 *
 * Our own small driver rather than Debian's libgammu: what tocsin needs
 * is one serial dialogue (send a PDU, list, read and delete received
 * ones), and libgammu brings a state machine with its own configuration
 * files, its own phone probing and debug logging, blocking calls with
 * timeouts of its own choosing, and PDU code we could not fuzz; the few
 * hundred lines here are bounded, deadline-driven and fuzzed with the
 * codec (gsmpdu.c) they use.
 *
 * The dialogue: a command line ends with CR; the modem answers with
 * information lines and one final result (OK, ERROR, +CME ERROR: n, +CMS
 * ERROR: n); anything else on the line meanwhile (an echo, +CMTI, RING)
 * is not the answer and is passed over.  Every wait has a deadline; a
 * modem that does not answer in time is closed, with ESC sent first so
 * that one left at the "> " prompt drops what it holds, and reopened at
 * the next use.  The SIM's PIN is sent at most once a process: a wrong
 * PIN is not tried again, since the third wrong one locks the SIM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base.h"
#include "modem.h"

#define MD_LINE_MAX	1024		/* an answer line; longer: garbage */
#define MD_INFO_MAX	64		/* information lines kept per answer */
#define MD_CMD_WAIT	5000		/* ms for a plain command's answer */
#define MD_LIST_MAX	32		/* messages read per look */

struct modem {
	const struct policy_provider *cfg;
	char *pin;
	pthread_mutex_t mu;
	int fd;				/* -1: closed */
	bool pin_refused;		/* never sent again this process */
	char rbuf[MD_LINE_MAX + 1];
	size_t rlen;
	bool prompt;			/* "> " seen */
};

/* The kind of final result of an answer. */
enum md_final { MD_OK, MD_ERROR, MD_CME, MD_CMS, MD_TIMEOUT, MD_IOERR };

struct md_answer {
	enum md_final final;
	int code;			/* of +CME / +CMS ERROR */
	char info[MD_INFO_MAX][MD_LINE_MAX + 1];
	size_t ninfo;
};

int
modem_new(const struct policy_provider *cfg, const char *pin,
    struct modem **ret, struct tocsin_err *err)
{
	struct modem *m;

	*ret = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (pin != NULL && (m->pin = strdup(pin)) == NULL)) {
		free(m);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	m->cfg = cfg;
	m->fd = -1;
	pthread_mutex_init(&m->mu, NULL);
	*ret = m;
	return 0;
}

static void
md_close(struct modem *m)
{
	if (m->fd >= 0) {
		/* ESC: a modem left at the prompt drops the PDU it holds; a
		   device that cannot take it is closed all the same */
		if (write(m->fd, "\x1b", 1) != 1)
			m->rlen = 0;
		(void)close(m->fd);
	}
	m->fd = -1;
	m->rlen = 0;
	m->prompt = false;
}

void
modem_free(struct modem *m)
{
	if (m == NULL)
		return;
	md_close(m);
	if (m->pin != NULL) {
		OPENSSL_cleanse(m->pin, strlen(m->pin));
		free(m->pin);
	}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static speed_t
md_speed(int baud)
{
	switch (baud) {
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 230400: return B230400;
	case 460800: return B460800;
	case 921600: return B921600;
	default: return B115200;
	}
}

/* Write all of s before the deadline. */
static int
md_write(struct modem *m, const char *s, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = write(m->fd, s, n);

		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (base_mono_ms() >= deadline)
			return -1;
		{
			struct pollfd p = { .fd = m->fd, .events = POLLOUT };

			(void)poll(&p, 1, 50);
		}
	}
	return 0;
}

/*
 * The next line of the modem into line (without CR/LF, empty lines
 * passed over), or the prompt "> " (*prompt true, line empty).  0, 1 at
 * the deadline, -1 on an error of the device or a line over the limit.
 */
static int
md_line(struct modem *m, int64_t deadline, char *line, bool *prompt)
{
	*prompt = false;
	for (;;) {
		size_t i = 0;

		/* the prompt has no line end, and a result that follows it
		   in the same read must not hide it */
		if (m->rlen >= 2 && m->rbuf[0] == '>' && m->rbuf[1] == ' ') {
			memmove(m->rbuf, m->rbuf + 2, m->rlen - 2);
			m->rlen -= 2;
			line[0] = '\0';
			*prompt = true;
			return 0;
		}
		/* lines end with CR or LF */
		while (i < m->rlen && m->rbuf[i] != '\r' && m->rbuf[i] != '\n')
			i++;
		if (i < m->rlen) {
			memcpy(line, m->rbuf, i);
			line[i] = '\0';
			memmove(m->rbuf, m->rbuf + i + 1, m->rlen - i - 1);
			m->rlen -= i + 1;
			if (i > 0)
				return 0;
			continue;
		}
		if (m->rlen >= MD_LINE_MAX)
			return -1;
		{
			int64_t left = deadline - base_mono_ms();
			struct pollfd p = { .fd = m->fd, .events = POLLIN };
			ssize_t r;

			if (left <= 0)
				return 1;
			if (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0 &&
			    errno != EINTR)
				return -1;
			if ((p.revents & (POLLERR | POLLNVAL)) != 0)
				return -1;
			if ((p.revents & (POLLIN | POLLHUP)) == 0)
				continue;
			r = read(m->fd, m->rbuf + m->rlen, MD_LINE_MAX -
			    m->rlen);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (r == 0 && (p.revents & POLLHUP) != 0)
				return -1;
			if (r > 0)
				m->rlen += (size_t)r;
		}
	}
}

/* An error code after "+CME ERROR: " or "+CMS ERROR: ": digits only. */
static int
md_code(const char *s)
{
	int v = 0;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9' && v < 100000; s++)
		v = v * 10 + (*s - '0');
	return *s == '\0' ? v : -1;
}

/* A number that is one field of an information line: digits up to a
   comma or the end ("1" of "2,1,\"1A2B\""), or -1. */
static int
md_field(const char *s)
{
	char v[8];
	size_t l = strcspn(s, ",");

	if (l == 0 || l >= sizeof(v))
		return -1;
	memcpy(v, s, l);
	v[l] = '\0';
	return md_code(v);
}

/*
 * Send cmd (without its CR) and read its answer until its final result:
 * information lines starting with want (e.g. "+CPIN:"; NULL keeps none)
 * go into a, the rest (echo, unsolicited results) is passed over.  With
 * expect_prompt, the "> " prompt is a final result of its own (MD_OK
 * with a->code 1).  The return is a->final.
 */
static enum md_final
md_cmd(struct modem *m, const char *cmd, const char *want,
    bool expect_prompt, int64_t deadline, struct md_answer *a)
{
	char line[MD_LINE_MAX + 1];
	bool prompt;
	int rc;

	a->ninfo = 0;
	a->code = 0;
	if (cmd != NULL && (md_write(m, cmd, strlen(cmd), deadline) != 0 ||
	    md_write(m, "\r", 1, deadline) != 0))
		return a->final = MD_IOERR;
	for (;;) {
		if ((rc = md_line(m, deadline, line, &prompt)) != 0)
			return a->final = rc > 0 ? MD_TIMEOUT : MD_IOERR;
		if (prompt) {
			if (!expect_prompt)
				continue;
			a->code = 1;
			return a->final = MD_OK;
		}
		if (strcmp(line, "OK") == 0)
			return a->final = MD_OK;
		if (strcmp(line, "ERROR") == 0)
			return a->final = MD_ERROR;
		if (strncmp(line, "+CME ERROR:", 11) == 0) {
			a->code = md_code(line + 11);
			return a->final = MD_CME;
		}
		if (strncmp(line, "+CMS ERROR:", 11) == 0) {
			a->code = md_code(line + 11);
			return a->final = MD_CMS;
		}
		if (want != NULL && strncmp(line, want, strlen(want)) == 0 &&
		    a->ninfo < MD_INFO_MAX) {
			memcpy(a->info[a->ninfo], line, strlen(line) + 1);
			a->ninfo++;
		}
	}
}

/* What a +CMS ERROR code means (TS 24.011 RP-cause values, TS 23.040
   TP-FCS, TS 27.005 3.2.5), and whether it is for good. */
static const char *
md_cms_text(int code, bool *perm)
{
	static const struct {
		int code;
		bool perm;
		const char *text;
	} t[] = {
		{ 1, true, "unassigned (unallocated) number" },
		{ 8, true, "operator determined barring" },
		{ 10, true, "call barred" },
		{ 21, true, "short message transfer rejected" },
		{ 27, false, "destination out of service" },
		{ 28, true, "unidentified subscriber" },
		{ 29, true, "facility rejected" },
		{ 30, true, "unknown subscriber" },
		{ 38, false, "network out of order" },
		{ 41, false, "temporary failure" },
		{ 42, false, "congestion" },
		{ 47, false, "resources unavailable" },
		{ 50, true, "requested facility not subscribed" },
		{ 69, true, "requested facility not implemented" },
		{ 96, true, "invalid mandatory information" },
		{ 111, false, "protocol error" },
		{ 300, false, "ME failure" },
		{ 302, false, "operation not allowed" },
		{ 304, true, "invalid PDU mode parameter" },
		{ 310, false, "SIM not inserted" },
		{ 311, false, "SIM PIN required" },
		{ 312, false, "PH-SIM PIN required" },
		{ 313, false, "SIM failure" },
		{ 316, false, "SIM PUK required" },
		{ 322, false, "memory full" },
		{ 330, false, "SMSC address unknown" },
		{ 331, false, "no network service" },
		{ 332, false, "network timeout" },
		{ 500, false, "unknown error" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code) {
			*perm = t[i].perm;
			return t[i].text;
		}
	*perm = code >= 0 && code < 128 && code != 38 && code != 41 &&
	    code != 42 && code != 47;
	return "refused";
}

static int
md_fail_answer(const struct modem *m, const char *what,
    const struct md_answer *a, struct tocsin_err *err)
{
	const char *name = m->cfg->name;

	switch (a->final) {
	case MD_TIMEOUT:
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the modem did "
		    "not answer %s in time", name, what);
	case MD_IOERR:
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the modem's "
		    "device %s failed or went away during %s", name,
		    m->cfg->device, what);
	case MD_CME:
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: %s: +CME ERROR: "
		    "%d", name, what, a->code);
	case MD_CMS:
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: %s: +CMS ERROR: "
		    "%d", name, what, a->code);
	default:
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the modem "
		    "refused %s (ERROR)", name, what);
	}
}

/* The SIM is ready, or made so with its PIN (once a process). */
static int
md_sim(struct modem *m, int64_t deadline, struct tocsin_err *err)
{
	struct md_answer *a = calloc(1, sizeof(*a));
	char cmd[64] = "";
	const char *st;
	int rc = 0;

	if (a == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if (md_cmd(m, "AT+CPIN?", "+CPIN:", false, deadline, a) != MD_OK ||
	    a->ninfo == 0) {
		if (a->final == MD_CME && a->code == 10)
			rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: no SIM card "
			    "in the modem", m->cfg->name);
		else
			rc = md_fail_answer(m, "AT+CPIN?", a, err);
		goto out;
	}
	st = a->info[0] + 6;
	while (*st == ' ')
		st++;
	if (strcmp(st, "READY") == 0)
		goto out;
	if (strcmp(st, "SIM PIN") != 0) {
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the SIM asks for "
		    "%.40s%s", m->cfg->name, st, strcmp(st, "SIM PUK") == 0 ?
		    ": it is locked after wrong PINs; unlock it with its PUK "
		    "(AT+CPIN=\"PUK\",\"new PIN\") and put the new PIN in the "
		    "secret file" : "; tocsin only sends a SIM PIN");
		goto out;
	}
	if (m->pin == NULL) {
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the SIM needs its "
		    "PIN; set secret to a 0600 file holding it", m->cfg->name);
		goto out;
	}
	if (m->pin_refused) {
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the SIM refused the "
		    "PIN of %s, which is not sent again (a third wrong PIN "
		    "locks the SIM); correct the file and restart serve",
		    m->cfg->name, m->cfg->secret);
		goto out;
	}
	(void)snprintf(cmd, sizeof(cmd), "AT+CPIN=\"%s\"", m->pin);
	if (md_cmd(m, cmd, NULL, false, deadline, a) == MD_OK)
		goto out;
	OPENSSL_cleanse(cmd, sizeof(cmd));
	if (a->final == MD_CME || a->final == MD_ERROR) {
		m->pin_refused = true;
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the SIM refused the "
		    "PIN of %s; it is not sent again (a third wrong PIN locks "
		    "the SIM): correct the file and restart serve",
		    m->cfg->name, m->cfg->secret);
	} else
		rc = md_fail_answer(m, "the PIN", a, err);
out:
	OPENSSL_cleanse(cmd, sizeof(cmd));
	free(a);
	return rc;
}

/* Open, lock and set up the device, and bring the modem to PDU mode with
   its SIM ready.  Called with m->mu held. */
static int
md_open(struct modem *m, int64_t deadline, struct tocsin_err *err)
{
	struct termios t;
	struct md_answer *a;
	int fd, rc = 0;

	if (m->fd >= 0)
		return 0;
	fd = open(m->cfg->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: cannot open the "
		    "modem's device %s: %s", m->cfg->name, m->cfg->device,
		    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the modem's device "
		    "%s is in use by another process (another serve on this "
		    "host?)", m->cfg->name, m->cfg->device);
	}
	if (!isatty(fd) || tcgetattr(fd, &t) != 0) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: %s is not a "
		    "serial device", m->cfg->name, m->cfg->device);
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	(void)cfsetispeed(&t, md_speed(m->cfg->baud));
	(void)cfsetospeed(&t, md_speed(m->cfg->baud));
	if (tcsetattr(fd, TCSANOW, &t) != 0) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: cannot set up the "
		    "serial line of %s: %s", m->cfg->name, m->cfg->device,
		    strerror(errno));
	}
	/* what waits from before (a late answer, a URC) is not ours */
	(void)tcflush(fd, TCIOFLUSH);
	m->fd = fd;
	m->rlen = 0;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		md_close(m);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	/* ESC ends a prompt a previous process left; then find the modem */
	(void)md_write(m, "\x1b", 1, deadline);
	for (int i = 0; i < 3; i++) {
		int64_t d = base_mono_ms() + 2000;

		if (md_cmd(m, "AT", NULL, false, d < deadline ? d : deadline,
		    a) == MD_OK)
			break;
	}
	if (a->final != MD_OK) {
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: no modem answers "
		    "AT on %s", m->cfg->name, m->cfg->device);
		goto out;
	}
	if (md_cmd(m, "ATE0", NULL, false, deadline, a) != MD_OK ||
	    md_cmd(m, "AT+CMEE=1", NULL, false, deadline, a) != MD_OK) {
		rc = md_fail_answer(m, "its set-up (ATE0, AT+CMEE=1)", a, err);
		goto out;
	}
	if ((rc = md_sim(m, deadline, err)) != 0)
		goto out;
	if (md_cmd(m, "AT+CMGF=0", NULL, false, deadline, a) != MD_OK)
		rc = md_fail_answer(m, "PDU mode (AT+CMGF=0)", a, err);
out:
	free(a);
	if (rc != 0)
		md_close(m);
	return rc;
}

/* One part: AT+CMGS, the prompt, the PDU, its answer.  0 with the
   message reference in *mr. */
static int
md_part(struct modem *m, const struct gsmpdu_part *p, int64_t deadline,
    int *mr, bool *reached, struct tocsin_err *err)
{
	struct md_answer *a = calloc(1, sizeof(*a));
	char cmd[32];
	bool perm;
	const char *text;
	int rc = 0;
	int64_t pd = base_mono_ms() + MD_CMD_WAIT;

	if (a == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	(void)snprintf(cmd, sizeof(cmd), "AT+CMGS=%u", p->tpdu_len);
	if (md_cmd(m, cmd, NULL, true, pd < deadline ? pd : deadline, a) !=
	    MD_OK || a->code != 1) {
		if (a->final == MD_OK)
			a->final = MD_ERROR;
		goto refused;
	}
	*reached = true;
	if (md_write(m, p->hex, strlen(p->hex), deadline) != 0 ||
	    md_write(m, "\x1a", 1, deadline) != 0 ||
	    md_cmd(m, NULL, "+CMGS:", false, deadline, a) != MD_OK) {
		if (a->final == MD_TIMEOUT || a->final == MD_IOERR) {
			md_close(m);
			rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: no answer to "
			    "the message from the modem in time; it may have "
			    "gone (a retry may repeat it)", m->cfg->name);
			goto out;
		}
		goto refused;
	}
	*mr = a->ninfo > 0 ? md_code(a->info[0] + 6) : -1;
	goto out;
refused:
	if (a->final == MD_CMS) {
		text = md_cms_text(a->code, &perm);
		rc = tocsin_fail(err, perm ? TOCSIN_EPERM : TOCSIN_EUNAVAIL,
		    "%s: +CMS ERROR: %d (%s)%s", m->cfg->name, a->code, text,
		    a->code == 331 ? ": the modem is not registered on a "
		    "network; check its antenna, SIM and coverage" : "");
	} else {
		if (a->final == MD_TIMEOUT || a->final == MD_IOERR)
			md_close(m);
		rc = md_fail_answer(m, "AT+CMGS", a, err);
	}
out:
	free(a);
	return rc;
}

int
modem_send(struct modem *m, const char *number, const char *utf8,
    size_t len, uint8_t ref, unsigned max_parts, int64_t deadline_ms,
    char *mrs, size_t mrslen, int *parts, bool *reached,
    struct tocsin_err *err)
{
	struct gsmpdu_part *p = NULL;
	size_t n = 0, off = 0;
	int rc;

	*reached = false;
	*parts = 0;
	if (mrslen > 0)
		mrs[0] = '\0';
	if ((rc = gsmpdu_submit(number, utf8, len, ref, 0xA7, max_parts, &p,
	    &n, err)) != 0)
		return rc == TOCSIN_EDATA ? tocsin_fail(err, TOCSIN_EPERM,
		    "%s: %s", m->cfg->name, err->msg) : rc;
	pthread_mutex_lock(&m->mu);
	if ((rc = md_open(m, deadline_ms, err)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int64_t d = base_mono_ms() + m->cfg->timeout * 1000;
		int mr = -1;

		if ((rc = md_part(m, &p[i], d < deadline_ms ? d : deadline_ms,
		    &mr, reached, err)) != 0) {
			if (i > 0) {
				char why[TOCSIN_ERRLEN];

				(void)snprintf(why, sizeof(why), "%s", err->msg);
				/* the parts that went are on the phone: a
				   retry sends the whole message again */
				(void)tocsin_fail(err, rc == TOCSIN_EPERM ?
				    TOCSIN_EPERM : TOCSIN_EUNAVAIL, "part %zu "
				    "of %zu: %s", i + 1, n, why);
			}
			goto out;
		}
		if (off < mrslen)
			off += (size_t)snprintf(mrs + off, mrslen - off, "%s%d",
			    i > 0 ? "+" : "", mr);
		(*parts)++;
	}
out:
	pthread_mutex_unlock(&m->mu);
	free(p);
	return rc;
}

/* "+CMGL: <index>,<stat>,[<alpha>],<length>": the index, or -1. */
static int
md_list_index(const char *line)
{
	const char *s = line + 6;
	int v = 0;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9' && v < 10000; s++)
		v = v * 10 + (*s - '0');
	return *s == ',' ? v : -1;
}

int
modem_receive(struct modem *m, int64_t deadline_ms, modem_sms_fn fn,
    void *ctx, struct tocsin_err *err)
{
	struct md_answer *d = calloc(1, sizeof(*d));
	int idx[MD_LIST_MAX];
	char *pdu[MD_LIST_MAX];
	size_t n = 0;
	char line[MD_LINE_MAX + 1];
	bool prompt;
	int rc = 0;

	if (d == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	pthread_mutex_lock(&m->mu);
	if ((rc = md_open(m, deadline_ms, err)) != 0)
		goto out;
	/* The listing is a header line and the PDU's line, per message:
	   read here rather than by md_cmd, which keeps one kind of line. */
	if (md_write(m, "AT+CMGL=4\r", 10, deadline_ms) != 0) {
		md_close(m);
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: cannot write to the "
		    "modem's device", m->cfg->name);
		goto out;
	}
	for (;;) {
		int r = md_line(m, deadline_ms, line, &prompt);

		if (r != 0) {
			md_close(m);
			rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the modem did "
			    "not list its messages in time", m->cfg->name);
			goto out;
		}
		if (strcmp(line, "OK") == 0)
			break;
		if (strcmp(line, "ERROR") == 0 || strncmp(line, "+CMS ERROR:",
		    11) == 0 || strncmp(line, "+CME ERROR:", 11) == 0) {
			rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the modem "
			    "refused to list its messages (%s)", m->cfg->name,
			    line);
			goto out;
		}
		if (strncmp(line, "+CMGL:", 6) != 0)
			continue;
		{
			int i = md_list_index(line);

			if ((r = md_line(m, deadline_ms, line, &prompt)) != 0) {
				md_close(m);
				rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the "
				    "modem's list stopped half-way",
				    m->cfg->name);
				goto out;
			}
			if (i < 0 || n == MD_LIST_MAX)
				continue;
			if ((pdu[n] = strdup(line)) == NULL)
				continue;
			idx[n++] = i;
		}
	}
	for (size_t k = 0; k < n; k++) {
		struct gsmpdu_deliver *dl = calloc(1, sizeof(*dl));
		struct tocsin_err pe = { 0 };
		enum modem_fate f;
		char cmd[32];

		if (dl == NULL)
			break;
		if (gsmpdu_deliver_parse(pdu[k], strlen(pdu[k]), dl, &pe) != 0) {
			(void)fn(ctx, NULL, pe.msg);
			f = MODEM_TAKE;
		} else
			f = fn(ctx, dl, NULL);
		free(dl);
		if (f != MODEM_TAKE)
			continue;
		(void)snprintf(cmd, sizeof(cmd), "AT+CMGD=%d", idx[k]);
		if (md_cmd(m, cmd, NULL, false, deadline_ms, d) != MD_OK) {
			rc = md_fail_answer(m, "deleting a message it read", d,
			    err);
			if (d->final == MD_TIMEOUT || d->final == MD_IOERR) {
				md_close(m);
				break;
			}
		}
	}
out:
	pthread_mutex_unlock(&m->mu);
	for (size_t k = 0; k < n; k++)
		free(pdu[k]);
	free(d);
	return rc;
}

int
modem_probe(struct modem *m, int64_t deadline_ms, char *out, size_t outlen,
    struct tocsin_err *err)
{
	static const char *const regs[] = { "not registered", "registered "
		"(home network)", "searching for a network", "registration "
		"denied", "registration unknown", "registered (roaming)" };
	struct md_answer *a = calloc(1, sizeof(*a));
	int stat = -1, rssi = 99, rc;
	const char *c;

	if (a == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	pthread_mutex_lock(&m->mu);
	if ((rc = md_open(m, deadline_ms, err)) != 0)
		goto out;
	/* "+CREG: n,stat" or, with AT+CREG=2 kept in the modem's profile,
	   "+CREG: n,stat,lac,ci": stat is the field after the first comma */
	if (md_cmd(m, "AT+CREG?", "+CREG:", false, deadline_ms, a) == MD_OK &&
	    a->ninfo > 0 && (c = strchr(a->info[0], ',')) != NULL)
		stat = md_field(c + 1);
	/* "+CSQ: rssi,ber" */
	if (md_cmd(m, "AT+CSQ", "+CSQ:", false, deadline_ms, a) == MD_OK &&
	    a->ninfo > 0)
		rssi = md_field(a->info[0] + 5);
	if (stat != 1 && stat != 5) {
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "%s: the SIM is ready but "
		    "the modem is %s; no SMS can go: check its antenna, the "
		    "SIM's subscription and the coverage", m->cfg->name,
		    stat >= 0 && stat <= 5 ? regs[stat] : "not registered");
		goto out;
	}
	if (rssi >= 0 && rssi <= 31)
		(void)snprintf(out, outlen, "SIM ready, %s, signal %d/31",
		    regs[stat], rssi);
	else
		(void)snprintf(out, outlen, "SIM ready, %s, signal unknown",
		    regs[stat]);
out:
	md_close(m);
	pthread_mutex_unlock(&m->mu);
	free(a);
	return rc;
}
