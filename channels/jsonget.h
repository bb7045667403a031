/*
 * jsonget.h: one member of a provider's JSON reply.
 *
 * Providers answer with JSON (Twilio's message sid and error code, a
 * generic gateway's message id).  Only top-level members are ever needed,
 * so this is a bounded, allocation-free scanner rather than a parser that
 * builds a tree: it checks the whole document's syntax as it skips values,
 * and copies out one member's value.
 */
#ifndef JSONGET_H
#define JSONGET_H

#include <stddef.h>

#define JSONGET_MAX_LEN (64 * 1024)
#define JSONGET_MAX_DEPTH 32

/*
 * Find the top-level member key of the JSON object in buf (len bytes).
 * A string value is unescaped into out (UTF-8, NUL-terminated); a number,
 * true, false or null is copied as written; an object or array is not
 * copied (out is "").  Returns 1 when found, 0 when the document is a
 * valid object without that member, -1 when buf is not a valid JSON
 * object, is over JSONGET_MAX_LEN, nests deeper than JSONGET_MAX_DEPTH, or
 * the value does not fit in outlen.
 */
int jsonget(const char *buf, size_t len, const char *key, char *out,
    size_t outlen);

#endif
