/*
 * fax.c: providers.fax, the fax-to-email gateway (RFC 3192).
 *
 * A fax goes as an e-mail with a PDF, through providers.smtp, to an address
 * made from the fax number: "FAX=+254205550101@domain" for a service that
 * speaks RFC 3192, or the operator's template for one that does not.  The
 * template is checked here, once, so that policy_fax_address (resolve.c)
 * only has to put the number in: one {number} in the local part, a local
 * part of atext only, a domain of host name labels.  A fax is never
 * encrypted; what it may carry is each policy's fax_detail, checked in
 * check.c.  This file does not look up the domain (no DNS at load time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

#define POLICY_MAX_FONT		100	/* characters in font */

static bool
policy_fax_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* A format = "template" address; why says what is wrong. */
static bool
policy_fax_template_valid(const char *t, const char **why)
{
	const char *at = strchr(t, '@'), *ph = strstr(t, POLICY_FAX_NUMBER);

	if (at == NULL || strchr(at + 1, '@') != NULL) {
		*why = "must hold exactly one '@'; write the gateway's address "
		    "with {number} before the '@', e.g. "
		    "\"{number}@fax.provider.example\"";
		return false;
	}
	if (ph == NULL) {
		*why = "has no {number}; put {number} where the fax number "
		    "goes, e.g. \"{number}@fax.provider.example\"";
		return false;
	}
	if (strstr(ph + 1, POLICY_FAX_NUMBER) != NULL) {
		*why = "has {number} more than once; keep one";
		return false;
	}
	if (ph > at) {
		*why = "has {number} after the '@'; the number goes in the "
		    "local part, e.g. \"{number}@fax.provider.example\"";
		return false;
	}
	for (const char *c = t; c < at; c++) {
		if (c == ph) {
			c += POLICY_FAX_NUMBER_LEN - 1;
			continue;
		}
		if (!policy_fax_alnum(*c) &&
		    strchr("!#$%&'*+-/=?^_`|~.", *c) == NULL) {
			*why = "has a character the local part may not hold "
			    "(only letters, digits, {number} and "
			    "!#$%&'*+-/=?^_`|~. are allowed); remove spaces, "
			    "quotes, other braces and control characters";
			return false;
		}
	}
	if (!policy_hostname_valid(at + 1, strlen(at + 1))) {
		*why = "has a domain that is not a host name; write labels of "
		    "letters, digits and '-' (1 to 63 each, no '-' first or "
		    "last) joined by dots, e.g. \"fax.provider.example\"";
		return false;
	}
	return true;
}

/* A Pango family list: no control characters (C0, DEL, C1), at most
   POLICY_MAX_FONT characters; the UTF-8 was checked by policy_get_string. */
static bool
policy_fax_font_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return false;
		if ((*p & 0xc0) != 0x80)
			chars++;
	}
	return chars >= 1 && chars <= POLICY_MAX_FONT;
}

/* The keys of one format given with the other. */
static void
policy_fax_refuse(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, const char *why)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s != NULL)
		policy_err(ctx, s, "%s: %s", where, why);
}

static void
policy_fax_read_rfc3192(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, struct policy_fax *fax)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;
	size_t n;

	policy_fax_refuse(ctx, g, where, "address", "address is for format = "
	    "\"template\"; with format = \"rfc3192\" the address is always "
	    "FAX=+NUMBER@domain (RFC 3192): remove address, or use format = "
	    "\"template\"");
	policy_fax_refuse(ctx, g, where, "number", "number is for format = "
	    "\"template\"; RFC 3192 always writes the number with its '+' "
	    "(FAX=+254205550101@domain): remove number");
	switch (policy_get_string(ctx, g, where, "domain", false, 253, &v)) {
	case 0:
		policy_err(ctx, g, "%s: domain is missing; format = "
		    "\"rfc3192\" needs the mail domain of the fax service: "
		    "add domain = \"fax.example.net\";", where);
		return;
	case 1:
		break;
	default:
		return;
	}
	if (!policy_hostname_valid(v, strlen(v))) {
		policy_err(ctx, config_setting_get_member(g, "domain"), "%s: "
		    "domain %s is not a host name; write labels of letters, "
		    "digits and '-' (1 to 63 each, no '-' first or last) "
		    "joined by dots, e.g. \"fax.example.net\"", where,
		    policy_quote(q, sizeof(q), v));
		return;
	}
	n = strlen("FAX=" POLICY_FAX_NUMBER "@") + strlen(v) + 1;
	fax->address = policy_xcalloc(n, 1);
	(void)snprintf(fax->address, n, "FAX=" POLICY_FAX_NUMBER "@%s", v);
	fax->plus = true;
}

static void
policy_fax_read_template(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, struct policy_fax *fax)
{
	char q[POLICY_QUOTE_LEN];
	const char *v, *why;

	policy_fax_refuse(ctx, g, where, "domain", "domain is for format = "
	    "\"rfc3192\"; with format = \"template\" the domain is part of "
	    "address: remove domain");
	if (policy_get_string(ctx, g, where, "number", false, 16, &v) == 1) {
		if (strcmp(v, "e164") == 0)
			fax->plus = true;
		else if (strcmp(v, "digits") != 0)
			policy_err(ctx, config_setting_get_member(g, "number"),
			    "%s: number %s is not \"digits\" ({number} "
			    "becomes 254205550101) or \"e164\" "
			    "(+254205550101); use the form the fax service "
			    "expects", where,
			    policy_quote(q, sizeof(q), v));
	}
	switch (policy_get_string(ctx, g, where, "address", false, 254, &v)) {
	case 0:
		policy_err(ctx, g, "%s: address is missing; format = "
		    "\"template\" needs the gateway's address with {number} "
		    "where the fax number goes: add address = "
		    "\"{number}@fax.provider.example\";", where);
		return;
	case 1:
		break;
	default:
		return;
	}
	if (!policy_fax_template_valid(v, &why)) {
		policy_err(ctx, config_setting_get_member(g, "address"), "%s: "
		    "address %s %s", where, policy_quote(q, sizeof(q), v), why);
		return;
	}
	fax->address = policy_xstrdup(v);
}

void
policy_read_fax(struct policy_ctx *ctx, const config_setting_t *g)
{
	static const char *const keys[] = { "format", "domain", "address",
		"number", "paper", "cover", "pages", "font", NULL };
	static const char where[] = "providers.fax";
	struct policy_fax *fax;
	char q[POLICY_QUOTE_LEN];
	const char *v;
	long long n;

	fax = ctx->repo->fax = policy_xcalloc(1, sizeof(*fax));
	fax->src = policy_src_of(ctx, g);
	fax->paper = POLICY_PAPER_A4;
	fax->pages = 3;
	fax->font = policy_xstrdup("Sans");
	(void)policy_check_keys(ctx, g, where, keys);
	if (policy_get_string(ctx, g, where, "paper", false, 16, &v) == 1) {
		if (strcasecmp(v, "Letter") == 0)
			fax->paper = POLICY_PAPER_LETTER;
		else if (strcasecmp(v, "A4") != 0)
			policy_err(ctx, config_setting_get_member(g, "paper"),
			    "%s: paper %s is not \"A4\" or \"Letter\"; use the "
			    "size the teams' fax machines print on", where,
			    policy_quote(q, sizeof(q), v));
	}
	(void)policy_get_bool(ctx, g, where, "cover", &fax->cover);
	if (policy_get_int(ctx, g, where, "pages", false, 1, 20, &n) == 1)
		fax->pages = (int)n;
	if (policy_get_string(ctx, g, where, "font", false, 4 * POLICY_MAX_FONT,
	    &v) == 1) {
		if (!policy_fax_font_valid(v))
			policy_err(ctx, config_setting_get_member(g, "font"),
			    "%s: font %s is not 1 to %d printable characters; "
			    "write a font family list, e.g. "
			    "\"Noto Sans, Sans\"", where,
			    policy_quote(q, sizeof(q), v), POLICY_MAX_FONT);
		else {
			free(fax->font);
			fax->font = policy_xstrdup(v);
		}
	}

	/* What else is required depends on the format: with none, say this
	   one thing rather than guess. */
	switch (policy_get_string(ctx, g, where, "format", false, 16, &v)) {
	case 0:
		policy_err(ctx, g, "%s: format is missing; add format = "
		    "\"rfc3192\"; (FAX=+NUMBER@domain) or format = "
		    "\"template\"; (an address of your own with {number})",
		    where);
		return;
	case 1:
		break;
	default:
		return;
	}
	if (strcmp(v, "rfc3192") == 0)
		policy_fax_read_rfc3192(ctx, g, where, fax);
	else if (strcmp(v, "template") == 0)
		policy_fax_read_template(ctx, g, where, fax);
	else
		policy_err(ctx, config_setting_get_member(g, "format"),
		    "%s: format %s is not known; use \"rfc3192\" "
		    "(FAX=+NUMBER@domain) or \"template\" (an address of "
		    "your own with {number})", where,
		    policy_quote(q, sizeof(q), v));
}
