/*
 * tz.h: local time for a named IANA time zone, read straight from the
 * zone's TZif file (RFC 8536), without touching the process's TZ.
 *
 * The dispatcher renders messages from several threads, each for a team in
 * its own zone, so setenv("TZ"), tzset() and localtime() are off limits:
 * they share one global zone.  These functions keep no state at all; each
 * call reads the file it needs.  The zone file is outside input: every count,
 * index and offset in it is checked before use, and a file that does not
 * add up is refused, never guessed at.
 *
 * Times are seconds since 1970-01-01 UTC, limited to the years 0001..9999.
 * Offsets are seconds east of UTC (Nairobi is +10800).
 */
#ifndef TZ_H
#define TZ_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "tocsin.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX BASE_TZNAME_MAX	/* longest zone name accepted */
#define TZ_FILE_MAX (256 * 1024)	/* largest zone file read */
#define TZ_ABBR_MAX 16			/* abbreviation buffer, NUL included */
#define TZ_FORMAT_MAX 64		/* tz_format / tz_format_utc buffer */

/*
 * Check that zone is a plausible zone name by the one rule of
 * base_tzname_check (gateway/base/base.h).  It is joined to a folder to
 * make a path, so this is what keeps it inside that folder.
 * Returns 0 or TOCSIN_EDATA with err.
 */
int tz_name_check(const char *zone, struct tocsin_err *err);

/*
 * The offset from UTC (seconds east) and the abbreviation ("EAT", "CEST",
 * "+0545") in effect in zone at instant t.  zonedir is the folder of TZif
 * files, NULL for TZ_DEFAULT_DIR.  abbr may be NULL; otherwise it receives
 * the abbreviation, cut to abbrlen - 1 bytes.  Returns 0, or TOCSIN_EDATA
 * (bad name, corrupt file, t out of range), TOCSIN_ENOTFOUND (no such
 * zone), TOCSIN_ETOOBIG (file over TZ_FILE_MAX), TOCSIN_EIO; the outputs
 * are untouched on failure.
 */
int tz_offset(const char *zonedir, const char *zone, int64_t t,
    int *ret_offset_seconds, char *abbr, size_t abbrlen,
    struct tocsin_err *err);

/*
 * t as local time in zone, e.g. "2026-11-25 13:00 EAT (UTC+03:00)".  The
 * abbreviation is left out when the zone has only a numeric one ("+0545"),
 * since the offset in brackets already says it; seconds are shown only when
 * they are not zero.  out should hold TZ_FORMAT_MAX bytes.  Returns as
 * tz_offset, or TOCSIN_EINTERNAL when out is too small.
 */
int tz_format(const char *zonedir, const char *zone, int64_t t, char *out,
    size_t outlen, struct tocsin_err *err);

/* t in UTC, "2026-11-25 10:00 UTC", without reading any file. */
int tz_format_utc(int64_t t, char *out, size_t outlen,
    struct tocsin_err *err);

/*
 * For tests and fuzzing only: the work of tz_offset on the bytes of a TZif
 * file already in memory.  *off and abbr as for tz_offset.
 */
int tz_parse_buf(const unsigned char *buf, size_t len, int64_t t, int *off,
    char *abbr, size_t abbrlen, struct tocsin_err *err);

#endif
