/*
 * test_cap.c: the CAP 1.2 parser accepts good alerts with every field and
 * refuses each kind of bad or hostile input with a sentence naming it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cap.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n"
#define INFO(lang, sev) "<info><language>" lang "</language>" \
	"<category>Security</category><event>DNS incident</event>" \
	"<urgency>Immediate</urgency><severity>" sev "</severity>" \
	"<certainty>Observed</certainty><headline>H-" lang "</headline>" \
	"<description>line one\nline two</description>" \
	"<area><areaDesc>Global</areaDesc></area></info>\n"

static const char good[] = HEAD
	"<identifier>ID-1</identifier><sender>desk@x.example</sender>"
	"<sent>2026-11-25T10:00:00+05:30</sent><status>Exercise</status>"
	"<msgType>Alert</msgType><scope>Private</scope>"
	"<addresses>ke \"region:AF\"  all</addresses>\n"
	INFO("en-US", "Severe") INFO("ru-RU", "Extreme") "</alert>\n";

static char *
subst(const char *from, const char *to)
{
	const char *p = strstr(good, from);
	size_t n = strlen(good) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);

	assert_non_null(p);
	(void)snprintf(out, n, "%.*s%s%s", (int)(p - good), good, to,
	    p + strlen(from));
	return out;
}

static void
refused(const char *doc, int code, const char *fragment)
{
	struct cap_alert *a = (void *)1;
	struct tocsin_err e = { 0 };

	assert_int_equal(cap_parse(doc, strlen(doc), 65536, &a, &e), code);
	assert_null(a);
	if (strstr(e.msg, fragment) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", e.msg, fragment);
}

static void
test_good(void **state)
{
	struct cap_alert *a = NULL;
	struct tocsin_err e;

	(void)state;
	assert_int_equal(cap_parse(good, strlen(good), 65536, &a, &e), 0);
	assert_string_equal(a->identifier, "ID-1");
	assert_string_equal(a->status, "Exercise");
	assert_int_equal(a->sent_t, 1795600800 - 19800);
	assert_int_equal(a->naddresses, 3);
	assert_string_equal(a->addresses[1], "region:AF");
	assert_int_equal(a->ninfos, 2);
	assert_int_equal(a->max_severity, 4);	/* Extreme */
	assert_string_equal(a->infos[0].description, "line one\nline two");
	assert_string_equal(a->infos[1].areas[0].area_desc, "Global");
	assert_string_equal(cap_info_for(a, "ru")->headline, "H-ru-RU");
	assert_string_equal(cap_info_for(a, "RU-ru")->headline, "H-ru-RU");
	assert_string_equal(cap_info_for(a, "fr")->headline, "H-en-US");
	assert_string_equal(cap_info_for(a, NULL)->headline, "H-en-US");
	cap_free(a);
	cap_free(NULL);
}

static void
test_required(void **state)
{
	static const char *const tags[][2] = {
		{ "<identifier>ID-1</identifier>", "identifier" },
		{ "<sender>desk@x.example</sender>", "sender" },
		{ "<sent>2026-11-25T10:00:00+05:30</sent>", "sent" },
		{ "<status>Exercise</status>", "status" },
		{ "<msgType>Alert</msgType>", "msgType" },
		{ "<scope>Private</scope>", "scope" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		char *d = subst(tags[i][0], "");

		refused(d, TOCSIN_EDATA, tags[i][1]);
		free(d);
	}
}

static void
test_value_sets(void **state)
{
	static const char *const bad[][3] = {
		{ "<status>Exercise</status>", "<status>Drill</status>", "status" },
		{ "<msgType>Alert</msgType>", "<msgType>Shout</msgType>", "msgType" },
		{ "<scope>Private</scope>", "<scope>Secret</scope>", "scope" },
		{ "<severity>Severe</severity>", "<severity>Huge</severity>",
		  "Unknown, Minor, Moderate, Severe or Extreme" },
		{ "<category>Security</category>", "<category>Cyber</category>",
		  "category" },
		{ "<urgency>Immediate</urgency>", "<urgency>Now</urgency>",
		  "urgency" },
		{ "<certainty>Observed</certainty>", "<certainty>Sure</certainty>",
		  "certainty" },
		{ "<identifier>ID-1</identifier>", "<identifier>ID 1</identifier>",
		  "identifier" },
		{ "<addresses>ke \"region:AF\"  all</addresses>", "",
		  "Private" },
		{ "<msgType>Alert</msgType>", "<msgType>Cancel</msgType>",
		  "references" },
		{ "<sent>2026-11-25T10:00:00+05:30</sent>",
		  "<sent>2026-11-25T10:00:00+05:30</sent><sent>x</sent>",
		  "twice" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *d = subst(bad[i][0], bad[i][1]);

		refused(d, TOCSIN_EDATA, bad[i][2]);
		free(d);
	}
}

static void
test_datetime(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(cap_datetime_parse("2026-11-25T10:00:00-00:00", &t), 0);
	assert_int_equal(t, 1795600800);
	assert_int_equal(cap_datetime_parse("2026-11-25T10:00:00+05:30", &t), 0);
	assert_int_equal(t, 1795600800 - 19800);
	assert_int_equal(cap_datetime_parse("2026-11-25T10:00:00.25-02:00", &t), 0);
	assert_int_equal(t, 1795600800 + 7200);
	assert_int_equal(cap_datetime_parse("2026-11-25T10:00:00Z", &t), 0);
	static const char *const bad[] = { "2026-11-25T10:00:00",
		"2026-11-25 10:00:00-00:00", "2026-02-31T10:00:00-00:00",
		"2026-13-01T10:00:00-00:00", "2026-11-25T25:00:00-00:00",
		"26-11-25T10:00:00-00:00", "2026-11-25T10:00:00-00:00x", "",
		"2026-11-25T10:00:00+15:00" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(cap_datetime_parse(bad[i], &t), 0);
	char *d = subst("2026-11-25T10:00:00+05:30", "yesterday");
	refused(d, TOCSIN_EDATA, "dateTime");
	free(d);
}

static void
test_hostile(void **state)
{
	(void)state;
	refused("<?xml version=\"1.0\"?>\n<!DOCTYPE alert [<!ENTITY xxe SYSTEM "
	    "\"file:///etc/passwd\">]>\n<alert xmlns=\"" CAP_NS "\">&xxe;"
	    "</alert>", TOCSIN_EDATA, "DOCTYPE");
	refused("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
	    "<alert>&lol2;</alert>", TOCSIN_EDATA, "DOCTYPE");
	refused("<!doctype alert><alert/>", TOCSIN_EDATA, "DOCTYPE");
	refused("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.1\"/>",
	    TOCSIN_EDATA, "namespace");
	refused("this is not XML", TOCSIN_EDATA, "not well-formed");
	refused("<alert xmlns=\"" CAP_NS "\">", TOCSIN_EDATA, "line");
	{
		char nul[] = "<alert>\0</alert>";
		struct cap_alert *a = NULL;
		struct tocsin_err e;

		assert_int_equal(cap_parse(nul, sizeof(nul) - 1, 1000, &a, &e),
		    TOCSIN_EDATA);
		assert_non_null(strstr(e.msg, "NUL"));
	}
	{
		struct cap_alert *a = NULL;
		struct tocsin_err e;

		assert_int_equal(cap_parse(good, strlen(good), 100, &a, &e),
		    TOCSIN_ETOOBIG);
		assert_non_null(strstr(e.msg, "limit"));
	}
	{
		size_t n = CAP_MAX_TEXT + 10;
		char *big = malloc(n + 1), *d;

		memset(big, 'x', n);
		big[n] = '\0';
		d = subst("line one\nline two", big);
		struct cap_alert *a = NULL;
		struct tocsin_err e;

		assert_int_equal(cap_parse(d, strlen(d), 1 << 20, &a, &e),
		    TOCSIN_EDATA);
		assert_non_null(strstr(e.msg, "description"));
		free(big);
		free(d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_value_sets),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
