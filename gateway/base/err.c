/*
 * err.c: tocsin's result codes, their descriptions and their exit codes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sysexits.h>

#include "base.h"
#include "tocsin.h"

int
tocsin_fail(struct tocsin_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

static const struct {
	int code;
	int exit_code;
	const char *text;
} codes[] = {
	{ TOCSIN_OK,        0,            "success" },
	{ TOCSIN_ENOMEM,    EX_OSERR,     "out of memory" },
	{ TOCSIN_EUSAGE,    EX_USAGE,     "usage error" },
	{ TOCSIN_EDATA,     EX_DATAERR,   "malformed input" },
	{ TOCSIN_ENOINPUT,  EX_NOINPUT,   "input missing or unreadable" },
	{ TOCSIN_EUNAVAIL,  EX_UNAVAILABLE, "service unavailable" },
	{ TOCSIN_ETEMP,     EX_TEMPFAIL,  "temporary failure" },
	{ TOCSIN_EPERM,     EX_NOPERM,    "permission denied" },
	{ TOCSIN_ECONFIG,   EX_CONFIG,    "configuration error" },
	{ TOCSIN_EIO,       EX_IOERR,     "input/output error" },
	{ TOCSIN_ESTORE,    EX_TEMPFAIL,  "store error" },
	{ TOCSIN_ETOOBIG,   EX_DATAERR,   "input too large" },
	{ TOCSIN_ENOTFOUND, EX_NOINPUT,   "not found" },
	{ TOCSIN_EINTERNAL, EX_SOFTWARE,  "internal error" },
};

const char *
tocsin_strerror(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].text;
	return "unknown error";
}

int
tocsin_exit_code(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].exit_code;
	return EX_SOFTWARE;
}

void
tocsin_logf(tocsin_log_fn log, void *arg, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log(arg, line);
}

void
base_log_file(void *arg, const char *line)
{
	FILE *f = arg;

	if (f == NULL)
		return;
	(void)fprintf(f, "%s\n", line);
	(void)fflush(f);
}
