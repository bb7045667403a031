"""SMS and voice end to end: tocsin serve against the Twilio-compatible test
provider (tests/peers/sms_provider.py) over HTTPS with the test PKI."""
import collections
import contextlib
import re
import xml.etree.ElementTree as ET

import pytest

import signal
import socket
import subprocess
import time

from conftest import VOICES, tr, BIN
from smsprovider import (SmsProvider, call_status_params,
                         message_status_params, post_status_callback,
                         twilio_signature)

ACCOUNT = "ACdemo0000000000000000000000000001"
TOKEN = "demo-token-not-a-secret-0001"
GSM = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
       "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = "\f^{}\\[~]|€"


def segments(text):
    """Parts of an SMS, as GSM 03.38 or UCS-2 counts them."""
    if all(c in GSM or c in GSM_EXT for c in text):
        units = [2 if c in GSM_EXT else 1 for c in text]
        one, part = 160, 153
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]
        one, part = 70, 67
    if sum(units) <= one:
        return 1
    n, used = 1, 0
    for u in units:
        if used + u > part:
            n, used = n + 1, 0
        used += u
    return n


def provider(tmp_path, pki, name, **kw):
    d = pki["dir"]
    return SmsProvider(tmp_path / name, accounts={ACCOUNT: TOKEN},
                       cert=d / pki["server_cert"], key=d / pki["server_key"],
                       **kw)


def configure(inst, url_main, url_ke=None, step0='[ "all:sms" ]', **kw):
    """Point the providers at the test peers and make step 0 what the test
    needs."""
    text = inst.conf.read_text()
    text = re.sub(r'url = "https://127\.0\.0\.1:\d+/generic/send"',
                  f'url = "{url_ke or url_main}/generic/send"', text)
    text = re.sub(r'url = "https://127\.0\.0\.1:\d+";', f'url = "{url_main}";',
                  text)
    text, n = re.subn(r'notify = \[ "primary:pgp-email", "primary:sms" \]',
                      f"notify = {step0}", text)
    assert n >= 1
    for k, v in kw.items():
        text, n = re.subn(rf"(name = \"twilio-main\";[^}}]*?) {k} = [^;]*;",
                          rf"\g<1> {k} = {v};", text, flags=re.S)
        if n == 0:
            text = text.replace('name = "twilio-main";',
                                f'name = "twilio-main"; {k} = {v};', 1)
    inst.conf.write_text(text)


def sent_through(inst, tmp_path, pki, teams, step0='[ "primary:sms" ]'):
    """An alert for teams signed by desk-1, with step 0 step0, served
    through a test provider: (alert, the requests the provider got)."""
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0=step0)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        return alert, p.requests()


def sms_rows(inst, alert, channel="sms"):
    return inst.sql("SELECT id, team, address, state, attempts, last_error, "
                    "provider_ref, segments FROM deliveries WHERE alert_id = ? "
                    "AND channel = ? ORDER BY id", alert, channel)


def by_number(reqs):
    out = collections.defaultdict(list)
    for r in reqs:
        to = (r.get("form") or r.get("json") or {}).get("To") or \
            (r.get("json") or {}).get("to")
        if to:
            out[to].append(r)
    return out


def fault_on_first(inst, tmp_path, pki, fault, nteams=3, wait_extra=0, **conf):
    """Primary SMS to nteams teams, with fault (a rule without "match") on
    the first number; serve until idle.  Returns the alert, that number,
    the requests by number and serve's result."""
    teams = inst.teams()[:nteams]
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]', **conf)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        number = sms_rows(inst, alert)[0][2]
        p.set_faults([dict(fault, match="^" + re.escape(number) + "$")])
        res = inst.serve(timeout=120)
        if wait_extra:
            # a slow request is logged only when it is finally answered
            p.wait_requests(len(sms_rows(inst, alert)) + wait_extra,
                            timeout=10)
        reqs = by_number(p.requests())
    return alert, number, reqs, res


@pytest.fixture
def big_inst(repo200, pki, tmp_path):
    """The 200-team repository (from test_email's fixture file)."""
    from conftest import instance_of
    with instance_of(repo200, pki, "s-") as i:
        yield i


def test_parallel_sms_within_the_rate_limit(big_inst, tmp_path, pki):
    inst = big_inst
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, rate=40, burst=5, parallel=8)
        # each answer takes 0.2 s, so that requests overlap
        p.set_faults([{"action": "delay", "seconds": 0.2, "count": -1,
                       "endpoint": "messages"}])
        alert = inst.submit_signed(inst.cap(severity="Severe"),
                                   signers=("desk-1",))
        res = inst.serve(timeout=600)
        reqs = p.requests()
    rows = sms_rows(inst, alert)
    assert len(rows) >= 300
    assert [r for r in rows if r[3] != "sent"] == []
    # every SMS went out exactly once, with its ack code
    per = by_number(reqs)
    assert sorted(per) == sorted(r[2] for r in rows)
    assert all(len(v) == 1 for v in per.values())
    # the Kenyan national gateway served Kenya, Twilio the rest
    for r in rows:
        assert r[6].startswith("ke-gateway:" if r[2].startswith("+254")
                               else "twilio-main:"), r
    # rate: at most burst + rate requests to twilio-main in any second,
    # and in parallel: more than one request in flight at some time
    tw = sorted(r["t"] for r in reqs if "/Messages.json" in r["path"])
    assert len(tw) >= 290
    # Arrival times at the provider jitter with connection set-up, so the
    # limit is judged over 2-second windows: a full bucket (5) and 40 a
    # second, with one request of slack at each edge.
    j = 0
    for i, t in enumerate(tw):
        while tw[j] < t - 2.0:
            j += 1
        assert i - j + 1 <= 5 + 2 * 40 + 2, f"{i - j + 1} requests in 2 s"
    span = tw[-1] - tw[0]
    assert span >= (len(tw) - 5) / 40 * 0.9
    spans = sorted((r["t"], r["t_end"]) for r in reqs
                   if "/Messages.json" in r["path"])
    overlap = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    # in parallel, and never more than `parallel` at once
    assert 1 < overlap <= 8
    assert "sms:" in res.stderr


def test_retry_after_then_success(inst, tmp_path, pki):
    alert0, number, reqs, _ = fault_on_first(
        inst, tmp_path, pki, {"action": "429", "retry_after": 2, "count": 1})
    rows = {r[2]: r for r in sms_rows(inst, alert0)}
    assert rows[number][3] == "sent"
    times = [r["t"] for r in reqs[number]]
    assert [r["status"] for r in reqs[number]] == [429, 201]
    assert times[1] - times[0] >= 1.9


def first_provider_fails(inst, a, b, nteams=4):
    """Primary SMS to nteams teams, where provider a comes first for every
    number and answers 500 to all, and b takes what a failed; the alert."""
    # the national gateway (generic, first for +254) answers 500; here it
    # serves every number so that every delivery shows it
    configure(inst, b.url, url_ke=a.url, step0='[ "primary:sms" ]')
    text = inst.conf.read_text().replace('prefixes = [ "+254" ];',
                                         'prefixes = [ "+" ];', 1)
    inst.conf.write_text(text)
    a.set_faults([{"action": "500", "count": -1}])
    return inst.submit_signed(inst.cap(addresses=" ".join(
        inst.teams()[:nteams])), signers=("desk-1",))


def test_500_fails_over_to_the_second_provider(inst, tmp_path, pki):
    with provider(tmp_path, pki, "a") as a, provider(tmp_path, pki, "b") as b:
        alert = first_provider_fails(inst, a, b)
        inst.serve(timeout=120)
        ra, rb = a.requests(), b.requests()
    rows = sms_rows(inst, alert)
    assert rows and all(r[3] == "sent" for r in rows)
    assert all(r[6].startswith("twilio-main:") for r in rows)
    assert all(r["status"] == 500 for r in ra)
    assert len(ra) == 2 * len(rows)          # retries = 2 on the first
    assert len([r for r in rb if r["status"] == 201]) == len(rows)


def test_invalid_number_is_dead_with_the_providers_reason(inst, tmp_path, pki):
    alert, number, _, _ = fault_on_first(
        inst, tmp_path, pki, {"action": "invalid", "count": -1})
    rows = {r[2]: r for r in sms_rows(inst, alert)}
    dead = rows[number]
    assert dead[3] == "dead" and dead[4] == 1
    assert "21211" in dead[5] and "not a valid phone number" in dead[5]
    assert all(r[3] == "sent" for a, r in rows.items() if a != number)


def test_timeout_is_retried(inst, tmp_path, pki):
    alert, number, reqs, _ = fault_on_first(
        inst, tmp_path, pki, {"action": "delay", "seconds": 4, "count": 1},
        nteams=2, wait_extra=1, timeout='"2s"')
    rows = {r[2]: r for r in sms_rows(inst, alert)}
    assert rows[number][3] == "sent"
    assert len(reqs[number]) == 2


@pytest.mark.parametrize("lang,headline", [
    ("ar", "تحذير أمني عاجل بشأن بيانات اعتماد السجلات"),
    ("ru", "Срочное предупреждение о компрометации учётных данных регистратур"),
    ("zh", "注册局凭证泄露紧急安全警报，请立即轮换密码"),
    ("en", "Registry creds [phished] cost €0 to attackers; rotate now " * 4),
])
def test_sms_text_coding_and_segments(inst, tmp_path, pki, lang, headline):
    teams = inst.teams()[:3]
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        alert = inst.submit_signed(
            inst.cap(addresses=" ".join(teams), status="Exercise",
                     infos=[("en-US", headline, "d", "i")]),
            signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = p.requests()
    rows = {r[2]: r for r in sms_rows(inst, alert)}
    codes = {}
    assert reqs
    for r in reqs:
        form = r.get("form") or {}
        body = form.get("Body") or (r.get("json") or {}).get("text")
        to = form.get("To") or (r.get("json") or {}).get("to")
        # who sends first, then the marker; what to do last, whole
        assert body.startswith("tocsin: [EXERCISE] "), body
        m = re.search(r" - reply ACK (\d{8}) or open "
                      r"https?://\S+/ack/[0-9a-f]{32}$", body)
        assert m, body                      # the ack code survives whole
        codes[to] = m.group(1)
        assert rows[to][7] == segments(body) <= 3
        if lang != "en":           # UCS-2: a character outside GSM 03.38
            assert any(c not in GSM and c not in GSM_EXT for c in body)
        else:                       # GSM 7-bit, [ ] and € counted twice
            assert all(c in GSM or c in GSM_EXT for c in body)
    assert len(set(codes.values())) == len(teams)


def served_in(inst, tmp_path, pki, langs, caps):
    """Teams' contacts given languages (team: list), the alerts of caps
    (inst.cap's arguments) signed by desk-1 and served through a test
    provider: (the first alert, each team's SMS text)."""
    for team, ls in langs.items():
        inst.set_contact_langs(team, ls)
    inst.languages()
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        alerts = [inst.submit_signed(inst.cap(**c), signers=("desk-1",))
                  for c in caps]
        inst.serve(timeout=120)
        reqs = [r for r in p.requests() if "/Messages.json" in r["path"]]
    rows = {r[2]: r for a in alerts for r in sms_rows(inst, a)}
    return alerts[0], {rows[r["form"]["To"]][1]: r["form"]["Body"]
                       for r in reqs}


def test_sms_in_the_team_s_language(inst, tmp_path, pki):
    """The SMS's fixed parts in the team's language: the exercise marker,
    the severity and what to do (ACK kept, the word a reply is read for);
    French in GSM 7-bit, Chinese in UCS-2; a team whose language has no
    catalog (sw) gets the English parts."""
    fr, zh, sw = inst.teams()[:3]
    alert, bodies = served_in(inst, tmp_path, pki, {
        fr: ["fr"], zh: ["zh", "en"], sw: ["sw"]}, [
        dict(addresses=f"{fr} {zh} {sw}", status="Exercise",
             severity="Severe", infos=[
                 ("en", "Registry credentials phished", "d", "i")])])
    assert set(bodies) == {fr, zh, sw}, bodies
    for team, lang in ((fr, "fr"), (zh, "zh"), (sw, "en")):
        body = bodies[team]
        code = inst.ack_code(alert, team)
        link = f"http://127.0.0.1:{inst.port}/ack/{inst.ack_token(alert, team)}"
        want = ("tocsin: " + tr(lang, "[EXERCISE]") + " " +
                tr(lang, "Severe") + ": Registry credentials phished " +
                tr(lang, "- reply ACK {code} or open {link}", code=code,
                   link=link))
        assert body == want, (team, body)
    assert "répondez ACK" in bodies[fr] and "[EXERCICE]" in bodies[fr]
    assert "reply" not in bodies[fr] and "[EXERCISE]" not in bodies[fr]
    assert "回复 ACK" in bodies[zh] and "reply" not in bodies[zh]
    assert all(c in GSM or c in GSM_EXT for c in bodies[fr])
    assert any(c not in GSM and c not in GSM_EXT for c in bodies[zh])
    assert " - reply ACK " in bodies[sw] and "[EXERCISE]" in bodies[sw]


def test_own_words_spelt_in_gsm_when_the_alert_is(inst, tmp_path, pki):
    """French "Extrême" and Portuguese "[EXERCÍCIO]" would make an SMS
    UCS-2 (70 characters a part, not 160) although the alert's text is
    GSM 7-bit: the gateway's own words are then spelt without those
    accents, and the message is GSM.  An alert whose own text needs UCS-2
    keeps them, and its text is sent as written."""
    fr, pt, fr2 = inst.teams()[:3]
    _, bodies = served_in(inst, tmp_path, pki, {
        fr: ["fr"], pt: ["pt"], fr2: ["fr"]}, [
        dict(addresses=f"{fr} {pt}", status="Exercise", severity="Extreme",
             infos=[("en", "Registry credentials phished", "d", "i")]),
        dict(addresses=fr2, severity="Extreme",
             infos=[("fr", "Serveurs arr\u00eat\u00e9s", "d", "i")])])
    assert set(bodies) == {fr, pt, fr2}, bodies
    assert bodies[fr].startswith("tocsin: [EXERCICE] Extreme: Registry "
                                 "credentials phished - r\u00e9pondez ACK ")
    assert bodies[pt].startswith("tocsin: [EXERCICIO] Extrema: Registry "
                                 "credentials phished - responda ACK ")
    for team in (fr, pt):
        assert all(c in GSM or c in GSM_EXT for c in bodies[team]), team
    assert bodies[fr2].startswith("tocsin: Extr\u00eame: Serveurs "
                                  "arr\u00eat\u00e9s - r\u00e9pondez ACK ")


def test_fixed_parts_that_do_not_fit_go_in_english(inst, tmp_path, pki):
    """The fault's version: a provider of one part, and an Arabic team,
    whose fixed parts in Arabic (UCS-2, 70 characters a part) cannot fit
    it: the SMS still goes, with the English ones, rather than dead."""
    ar = inst.teams()[0]
    inst.set_contact_langs(ar, ["ar"])
    inst.languages()
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]', segments=1)
        alert = inst.submit_signed(inst.cap(addresses=ar),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = [r for r in p.requests() if "/Messages.json" in r["path"]]
    rows = sms_rows(inst, alert)
    assert [r[3] for r in rows] == ["sent"], rows
    body = reqs[0]["form"]["Body"]
    code = inst.ack_code(alert, ar)
    assert body.startswith("tocsin: ") and body.endswith(
        f" - reply ACK {code} or open http://127.0.0.1:{inst.port}/ack/"
        f"{inst.ack_token(alert, ar)}"), body
    assert segments(body) == 1 and rows[0][7] == 1


def test_sms_starts_with_the_short_name_and_ends_with_what_to_do(
        inst, tmp_path, pki):
    """A long Arabic alert from a desk with its own short name: the name
    first, the ack reply and link last and whole, the alert cut between,
    within the provider's segments."""
    teams = inst.teams()[:2]
    inst.set_keys("gateway", short_name="DNS-CERT")
    headline = "تحذير أمني عاجل بشأن بيانات اعتماد السجلات " * 12
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        alert = inst.submit_signed(
            inst.cap(addresses=" ".join(teams),
                     infos=[("en-US", headline, "d", "i")]),
            signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = [r for r in p.requests() if "/Messages.json" in r["path"]]
    assert len(reqs) >= len(teams)
    rows = {r[2]: r for r in sms_rows(inst, alert)}
    seen = set()
    for r in reqs:
        body, to = r["form"]["Body"], r["form"]["To"]
        team = rows[to][1]
        code = inst.ack_code(alert, team)
        token = inst.ack_token(alert, team)
        assert body.startswith("DNS-CERT: "), body
        assert "[EXERCISE]" not in body
        assert body.endswith(f" - reply ACK {code} or open "
                             f"http://127.0.0.1:{inst.port}/ack/{token}") \
            or re.search(rf" - reply ACK {code} or open https?://\S+/ack/"
                         rf"{token}$", body), body
        assert "تحذير أمني" in body         # the alert's text, cut
        assert len(body) < len(headline)
        assert segments(body) <= 3 and rows[to][7] == segments(body)
        seen.add(team)
    assert seen == set(teams)


HEADLINES = {"en": "Registry credentials phished",
             "fr": "Identifiants de registre hameçonnés",
             "es": "Credenciales del registro robadas",
             "ar": "سرقة بيانات اعتماد السجل",
             "pt": "Credenciais do registo roubadas"}


def test_voice_twiml_says_the_headline_in_the_language(inst, tmp_path, pki):
    """Each call in its contact's language: the alert's headline where the
    alert has it (else English), and the gateway's own words (who calls,
    the code, the menu, goodbye) from the catalogs, in the voice of the
    language they are in; a language without catalog hears English."""
    teams = inst.teams()
    inst.languages()
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:voice" ]')
        alert = inst.submit_signed(
            inst.cap(addresses=" ".join(teams),
                     infos=[(lang, h, "d", "i")
                            for lang, h in HEADLINES.items()]),
            signers=("desk-1",))
        inst.serve(timeout=300)
        reqs = [r for r in p.requests() if r["path"].endswith("/Calls.json")]
    rows = sms_rows(inst, alert, "voice")
    assert rows and all(r[3] == "sent" for r in rows)
    assert len(reqs) == len(rows)
    langs = collections.Counter()
    first = {}
    for t in teams:
        block = (inst.dir / "teams.conf").read_text().split(
            f'{{ id = "{t}";')[1].split("\n  },")[0]
        for c in block.split("{ name = ")[1:]:
            first[re.search(r' phone = "(\+\d+)"', c).group(1)] = \
                re.search(r'languages = \[ "([^"]+)"', c).group(1)
    by_voice = {v: k for k, v in VOICES.items()}
    for r in reqs:
        root = ET.fromstring(r["form"]["Twiml"])
        assert root.tag == "Response"
        says = root.findall("Say")
        contact = first[r["form"]["To"]]
        voice = says[0].get("language")
        # one voice for the whole call: the catalog's language, or
        # English for a language without one
        lang = contact if contact in VOICES else "en"
        assert voice == VOICES[lang], (contact, voice)
        assert all(x.get("language") == voice for x in root.iter("Say"))
        langs[by_voice[voice]] += 1
        # the contact's language where the alert has it, else English
        want = HEADLINES.get(contact, HEADLINES["en"])
        assert want in says[0].text, (contact, says[0].text)
        # who calls and the alert, then the menu, again if nothing is
        # keyed, then goodbye
        assert says[0].text.startswith(tr(lang, "{name} alert.",
                                          name="tocsin") + " "), says[0].text
        assert [e.tag for e in root] == ["Say", "Gather", "Gather", "Say",
                                         "Hangup"], r["form"]["Twiml"]
        menu = tr(lang, "To acknowledge, enter your 8-digit code followed "
                  "by the hash key.")
        for g in root.findall("Gather"):
            assert g.get("input") == "dtmf" and g.get("finishOnKey") == "#"
            said = g.find("Say").text
            assert re.fullmatch(re.escape(tr(lang, "Your code is {digits}.",
                                             digits="DIGITS")).replace(
                "DIGITS", r"\d( \d){7}") + " " + re.escape(menu), said), said
            if lang != "en":
                assert "To acknowledge" not in said
        assert says[-1].text == tr(lang, "Goodbye.")
    # the test means something only if several languages were spoken
    assert len([k for k in langs if k != "en"]) >= 3, langs
    assert langs["en"] > 0, langs


def test_no_auth_token_is_written_anywhere(inst, tmp_path, pki):
    alert, _, _, out = fault_on_first(inst, tmp_path, pki,
                                      {"action": "invalid", "count": -1})
    st = inst.run("status", alert, check=0)
    js = inst.run("status", alert, "--json", check=0)
    chk = inst.run("check", check=0)
    texts = [out.stdout, out.stderr, st.stdout, js.stdout, chk.stdout,
             chk.stderr]
    for f in inst.dir.rglob("*"):
        if f.is_file() and "secrets" not in f.parts:
            texts.append(f.read_bytes().decode("latin-1"))
    assert any("21211" in t for t in texts)     # the reason is there
    for t in texts:
        assert TOKEN not in t


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as so:
            if so.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def receiving(inst):
    """serve --quiet, once its port takes connections, for the test to
    post receipts to; stopped by SIGTERM on the way out.  Yields a dict
    that then holds serve's exit status ("rc") and its stderr ("err")."""
    serve = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                              "--quiet"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    out = {}
    try:
        wait_port(inst.port)
        yield out
    finally:
        serve.send_signal(signal.SIGTERM)
        _, out["err"] = serve.communicate(timeout=30)
        out["rc"] = serve.returncode


def test_status_callbacks_need_the_right_signature(inst, tmp_path, pki):
    teams = inst.teams()[:2]
    alert, reqs = sent_through(inst, tmp_path, pki, teams)
    url = f"http://127.0.0.1:{inst.port}/twilio/status/twilio-main"
    # Twilio was told where to post the receipts
    assert all(r["form"]["StatusCallback"] == url for r in reqs)
    rows = sms_rows(inst, alert)
    assert len(rows) == 2 and all(r[3] == "sent" for r in rows)
    (did, _, to, _, _, _, ref, _), (did2, _, to2, _, _, _, ref2, _) = rows
    sid, sid2 = ref.split(":", 1)[1], ref2.split(":", 1)[1]
    with receiving(inst) as serve:
        ok = message_status_params(sid, "delivered", account_sid=ACCOUNT,
                                   to=to)
        # a wrong signature, or none, changes nothing
        assert post_status_callback(url, TOKEN, ok,
                                    signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=") \
            == 403
        assert post_status_callback(url, "not-the-token", ok) == 403
        forged = dict(ok, MessageStatus="undelivered")
        assert post_status_callback(url, TOKEN, forged,
                                    signature=twilio_signature(TOKEN, url,
                                                               ok)) == 403
        assert [r[3] for r in sms_rows(inst, alert)] == ["sent", "sent"]
        # the right one moves the delivery on
        assert post_status_callback(url, TOKEN, ok) == 200
        bad = message_status_params(sid2, "undelivered", account_sid=ACCOUNT,
                                    to=to2, error_code=30003)
        assert post_status_callback(url, TOKEN, bad) == 200
        # interim statuses are noted, not recorded
        assert post_status_callback(url, TOKEN, message_status_params(
            sid, "sent", account_sid=ACCOUNT, to=to)) == 200
        # another path, or a GET, is refused
        assert post_status_callback(url.replace("twilio-main", "nobody"),
                                    TOKEN, ok) == 404
    assert serve["rc"] == 0, serve["err"]
    assert "refused a receipt" in serve["err"]
    after = {r[0]: r for r in sms_rows(inst, alert)}
    assert after[did][3] == "delivered"
    assert after[did2][3] == "undelivered" and "30003" in after[did2][5]
    text = inst.run("status", alert, check=0).stdout
    assert "receipts: 1 delivered, 1 undelivered" in text


def delivery_row(inst, did):
    return inst.sql("SELECT state, last_error, updated FROM deliveries "
                    "WHERE id = ?", did)[0]


def test_receipts_only_move_forward_and_calls_get_theirs(inst, tmp_path,
                                                         pki):
    """A final state never changes back: a replayed, validly signed
    callback is a no-op.  Call status callbacks reach the voice channel,
    at the path calls were given and at the shared SMS one."""
    teams = inst.teams()[:2]
    alert, reqs = sent_through(inst, tmp_path, pki, teams,
                               '[ "primary:sms", "primary:voice" ]')
    base = f"http://127.0.0.1:{inst.port}/twilio"
    surl, curl = f"{base}/status/twilio-main", \
        f"{base}/call-status/twilio-voice"
    calls = [r for r in reqs if r["path"].endswith("/Calls.json")]
    assert len(calls) == 2
    # each call was told the voice channel's own receipt path
    assert all(r["form"]["StatusCallback"] == curl for r in calls)
    sms = sms_rows(inst, alert)
    voice = sms_rows(inst, alert, "voice")
    assert len(sms) == 2 and len(voice) == 2
    assert all(r[3] == "sent" for r in sms + voice)
    (did, _, to, _, _, _, ref, _), (did2, _, to2, _, _, _, ref2, _) = sms
    sid, sid2 = ref.split(":", 1)[1], ref2.split(":", 1)[1]
    (vid, _, vto, _, _, _, vref, _), (vid2, _, vto2, _, _, _, vref2, _) = \
        voice
    csid, csid2 = vref.split(":", 1)[1], vref2.split(":", 1)[1]
    with receiving(inst) as serve:
        ok = message_status_params(sid, "delivered", account_sid=ACCOUNT,
                                   to=to)
        bad = message_status_params(sid, "undelivered", account_sid=ACCOUNT,
                                    to=to, error_code=30003)
        assert post_status_callback(surl, TOKEN, ok) == 200
        first = delivery_row(inst, did)
        assert first[0] == "delivered"
        # replayed, validly signed: delivered -> undelivered -> delivered
        assert post_status_callback(surl, TOKEN, bad) == 200
        assert delivery_row(inst, did) == first
        assert post_status_callback(surl, TOKEN, ok) == 200
        assert post_status_callback(surl, TOKEN, ok) == 200
        assert delivery_row(inst, did) == first
        # undelivered is final too
        bad2 = message_status_params(sid2, "undelivered", account_sid=ACCOUNT,
                                     to=to2, error_code=30005)
        assert post_status_callback(surl, TOKEN, bad2) == 200
        gone = delivery_row(inst, did2)
        assert gone[0] == "undelivered" and "30005" in gone[1]
        assert post_status_callback(surl, TOKEN, message_status_params(
            sid2, "delivered", account_sid=ACCOUNT, to=to2)) == 200
        assert delivery_row(inst, did2) == gone
        # a call answered and ended: its voice delivery is delivered
        assert post_status_callback(curl, TOKEN, call_status_params(
            csid, "in-progress", account_sid=ACCOUNT, to=vto)) == 200
        assert delivery_row(inst, vid)[0] == "sent"
        assert post_status_callback(curl, TOKEN, call_status_params(
            csid, "completed", account_sid=ACCOUNT, to=vto,
            duration=31)) == 200
        assert delivery_row(inst, vid)[0] == "delivered"
        # a busy line, posted where calls placed before had theirs
        assert post_status_callback(surl.replace("twilio-main",
                                                 "twilio-voice"),
                                    TOKEN, call_status_params(
                                        csid2, "busy", account_sid=ACCOUNT,
                                        to=vto2)) == 200
        assert delivery_row(inst, vid2)[0] == "undelivered"
        # a call's forged status (wrong signature) changes nothing
        assert post_status_callback(curl, TOKEN, call_status_params(
            csid, "failed", account_sid=ACCOUNT, to=vto),
            signature="A" * 28) == 403
        assert post_status_callback(curl, "not-the-token", call_status_params(
            csid2, "completed", account_sid=ACCOUNT, to=vto2)) == 403
        assert delivery_row(inst, vid)[0] == "delivered"
        assert delivery_row(inst, vid2)[0] == "undelivered"
        # no provider of that name on either channel
        assert post_status_callback(f"{base}/call-status/nobody", TOKEN,
                                    ok) == 404
    err = serve["err"]
    assert serve["rc"] == 0, err
    assert "its delivery is final already (1 such receipts" in err
    assert "(4 such receipts" in err and "(3 such" not in err


def test_check_wants_a_provider_for_every_channel_a_policy_uses(inst):
    text = inst.conf.read_text()
    start = text.index("  sms = (")
    end = text.index("  );", start) + len("  );")
    inst.conf.write_text(text[:start] + text[end:])
    p = inst.run("check", check=78)
    assert re.search(r"tocsin\.conf:\d+: error: policy \w+ sends sms, but "
                     r"providers\.sms is empty", p.stdout), p.stdout
