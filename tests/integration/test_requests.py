"""A team asks the desk for help (issue 22): a request comes in on the
paths acks use, each authenticated as strictly as a signed ack (an e-mail
clear-signed or PGP/MIME-signed by a contact's pinned key with a line
"Request:", an SMS "HELP ..." from a contact's registered mobile, a file
request-*.txt clear-signed in the team's drop folder); it is stored with its
text cleaned and bounded, audited, pages gateway.desk_team with the desk's
own ladder (the desk's SMTP peer gets the page once), and the team gets a
receipt.  A request signed by another team's contact, unsigned from a
spoofed address, from an unknown number, or a replayed signature: refused,
audited, never stored.  Real gpg, a real SMTP peer and the SMS provider."""
import csv
import io
import json
import re
import subprocess
import time

import pytest

from conftest import BIN
from test_email import peer_for
from test_escalation import serve_bg, stop
from test_ack_all import opened
from test_ingestmail import contact, gpg_sign, ingest, pgp_mime


@pytest.fixture
def peer(inst, tmp_path, pki):
    p = peer_for(inst, tmp_path, pki)
    yield p
    p.stop()


@pytest.fixture
def desk(inst):
    d = inst.teams()[5]
    inst.set_keys("gateway", desk_team=d)
    assert inst.run("check").returncode == 0
    return d


def requests_rows(inst):
    return inst.sql("SELECT id, team, contact, via, strength, body, name_us, "
                    "page_alert, receipt_alert, state FROM requests")


def refusals(inst):
    return [a for a in inst.audit() if a[2] == "request-refused"]


def clearsigned_mail(inst, frm_team, text, frm=None, subject="help"):
    name, email, fpr = contact(inst, frm_team)
    body = gpg_sign(inst, "contacts_home", fpr, text.encode(), "--clearsign")
    return (f"From: {frm or email}\nSubject: {subject}\n\n").encode() + body


def test_signed_mail_request_is_stored_paged_once_and_receipted(
        inst, desk, peer, pki):
    team = inst.teams()[0]
    name, email, fpr = contact(inst, team)
    secret = "Our resolvers see forged NS answers for .ex since 09:00."
    msg = clearsigned_mail(inst, team, f"Request: {secret}\nName-us: yes\n\n"
                           "Please tell the others to check theirs.\n")
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert f"team {team}: signed request R-" in out
    assert "the desk is paged" in out
    rows = requests_rows(inst)
    assert len(rows) == 1
    rid, rteam, rcontact, via, strength, body, name_us, page, receipt, st = \
        rows[0]
    assert (rteam, rcontact, via, strength, name_us, st) == \
        (team, name, "mail", "signed", 1, "open")
    assert body == secret + "\nPlease tell the others to check theirs."
    assert rid in out
    # audited: who and how, not what
    recs = [a for a in inst.audit() if a[2] == "request"]
    assert len(recs) == 1 and recs[0][3] == rid and secret not in recs[0][4]
    # the page is an alert of the gateway's own words, to the desk alone,
    # with the desk's ladder; the request's text is not in it
    cap = inst.sql("SELECT cap FROM alerts WHERE id = ?", page)[0][0]
    cap = bytes(cap).decode()
    assert rid in cap and team in cap and "forged" not in cap
    assert inst.sql("SELECT team, step, state, deadline > 0 FROM team_states "
                    "WHERE alert_id = ?", page) == [(desk, 0, "active", 1)]
    # the receipt asks nothing: its team is told, with no ack link
    assert inst.sql("SELECT team, deadline, state, token_hash IS NULL FROM "
                    "team_states WHERE alert_id = ?", receipt) == \
        [(team, 0, "told", 1)]
    # tocsin requests lists it, and status says there is one open
    lst = inst.run("requests", check=0).stdout
    assert rid in lst and "forged NS answers" in lst
    js = json.loads(inst.run("requests", "--json", check=0).stdout)
    assert [q["id"] for q in js["requests"]] == [rid]
    assert js["requests"][0]["text"] == body
    assert js["requests"][0]["name_us"] is True
    assert "1 open request for help" in inst.run("status", check=0).stdout
    assert json.loads(inst.run("status", "--json", check=0).stdout)[
        "requests_open"] == 1
    # serve: the desk's contacts get the page once, the team its receipt
    proc = serve_bg(inst, "requests")
    try:
        end = time.monotonic() + 30
        while len(peer.messages()) < 2:
            assert time.monotonic() < end, peer.messages()
            time.sleep(0.1)
        inst.settled(page)
        inst.settled(receipt)
    finally:
        stop(proc)
    msgs = peer.messages()
    pages = [m for m in msgs if f"tocsin.{page}.{desk}.".encode() in m["raw"]]
    receipts = [m for m in msgs
                if f"tocsin.{receipt}.{team}.".encode() in m["raw"]]
    assert len(pages) == 1 and len(receipts) == 1, [m["rcpt_tos"] for m in msgs]
    assert email.lower() in [x.lower() for x in receipts[0]["rcpt_tos"]]
    assert b"forged" not in pages[0]["raw"]
    # the page asks the desk to acknowledge; the receipt asks nothing
    _, ptext = opened(pki, pages[0])
    _, rtext = opened(pki, receipts[0])
    assert "To acknowledge" in ptext and "press the button" in ptext
    assert rid in rtext and "Nothing is asked of you" in rtext
    assert "To acknowledge" not in rtext and "code" not in rtext.lower()
    # it is no open alert: status counts its team told, not active, and
    # its --unacked list is empty
    js = json.loads(inst.run("status", receipt, "--json", check=0).stdout)
    assert js["team_states"]["active"] == 0, js["team_states"]
    assert js["team_states"]["told"] == 1, js["team_states"]
    assert js["team_states"]["other"] == 0, js["team_states"]
    assert team not in inst.run("status", receipt, "--unacked",
                                check=0).stdout.split()
    # and nothing acknowledges it (not the operator's command either)
    r = inst.run("ack", receipt, team, "--by", "X", "--via", "phone",
                 check=None)
    assert r.returncode != 0
    assert inst.sql("SELECT state FROM team_states WHERE alert_id = ?",
                    receipt) == [("told",)]
    # the after-action report says told, not pending, in each format
    rep = json.loads(inst.run("report", receipt, check=0).stdout)
    assert (rep["pending"], rep["told"]) == (0, 1), rep
    assert [t["outcome"] for t in rep["per_team"]] == ["told"]
    rows = list(csv.reader(io.StringIO(inst.run(
        "report", receipt, "--format", "csv", check=0).stdout)))
    head = rows[0]
    assert [r[head.index("outcome")] for r in rows[1:] if r[:1] == [team]] == \
        ["told"], rows
    html = inst.run("report", receipt, "--format", "html", check=0).stdout
    assert 'data-outcome="told"' in html
    assert 'data-outcome="pending"' not in html
    # the desk acks its page as it acks any alert: its ladder stops
    inst.run("ack", page, desk, "--by", "Desk", "--via", "phone", check=0)
    js = json.loads(inst.run("requests", "--json", check=0).stdout)
    assert js["requests"][0]["page_state"] == "acked"


def test_pgp_mime_request_with_team_line(inst, desk):
    team = inst.teams()[1]
    name, email, fpr = contact(inst, team)
    part = (b"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
            f"request: zone transfer refused\r\nTeam: {team}\r\n".encode())
    sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
    r = ingest(inst, pgp_mime(email, "<x@y>", part, sig))
    assert r.returncode == 0, r.stderr.decode()
    assert [(x[1], x[5]) for x in requests_rows(inst)] == \
        [(team, "zone transfer refused")]


def serve_until_paged(inst, peer, want):
    """serve in the background until the peer holds want messages and
    every queued alert settled; the peer's messages."""
    proc = serve_bg(inst, "catch-up")
    try:
        end = time.monotonic() + 30
        while len(peer.messages()) < want:
            assert time.monotonic() < end, peer.messages()
            time.sleep(0.1)
        for (aid,) in inst.sql("SELECT id FROM alerts"):
            inst.settled(aid)
        time.sleep(1)
    finally:
        stop(proc)
    return peer.messages()


def pages_to(msgs, page, desk):
    return [m for m in msgs if f"tocsin.{page}.{desk}.".encode() in m["raw"]]


def test_a_request_the_desk_could_not_be_paged_for_is_paged_later(
        inst, peer):
    """A request that came while gateway.desk_team was not set is kept
    without a page; once the desk team is set, serve pages the desk for it,
    once, and a second serve does not page again."""
    team = inst.teams()[0]
    r = ingest(inst, clearsigned_mail(inst, team, "Request: our DS is gone\n"))
    assert r.returncode == 0, r.stderr.decode()
    assert "the desk was not paged" in r.stdout.decode()
    [(rid, page, receipt)] = inst.sql(
        "SELECT id, page_alert, receipt_alert FROM requests")
    assert page is None and receipt is not None
    desk = inst.teams()[5]
    inst.set_keys("gateway", desk_team=desk)
    assert inst.run("check").returncode == 0
    msgs = serve_until_paged(inst, peer, 2)
    [(page,)] = inst.sql("SELECT page_alert FROM requests WHERE id = ?", rid)
    assert page is not None
    assert len(pages_to(msgs, page, desk)) == 1, [m["rcpt_tos"] for m in msgs]
    assert inst.sql("SELECT team, step FROM team_states WHERE alert_id = ?",
                    page) == [(desk, 0)]
    recs = [a for a in inst.audit()
            if a[2] == "request-paged" and a[3] == rid]
    assert any("queued late" in a[4] for a in recs), recs
    # the next serve finds the page noted: nothing is queued again
    n = inst.sql("SELECT count(*) FROM alerts")
    serve_until_paged(inst, peer, len(msgs))
    assert inst.sql("SELECT count(*) FROM alerts") == n
    assert len(pages_to(peer.messages(), page, desk)) == 1


def test_a_page_whose_note_was_lost_is_not_made_twice(inst, desk, peer):
    """The fault between queuing the desk's page and noting it (the note
    lost): serve finds the page under its identifier and notes it; the
    desk is not paged a second time."""
    team = inst.teams()[0]
    assert ingest(inst, clearsigned_mail(inst, team, "Request: help\n")) \
        .returncode == 0
    [(rid, page)] = inst.sql("SELECT id, page_alert FROM requests")
    assert page is not None
    inst.sql("UPDATE requests SET page_alert = NULL WHERE id = ?", rid)
    msgs = serve_until_paged(inst, peer, 2)
    assert inst.sql("SELECT page_alert FROM requests WHERE id = ?", rid) == \
        [(page,)]
    assert inst.sql("SELECT count(*) FROM alerts WHERE identifier = ?",
                    f"request-{rid}") == [(1,)]
    assert len(pages_to(msgs, page, desk)) == 1
    recs = [a for a in inst.audit()
            if a[2] == "request-paged" and a[3] == rid]
    assert any("found queued" in a[4] for a in recs), recs


def test_another_teams_contact_cannot_ask_for_a_team(inst, desk):
    a, b = inst.teams()[0], inst.teams()[1]
    # signed by b's contact, for team a
    msg = clearsigned_mail(inst, b, f"Request: send money\nTeam: {a}\n")
    r = ingest(inst, msg)
    assert r.returncode == 77, r.stdout
    assert b"no contact of team" in r.stderr
    assert requests_rows(inst) == []
    ref = refusals(inst)
    assert len(ref) == 1 and f"no contact of team {a}" in ref[0][4]
    # and no page was queued for the desk
    assert inst.sql("SELECT count(*) FROM alerts") == [(0,)]


def test_unsigned_request_from_a_spoofed_address_is_refused(inst, desk):
    team = inst.teams()[0]
    name, email, fpr = contact(inst, team)
    msg = (f"From: {name} <{email}>\nSubject: REQUEST\n\n"
           "Request: please announce our new name servers\n").encode()
    r = ingest(inst, msg)
    assert r.returncode == 77
    assert b"must be signed" in r.stderr
    assert requests_rows(inst) == []
    ref = refusals(inst)
    assert len(ref) == 1 and email in ref[0][3]
    assert inst.sql("SELECT count(*) FROM alerts") == [(0,)]


def test_a_signature_makes_one_request(inst, desk):
    team = inst.teams()[0]
    msg = clearsigned_mail(inst, team, "Request: once only\n")
    assert ingest(inst, msg).returncode == 0
    r = ingest(inst, msg)
    assert r.returncode == 77 and b"replay" in r.stderr
    assert len(requests_rows(inst)) == 1
    assert len(refusals(inst)) == 1
    # one page and one receipt, not two
    assert inst.sql("SELECT count(*) FROM alerts") == [(2,)]


def test_an_old_signature_makes_no_request(inst, desk):
    team = inst.teams()[0]
    name, email, fpr = contact(inst, team)
    body = gpg_sign(inst, "contacts_home", fpr, b"Request: stale\n",
                    "--clearsign", at=int(time.time()) - 4 * 86400)
    r = ingest(inst, f"From: {email}\n\n".encode() + body)
    # the test keys are minutes old: gpg itself refuses a signature older
    # than its key; either way no request (request_sig_in_time's bounds
    # are held by the unit test)
    assert r.returncode == 77, r.stdout
    assert b"not within the last" in r.stderr or b"Time conflict" in r.stderr
    assert requests_rows(inst) == []
    assert [a for a in inst.audit() if a[2] in ("request-refused",
                                                "mail-refused")]


def test_oversized_and_control_laden_text_is_bounded_and_cleaned(inst, desk):
    team = inst.teams()[0]
    # controls, bidi overrides (a name that reads backwards), a bell,
    # an escape sequence, then far more than the limit
    nasty = ("Request: ok\x07 \x1b[31mred\u202eevil\u2066x\u2069 "
             "\u00e9t\u00e9 " + "\u00e9" * 3000 + "\n")
    msg = clearsigned_mail(inst, team, nasty)
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr.decode()
    body = requests_rows(inst)[0][5]
    assert len(body.encode()) <= 2000
    assert body.startswith("ok [31mredevilx \u00e9t\u00e9 \u00e9")
    for bad in ("\x07", "\x1b", "\u202e", "\u2066", "\u2069"):
        assert bad not in body
    # the terminal listing escapes what is left
    lst = inst.run("requests", check=0).stdout
    assert "\x1b" not in lst


def test_an_ack_is_still_an_ack(inst, desk):
    """A reply without a Request: line is judged as an ack, as before."""
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team))
    name, email, fpr = contact(inst, team)
    body = gpg_sign(inst, "contacts_home", fpr,
                    f"We have alert {alert}.\n".encode(), "--clearsign")
    r = ingest(inst, f"From: {email}\n\n".encode() + body)
    assert r.returncode == 0 and b"signed ack" in r.stdout
    assert requests_rows(inst) == []


# --- SMS ------------------------------------------------------------------

def test_sms_help_from_a_registered_mobile_only(inst, desk, tmp_path, pki):
    from smsprovider import post_status_callback
    from test_ackreply import listening, primary, stopped
    from test_sms import ACCOUNT, TOKEN

    team, other = inst.teams()[0], inst.teams()[1]
    name, mob = primary(inst, team)
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"

    def sms(frm, body, **kw):
        return post_status_callback(url, kw.pop("token", TOKEN), {
            "MessageSid": "SM" + "1" * 32, "AccountSid": ACCOUNT,
            "From": frm, "To": "+15555550100", "Body": body}, **kw)

    p = listening(inst)
    try:
        # a forged webhook is refused before anything is read
        assert sms(mob, "HELP forged", signature="A" * 28) == 403
        # an unknown number: refused, audited, never stored
        assert sms("+15555550999", "HELP our registry is down") == 200
        assert requests_rows(inst) == []
        # the contact's own mobile: an unsigned request of their team
        assert sms(mob, "help: registry down\u202e, call +1 555") == 200
    finally:
        err = stopped(p)
    rows = requests_rows(inst)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == \
        [(team, name, "sms", "unsigned", "registry down, call +1 555")]
    assert rows[0][7] is not None     # the desk's page was queued
    ref = refusals(inst)
    assert len(ref) == 1 and "+15555550999" in ref[0][3]
    assert "refused" in err
    assert other not in {r[1] for r in rows}


def test_a_flood_of_help_sms_is_bounded_per_team_and_hour(inst, desk):
    """A registered mobile in the wrong hands (or a stuck script) sends
    HELP again and again: the team's first STORE_REQUESTS_PER_HOUR (6)
    requests of the hour page the desk, the rest are refused and audited,
    and the provider is answered 200 (no retry asked), not 503."""
    from smsprovider import post_status_callback
    from test_ackreply import listening, primary, stopped
    from test_sms import ACCOUNT, TOKEN

    team = inst.teams()[0]
    name, mob = primary(inst, team)
    url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"
    p = listening(inst)
    codes = []
    try:
        for i in range(9):
            codes.append(post_status_callback(url, TOKEN, {
                "MessageSid": f"SM{i:032d}", "AccountSid": ACCOUNT,
                "From": mob, "To": "+15555550100",
                "Body": f"HELP registry down, message {i}"}))
    finally:
        stopped(p)
    assert codes == [200] * 9
    rows = requests_rows(inst)
    assert len(rows) == 6
    assert sorted(r[5] for r in rows) == \
        [f"registry down, message {i}" for i in range(6)]
    assert all(r[7] is not None for r in rows)      # six desk pages
    pages = {r[7] for r in rows}
    assert len(pages) == 6
    assert inst.sql("SELECT count(*) FROM alerts")[0][0] == 12  # + receipts
    ref = refusals(inst)
    assert len(ref) == 3 and all("in the last hour" in a[4] for a in ref), ref


# --- the drop ---------------------------------------------------------------

def test_drop_request_file_signed_by_the_team_s_contact(inst, desk, tmp_path):
    from sshpeer import SshPeer
    from test_dropack import put, serving, wait_moved
    from test_sshdrop import configure

    peer = SshPeer(tmp_path / "sshd").start()
    try:
        a, b = inst.teams()[0], inst.teams()[1]
        configure(inst, peer, [a, b])
        _, _, fpa = contact(inst, a)
        _, _, fpb = contact(inst, b)
        for t in (a, b):
            (peer.root / t / "ack").mkdir(parents=True, exist_ok=True)
        with serving(inst, peer, [a, b]):
            put(peer, a, "request-1.txt", gpg_sign(
                inst, "contacts_home", fpa,
                b"Request: our SMS gateway is down\nName-us: no\n",
                "--clearsign"))
            # b's folder, signed by a's contact: refused
            put(peer, b, "request-2.txt", gpg_sign(
                inst, "contacts_home", fpa, b"Request: for b\n",
                "--clearsign"))
            # unsigned: refused
            put(peer, b, "request-3.txt", b"Request: unsigned\n")
            assert wait_moved(peer, a, "request-1.txt") == "done"
            assert wait_moved(peer, b, "request-2.txt") == "refused"
            assert wait_moved(peer, b, "request-3.txt") == "refused"
    finally:
        peer.stop()
    rows = requests_rows(inst)
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in rows] == \
        [(a, "drop", "signed", "our SMS gateway is down", 0)]
    ref = refusals(inst)
    assert len(ref) == 2
    assert any(f"no contact of team {b}" in x[4] for x in ref)
    assert any("not signed" in x[4] for x in ref)
    assert fpb  # b's own key was not used: b never asked


# --- the desk board -----------------------------------------------------------

def test_desk_board_shows_open_requests_escaped(inst, desk):
    from test_desk_board import get, serving, stop, token_for, write_tokens

    team = inst.teams()[0]
    evil = "<script>alert(1)</script> & \u202eevil"
    assert ingest(inst, clearsigned_mail(
        inst, team, f"Request: {evil}\n")).returncode == 0
    rid = requests_rows(inst)[0][0]
    alice, la = token_for("alice")
    path = write_tokens(inst, [la])
    inst.set_keys("gateway", desk_tokens=str(path))
    p = serving(inst)
    try:
        st, _, page = get(inst, "/desk", "alice", alice)
    finally:
        stop(p)
    assert st == 200
    assert "Requests from teams" in page and rid in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; evil" in page
    assert "<script>alert" not in page and "\u202e" not in page
    assert "(not to be named)" in page
    # the desk's page is among the active alerts, with its headline
    assert f"REQUEST: team {team} asks the desk for help ({rid})" in page


# --- relay with consent ---------------------------------------------------------

def region_of(inst, team):
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    return re.search(r'region = "([A-Z]+)"', block).group(1)


def test_relay_is_a_draft_until_issuers_sign_and_submit(inst, desk, peer):
    team = inst.teams()[0]
    name, email, _ = contact(inst, team)
    text = "Phishing mails in our name ask registrars for auth codes."
    assert ingest(inst, clearsigned_mail(
        inst, team, f"Request: {text}\n")).returncode == 0
    rid = requests_rows(inst)[0][0]
    region = region_of(inst, inst.teams()[2])
    receivers = [t for t in inst.teams() if region_of(inst, t) == region]
    before = inst.sql("SELECT count(*) FROM alerts")[0][0]
    draft = inst.dir / "relay.xml"
    r = inst.run("relay", rid, "--to", f"region:{region}", "-o", str(draft))
    assert r.returncode == 0, r.stderr
    doc = draft.read_text()
    assert text in doc and "<sender>desk@" in doc
    # the request did not say Name-us: yes, so the team is not named
    assert f"Team {team}" not in doc and "A team asks" in doc
    assert f"<addresses>region:{region}</addresses>" in doc
    # nothing for the community yet: only the team's notice was queued
    alerts = inst.sql("SELECT id, identifier FROM alerts")
    assert len(alerts) == before + 1
    assert any(i.startswith("relayed-") for _, i in alerts)
    assert not any(i.startswith("relay-") for _, i in alerts)
    js = json.loads(inst.run("requests", "--all", "--json", check=0).stdout)
    assert js["requests"][0]["state"] == "relayed"
    assert js["requests"][0]["relay"] in doc
    assert "no open requests" in inst.run("requests", check=0).stdout
    assert [a for a in inst.audit() if a[2] == "request-relayed"]
    # unsigned, or with one issuer where the quorum is two: refused
    assert inst.run("submit", str(draft)).returncode == 77
    # signed by the issuers: an alert like any other
    alert = inst.submit_signed(doc, name="relay-signed.xml")
    assert re.fullmatch(r"\d{8}-[0-9a-f]{12}", alert), alert
    got = {t for (t,) in inst.sql("SELECT team FROM team_states WHERE "
                                  "alert_id = ?", alert)}
    assert got == set(receivers)
    proc = serve_bg(inst, "relay")
    try:
        end = time.monotonic() + 30
        while not any(f"tocsin.{alert}.".encode() in m["raw"]
                      for m in peer.messages()):
            assert time.monotonic() < end
            time.sleep(0.1)
        inst.settled(alert)
    finally:
        stop(proc)
    recv = {t for t in receivers for m in peer.messages()
            if f"tocsin.{alert}.{t}.".encode() in m["raw"]}
    assert recv == set(receivers)


def test_relay_names_the_team_only_with_its_consent(inst, desk):
    team = inst.teams()[0]
    assert ingest(inst, clearsigned_mail(
        inst, team, "Request: name us\nName-us: yes\n")).returncode == 0
    rid = requests_rows(inst)[0][0]
    r = inst.run("relay", rid, "--to", inst.teams()[3], inst.teams()[4])
    assert r.returncode == 0, r.stderr
    assert f"Team {team} asks" in r.stdout
    assert f"<addresses>{inst.teams()[3]} {inst.teams()[4]}</addresses>" \
        in r.stdout
    # an unknown request, or no audience
    assert inst.run("relay", "R-none", "--to", "all").returncode != 0
    assert inst.run("relay", rid).returncode == 64


# --- drills -----------------------------------------------------------------------

def test_a_drill_can_include_a_request(inst, desk, tmp_path):
    team = inst.teams()[0]
    sc = tmp_path / "help.conf"
    sc.write_text(f"""drill = {{
  seed = 7;
  alert = {{ headline = "Exercise"; event = "Exercise"; severity = "Minor"; }};
  teams = [ "{team}" ];
  start = "2026-03-05T08:00:00Z";
  length = "2h";
  answers = {{ pgp-email = {{ chance = 1.0; median = "5m"; p90 = "10m"; }};
              sms = {{ chance = 1.0; median = "2m"; p90 = "4m"; }}; }};
  requests = ( {{ team = "{team}"; at = "20m"; via = "mail";
                 text = "help us"; }} );
}};
""")
    out = tmp_path / "help.json"
    r = inst.run("drill", str(sc), "-o", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert len(rep["requests"]) == 1
    q = rep["requests"][0]
    assert q["team"] == team and q["via"] == "mail" and q["at"] == 1200
    # the desk's simulated on-call answered its page, after it came
    assert q["desk_ack"] is not None and q["desk_ack"] > 1200
    # nothing of the drill reached the real store
    assert not inst.has_store() or requests_rows(inst) == []
    # a request for a team that is not in the repository names its line
    bad = tmp_path / "bad.conf"
    bad.write_text(sc.read_text().replace(f'team = "{team}"; at',
                                          'team = "zz-none"; at'))
    r = inst.run("drill", str(bad), "-o", str(out), "--quiet")
    assert r.returncode == 78 and "bad.conf" in r.stderr
