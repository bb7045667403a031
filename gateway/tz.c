/*
 * tz.c: local time from TZif files (RFC 8536), for rendering messages.
 *
 * Why not localtime_r(): it follows the one process-wide TZ, and changing
 * TZ from a worker thread would change it under every other worker.  So the
 * zone file is read and interpreted here, per call, with no state kept.
 *
 * What is done: versions 1 to 4 of the format (the 64-bit data of version 2
 * and later, the 32-bit data otherwise); the transition table; before the
 * first transition, the first standard-time type; after the last one, the
 * POSIX TZ string of the footer with RFC 8536's extensions (angle-bracket
 * names, rule times from -167 to 167 hours).  What is refused: anything
 * whose counts, indexes, offsets or abbreviations do not add up, files with
 * leap-second records (the "right/" zones count TAI seconds, not civil
 * time), and a footer with DST but no rule (zic never writes one; the POSIX
 * default for it is implementation-defined).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tz.h"

#define TZ_T_MIN (-62135596800LL)	/* 0001-01-01T00:00:00Z */
#define TZ_T_MAX 253402300799LL		/* 9999-12-31T23:59:59Z */
#define TZ_OFF_MIN (-89999)		/* RFC 8536: more than -25 h, */
#define TZ_OFF_MAX 93599		/* and less than 26 h */
#define TZ_HDR_LEN 44
#define TZ_FOOTER_MAX 255
#define TZ_RULE_HOURS_MAX 167		/* RFC 8536's extension of POSIX */
#define TZ_PATH_MAX 4096

/* One end of a POSIX DST rule: a day of the year and a local time. */
struct tz_rule {
	char kind;		/* 'J': Jn, 1..365, Feb 29 never counted;
				   'D': n, 0..365, Feb 29 counted; 'M': Mm.w.d */
	int n;
	int month, week, wday;	/* 'M': 1..12, 1..5 (5 = last), 0..6 (Sunday) */
	int32_t time;		/* seconds after local midnight */
};

/* A footer's TZ string, e.g. CET-1CEST,M3.5.0,M10.5.0/3. */
struct tz_posix {
	char std[TZ_ABBR_MAX], dst[TZ_ABBR_MAX];
	int32_t std_off, dst_off;	/* seconds east of UTC, unlike POSIX */
	bool has_dst;
	struct tz_rule start, end;	/* start in standard time, end in DST */
};

/* One data block of a TZif file; the pointers point into the file. */
struct tz_block {
	const unsigned char *times;	/* timecnt transition times */
	const unsigned char *idx;	/* timecnt type indexes */
	const unsigned char *types;	/* typecnt records of 6 bytes */
	const unsigned char *chars;	/* charcnt bytes of abbreviations */
	uint32_t timecnt, typecnt, charcnt;
	size_t tsize;			/* 4 in the version 1 block, else 8 */
};

static uint32_t
tz_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A big-endian two's complement number of n bytes, without relying on
   the implementation-defined conversion of a large unsigned value. */
static int64_t
tz_be_signed(const unsigned char *p, size_t n)
{
	uint64_t v = 0, top = UINT64_C(1) << (n * 8 - 1);

	for (size_t k = 0; k < n; k++)
		v = v << 8 | p[k];
	/* (top << 1) - 1 is the all-ones mask of n bytes (it wraps to
	   UINT64_MAX for 8 bytes, as unsigned arithmetic does) */
	if (v & top)
		return -(int64_t)((top << 1) - 1 - v) - 1;
	return (int64_t)v;
}

static int64_t
tz_time_at(const struct tz_block *b, uint32_t i)
{
	return tz_be_signed(b->times + (size_t)i * b->tsize, b->tsize);
}

static int32_t
tz_type_off(const struct tz_block *b, unsigned i)
{
	return (int32_t)tz_be_signed(b->types + (size_t)i * 6, 4);
}

static bool
tz_type_isdst(const struct tz_block *b, unsigned i)
{
	return b->types[(size_t)i * 6 + 4] != 0;
}

static const char *
tz_type_abbr(const struct tz_block *b, unsigned i)
{
	return (const char *)b->chars + b->types[(size_t)i * 6 + 5];
}

/* ASCII only: the C library's ctype follows the locale. */
static bool
tz_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
tz_isalpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Abbreviations end up in message bodies: only what tzdata itself uses. */
static bool
tz_abbr_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!tz_isalpha(s[n]) && !tz_isdigit(s[n]) && s[n] != '+' &&
		    s[n] != '-')
			return false;
	return n >= 1 && n < TZ_ABBR_MAX;
}

static void
tz_copy(char *out, size_t outlen, const char *s)
{
	size_t n;

	if (out == NULL || outlen == 0)
		return;
	n = strlen(s);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Floor division, for days before 1970. */
static int64_t
tz_fdiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

static bool
tz_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
tz_month_days(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };

	return days[m - 1] + (m == 2 && tz_leap(y));
}

/* Days from 1970-01-01 to January 1st of year y (proleptic Gregorian). */
static int64_t
tz_days_before_year(int64_t y)
{
	int64_t p = y - 1;
	int64_t leaps = tz_fdiv(p, 4) - tz_fdiv(p, 100) + tz_fdiv(p, 400);

	/* 477 leap years come before 1970 */
	return 365 * (y - 1970) + leaps - 477;
}

/* The date of a day number (days since 1970-01-01). */
static void
tz_civil(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d)
{
	/* 146097 days in 400 years: a guess within a year, then exact */
	int64_t y = 1970 + tz_fdiv(days * 400, 146097);
	int64_t yday;
	int m = 1;

	while (tz_days_before_year(y) > days)
		y--;
	while (tz_days_before_year(y + 1) <= days)
		y++;
	yday = days - tz_days_before_year(y);
	while (yday >= tz_month_days(y, m)) {
		yday -= tz_month_days(y, m);
		m++;
	}
	*ret_y = y;
	*ret_m = m;
	*ret_d = (int)yday + 1;
}

/* ---- the footer's POSIX TZ string ---- */

/* A decimal number of 1..maxdigits digits within [0, max]. */
static bool
tz_posix_num(const char **sp, int maxdigits, int max, int *ret)
{
	const char *s = *sp;
	int v = 0, n = 0;

	while (tz_isdigit(*s) && n < maxdigits) {
		v = v * 10 + (*s++ - '0');
		n++;
	}
	if (n == 0 || tz_isdigit(*s) || v > max)
		return false;
	*sp = s;
	*ret = v;
	return true;
}

/* A zone abbreviation: letters, or <...> with digits and signs too. */
static bool
tz_posix_name(const char **sp, char out[TZ_ABBR_MAX])
{
	const char *s = *sp;
	size_t n = 0;

	if (*s == '<') {
		for (s++; *s != '>'; s++) {
			if (!tz_isalpha(*s) && !tz_isdigit(*s) && *s != '+' &&
			    *s != '-')
				return false;	/* also the end of the string */
			if (n + 1 >= TZ_ABBR_MAX)
				return false;
			out[n++] = *s;
		}
		s++;
	} else {
		for (; tz_isalpha(*s); s++) {
			if (n + 1 >= TZ_ABBR_MAX)
				return false;
			out[n++] = *s;
		}
	}
	if (n < 3)		/* POSIX asks for at least three */
		return false;
	out[n] = '\0';
	*sp = s;
	return true;
}

/* [+-]hh[:mm[:ss]], hours up to maxh; seconds, with the sign given. */
static bool
tz_posix_hms(const char **sp, int maxh, int32_t *ret)
{
	const char *s = *sp;
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (!tz_posix_num(&s, 3, maxh, &h))
		return false;
	if (*s == ':') {
		s++;
		if (!tz_posix_num(&s, 2, 59, &m))
			return false;
		if (*s == ':') {
			s++;
			if (!tz_posix_num(&s, 2, 59, &sec))
				return false;
		}
	}
	*sp = s;
	*ret = sign * (h * 3600 + m * 60 + sec);
	return true;
}

static bool
tz_posix_rule(const char **sp, struct tz_rule *r)
{
	const char *s = *sp;

	if (*s == 'J') {
		s++;
		r->kind = 'J';
		if (!tz_posix_num(&s, 3, 365, &r->n) || r->n < 1)
			return false;
	} else if (*s == 'M') {
		s++;
		r->kind = 'M';
		if (!tz_posix_num(&s, 2, 12, &r->month) || r->month < 1 ||
		    *s++ != '.' || !tz_posix_num(&s, 1, 5, &r->week) ||
		    r->week < 1 || *s++ != '.' ||
		    !tz_posix_num(&s, 1, 6, &r->wday))
			return false;
	} else if (tz_isdigit(*s)) {
		r->kind = 'D';
		if (!tz_posix_num(&s, 3, 365, &r->n))
			return false;
	} else {
		return false;
	}
	r->time = 2 * 3600;	/* POSIX's default: 02:00 */
	if (*s == '/') {
		s++;
		if (!tz_posix_hms(&s, TZ_RULE_HOURS_MAX, &r->time))
			return false;
	}
	*sp = s;
	return true;
}

static bool
tz_off_ok(int32_t off)
{
	return off >= TZ_OFF_MIN && off <= TZ_OFF_MAX;
}

static int
tz_posix_parse(const char *s, struct tz_posix *p, struct tocsin_err *err)
{
	int32_t v;

	memset(p, 0, sizeof(*p));
	if (!tz_posix_name(&s, p->std) || !tz_posix_hms(&s, 24, &v))
		goto bad;
	p->std_off = -v;	/* POSIX counts hours west of UTC */
	if (*s == '\0')
		return tz_off_ok(p->std_off) ? 0 : tocsin_fail(err,
		    TOCSIN_EDATA, "time zone file: footer offset out of range");
	if (!tz_posix_name(&s, p->dst))
		goto bad;
	p->dst_off = p->std_off + 3600;
	if (tz_isdigit(*s) || *s == '+' || *s == '-') {
		if (!tz_posix_hms(&s, 24, &v))
			goto bad;
		p->dst_off = -v;
	}
	if (!tz_off_ok(p->std_off) || !tz_off_ok(p->dst_off))
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file: footer "
		    "offset out of range");
	if (*s != ',')
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file: footer "
		    "has daylight saving time but no rule for it");
	s++;
	if (!tz_posix_rule(&s, &p->start) || *s++ != ',' ||
	    !tz_posix_rule(&s, &p->end) || *s != '\0')
		goto bad;
	p->has_dst = true;
	return 0;
bad:
	return tocsin_fail(err, TOCSIN_EDATA, "time zone file: the footer's "
	    "TZ string is malformed");
}

/* When a rule's day and time fall in year y, in local seconds since 1970
   (the local wall clock read as if it were UTC). */
static int64_t
tz_rule_local(const struct tz_rule *r, int64_t y)
{
	int64_t d = tz_days_before_year(y);

	switch (r->kind) {
	case 'J':
		d += r->n - 1 + (tz_leap(y) && r->n >= 60);
		break;
	case 'D':
		d += r->n;
		break;
	default: {
		int mdays = tz_month_days(y, r->month), first_wday, day;

		for (int m = 1; m < r->month; m++)
			d += tz_month_days(y, m);
		/* 1970-01-01 was a Thursday */
		first_wday = (int)(((d + 4) % 7 + 7) % 7);
		day = (r->wday - first_wday + 7) % 7 + (r->week - 1) * 7;
		while (day >= mdays)	/* week 5 means the last one */
			day -= 7;
		d += day;
		break;
	}
	}
	return d * 86400 + r->time;
}

/* The type in effect at t by the TZ string.  Transitions of the year
   around t are compared; at equal instants a DST start wins, which is what
   makes all-year DST ("EST5EDT,0/0,J365/25") come out right. */
static void
tz_posix_at(const struct tz_posix *p, int64_t t, int32_t *ret_off,
    const char **ret_abbr)
{
	int64_t y, best = 0;
	int m, d;
	bool found = false, dst = false;

	if (p->has_dst) {
		tz_civil(tz_fdiv(t + p->std_off, 86400), &y, &m, &d);
		for (int64_t yy = y - 1; yy <= y + 1; yy++) {
			int64_t s = tz_rule_local(&p->start, yy) - p->std_off;
			int64_t e = tz_rule_local(&p->end, yy) - p->dst_off;

			if (s <= t && (!found || s >= best)) {
				best = s;
				dst = true;
				found = true;
			}
			if (e <= t && (!found || e > best)) {
				best = e;
				dst = false;
				found = true;
			}
		}
	}
	*ret_off = dst ? p->dst_off : p->std_off;
	*ret_abbr = dst ? p->dst : p->std;
}

/* ---- the TZif data ---- */

/* Read one header at *pos and place its data block, checking that every
   count fits in what is left of the file. */
static int
tz_block_parse(const unsigned char *buf, size_t len, size_t *pos,
    size_t tsize, struct tz_block *b, struct tocsin_err *err)
{
	const unsigned char *h;
	uint32_t isutcnt, isstdcnt, leapcnt;
	uint64_t need;
	size_t at;

	if (len - *pos < TZ_HDR_LEN)
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file is "
		    "truncated in a header");
	h = buf + *pos;
	if (memcmp(h, "TZif", 4) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "not a TZif time zone "
		    "file");
	if (h[4] != buf[4])
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file: its "
		    "two headers give different versions");
	isutcnt = tz_be32(h + 20);
	isstdcnt = tz_be32(h + 24);
	leapcnt = tz_be32(h + 28);
	b->timecnt = tz_be32(h + 32);
	b->typecnt = tz_be32(h + 36);
	b->charcnt = tz_be32(h + 40);
	b->tsize = tsize;
	/* indexes are one byte, so more than 256 types cannot be used */
	if (b->typecnt == 0 || b->typecnt > 256 || b->charcnt == 0)
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file: bad "
		    "count of local time types or abbreviation bytes");
	if ((isutcnt != 0 && isutcnt != b->typecnt) ||
	    (isstdcnt != 0 && isstdcnt != b->typecnt))
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
		    "indicator counts do not match the type count");
	if (leapcnt != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file has "
		    "leap-second records; use a zone of civil time, not one "
		    "under right/");
	/* every count is below 2^32, so this cannot overflow 64 bits */
	need = (uint64_t)b->timecnt * (tsize + 1) + (uint64_t)b->typecnt * 6 +
	    b->charcnt + isstdcnt + isutcnt;
	if (need > len - *pos - TZ_HDR_LEN)
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file is "
		    "truncated: its counts ask for more data than it has");
	at = *pos + TZ_HDR_LEN;
	b->times = buf + at;
	at += (size_t)b->timecnt * tsize;
	b->idx = buf + at;
	at += b->timecnt;
	b->types = buf + at;
	at += (size_t)b->typecnt * 6;
	b->chars = buf + at;
	*pos += TZ_HDR_LEN + (size_t)need;
	return 0;
}

/* Check every value of the block that lookups will use. */
static int
tz_block_check(const struct tz_block *b, struct tocsin_err *err)
{
	for (unsigned i = 0; i < b->typecnt; i++) {
		unsigned desig = b->types[(size_t)i * 6 + 5];

		if (!tz_off_ok(tz_type_off(b, i)) || b->types[i * 6 + 4] > 1)
			return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
			    "local time type %u has a bad offset or DST flag",
			    i);
		if (desig >= b->charcnt ||
		    memchr(b->chars + desig, '\0', b->charcnt - desig) == NULL ||
		    !tz_abbr_ok(tz_type_abbr(b, i)))
			return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
			    "local time type %u has a bad abbreviation", i);
	}
	for (uint32_t i = 0; i < b->timecnt; i++) {
		if (b->idx[i] >= b->typecnt)
			return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
			    "transition %u names a type that does not exist",
			    (unsigned)i);
		if (i > 0 && tz_time_at(b, i) <= tz_time_at(b, i - 1))
			return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
			    "transition times are not in ascending order");
	}
	return 0;
}

/* The footer of version 2 and later: a TZ string between two newlines,
   copied out so that it is NUL-terminated. */
static int
tz_footer(const unsigned char *buf, size_t len, size_t *pos,
    char out[TZ_FOOTER_MAX + 1], struct tocsin_err *err)
{
	size_t n = 0;

	if (*pos >= len || buf[*pos] != '\n')
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file has no "
		    "footer");
	for (size_t i = *pos + 1; ; i++, n++) {
		if (i >= len || n > TZ_FOOTER_MAX)
			return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
			    "footer is unterminated or too long");
		if (buf[i] == '\n')
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return tocsin_fail(err, TOCSIN_EDATA, "time zone file: "
			    "footer has a byte that no TZ string has");
		out[n] = (char)buf[i];
	}
	out[n] = '\0';
	*pos += n + 2;
	return 0;
}

int
tz_parse_buf(const unsigned char *buf, size_t len, int64_t t, int *off,
    char *abbr, size_t abbrlen, struct tocsin_err *err)
{
	struct tz_block b;
	struct tz_posix px;
	char footer[TZ_FOOTER_MAX + 1] = "";
	size_t pos = 0;
	unsigned char ver;
	const char *a;
	int32_t o;
	unsigned ti;
	int rc;

	if (buf == NULL || off == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "tz_parse_buf: no "
		    "buffer");
	if (t < TZ_T_MIN || t > TZ_T_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "time %lld is outside "
		    "the years 0001 to 9999", (long long)t);
	if (len < TZ_HDR_LEN || memcmp(buf, "TZif", 4) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "not a TZif time zone "
		    "file");
	ver = buf[4];
	/* later versions promise to stay readable as version 2 */
	if (ver != 0 && (ver < '2' || ver > '9'))
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file has an "
		    "unknown version");
	if ((rc = tz_block_parse(buf, len, &pos, 4, &b, err)) != 0)
		return rc;
	if (ver >= '2') {
		/* the 32-bit block is only for old readers: skip it */
		if ((rc = tz_block_parse(buf, len, &pos, 8, &b, err)) != 0 ||
		    (rc = tz_footer(buf, len, &pos, footer, err)) != 0)
			return rc;
	}
	if (pos != len)
		return tocsin_fail(err, TOCSIN_EDATA, "time zone file has data "
		    "after its end");
	if ((rc = tz_block_check(&b, err)) != 0)
		return rc;
	/* A bad footer is a bad file, even when t does not need it. */
	if (footer[0] != '\0' && (rc = tz_posix_parse(footer, &px, err)) != 0)
		return rc;

	if (footer[0] != '\0' && (b.timecnt == 0 ||
	    t > tz_time_at(&b, b.timecnt - 1))) {
		tz_posix_at(&px, t, &o, &a);
		*off = o;
		tz_copy(abbr, abbrlen, a);
		return 0;
	}
	if (b.timecnt == 0 || t < tz_time_at(&b, 0)) {
		/* before any transition: the first standard time */
		ti = 0;
		for (unsigned i = 0; i < b.typecnt; i++)
			if (!tz_type_isdst(&b, i)) {
				ti = i;
				break;
			}
	} else {
		/* the last transition at or before t */
		uint32_t lo = 0, hi = b.timecnt - 1;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo + 1) / 2;

			if (tz_time_at(&b, mid) <= t)
				lo = mid;
			else
				hi = mid - 1;
		}
		ti = b.idx[lo];
	}
	*off = tz_type_off(&b, ti);
	tz_copy(abbr, abbrlen, tz_type_abbr(&b, ti));
	return 0;
}

/* ---- files and names ---- */

int
tz_name_check(const char *zone, struct tocsin_err *err)
{
	/* The name becomes part of a path: the rule keeps it in the folder.
	   The name is not repeated in messages until it is known clean. */
	const char *why = base_tzname_check(zone);

	if (why != NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "time zone name %s", why);
	return 0;
}

static int
tz_read(const char *zonedir, const char *zone, unsigned char **ret,
    size_t *ret_len, struct tocsin_err *err)
{
	char path[TZ_PATH_MAX], ebuf[128];
	unsigned char *buf;
	struct stat st;
	size_t size, got = 0;
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", zonedir, zone);
	if (n < 0 || (size_t)n >= sizeof(path))
		return tocsin_fail(err, TOCSIN_EDATA, "time zone folder name is "
		    "too long");
	/* O_NONBLOCK: a FIFO planted among the zones must not hang a worker */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return tocsin_fail(err, TOCSIN_ENOTFOUND, "time zone %s "
			    "is not in %s", zone, zonedir);
		return tocsin_fail(err, TOCSIN_EIO, "cannot open time zone "
		    "file %s: %s", path, strerror_r(errno, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_EDATA, "time zone %s is not a "
		    "zone file in %s", zone, zonedir);
	}
	if (st.st_size > TZ_FILE_MAX) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_ETOOBIG, "time zone file %s is "
		    "over the limit of %d bytes", path, TZ_FILE_MAX);
	}
	size = (size_t)st.st_size;
	/* one byte more than the size, to notice a file that grew */
	if ((buf = malloc(size + 1)) == NULL) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	while (got < size + 1) {
		ssize_t r = read(fd, buf + got, size + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			(void)close(fd);
			free(buf);
			return tocsin_fail(err, TOCSIN_EIO, "cannot read time "
			    "zone file %s: %s", path,
			    strerror_r(e, ebuf, sizeof(ebuf)));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	(void)close(fd);
	if (got > size) {
		free(buf);
		return tocsin_fail(err, TOCSIN_ETEMP, "time zone file %s "
		    "changed while it was read", path);
	}
	*ret = buf;
	*ret_len = got;
	return 0;
}

int
tz_offset(const char *zonedir, const char *zone, int64_t t,
    int *ret_offset_seconds, char *abbr, size_t abbrlen,
    struct tocsin_err *err)
{
	unsigned char *buf = NULL;
	char a[TZ_ABBR_MAX];
	size_t len = 0;
	int off, rc;

	if ((rc = tz_name_check(zone, err)) != 0)
		return rc;
	if (zonedir == NULL)
		zonedir = TZ_DEFAULT_DIR;
	if ((rc = tz_read(zonedir, zone, &buf, &len, err)) != 0)
		return rc;
	rc = tz_parse_buf(buf, len, t, &off, a, sizeof(a), err);
	free(buf);
	if (rc != 0)
		return rc;
	if (ret_offset_seconds != NULL)
		*ret_offset_seconds = off;
	tz_copy(abbr, abbrlen, a);
	return 0;
}

/* "YYYY-MM-DD HH:MM[:SS]" of t + off. */
static int
tz_put_datetime(int64_t t, int off, char *out, size_t outlen)
{
	int64_t lt = t + off, days = tz_fdiv(lt, 86400), y;
	int secs = (int)(lt - days * 86400), m, d, n;

	tz_civil(days, &y, &m, &d);
	if (secs % 60 != 0)
		n = snprintf(out, outlen, "%04lld-%02d-%02d %02d:%02d:%02d",
		    (long long)y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
	else
		n = snprintf(out, outlen, "%04lld-%02d-%02d %02d:%02d",
		    (long long)y, m, d, secs / 3600, secs / 60 % 60);
	return n < 0 || (size_t)n >= outlen ? -1 : n;
}

int
tz_format_utc(int64_t t, char *out, size_t outlen, struct tocsin_err *err)
{
	int n;

	if (out == NULL || outlen == 0)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "tz_format_utc: no "
		    "room for the result");
	if (t < TZ_T_MIN || t > TZ_T_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "time %lld is outside "
		    "the years 0001 to 9999", (long long)t);
	if ((n = tz_put_datetime(t, 0, out, outlen)) < 0 ||
	    (size_t)n + 4 >= outlen)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "tz_format_utc: no "
		    "room for the result");
	memcpy(out + n, " UTC", 5);
	return 0;
}

int
tz_format(const char *zonedir, const char *zone, int64_t t, char *out,
    size_t outlen, struct tocsin_err *err)
{
	char abbr[TZ_ABBR_MAX];
	int off, rc, n, m, a;

	if (out == NULL || outlen == 0)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "tz_format: no room "
		    "for the result");
	if ((rc = tz_offset(zonedir, zone, t, &off, abbr, sizeof(abbr),
	    err)) != 0)
		return rc;
	if ((n = tz_put_datetime(t, off, out, outlen)) < 0)
		goto small;
	/* a numeric abbreviation ("+0545") says what the offset says */
	if (abbr[0] != '+' && abbr[0] != '-') {
		m = snprintf(out + n, outlen - (size_t)n, " %s", abbr);
		if (m < 0 || (size_t)m >= outlen - (size_t)n)
			goto small;
		n += m;
	}
	a = off < 0 ? -off : off;
	if (a % 60 != 0)
		m = snprintf(out + n, outlen - (size_t)n,
		    " (UTC%c%02d:%02d:%02d)", off < 0 ? '-' : '+', a / 3600,
		    a / 60 % 60, a % 60);
	else
		m = snprintf(out + n, outlen - (size_t)n, " (UTC%c%02d:%02d)",
		    off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
	if (m < 0 || (size_t)m >= outlen - (size_t)n)
		goto small;
	return 0;
small:
	out[0] = '\0';
	return tocsin_fail(err, TOCSIN_EINTERNAL, "tz_format: no room for the "
	    "result");
}
