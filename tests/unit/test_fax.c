/*
 * test_fax.c: the fax page (faxpdf.c) and the fax driver's configuration
 * check (fax.c).
 *
 * The page: each PDF is read back with poppler's pdfinfo and pdftotext,
 * independent of cairo, so the tests see what a fax machine would print:
 * one A4 or Letter page with the headline, the acknowledgement code whole
 * in the SMS line, the duty desk, the band (ACTUAL ALERT or EXERCISE), the
 * description and the instruction; a summary without the description; a
 * cover page that counts itself; a long text cut at the configured pages
 * with a note that says so; every script of the ccTLD community drawn
 * with an installed font (no unknown glyphs) and Russian read back
 * exactly; a document of NULL fields; 16 KiB of CJK without a space,
 * broken into lines and bounded by the pages; zero pages refused.
 * The check: fax sent without providers.fax, a number whose gateway
 * address would pass 254 bytes (the contact named, 254 itself allowed),
 * and a good configuration.
 *
 * The PDFs go to files made with mkstemp in a folder of the test's own,
 * removed at the end; the tools are run without a shell.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>


#include "channel.h"
#include "faxpdf.h"
#include "policy.h"
#include "unit_util.h"

extern char **environ;

#define S(x) ((char *)(x))

#define A4_SIZE "595.276 x 841.89"
#define LETTER_SIZE "612 x 792"
#define HEADLINE "Attack on the registry name servers"
#define DESCRIPTION "Several name servers of the registry answer slowly."
#define INSTRUCTION "Check the zone serials and call the duty desk."
#define DUTY "+254205550199"
#define ACKPHONE "+254205550177"
/* as a reader sees them on the page: grouped */
#define DUTY_SHOWN "+254 20 555 0199"
#define ACKPHONE_SHOWN "+254 20 555 0177"
#define CODE "12345678"

static struct faxpdf_fonts *fonts;
static char tmpdir[256];

/* ---- helpers ---- */

#if defined(__has_feature) && !defined(__SANITIZE_ADDRESS__)
#if __has_feature(address_sanitizer)
#define __SANITIZE_ADDRESS__ 1	/* clang names it so */
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
/* fontconfig's caches, kept until exit and linked by offsets, look lost
   to LeakSanitizer; as in gateway/main.c, its module is left out. */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}
#endif

static int
setup(void **state)
{
	struct tocsin_err e = { 0 };
	const char *t = getenv("TMPDIR");

	(void)state;
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/tocsin-fax-XXXXXX",
	    t != NULL && t[0] != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		print_error("mkdtemp %s: %s\n", tmpdir, strerror(errno));
		return -1;
	}
	if (faxpdf_fonts_new(&fonts, &e) != 0) {
		print_error("faxpdf_fonts_new: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	faxpdf_fonts_free(fonts);
	fonts = NULL;
	/* No FcFini: Pango's own font-sorting threads may still hold a
	   fontconfig cache, and FcFini then aborts (see faxpdf.c). */
	return rmdir(tmpdir) == 0 ? 0 : -1;
}

/* The alert of the English tests: every field set. */
static struct chan_doc
doc_en(void)
{
	struct chan_doc d = {
		.status = S("Actual"),
		.alert_id = S("01JD2K8Q4M7X3V9B5N6P"),
		.cap_identifier = S("urn:oid:2.49.0.1.404.0.2026.11.25.1"),
		.issuer = S("duty@cert.example (Example CERT)"),
		.sent_utc = S("2026-11-25 10:00 UTC"),
		.sent_local = S("2026-11-25 13:00 EAT"),
		.team = S("ke, domain ke (KENIC)"),
		.recipient = S("Amani Otieno"),
		.number = S("+254205550101"),
		.lang = S("en"),
		.headline = S(HEADLINE),
		.event = S("DNS attack"),
		.grading = S("Extreme / Immediate / Observed"),
		.area = S("Kenya"),
		.description = S(DESCRIPTION),
		.instruction = S(INSTRUCTION),
		.full = true,
		.duty_phone = S(DUTY),
		.ack_phone = S(ACKPHONE),
	};

	return d;
}

static struct faxpdf_opts
opts_a4(void)
{
	struct faxpdf_opts o = {
		.paper = POLICY_PAPER_A4,
		.pages = 3,
		.ack_code = CODE,
		.ack_url = "https://tocsin.example/ack/abc",
	};

	return o;
}

static struct faxpdf_out
render(const struct chan_doc *d, const struct faxpdf_opts *o)
{
	struct faxpdf_out out = { 0 };
	struct tocsin_err e = { 0 };

	if (faxpdf_render(fonts, d, o, &out, &e) != 0)
		fail_msg("faxpdf_render: %s", e.msg);
	assert_non_null(out.pdf);
	assert_true(out.len > 5);
	assert_memory_equal(out.pdf, "%PDF-", 5);
	assert_true(out.pages >= 1);
	return out;
}

/* Run argv[0] (found on PATH) with stdout into a string; it must exit 0. */
static char *
run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int fd[2], status;
	pid_t pid;
	size_t len = 0, cap = 64 * 1024;
	char *s = malloc(cap);
	ssize_t n;

	assert_non_null(s);
	assert_int_equal(pipe(fd), 0);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd[1], 1), 0);
	assert_int_equal(posix_spawn_file_actions_addclose(&fa, fd[0]), 0);
	assert_int_equal(posix_spawn_file_actions_addclose(&fa, fd[1]), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
	    O_WRONLY, 0), 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		fail_msg("cannot run %s (poppler-utils)", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	for (;;) {
		if (len + 1 == cap) {
			cap *= 2;
			assert_non_null(s = realloc(s, cap));
		}
		n = read(fd[0], s + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd[0]);
	s[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s failed (status %d)", argv[0], status);
	return s;
}

/* The output of tool on out's PDF, from a file of its own. */
static char *
tool(const char *name, const struct faxpdf_out *out)
{
	char path[300];
	char *r;
	int fd;

	(void)snprintf(path, sizeof(path), "%s/fax-XXXXXX", tmpdir);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, out->pdf, out->len), (ssize_t)out->len);
	assert_int_equal(close(fd), 0);
	if (strcmp(name, "pdftotext") == 0) {
		char *const argv[] = { S("pdftotext"), S("-q"), S("-enc"),
			S("UTF-8"), path, S("-"), NULL };

		r = run(argv);
	} else {
		char *const argv[] = { S(name), path, NULL };

		r = run(argv);
	}
	assert_int_equal(unlink(path), 0);
	return r;
}

/* The text of the PDF, every run of white space made one space, so that
   a phrase is found wherever the layout broke its line. */
static char *
text_of(const struct faxpdf_out *out)
{
	char *s = tool("pdftotext", out);
	size_t j = 0;
	bool sp = false;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (strchr(" \t\r\n\f\v", s[i]) != NULL) {
			sp = true;
			continue;
		}
		if (sp && j > 0)
			s[j++] = ' ';
		sp = false;
		s[j++] = s[i];
	}
	s[j] = '\0';
	return s;
}

/* pdfinfo's page count, and whether its page size line holds size. */
static int
pdf_pages(const struct faxpdf_out *out, const char *size)
{
	char *info = tool("pdfinfo", out);
	const char *p = strstr(info, "\nPages:");
	const char *ps = strstr(info, "\nPage size:");
	char *end;
	long n;

	assert_non_null(p);
	assert_non_null(ps);
	n = strtol(p + strlen("\nPages:"), &end, 10);
	assert_true(end != p + strlen("\nPages:"));
	if (size != NULL && strncmp(ps + strlen("\nPage size:") +
	    strspn(ps + strlen("\nPage size:"), " "), size, strlen(size)) != 0)
		fail_msg("page size is not %s:\n%s", size, info);
	free(info);
	return (int)n;
}

#define assert_has(text, phrase) do {					\
	if (strstr((text), (phrase)) == NULL)				\
		fail_msg("\"%s\" not in the text:\n%s", (phrase),	\
		    (text));						\
} while (0)

#define assert_lacks(text, phrase) do {					\
	if (strstr((text), (phrase)) != NULL)				\
		fail_msg("\"%s\" in the text:\n%s", (phrase),		\
		    (text));						\
} while (0)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* What a rendered fax must be.  Every character has a font; pages, if not
   0, is both faxpdf's count and pdfinfo's, whose page size holds size if
   that is not NULL; has and lacks list phrases of the text (to the first
   NULL). */
struct page_want {
	int pages;
	const char *size;
	enum { CUT_ANY, CUT_NO, CUT_YES } cut;
	const char *has[10];
	const char *lacks[4];
};

/* Render d with o and check the fax against w. */
static void
expect_page(const struct chan_doc *d, const struct faxpdf_opts *o,
    const struct page_want *w)
{
	struct faxpdf_out out = render(d, o);
	char *t;

	assert_int_equal(out.unknown_glyphs, 0);
	if (w->pages != 0) {
		assert_int_equal(out.pages, w->pages);
		assert_int_equal(pdf_pages(&out, w->size), w->pages);
	}
	if (w->cut != CUT_ANY)
		assert_int_equal(out.cut, w->cut == CUT_YES);
	if (w->has[0] != NULL || w->lacks[0] != NULL) {
		t = text_of(&out);
		for (size_t i = 0; i < NELEM(w->has) && w->has[i] != NULL; i++)
			assert_has(t, w->has[i]);
		for (size_t i = 0; i < NELEM(w->lacks) && w->lacks[i] != NULL;
		    i++)
			assert_lacks(t, w->lacks[i]);
		free(t);
	}
	free(out.pdf);
}

/* ---- the page ---- */

static void
test_english(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();

	(void)state;
	expect_page(&d, &o, &(const struct page_want){ .pages = 1,
	    .size = A4_SIZE, .cut = CUT_NO, .has = { HEADLINE,
	    "Or send \"ACK " CODE "\" by SMS to " ACKPHONE_SHOWN, "1234 5678",
	    "Call the duty desk at " DUTY_SHOWN, "ACTUAL ALERT", DESCRIPTION,
	    INSTRUCTION, "Page 1 of 1", "fax to +254 20 555 0101" },
	    .lacks = { "EXERCISE", "summary", DUTY, ACKPHONE } });
}

static void
test_exercise(void **state)
{
	static const struct page_want band = { .has = { "EXERCISE" },
		.lacks = { "ACTUAL ALERT" } };
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();

	(void)state;
	d.status = S("Exercise");
	o.exercise = true;
	expect_page(&d, &o, &(const struct page_want){ .pages = 1,
	    .size = A4_SIZE, .has = { "EXERCISE", HEADLINE },
	    .lacks = { "ACTUAL ALERT" } });

	/* Either one alone is enough for the band. */
	d.status = S("Actual");
	expect_page(&d, &o, &band);
	d.status = S("Exercise");
	o.exercise = false;
	expect_page(&d, &o, &band);
}

static void
test_summary(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();

	(void)state;
	/* as the gateway passes it: no description or instruction */
	d.full = false;
	d.description = d.instruction = NULL;
	expect_page(&d, &o, &(const struct page_want){ .pages = 1,
	    .has = { "summary", "For details, call the duty desk at " DUTY_SHOWN,
	    HEADLINE, "ACK " CODE }, .lacks = { DESCRIPTION, INSTRUCTION } });

	/* and the texts stay off the page even when a caller passes them */
	d = doc_en();
	d.full = false;
	expect_page(&d, &o, &(const struct page_want){ .has = { "summary" },
	    .lacks = { DESCRIPTION, INSTRUCTION } });
}

/* Names too long for a cover page are cut there: the cover stays one
   page and the alert keeps its own pages. */
static void
test_cover_overflow(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();
	char *big = unit_rep("\xd8\xa8 Registry Operator Name ", 120);

	(void)state;
	o.cover = true;
	o.pages = 1;
	d.team = big;
	d.issuer = big;
	d.recipient = big;
	expect_page(&d, &o, &(const struct page_want){ .pages = 2,
	    .size = A4_SIZE, .has = {
	    "cut: the names are longer than a cover page", "Page 2 of 2",
	    HEADLINE } });
	free(big);
}

static void
test_letter(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();

	(void)state;
	o.paper = POLICY_PAPER_LETTER;
	expect_page(&d, &o, &(const struct page_want){ .pages = 1,
	    .size = LETTER_SIZE, .has = { HEADLINE, DESCRIPTION } });
}

static void
test_cover(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();

	(void)state;
	o.cover = true;
	expect_page(&d, &o, &(const struct page_want){ .pages = 2,
	    .size = A4_SIZE, .cut = CUT_NO, .has = { "2, this cover included",
	    "FAX \xe2\x80\x93 URGENT", "Page 1 of 2", "Page 2 of 2",
	    HEADLINE } });
}

static void
test_long_cut(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();
	char *desc = unit_rep("The registry's name servers answer slowly and "
	    "some zone transfers fail. ", 200);

	(void)state;
	d.description = desc;
	o.pages = 2;
	expect_page(&d, &o, &(const struct page_want){ .pages = 2,
	    .size = A4_SIZE, .cut = CUT_YES, .has = { "not printed",
	    "Ask the duty desk for it: " DUTY_SHOWN,
	    INSTRUCTION,	/* the instruction comes first, kept whole */
	    "Page 2 of 2" } });

	o.cover = true;
	expect_page(&d, &o, &(const struct page_want){ .pages = 3,
	    .size = A4_SIZE, .cut = CUT_YES, .has = {
	    "3, this cover included", "not printed" } });

	/* one page is one page */
	o.cover = false;
	o.pages = 1;
	expect_page(&d, &o, &(const struct page_want){ .pages = 1,
	    .size = A4_SIZE, .cut = CUT_YES });
	free(desc);
}

static void
test_scripts(void **state)
{
	static const struct {
		const char *script, *headline, *text;
	} s[] = {
		{ "Russian", "Атака на серверы имён реестра",
		  "Смените пароли и проверьте журналы входа немедленно." },
		{ "Arabic", "هجوم على خوادم أسماء السجل",
		  "يرجى تغيير كلمات المرور فورا والتحقق من سجلات الدخول." },
		{ "Chinese", "注册管理机构域名服务器遭受攻击",
		  "请立即更改密码并检查登录日志。" },
		{ "Japanese", "レジストリのネームサーバーへの攻撃",
		  "ただちにパスワードを変更し、ログイン記録を確認してください。" },
		{ "Korean", "레지스트리 네임 서버 공격",
		  "즉시 비밀번호를 변경하고 로그인 기록을 확인하십시오." },
		{ "Hindi", "रजिस्ट्री के नाम सर्वरों पर हमला",
		  "तुरंत पासवर्ड बदलें और लॉगिन लॉग की जाँच करें।" },
		{ "Greek", "Επίθεση στους διακομιστές ονομάτων του μητρώου",
		  "Αλλάξτε αμέσως τους κωδικούς και ελέγξτε τα αρχεία." },
		{ "Hebrew", "מתקפה על שרתי השמות של המרשם",
		  "החליפו סיסמאות מיד ובדקו את יומני הכניסה." },
		{ "Thai", "การโจมตีเซิร์ฟเวอร์ชื่อของทะเบียน",
		  "เปลี่ยนรหัสผ่านทันทีและตรวจสอบบันทึกการเข้าสู่ระบบ" },
		{ "Amharic", "በመዝገቡ የስም አገልጋዮች ላይ ጥቃት",
		  "የይለፍ ቃሎችን ወዲያውኑ ይቀይሩ እና የመግቢያ መዝገቦችን ይፈትሹ።" },
	};
	struct faxpdf_opts o = opts_a4();

	(void)state;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct chan_doc d = doc_en();
		struct faxpdf_out out;

		d.headline = S(s[i].headline);
		d.description = S(s[i].text);
		d.instruction = S(s[i].text);
		d.recipient = S(s[i].headline);
		d.area = S(s[i].headline);
		out = render(&d, &o);
		if (out.unknown_glyphs != 0)
			fail_msg("%s: %d characters without a font",
			    s[i].script, out.unknown_glyphs);
		assert_int_equal(out.pages, 1);
		if (i == 0) {
			char *t = text_of(&out);

			assert_has(t, s[i].headline);
			assert_has(t, s[i].text);
			free(t);
		}
		free(out.pdf);
	}
}

static void
test_null_fields(void **state)
{
	struct chan_doc d = { .alert_id = S("01JD2K8Q4M7X3V9B5N6P") };
	struct faxpdf_opts o = { .paper = POLICY_PAPER_A4, .pages = 1 };

	(void)state;
	expect_page(&d, &o, &(const struct page_want){ .pages = 1,
	    .size = A4_SIZE, .cut = CUT_NO, .has = { "Security alert",
	    "ACTUAL ALERT", "01JD2K8Q4M7X3V9B5N6P", "summary" },
	    .lacks = { "TO ACKNOWLEDGE" } });

	/* full, with a cover, still nothing but the id */
	d.full = true;
	o.cover = true;
	expect_page(&d, &o, &(const struct page_want){ .pages = 2,
	    .size = A4_SIZE });
}

static void
test_refusals(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();
	struct faxpdf_out out = { .pdf = (unsigned char *)"x", .len = 4711,
		.pages = 42 };
	struct tocsin_err e = { 0 };

	(void)state;
	o.pages = 0;
	assert_int_equal(faxpdf_render(fonts, &d, &o, &out, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(e.code, TOCSIN_EINTERNAL);
	assert_non_null(strstr(e.msg, "page"));
	o.pages = -1;
	assert_int_equal(faxpdf_render(fonts, &d, &o, &out, &e),
	    TOCSIN_EINTERNAL);
	o.pages = 1;
	assert_int_equal(faxpdf_render(NULL, &d, &o, &out, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(faxpdf_render(fonts, NULL, &o, &out, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(faxpdf_render(fonts, &d, NULL, &out, &e),
	    TOCSIN_EINTERNAL);
	/* out untouched */
	assert_string_equal((const char *)out.pdf, "x");
	assert_int_equal(out.len, 4711);
	assert_int_equal(out.pages, 42);
}

static void
test_cjk_no_spaces(void **state)
{
	struct chan_doc d = doc_en();
	struct faxpdf_opts o = opts_a4();
	struct faxpdf_out out;
	const char *unit = "注册管理机构域名服务器遭受攻击请立即更改密码并检查"
	    "登录日志";		/* 26 characters, 78 bytes */
	char *desc = unit_rep(unit, 16 * 1024 / strlen(unit) + 1), *t, *line;
	size_t longest = 0, lines = 0;

	(void)state;
	assert_true(strlen(desc) >= 16 * 1024);
	d.headline = NULL;
	d.description = desc;
	o.pages = 2;
	out = render(&d, &o);
	assert_int_equal(out.unknown_glyphs, 0);
	/* broken into lines: without that the text would be one line, and
	   would fit */
	assert_int_equal(out.pages, 2);
	assert_true(out.cut);
	assert_int_equal(pdf_pages(&out, A4_SIZE), 2);

	/* every line of the description within the column: at 13 points,
	   about 39 ideographs of 182 mm */
	t = tool("pdftotext", &out);
	for (line = t; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);

		/* a line of the description: it begins with an ideograph
		   (three bytes in UTF-8), which no other line does */
		if (n >= 3 && (unsigned char)line[0] >= 0xe0) {
			size_t cps = 0;

			for (size_t i = 0; i < n; i++)
				cps += ((unsigned char)line[i] & 0xc0) != 0x80;
			longest = cps > longest ? cps : longest;
			lines++;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	free(t);
	t = text_of(&out);
	assert_has(t, "not printed");
	free(t);
	if (lines < 40 || longest > 45)
		fail_msg("%zu lines of CJK, the longest %zu characters", lines,
		    longest);
	free(out.pdf);

	/* and with one page more there is still a limit */
	o.pages = 3;
	o.cover = true;
	out = render(&d, &o);
	assert_true(out.pages <= 4);
	assert_int_equal(pdf_pages(&out, A4_SIZE), out.pages);
	free(out.pdf);
	free(desc);
}

/* ---- chan_fax.check ---- */

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

/* A small configuration (as in test_channels.c) whose policy sends fax to
   every contact. */
#define GW "gateway = { store = \"s.db\"; gnupg_home = \"g\"; " \
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; " \
	"duty_phone = \"" DUTY "\"; };\n"
#define ISS "issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; " \
	"may_address = [ \"all\" ]; } );\n"
#define POL "policies = { p = { fax_detail = \"summary\"; steps = ( { " \
	"after = \"0s\"; notify = [ \"all:fax\" ]; } ); }; };\n"
#define CONTACT(name, fax) "{ name = \"" name "\"; role = \"r\"; " \
	"timezone = \"UTC\"; languages = [ \"en\" ]; primary = true; " \
	"fax = \"" fax "\"; }"
#define TEAMS(contacts) "teams = ( { id = \"ke\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\"; " \
	"contacts = ( " contacts " ); } );\n"
#define SMTP "smtp = { host = \"127.0.0.1\"; from = \"t@example.net\"; };"
#define RFC3192 "fax = { format = \"rfc3192\"; domain = \"fax.example.net\"; };"

static void
dump(const struct policy_diag *d)
{
	print_message("chan_fax.check said:\n");
	for (size_t i = 0; i < d->n; i++)
		print_message("  %s:%d: %s\n", d->items[i].file != NULL ?
		    d->items[i].file : "?", d->items[i].line, d->items[i].text);
}

/* Run chan_fax.check on r, then free r.  With line 0 it must say nothing;
   otherwise exactly one error, at line, whose text holds every phrase of
   has (to the first NULL) and not lacks, if that is not NULL. */
static void
check_says(struct policy_repo *r, int line, const char *const has[],
    const char *lacks)
{
	struct policy_diag d;
	size_t errors, want = line != 0 ? 1 : 0;

	policy_diag_init(&d);
	errors = chan_fax.check(r, &d);
	if (errors != want || d.n != want)
		dump(&d);
	assert_int_equal(errors, want);
	assert_int_equal(d.n, want);
	assert_int_equal(d.errors, want);
	if (want != 0) {
		assert_int_equal(d.items[0].sev, POLICY_ERROR);
		for (size_t i = 0; has[i] != NULL; i++)
			assert_has(d.items[0].text, has[i]);
		if (lacks != NULL)
			assert_lacks(d.items[0].text, lacks);
		assert_int_equal(d.items[0].line, line);
	}
	policy_diag_free(&d);
	policy_free(r);
}

static void
test_check_no_provider(void **state)
{
	struct policy_repo *r;

	(void)state;
	r = unit_load_repo(GW ISS POL TEAMS(CONTACT("n", "+254205550101"))
	    "providers = { " SMTP " };\n");
	assert_null(r->fax);
	check_says(r, 3, (const char *const[]){ "providers.fax", "policy p",
	    NULL }, NULL);
}

static void
test_check_long_address(void **state)
{
	char l63[64], domain[260], text[4096];
	struct policy_repo *r;
	char a[300];

	(void)state;
	memset(l63, 'a', 63);
	l63[63] = '\0';
	/* 241 bytes: "{number}@" and it make a 250-byte template; a number
	   of 12 digits makes an address of 254 bytes, one of 13 of 255 */
	(void)snprintf(domain, sizeof(domain), "%s.%s.%s.%.49s", l63, l63, l63,
	    l63);
	assert_int_equal(strlen(domain), 241);
	(void)snprintf(text, sizeof(text), GW ISS POL
	    TEAMS(CONTACT("Amani", "+254205550101") ", "
	    CONTACT("Baraka", "+2542055501012"))
	    "providers = { " SMTP " fax = { format = \"template\"; "
	    "address = \"{number}@%s\"; number = \"digits\"; }; };\n", domain);
	r = unit_load_repo(text);
	assert_non_null(r->fax);
	assert_int_equal(policy_fax_address(r->fax, "+254205550101", a,
	    sizeof(a)), 0);
	assert_int_equal(strlen(a), 254);
	check_says(r, 4, (const char *const[]){ "Baraka", "+2542055501012",
	    "providers.fax", NULL }, "Amani");
}

static void
test_check_good(void **state)
{
	struct policy_repo *r;

	(void)state;
	r = unit_load_repo(GW ISS POL TEAMS(CONTACT("n", "+254205550101") ", "
	    CONTACT("m", "+254205550102101"))
	    "providers = { " SMTP " " RFC3192 " };\n");
	assert_non_null(r->fax);
	check_says(r, 0, NULL, NULL);
	check_says(unit_load_repo(GW ISS POL
	    TEAMS(CONTACT("n", "+254205550101")) "providers = { " SMTP
	    " fax = { format = \"template\"; "
	    "address = \"{number}@fax.provider.example\"; "
	    "number = \"digits\"; }; };\n"), 0, NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_english),
		cmocka_unit_test(test_exercise),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_letter),
		cmocka_unit_test(test_cover),
		cmocka_unit_test(test_cover_overflow),
		cmocka_unit_test(test_long_cut),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_null_fields),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_cjk_no_spaces),
		cmocka_unit_test(test_check_no_provider),
		cmocka_unit_test(test_check_long_address),
		cmocka_unit_test(test_check_good),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
