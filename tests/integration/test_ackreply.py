"""Acks by SMS reply and by voice keypress, posted to serve's listener as
Twilio posts them (signed), after real calls and messages through the
Twilio-compatible test provider."""
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from conftest import BIN
from smsprovider import post_status_callback, twilio_signature
from test_acklink import request
from test_ingestmail import contact, gpg_sign, ingest
from test_metrics import get
from test_sms import ACCOUNT, TOKEN, configure, provider, sms_rows, wait_port

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response>{}</Response>'
NO_MATCH = TWIML.format("<Message>tocsin: that code matched no alert of "
                        "your team.</Message>")
ACKED = TWIML.format("<Message>tocsin: your team&#39;s acknowledgement is "
                     "recorded. Thank you.</Message>")
THROTTLED = TWIML.format("")
MENU = ("To acknowledge, enter your 8-digit code followed by the hash "
        "key.")
SAY = '<Say language="en-US">'
SAY_THROTTLED = TWIML.format(SAY + "Too many tries. Goodbye.</Say><Hangup/>")
SAY_ACKED = TWIML.format(SAY + "Thank you. Your team&#39;s acknowledgement "
                         "is recorded. Goodbye.</Say><Hangup/>")
SAY_LAST_WRONG = TWIML.format(SAY + "That code is not right. Goodbye.</Say>"
                              "<Hangup/>")


def not_right(gather, n):
    """What a call hears after wrong code number n (1, 2) keyed at its
    Gather: the menu again, whose keys go to the next try's URL."""
    return TWIML.format(
        SAY + 'That code is not right.</Say><Gather input="dtmf" '
        f'finishOnKey="#" timeout="15" method="POST" action="{gather}/{n + 1}">'
        f"{SAY}{MENU}</Say></Gather>{SAY}Goodbye.</Say><Hangup/>")




def primary(inst, team):
    """(name, mobile) of the team's primary contact."""
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    c = re.search(r'\{ name = "([^"]+)";(?:(?!\n      \{).)*?primary = true;'
                  r'(?:(?!\n      \}).)*', block, re.S).group(0)
    return (re.search(r'name = "([^"]+)"', c).group(1),
            re.search(r'mobile = "(\+\d+)"', c).group(1))


def state(inst, alert, team):
    return inst.sql("SELECT state, ack_by, ack_via FROM team_states WHERE "
                    "alert_id = ? AND team = ?", alert, team)[0]


def healthy(port):
    """/healthz's status, or None while nothing answers."""
    try:
        return get(port, "/healthz")[0]
    except OSError:
        return None


def serve_quiet(inst):
    """serve --quiet in the background, its stderr kept."""
    return subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                             "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def until_healthy(p, port, ok=(200,)):
    """Wait, at most a minute, for /healthz to answer one of ok while p
    runs."""
    end = time.monotonic() + 60
    while healthy(port) not in ok:
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < end, "serve never became healthy"
        time.sleep(0.05)


def listening(inst):
    """serve in the background, once it has started whole: its listener
    answers and /healthz says the scheduler goes round, so that its
    workers and keys are in place before a test holds the store.  Behind
    a trusted proxy on 127.0.0.1, /healthz is refused to every client
    (403): the listener's answer is then all there is to wait for."""
    p = serve_quiet(inst)
    wait_port(inst.port)
    until_healthy(p, inst.port, ok=(200, 403))
    return p


def stopped(p):
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    return err


def test_sms_reply_acks_its_own_team_only(inst, tmp_path, pki):
    teams = inst.teams()[:3]
    a1 = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    a2 = inst.submit_signed(inst.cap(addresses=teams[0]))
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"
    name0, mob0 = primary(inst, teams[0])
    _, mob1 = primary(inst, teams[1])
    _, mob2 = primary(inst, teams[2])

    def sms(frm, body, **kw):
        return post_status_callback(url, kw.pop("token", TOKEN), {
            "MessageSid": "SM" + "0" * 32, "AccountSid": ACCOUNT,
            "From": frm, "To": "+15555550100", "Body": body}, **kw)

    p = listening(inst)
    try:
        c0 = inst.ack_code(a1, teams[0])
        # a wrong signature, or the wrong token, acks nothing
        assert sms(mob0, f"ACK {c0}", signature="A" * 28) == 403
        assert sms(mob0, f"ACK {c0}", token="not-the-token") == 403
        assert state(inst, a1, teams[0])[0] == "active"
        # a code of another team, from this team's number: nothing
        assert sms(mob1, f"ACK {c0}") == 200
        # a code of an alert the team never had: nothing
        assert sms(mob2, f"ack {inst.ack_code(a2, teams[0])}") == 200
        assert {state(inst, a1, t)[0] for t in teams} == {"active"}
        assert state(inst, a2, teams[0])[0] == "active"
        # case and spacing forgiven
        assert sms(mob0, f"  ack {c0[:4]}-{c0[4:]} ") == 200
        assert state(inst, a1, teams[0]) == ("acked", name0, "sms")
        assert state(inst, a2, teams[0])[0] == "active"
        c1 = inst.ack_code(a1, teams[1])
        assert sms(mob1, f"Ack:{c1}") == 200
        assert state(inst, a1, teams[1])[0] == "acked"
        # guessing from one number: after ten misses in a minute, even
        # the right code waits
        for i in range(9):
            assert sms(mob2, f"ACK {i:08d}") == 200
        assert sms(mob2, f"ACK {inst.ack_code(a1, teams[2])}") == 200
        assert state(inst, a1, teams[2])[0] == "active"
    finally:
        err = stopped(p)
    assert "refused a reply" in err
    assert "matched no alert" in err
    assert err.count("sent too many wrong codes") == 1


def test_voice_keypress_acks_the_call_s_team(inst, tmp_path, pki):
    teams = inst.teams()[:2]
    with provider(tmp_path, pki, "p") as prov:
        configure(inst, prov.url, step0='[ "primary:voice" ]')
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        inst.serve(timeout=120)
        reqs = prov.requests()
    gather = f"http://127.0.0.1:{inst.port}/twilio/gather/twilio-voice"
    calls = {}
    for r in reqs:
        tw = ET.fromstring(r["form"]["Twiml"])
        g = tw.find("Gather")
        assert g.get("action") == gather and g.get("method") == "POST"
    for row in sms_rows(inst, alert, channel="voice"):
        calls[row[1]] = row[6].split(":", 1)[1]      # team -> CallSid

    def keys(sid, digits, **kw):
        return post_status_callback(gather, TOKEN, {
            "CallSid": sid, "AccountSid": ACCOUNT, "Digits": digits,
            "From": "+15555550100", "To": "+15555550101"}, **kw)

    p = listening(inst)
    try:
        c0 = inst.ack_code(alert, teams[0])
        c1 = inst.ack_code(alert, teams[1])
        assert keys(calls[teams[0]], c0, signature="B" * 28) == 403
        # the other team's code on this team's call: nothing
        assert keys(calls[teams[0]], c1) == 200
        assert state(inst, alert, teams[0])[0] == "active"
        assert keys(calls[teams[0]], c0) == 200
        assert state(inst, alert, teams[0])[0] == "acked"
        assert state(inst, alert, teams[0])[2] == "voice"
        assert state(inst, alert, teams[1])[0] == "active"
    finally:
        err = stopped(p)
    assert "acknowledged by voice" in err


# --- wrong codes, bounded in the store (shared with e-mail) ---------------

def numbers_of(inst, team):
    """[(name, mobile, phone)] of every contact of the team."""
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    return [(c.split('"')[1], re.search(r'mobile = "(\+\d+)"', c).group(1),
             re.search(r' phone = "(\+\d+)"', c).group(1))
            for c in block.split("{ name = ")[1:]]


def team_with(inst, n, skip=()):
    return next(t for t in inst.teams()
                if len(numbers_of(inst, t)) >= n and t not in skip)


def twilio(url, params):
    """POST params signed as Twilio signs them: (status, TwiML text)."""
    req = urllib.request.Request(url, method="POST", data=urllib.parse.
                                 urlencode(params).encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params)})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wrong(code, i):
    """A code that is not code."""
    return f"{(int(code) + 1 + i) % 100000000:08d}"


def throttled_rows(inst, action):
    return [(x[1], x[3]) for x in inst.audit() if x[2] == action]


def killed(p):
    """serve killed without warning, as by a crash."""
    p.kill()
    p.wait(timeout=30)


def tries(inst, alert, team):
    return inst.sql("SELECT tries FROM ack_guesses WHERE guess_key = ?",
                    f"code:{alert}/{team}")[0][0]


def test_sms_wrong_codes_are_bounded_in_the_store(inst):
    """Ten wrong codes a minute per number, twenty an hour per alert and
    team whatever numbers send them, kept across a kill of serve; the right
    code past either bound acks nothing, is audited, and the ladder goes
    on; signed mail and the link still ack, and other teams are not held
    back."""
    t = team_with(inst, 3)
    u = team_with(inst, 1, skip=(t,))
    a1 = inst.submit_signed(inst.cap(addresses=f"{t} {u}"))
    a2 = inst.submit_signed(inst.cap(addresses=t))
    (n0, m0, ph0), (_, m1, _), (_, m2, _) = numbers_of(inst, t)[:3]
    code = inst.ack_code(a1, t)
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"

    def sms(frm, body):
        return twilio(url, {"MessageSid": "SM" + "1" * 32,
                            "AccountSid": ACCOUNT, "From": frm,
                            "To": "+15555550100", "Body": body})

    p = listening(inst)
    try:
        for i in range(10):
            assert sms(m0, f"ACK {wrong(code, i)}") == (200, NO_MATCH)
        # the eleventh is not compared, nor the right one after it
        assert sms(m0, f"ACK {wrong(code, 10)}") == (200, THROTTLED)
        assert sms(m0, f"ACK {code}") == (200, THROTTLED)
        assert state(inst, a1, t)[0] == "active"
        assert throttled_rows(inst, "sms-throttled") == [("sms reply", m0)] * 2
        assert tries(inst, a1, t) == 10
    finally:
        killed(p)
    p = listening(inst)
    try:
        # the number's count outlives serve
        assert sms(m0, f"ACK {code}") == (200, THROTTLED)
        assert state(inst, a1, t)[0] == "active"
        # the team's other contacts take the alert to twenty
        for i in range(10):
            assert sms(m1, f"ACK {wrong(code, 20 + i)}") == (200, NO_MATCH)
        assert tries(inst, a1, t) == tries(inst, a2, t) == 20
        # a third number, never wrong: the right code is not compared
        assert sms(m2, f"ACK {code}") == (200, THROTTLED)
        assert sms(ph0, f"ACK {inst.ack_code(a2, t)}") == (200, THROTTLED)
        assert state(inst, a1, t)[0] == state(inst, a2, t)[0] == "active"
        assert len(throttled_rows(inst, "sms-throttled")) == 5
        # another team of the same alert is not held back
        _, mu, _ = numbers_of(inst, u)[0]
        assert sms(mu, f"ACK {inst.ack_code(a1, u)}") == (200, ACKED)
        assert state(inst, a1, u)[0] == "acked"
        # the bound is the code's, whatever path: by mail too
        name, email, fpr = contact(inst, t)
        r = ingest(inst, f"From: {email}\nSubject: ack\n\nACK {code}\n"
                   .encode())
        assert r.returncode == 77, r.stderr
        assert state(inst, a1, t)[0] == "active"
        # a signed mail and the link still ack
        body = gpg_sign(inst, "contacts_home", fpr,
                        f"We have alert {a1}.\n".encode(), "--clearsign")
        r = ingest(inst, f"From: {email}\nSubject: ack\n\n".encode() + body)
        assert r.returncode == 0, r.stderr
        assert state(inst, a1, t)[:3] == ("acked", name, "mail")
        st, _, _ = request(inst, "POST", f"/ack/{inst.ack_token(a2, t)}",
                           {"name": n0})
        assert st == 200
        assert state(inst, a2, t) == ("acked", n0, "link")
    finally:
        err = stopped(p)
    assert err.count("sent too many wrong codes") == 2


def test_voice_wrong_digits_are_bounded_in_the_store(inst, tmp_path, pki):
    """Keypresses: ten wrong codes a minute per call, twenty an hour per
    alert and team over the team's calls (and its SMS replies), kept
    across a kill of serve; past them the right digits are refused aloud
    and audited, and the ladder goes on."""
    t = team_with(inst, 3)
    u = team_with(inst, 1, skip=(t,))
    with provider(tmp_path, pki, "p") as prov:
        configure(inst, prov.url, step0='[ "all:voice" ]')
        alert = inst.submit_signed(inst.cap(addresses=f"{t} {u}"))
        inst.serve(timeout=120)
    calls, refs = {}, {}
    for row in sms_rows(inst, alert, channel="voice"):
        calls.setdefault(row[1], []).append(row[6].split(":", 1)[1])
        refs[row[6].split(":", 1)[1]] = row[6]
    assert len(calls[t]) >= 3
    code = inst.ack_code(alert, t)
    gather = f"http://127.0.0.1:{inst.port}/twilio/gather/twilio-voice"
    sms_url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"

    def keys(sid, digits):
        return twilio(gather, {"CallSid": sid, "AccountSid": ACCOUNT,
                               "Digits": digits, "From": "+15555550100",
                               "To": "+15555550101"})

    p = listening(inst)
    try:
        for i in range(10):
            # the first try's URL every time (as only the provider, who
            # signs, could post it): the wording says "try again", the
            # store's bound still stops the eleventh
            assert keys(calls[t][0], wrong(code, i)) == \
                (200, not_right(gather, 1))
        assert keys(calls[t][0], code) == (200, SAY_THROTTLED)
        assert state(inst, alert, t)[0] == "active"
        assert throttled_rows(inst, "voice-throttled") == [
            ("voice keypress", refs[calls[t][0]])]
    finally:
        killed(p)
    p = listening(inst)
    try:
        assert keys(calls[t][0], code) == (200, SAY_THROTTLED)
        # five on another call, five by SMS from a contact: twenty
        for i in range(5):
            assert keys(calls[t][1], wrong(code, 20 + i)) == \
                (200, not_right(gather, 1))
        _, m1, _ = numbers_of(inst, t)[1]
        for i in range(5):
            assert twilio(sms_url, {
                "MessageSid": "SM" + "2" * 32, "AccountSid": ACCOUNT,
                "From": m1, "To": "+15555550100",
                "Body": f"ACK {wrong(code, 30 + i)}"}) == (200, NO_MATCH)
        assert tries(inst, alert, t) == 20
        assert keys(calls[t][2], code) == (200, SAY_THROTTLED)
        assert state(inst, alert, t)[0] == "active"
        assert len(throttled_rows(inst, "voice-throttled")) == 3
        # the other team's call is not held back
        assert keys(calls[u][0], inst.ack_code(alert, u)) == (200, SAY_ACKED)
        assert state(inst, alert, u)[0::2] == ("acked", "voice")
    finally:
        stopped(p)


def test_sms_code_while_the_store_is_busy(inst):
    """A store held by another writer past its busy timeout: the reply is
    neither counted nor compared (503, the provider may try again), and the
    same right code acks once the store is free."""
    t = inst.teams()[0]
    a = inst.submit_signed(inst.cap(addresses=t))
    name, mob = primary(inst, t)
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"
    params = {"MessageSid": "SM" + "3" * 32, "AccountSid": ACCOUNT,
              "From": mob, "To": "+15555550100",
              "Body": f"ACK {inst.ack_code(a, t)}"}
    p = listening(inst)
    try:
        # serve writes now and then itself (the audit checkpoint, the clock
        # check): wait for such a moment to pass, then hold the lock
        with inst.write_locked():
            assert twilio(url, params)[0] == 503
        assert state(inst, a, t)[0] == "active"
        assert inst.sql("SELECT count(*) FROM ack_guesses") == [(0,)]
        assert twilio(url, params) == (200, ACKED)
        assert state(inst, a, t) == ("acked", name, "sms")
        assert inst.sql("SELECT sum(tries) FROM ack_guesses") == [(0,)]
    finally:
        stopped(p)


def test_serve_starts_while_another_writer_holds_the_store(inst):
    """A serve started while another writer holds the store past its busy
    timeout (10 s) waits, and serves once the store is free: it does not
    stop at start.  Its SMS reply then acks."""
    t = inst.teams()[0]
    a = inst.submit_signed(inst.cap(addresses=t))
    name, mob = primary(inst, t)
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"
    with inst.write_locked():
        p = serve_quiet(inst)
        time.sleep(12)
        assert p.poll() is None, p.communicate()[1]
        assert healthy(inst.port) in (None, 503)
    try:
        until_healthy(p, inst.port)
        params = {"MessageSid": "SM" + "4" * 32, "AccountSid": ACCOUNT,
                  "From": mob, "To": "+15555550100",
                  "Body": f"ACK {inst.ack_code(a, t)}"}
        assert twilio(url, params) == (200, ACKED)
        assert state(inst, a, t) == ("acked", name, "sms")
    finally:
        stopped(p)


def test_a_call_gives_three_tries_then_goodbye(inst, tmp_path, pki):
    """As a person on the phone keys: two wrong codes, then the right one,
    acks the call's team, each wrong one answered with the menu again at
    the next try's URL; three wrong codes on another team's call end it
    with goodbye and ack nothing, and that team's right code keyed on the
    first team's call acks nothing either."""
    teams = inst.teams()[:3]
    with provider(tmp_path, pki, "p") as prov:
        configure(inst, prov.url, step0='[ "primary:voice" ]')
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        inst.serve(timeout=120)
        reqs = [r for r in prov.requests() if r["path"].endswith(
            "/Calls.json")]
    gather = f"http://127.0.0.1:{inst.port}/twilio/gather/twilio-voice"
    calls = {row[1]: row[6].split(":", 1)[1]
             for row in sms_rows(inst, alert, channel="voice")}
    assert set(calls) == set(teams) and len(reqs) == len(teams)
    # the call as placed: who calls, the alert, the menu twice, goodbye
    tw = ET.fromstring(reqs[0]["form"]["Twiml"])
    assert tw[0].text.startswith("tocsin alert. "), tw[0].text
    assert [g.get("action") for g in tw.findall("Gather")] == [gather] * 2

    def keys(url, team, digits):
        return twilio(url, {"CallSid": calls[team], "AccountSid": ACCOUNT,
                            "Digits": digits, "From": "+15555550100",
                            "To": "+15555550101"})

    def next_url(twiml):
        g = ET.fromstring(twiml).find("Gather")
        return None if g is None else g.get("action")

    a, b, c = teams
    p = listening(inst)
    try:
        # team a: wrong, wrong, right, each at the URL the answer gave
        url = gather
        for n in (1, 2):
            st, said = keys(url, a, wrong(inst.ack_code(alert, a), n))
            assert (st, said) == (200, not_right(gather, n)), said
            url = next_url(said)
        assert url == f"{gather}/3"
        assert keys(url, a, inst.ack_code(alert, a)) == (200, SAY_ACKED)
        assert state(inst, alert, a)[0::2] == ("acked", "voice")
        # team b: three wrong codes, then goodbye and no menu
        url = gather
        for n in (1, 2, 3):
            st, said = keys(url, b, wrong(inst.ack_code(alert, b), n))
            assert st == 200
            url = next_url(said)
        assert said == SAY_LAST_WRONG and url is None
        assert state(inst, alert, b)[0] == "active"
        # the attacker's version: team b's right code on team c's call
        assert keys(gather, c, inst.ack_code(alert, b)) == \
            (200, not_right(gather, 1))
        assert state(inst, alert, b)[0] == state(inst, alert, c)[0] == \
            "active"
        # a try number the gateway never gave (a forged URL): refused
        assert keys(f"{gather}/9", c, inst.ack_code(alert, c))[0] == 404
        assert state(inst, alert, c)[0] == "active"
        # every try was counted in the store, per call and per alert
        assert tries(inst, alert, b) == 3
    finally:
        stopped(p)


# --- the call and the reply in the team's language -------------------------

FR_SAY = '<Say language="fr-FR">'
FR_MENU = ("Pour accuser réception, saisissez votre code à 8 chiffres "
           "suivi de la touche dièse.")


def test_a_call_in_french_from_first_word_to_goodbye(inst, tmp_path, pki):
    """A French team's call is French throughout: who calls, the code, the
    menu, a wrong code and the menu again at the next try's URL (which
    keeps the language), the last wrong code's goodbye and the thanks;
    never a word of the English prompts.  A forged language in the URL
    gets English, a forged try none."""
    teams = inst.teams()[:3]
    for t in teams:
        inst.set_contact_langs(t, ["fr", "en"])
    inst.languages()
    with provider(tmp_path, pki, "p") as prov:
        configure(inst, prov.url, step0='[ "primary:voice" ]')
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        inst.serve(timeout=120)
        reqs = [r for r in prov.requests() if r["path"].endswith(
            "/Calls.json")]
    base = f"http://127.0.0.1:{inst.port}/twilio/gather/twilio-voice"
    gather = base + "/fr"
    calls = {row[1]: row[6].split(":", 1)[1]
             for row in sms_rows(inst, alert, channel="voice")}
    assert set(calls) == set(teams) and len(reqs) == len(teams)
    twiml = reqs[0]["form"]["Twiml"]
    tw = ET.fromstring(twiml)
    says = list(tw.iter("Say"))
    assert says and all(s.get("language") == "fr-FR" for s in says), twiml
    assert says[0].text.startswith("Alerte tocsin. "), says[0].text
    assert [g.get("action") for g in tw.findall("Gather")] == [gather] * 2
    menu = tw.find("Gather").find("Say").text
    assert menu.startswith("Votre code est ") and menu.endswith(FR_MENU)
    assert says[-1].text == "Au revoir."
    for english in ("To acknowledge", "Your code is", "Goodbye", " alert."):
        assert english not in twiml, (english, twiml)

    def keys(url, team, digits):
        return twilio(url, {"CallSid": calls[team], "AccountSid": ACCOUNT,
                            "Digits": digits, "From": "+15555550100",
                            "To": "+15555550101"})

    a, b, c = teams
    p = listening(inst)
    try:
        url = gather
        for n in (1, 2):
            st, said = keys(url, a, wrong(inst.ack_code(alert, a), n))
            assert st == 200
            assert said == TWIML.format(
                FR_SAY + "Ce code n&#39;est pas correct.</Say><Gather "
                'input="dtmf" finishOnKey="#" timeout="15" method="POST" '
                f'action="{gather}/{n + 1}">{FR_SAY}{FR_MENU}</Say></Gather>'
                f"{FR_SAY}Au revoir.</Say><Hangup/>"), said
            url = ET.fromstring(said).find("Gather").get("action")
        st, said = keys(url, a, inst.ack_code(alert, a))
        assert said == TWIML.format(
            FR_SAY + "Merci. L&#39;accusé de réception de votre équipe est "
            "enregistré. Au revoir.</Say><Hangup/>"), said
        assert state(inst, alert, a)[0::2] == ("acked", "voice")
        url = gather
        for n in (1, 2, 3):
            st, said = keys(url, b, wrong(inst.ack_code(alert, b), n))
            g = ET.fromstring(said).find("Gather")
            url = g.get("action") if g is not None else None
        assert said == TWIML.format(FR_SAY + "Ce code n&#39;est pas correct. "
                                    "Au revoir.</Say><Hangup/>"), said
        assert url is None and state(inst, alert, b)[0] == "active"
        # a language the gateway never gave: English, and nothing more
        st, said = keys(base + "/xx", c, wrong(inst.ack_code(alert, c), 1))
        assert st == 200 and said == not_right(base + "/xx", 1), said
        # a try the gateway never gave after the language: refused
        assert keys(gather + "/9", c, inst.ack_code(alert, c))[0] == 404
        assert state(inst, alert, c)[0] == "active"
    finally:
        stopped(p)


def test_sms_reply_answered_in_the_sender_s_language(inst, tmp_path, pki):
    """The answer to an SMS reply speaks the language of the contact whose
    number sent it; a number the gateway does not know gets English."""
    team = inst.teams()[0]
    inst.set_contact_langs(team, ["ar"])
    inst.languages()
    name, mobile = primary(inst, team)
    with provider(tmp_path, pki, "p") as prov:
        configure(inst, prov.url, step0='[ "primary:sms" ]')
        alert = inst.submit_signed(inst.cap(addresses=team))
        inst.serve(timeout=120)
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"

    def reply(frm, body):
        return twilio(url, {"MessageSid": "SM" + "1" * 32, "AccountSid":
                            ACCOUNT, "From": frm, "To": "+15555550101",
                            "Body": body})

    p = listening(inst)
    try:
        code = inst.ack_code(alert, team)
        st, said = reply("+15555550199", "ACK " + wrong(code, 1))
        assert (st, said) == (200, NO_MATCH), said
        st, said = reply(mobile, "ACK " + wrong(code, 2))
        assert st == 200 and said == TWIML.format(
            "<Message>tocsin: هذا الرمز لا يطابق أي إنذار لفريقك."
            "</Message>"), said
        st, said = reply(mobile, "ACK " + code)
        assert said == TWIML.format("<Message>tocsin: تم تسجيل تأكيد فريقك. "
                                    "شكرًا.</Message>"), said
        assert state(inst, alert, team)[0] == "acked"
    finally:
        stopped(p)
