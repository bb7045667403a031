"""tocsin verify-contacts: a check of contacts (an alert of status System
made and signed by the gateway, no ladder) reaches every endpoint of every
contact (PGP e-mail, SMS to the mobile, a call to the phone and to the
emergency phone, fax, the team's drop), each with a link and a code of
its own, against the real peers; only an endpoint's own link or code (with
the contact's own number or key) confirms it, for that contact alone;
--stale names the endpoints not confirmed; a check that cannot be rendered
is dead at once with the reason."""
import hashlib
import hmac
import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import test_sms
import test_sshdrop
from smsprovider import post_status_callback
from smtppeer import SmtpPeer
from sshpeer import SshPeer
from test_ack_all import calls_to, opened, roster, sms_sent
from test_acklink import request
from test_ackreply import listening, stopped
from test_fax import pdf_of, pdftext
from test_ingestmail import gpg_sign, ingest
from test_store_admin import tomorrow

SMS_HOOK = "/twilio/sms/twilio-main"
GATHER = "/twilio/gather/twilio-voice"


# --- each endpoint's own link and code, derived as ack.c derives them -------

def ep_mac(inst, label, alert, team, contact, channel, address):
    secret = (inst.db.parent / "ack.key").read_bytes()
    msg = b""
    for f in (label, alert, team, contact, channel, address):
        b = f.encode()
        msg += (b"\xff" + hashlib.sha256(b).digest() if len(b) > 150 else
                bytes([len(b)]) + b)
    return hmac.new(secret, msg, hashlib.sha256).digest()


def ep_code(inst, alert, team, contact, channel, address):
    mac = ep_mac(inst, "tocsin check code", alert, team, contact, channel,
                 address)
    return "%08d" % (int.from_bytes(mac[:8], "big") % 100000000)


def ep_token(inst, alert, team, contact, channel, address):
    return ep_mac(inst, "tocsin check token", alert, team, contact, channel,
                  address)[:16].hex()


def endpoints(c):
    """(channel, address, what) of every endpoint of contact c."""
    out = []
    if c["email"] and c["pgp"]:
        out.append(("pgp-email", c["email"], "e-mail"))
    if c["mobile"]:
        out.append(("sms", c["mobile"], "mobile"))
    if c.get("phone"):
        out.append(("voice", c["phone"], "phone"))
    if c["emergency_phone"]:
        out.append(("voice", c["emergency_phone"], "emergency phone"))
    if c.get("fax"):
        out.append(("fax", c["fax"], "fax"))
    return out


def people(inst):
    """roster() with each contact's phone and fax too."""
    who = roster(inst)
    text = (inst.dir / "teams.conf").read_text()
    for block in text.split('\n  { id = "')[1:]:
        tid = block.split('"', 1)[0]
        for p, c in zip(who[tid], block.split("{ name = ")[1:]):
            for k in ("phone", "fax"):
                m = re.search(rf'\n\s*{k} = "([^"]*)";', c)
                p[k] = m.group(1) if m else None
    return who


def full(p):
    """The contacts with an e-mail and key, a mobile, a phone and an
    emergency phone, the first of them with a fax too."""
    f = [c for c in p if all(c.get(k) for k in (
        "email", "pgp", "mobile", "phone", "emergency_phone"))]
    f.sort(key=lambda c: not c.get("fax"))
    return f


def everything(p):
    """Two contacts with every kind of endpoint, one with a fax."""
    f = full(p)
    return len(f) >= 2 and f[0].get("fax")


@pytest.fixture
def peers(tmp_path, pki):
    smtp = SmtpPeer(tmp_path / "smtp", cert=pki["dir"] / pki["server_cert"],
                    key=pki["dir"] / pki["server_key"]).start()
    sms = test_sms.provider(tmp_path, pki, "sms").start()
    ssh = SshPeer(tmp_path / "sshd").start()
    try:
        yield smtp, sms, ssh
    finally:
        ssh.stop()
        sms.stop()
        smtp.stop()


def use_peers(inst, peers, drop_teams):
    smtp, sms, ssh = peers
    inst.set_keys("smtp", port=smtp.port)
    step0 = '[ "primary:pgp-email", "primary:sms" ]'
    test_sms.configure(inst, sms.url, step0=step0)
    test_sshdrop.configure(inst, ssh, drop_teams, step0=step0)
    text = inst.conf.read_text()
    inst.conf.write_text(text.replace('timeout = "5s"; }',
                                      'timeout = "5s"; ack_poll = 1; }', 1))


def checked(inst):
    return set(inst.sql("SELECT team, contact, channel, address FROM "
                        "endpoint_checks"))


def test_a_check_reaches_every_endpoint_with_its_own_link_and_code(
        inst, peers, pki, tmp_path, verify_home):
    from conftest import BIN
    inst.bin = BIN
    smtp, sms, ssh = peers
    who = people(inst)
    teams = [t for t in inst.teams() if everything(who[t])][:2]
    assert len(teams) == 2
    use_peers(inst, peers, teams[:1])
    r = inst.run("verify-contacts", *teams, check=0)
    alert = r.stdout.strip()
    # no issuer wrote it: the gateway signed it in its own name
    (issuer, kind, sig), = inst.sql("SELECT issuer, kind, sig FROM "
                                    "signatures WHERE alert_id = ?", alert)
    assert (issuer, kind) == ("gateway", "openpgp")
    capdoc, = inst.sql("SELECT cap FROM alerts WHERE id = ?", alert)[0]
    (tmp_path / "c.xml").write_bytes(capdoc)
    (tmp_path / "c.asc").write_bytes(sig)
    v = subprocess.run(["gpg", "--homedir", str(verify_home), "--batch",
                        "--status-fd", "1", "--verify", str(tmp_path / "c.asc"),
                        str(tmp_path / "c.xml")], capture_output=True,
                       text=True)
    assert "[GNUPG:] VALIDSIG" in v.stdout, v.stderr
    # every endpoint of every contact, the drop of the team that has one,
    # and no team link
    want = {(t, c["name"], ch, addr) for t in teams for c in who[t]
            for ch, addr, _ in endpoints(c)}
    drop = inst.sql("SELECT address FROM deliveries WHERE alert_id = ? AND "
                    "channel = 'sshdrop'", alert)
    assert len(drop) == 1
    want.add((teams[0], "", "sshdrop", drop[0][0]))
    assert set(inst.sql("SELECT team, contact, channel, address FROM "
                        "deliveries WHERE alert_id = ?", alert)) == want
    assert inst.sql("SELECT DISTINCT token_hash FROM team_states WHERE "
                    "alert_id = ?", alert) == [(None,)]

    p = inst.serve(timeout=300)
    assert p.returncode == 0, p.stderr
    rows = inst.sql("SELECT channel, address, state, attempts, last_error "
                    "FROM deliveries WHERE alert_id = ?", alert)
    assert all(r[2] == "sent" and r[3] == 1 for r in rows), rows

    mails = smtp.messages()
    reqs = sms.requests()
    texts = sms_sent(reqs)
    for t in teams:
        for c in who[t]:
            others = [(o, ch, a) for o in who[t] for ch, a, _ in endpoints(o)
                      if o is not c]
            for ch, addr, what in endpoints(c):
                code = ep_code(inst, alert, t, c["name"], ch, addr)
                link = f"/ack/{ep_token(inst, alert, t, c['name'], ch, addr)}"
                if ch == "pgp-email":
                    got = [m for m in mails if m["rcpt_tos"] == [addr]]
                    assert len(got) == 1, (addr, len(got))
                    _, body = opened(pki, got[0])
                    assert link in body and code in body, body[-600:]
                    for o, och, oa in others:
                        assert ep_code(inst, alert, t, o["name"], och,
                                       oa) not in body
                elif ch == "sms":
                    got = [x for to, x in texts if to == addr]
                    assert len(got) == 1 and code in got[0] and \
                        link in got[0], got
                elif ch == "voice":
                    got = [q for q in reqs if q["path"].endswith(
                        "/Calls.json") and q["form"]["To"] == addr]
                    assert len(got) == 1, (what, addr)
                    say = ET.fromstring(got[0]["form"]["Twiml"]).find(
                        "Gather/Say").text
                    assert " ".join(code) in say, say
                elif ch == "fax":
                    got = [m for m in mails if len(m["rcpt_tos"]) == 1 and
                           addr[1:] in m["rcpt_tos"][0]]
                    assert len(got) == 1, addr
                    _, _, pdf = pdf_of(got[0]["raw"])
                    assert code in pdftext(tmp_path, pdf).replace(" ", "")
    # the drop: the team's file with the drop's own code
    t = teams[0]
    f = Path(ssh.root) / t / f"alert-{alert}.{t}.s0.txt.asc"
    assert ep_code(inst, alert, t, "", "sshdrop", drop[0][0]) in \
        f.read_text()
    # no emergency number as escalation: nothing but step 0, no ladder
    assert inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                    "step > 0", alert) == [(0,)]
    assert inst.sql("SELECT DISTINCT deadline, state FROM team_states WHERE "
                    "alert_id = ?", alert) == [(0, "checking")]
    # and it is no open alert: nothing active, owed or on the desk board
    js = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    assert js["team_states"]["active"] == 0, js["team_states"]
    assert js["team_states"]["checking"] == len(teams), js["team_states"]
    assert js["team_states"]["other"] == 0, js["team_states"]
    out = inst.run("status", alert, "--unacked", check=0).stdout
    assert not set(teams) & set(out.split()), out
    assert f"{len(teams)} checking" in inst.run("status", alert,
                                                check=0).stdout
    out = inst.run("status", alert, "--state", "checking", check=0).stdout
    assert set(teams) <= set(out.split()), out
    # nothing to escalate, and saying so changes nothing
    r = inst.run("escalate", alert, teams[0], check=65)
    assert "is checking: it has no ladder" in r.stderr, r.stderr
    assert inst.sql("SELECT DISTINCT deadline, state FROM team_states WHERE "
                    "alert_id = ?", alert) == [(0, "checking")]
    rep = json.loads(inst.run("report", alert, check=0).stdout)
    assert (rep["pending"], rep["checking"]) == (0, len(teams)), rep

    # --- who confirms whom ---
    a, b = full(who[t])[:2]
    ep = {(c["name"], what): (ch, addr) for c in (a, b)
          for ch, addr, what in endpoints(c)}

    def own(c, what):
        ch, addr = ep[(c["name"], what)]
        return (ep_code(inst, alert, t, c["name"], ch, addr),
                ep_token(inst, alert, t, c["name"], ch, addr))

    def text(frm, body):
        return post_status_callback(
            f"http://127.0.0.1:{inst.port}{SMS_HOOK}", test_sms.TOKEN,
            {"MessageSid": "SM" + hashlib.md5(body.encode() + frm.encode())
             .hexdigest(), "AccountSid": test_sms.ACCOUNT, "From": frm,
             "To": "+15555550100", "Body": body})

    def keys(sid, digits):
        return post_status_callback(
            f"http://127.0.0.1:{inst.port}{GATHER}", test_sms.TOKEN,
            {"CallSid": sid, "AccountSid": test_sms.ACCOUNT,
             "Digits": digits, "From": "+15555550100",
             "To": "+15555550101"})

    call = {addr: ref.split(":", 1)[1] for addr, ref in inst.sql(
        "SELECT address, provider_ref FROM deliveries WHERE alert_id = ? "
        "AND channel = 'voice'", alert)}
    proc = listening(inst)
    try:
        # the team's link of an alert is no link of a check
        st, _, _ = request(inst, "POST", f"/ack/{inst.ack_token(alert, t)}",
                           {"name": b["name"]})
        assert st == 404
        # A's e-mail link, with B's name typed on it: A's e-mail, no more
        st, _, page = request(inst, "GET", f"/ack/{own(a, 'e-mail')[1]}")
        assert st == 200 and checked(inst) == set()
        st, _, page = request(inst, "POST", f"/ack/{own(a, 'e-mail')[1]}",
                              {"name": b["name"]})
        assert st == 200 and "Confirmed" in page
        assert checked(inst) == {(t, a["name"], "pgp-email", a["email"])}
        # A's SMS code from B's number: neither; from A's number: A's mobile
        assert text(b["mobile"], f"ACK {own(a, 'mobile')[0]}") == 200
        assert text(a["mobile"], f"ACK {own(b, 'mobile')[0]}") == 200
        assert len(checked(inst)) == 1
        assert text(a["mobile"], f"ACK {own(a, 'mobile')[0]}") == 200
        # B's phone code keyed in A's call: nothing; A's own: A's phone
        assert keys(call[a["phone"]], own(b, "phone")[0]) == 200
        assert len(checked(inst)) == 2
        assert keys(call[a["phone"]], own(a, "phone")[0]) == 200
        # a reply signed by B's key with A's e-mail code: nothing; with
        # B's own: B's e-mail
        for code in (own(a, "e-mail")[0], own(b, "e-mail")[0]):
            msg = gpg_sign(inst, "contacts_home", b["pgp"],
                           f"Confirmed. ACK {code}\n".encode(), "--clearsign")
            ingest(inst, f"From: {b['email']}\nSubject: Re: check\n\n"
                   .encode() + msg)
        # an ack file signed by A, naming the check: A's drop
        folder = Path(ssh.root) / t / "ack"
        folder.mkdir(parents=True, exist_ok=True)
        signed = gpg_sign(inst, "contacts_home", a["pgp"],
                          f"Check {alert} received.\n".encode(),
                          "--clearsign")
        (folder / ".x.tmp").write_bytes(signed)
        (folder / ".x.tmp").rename(folder / f"alert-{alert}.{t}.txt")
        # and one signed by B with the drop's own code: B's drop
        dcode = ep_code(inst, alert, t, "", "sshdrop", drop[0][0])
        signed = gpg_sign(inst, "contacts_home", b["pgp"],
                          f"Received. ACK {dcode}\n".encode(), "--clearsign")
        (folder / ".y.tmp").write_bytes(signed)
        (folder / ".y.tmp").rename(folder / f"alert-{alert}.{t}.b.txt")
        end = time.time() + 30  # ends as soon as all six are in
        while time.time() < end and len(checked(inst)) < 6:
            time.sleep(0.1)
    finally:
        stopped(proc)
    assert checked(inst) == {
        (t, a["name"], "pgp-email", a["email"]),
        (t, a["name"], "sms", a["mobile"]),
        (t, a["name"], "voice", a["phone"]),
        (t, b["name"], "pgp-email", b["email"]),
        (t, a["name"], "sshdrop", drop[0][0]),
        (t, b["name"], "sshdrop", drop[0][0])}
    # a check moves no ladder
    assert inst.sql("SELECT DISTINCT state FROM team_states WHERE "
                    "alert_id = ?", alert) == [("checking",)]

    # --- stale, per endpoint ---
    r = inst.run("verify-contacts", "--stale", "--json", check=0)
    stale = {(s["team"], s["contact"], s["endpoint"], s["address"])
             for s in json.loads(r.stdout)["stale"]}
    for tm in teams:
        for c in who[tm]:
            for ch, addr, what in endpoints(c):
                done = (tm, c["name"], ch, addr) in checked(inst)
                assert ((tm, c["name"], what, addr) in stale) != done, \
                    (tm, c["name"], what)
    # the overview counts the same, as text and as JSON
    ov = json.loads(inst.run("status", "--json", check=0).stdout)["stale"]
    assert ov["endpoints"] == len(stale) and ov["days"] == 180, ov
    assert 0 < ov["contacts"] <= ov["of"], ov
    assert (f"{ov['contacts']} of {ov['of']} contacts are stale, and "
            f"{ov['endpoints']} endpoints") in inst.run("status",
                                                        check=0).stdout
    r = inst.run("verify-contacts", "--stale", check=0)
    assert re.search(rf"stale  {t} +{re.escape(a['name'])}  emergency phone "
                     rf"\{a['emergency_phone']}  \(never confirmed\)",
                     r.stdout), r.stdout
    chk = inst.run("check").stdout
    assert f"contact {a['name']} of team {t} is stale" not in chk
    assert (f"contact {a['name']} of team {t} has an unconfirmed endpoint: "
            f"emergency phone {a['emergency_phone']}") in chk
    for c in who[teams[1]]:
        assert f"contact {c['name']} of team {teams[1]} is stale" in chk


def test_teams_groups_regions_and_all(inst):
    text = (inst.dir / "teams.conf").read_text()
    region = dict(re.findall(r'\{ id = "([^"]+)";\n(?:.*\n)*?    region = '
                             r'"([A-Z]+)";', text))
    groups = re.search(r"\ngroups = \{\n(.*?)\n\};", inst.conf.read_text(),
                       re.S)
    name, members = re.search(r"(\w+) = \[ ([^]]*) \];",
                              groups.group(1)).groups()

    def teams_of(*args):
        alert = inst.run("verify-contacts", *args, check=0).stdout.strip()
        return {r[0] for r in inst.sql("SELECT team FROM team_states WHERE "
                                       "alert_id = ?", alert)}
    xx = region[inst.teams()[0]]
    assert teams_of(f"region:{xx}") == {t for t, r in region.items()
                                        if r == xx}
    assert teams_of(name) == set(re.findall(r'"([^"]+)"', members))
    assert teams_of("all") == set(inst.teams())
    assert teams_of(inst.teams()[1], name) == \
        set(re.findall(r'"([^"]+)"', members)) | {inst.teams()[1]}
    r = inst.run("verify-contacts", "region:ZZ", check=64)
    assert "region:ZZ" in r.stderr
    inst.run("verify-contacts", "no-such-team", check=64)


def test_a_check_that_cannot_be_rendered_is_dead_at_once(inst, peers):
    smtp, sms, ssh = peers
    use_peers(inst, peers, [])
    t = inst.teams()[0]
    alert = inst.run("verify-contacts", t, check=0).stdout.strip()
    # the check's document as the gateway made it before: no <addresses>,
    # which rendering refuses for a Private alert
    cap = inst.sql("SELECT cap FROM alerts WHERE id = ?", alert)[0][0]
    cap = bytes(cap).replace(f"<addresses>{t}</addresses>".encode(), b"")
    with inst.connect() as c:
        c.execute("UPDATE alerts SET cap = ? WHERE id = ?", (cap, alert))
    p = inst.serve(timeout=120)
    assert p.returncode == 0, p.stderr
    rows = inst.sql("SELECT state, attempts, last_error FROM deliveries "
                    "WHERE alert_id = ?", alert)
    assert rows
    for state, attempts, why in rows:
        assert (state, attempts) == ("dead", 1), rows
        assert "<addresses>" in why, why
    st = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    assert "dead" in json.dumps(st)
    # nothing reached a peer
    assert not smtp.messages() and not sms.requests()


def test_a_check_whose_messages_ended_can_be_pruned(inst, peers):
    """A check holds no ladder: while its messages wait it is kept as
    active by a prune, and once they are sent it is pruned like any
    ended alert (before, its teams stayed active and it never was)."""
    use_peers(inst, peers, [])
    t = inst.teams()[0]
    alert = inst.run("verify-contacts", t, check=0).stdout.strip()
    dry = inst.run("store", "prune", "--before", tomorrow(), "--dry-run",
                   check=0)
    assert f"alert {alert}: still active" in dry.stdout, dry.stdout
    p = inst.serve(timeout=120)
    assert p.returncode == 0, p.stderr
    states = inst.sql("SELECT DISTINCT state FROM deliveries WHERE "
                      "alert_id = ?", alert)
    assert states == [("sent",)], states
    r = inst.run("store", "prune", "--before", tomorrow(), check=0)
    assert f"alert {alert}: pruned" in r.stdout, r.stdout
    assert inst.sql("SELECT DISTINCT address FROM deliveries WHERE "
                    "alert_id = ?", alert) == [("pruned",)]
    assert inst.sql("SELECT DISTINCT state FROM team_states WHERE "
                    "alert_id = ?", alert) == [("checking",)]


def test_a_peer_failing_for_a_while_is_retried_not_dead(inst, peers):
    smtp, sms, ssh = peers
    use_peers(inst, peers, [])
    who = people(inst)
    t = next(t for t in inst.teams() if full(who[t]))
    mobile = full(who[t])[0]["mobile"]
    # the provider's own tries (2) both fail: the attempt fails for now
    sms.set_faults([{"match": "^" + re.escape(mobile) + "$",
                     "action": "500", "count": 2}])
    inst.set_keys("gateway", retry_base="1s")
    alert = inst.run("verify-contacts", t, check=0).stdout.strip()
    p = inst.serve(timeout=300)
    assert p.returncode == 0, p.stderr
    rows = inst.sql("SELECT address, state, attempts FROM deliveries WHERE "
                    "alert_id = ? AND channel = 'sms'", alert)
    assert (mobile, "sent", 2) in rows, rows
    assert all(r[1:] == ("sent", 1) for r in rows if r[0] != mobile), rows
    code = ep_code(inst, alert, t, full(who[t])[0]["name"], "sms", mobile)
    got = [x for to, x in sms_sent([q for q in sms.requests()
                                    if q.get("status") == 201]) if to == mobile]
    assert len(got) == 1 and code in got[0], got


def test_an_old_check_s_link_does_not_make_an_endpoint_fresh(inst, peers):
    use_peers(inst, peers, [])
    who = people(inst)
    t = next(t for t in inst.teams() if full(who[t]))
    a = full(who[t])[0]
    alert = inst.run("verify-contacts", t, check=0).stdout.strip()
    assert inst.serve(timeout=300).returncode == 0
    # the check was made 200 days ago; its link was kept and is used now
    old = inst.sql("SELECT received FROM alerts WHERE id = ?",
                   alert)[0][0] - 200 * 86400
    inst.sql("UPDATE alerts SET received = ? WHERE id = ?", old, alert)
    proc = listening(inst)
    try:
        tok = ep_token(inst, alert, t, a["name"], "pgp-email", a["email"])
        st, _, page = request(inst, "POST", f"/ack/{tok}")
        assert st == 200 and "Confirmed" in page
    finally:
        stopped(proc)
    assert inst.sql("SELECT verified FROM endpoint_checks WHERE team = ? AND "
                    "contact = ? AND channel = 'pgp-email'", t,
                    a["name"]) == [(old,)]
    stale = json.loads(inst.run("verify-contacts", "--stale", "--json",
                                check=0).stdout)["stale"]
    assert [s for s in stale if (s["team"], s["contact"], s["endpoint"]) ==
            (t, a["name"], "e-mail")], stale
