"""Acknowledgement and escalation shown whole: one alert to 20 teams, one
`tocsin serve` in the background, real peers (the SMTP peer with STARTTLS,
the Twilio-compatible SMS and voice provider, an OpenSSH sshd drop host),
real gpg, and step delays of seconds.

One scenario for the module, then one test per thing it shows:
- four teams ack by link: a GET shows and acknowledges nothing, a POST
  acknowledges; their policy has ack_notice, so the other contacts that
  were sent the alert hear who acknowledged (e-mail and SMS notices), the
  acker does not;
- three teams ack by an SMS reply through Twilio's signed webhook; a
  reply with a bad signature is refused and its team escalates;
- e-mail replies through `tocsin ingest-mail`: clearsigned by a contact's
  key (signed), unsigned with the code (counted), and unsigned under a
  policy with unsigned_acks = false (recorded, the ladder goes on);
- an ack file, clearsigned by a contact, in the team's SSH drop folder,
  polled by serve (ack_poll = 1) and moved to ack/done;
- an operator's `tocsin ack --via phone`;
- the silent teams escalate on time: step 0 the primary contact by PGP
  e-mail and SMS, +N s the primary's emergency phone by SMS and voice,
  +2N s the substitute by PGP e-mail and SMS, unreached at +3N s; the desk
  team is paged once, and its page names the unreached teams;
- after all: nothing but notices goes to a team after its ack, every ack
  says who, how and how strong, `tocsin status` shows it, the audit chain
  verifies.
"""
import email
import re
import subprocess
import time
from email import policy as email_policy
from types import SimpleNamespace

import pytest

import test_sms
import test_sshdrop
from conftest import BIN, instance_of
from smsprovider import post_status_callback
from smtppeer import SmtpPeer
from sshpeer import SshPeer
from test_acklink import request
from test_email import encrypted_part, gpg
from test_escalation import serve_bg, states, stop
from test_ingestmail import gpg_sign

N = 8                               # seconds between steps: room for
                                    # step 0 and every ack under ASan
SMS_HOOK = "/twilio/sms/twilio-main"
OPERATOR = "Duty officer Ann"


# --- the repository -------------------------------------------------------

def roster(inst):
    """team id -> its contacts, in file order: dicts of name, primary,
    substitute, email, pgp, mobile, emergency_phone."""
    out = {}
    text = (inst.dir / "teams.conf").read_text()
    for block in text.split('\n  { id = "')[1:]:
        people = []
        for c in block.split("{ name = ")[1:]:
            p = {"name": c.split('"')[1],
                 "primary": "primary = true;" in c,
                 "substitute": "substitute = true;" in c}
            for k in ("email", "pgp", "mobile", "emergency_phone"):
                m = re.search(rf'\b{k} = "([^"]*)";', c)
                p[k] = m.group(1) if m else None
            people.append(p)
        out[block.split('"', 1)[0]] = people
    return out


def fit(people):
    """A team the scenario can use: a primary with a key, mobile and
    emergency phone, and a substitute with a key and mobile."""
    prim = [p for p in people if p["primary"]]
    subs = [p for p in people if p["substitute"]]
    return (len(prim) == 1 and prim[0]["pgp"] and prim[0]["mobile"]
            and prim[0]["emergency_phone"] and subs
            and all(s["pgp"] and s["mobile"] for s in subs))


def primary(people):
    return next(p for p in people if p["primary"])


def policies(inst):
    """Four policies with one ladder: step 0 as each needs, then the
    primary's emergency phone at +N, the substitute at +2N, unreached at
    +3N; every team of the repository on "standard" unless set."""
    later = (f'      {{ after = "{N}s"; notify = [ '
             '"primary:sms:emergency", "primary:voice:emergency" ]; },\n'
             f'      {{ after = "{2 * N}s"; notify = [ '
             '"substitute:pgp-email", "substitute:sms" ]; }\n')

    def one(name, step0, extra=""):
        return (f"  {name} = {{\n{extra}    steps = (\n"
                f'      {{ after = "0s"; notify = [ {step0} ]; }},\n{later}'
                f'    );\n    unreached_after = "{N}s";\n  }};\n')
    section = ("policies = {\n"
               + one("standard", '"primary:pgp-email", "primary:sms"')
               + one("notice", '"all:pgp-email", "primary:sms"',
                     "    ack_notice = true;\n")
               + one("strict", '"primary:pgp-email", "primary:sms"',
                     "    unsigned_acks = false;\n")
               + one("drop", '"primary:pgp-email", "team:sshdrop"')
               + "};\n")
    text, n = re.subn(r"^policies = \{\n.*?^\};\n", section,
                      inst.conf.read_text(), flags=re.M | re.S)
    assert n == 1
    inst.conf.write_text(text)
    teams = (inst.dir / "teams.conf").read_text()
    (inst.dir / "teams.conf").write_text(re.sub(
        r'\n    policy = "[^"]+";', '\n    policy = "standard";', teams))


def set_policy(inst, team, name):
    path = inst.dir / "teams.conf"
    text, n = re.subn(
        rf'(\{{ id = "{team}";\n(?:.*\n)*?    policy = )"[^"]+";',
        rf'\g<1>"{name}";', path.read_text(), count=1)
    assert n == 1, team
    path.write_text(text)


# --- what the peers received ------------------------------------------------

def sms_sent(reqs):
    """(to, text) of every SMS the provider took, Twilio's or generic."""
    out = []
    for r in reqs:
        if r["path"].endswith("/Messages.json"):
            out.append((r["form"]["To"], r["form"]["Body"]))
        elif r["path"].endswith("/generic/send"):
            out.append((r["json"]["to"], r["json"]["text"]))
    return out


def calls_to(reqs):
    return [r["form"]["To"] for r in reqs if r["path"].endswith("/Calls.json")]


def subject(msg):
    """The clear-text Subject of a stored message."""
    return email.message_from_bytes(msg["raw"],
                                    policy=email_policy.default)["Subject"]


def opened(pki, msg):
    """Subject and first text/plain part of a PGP/MIME message, decrypted
    with the contacts' keys."""
    outer, enc = encrypted_part(msg["raw"])
    r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
    assert r.returncode == 0, r.stderr.decode()
    inner = email.message_from_bytes(r.stdout, policy=email_policy.default)
    text = next(p for p in inner.walk()
                if p.get_content_type() == "text/plain")
    return outer["Subject"], text.get_content()


def words(text):
    return set(re.findall(r"[a-z0-9-]+", text))


# --- the scenario ----------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory, repo_template, pki):
    work = tmp_path_factory.mktemp("ackall")
    with instance_of(repo_template, pki) as inst:
        smtp = SmtpPeer(work / "smtp", cert=pki["dir"] / pki["server_cert"],
                        key=pki["dir"] / pki["server_key"]).start()
        sms = test_sms.provider(work, pki, "sms").start()
        ssh = SshPeer(work / "sshd").start()
        try:
            yield scenario(inst, pki, smtp, sms, ssh)
        finally:
            ssh.stop()
            sms.stop()
            smtp.stop()


def scenario(inst, pki, smtp, sms, ssh):
    who = roster(inst)
    usable = [t for t in inst.teams() if fit(who[t])]
    assert len(usable) >= 21, "the repository has too few teams with a " \
        "primary and a substitute"
    picked, desk = usable[:20], usable[20]
    roles = {"link": picked[0:4], "sms": picked[4:7], "sms_bad": picked[7:8],
             "mail_signed": picked[8:9], "mail_unsigned": picked[9:10],
             "mail_strict": picked[10:11], "drop": picked[11:12],
             "operator": picked[12:13], "silent": picked[13:20]}
    drop_team = roles["drop"][0]
    folder = f"inbox-{drop_team}"

    inst.set_keys("smtp", port=smtp.port)
    step0 = '[ "primary:pgp-email", "primary:sms" ]'
    test_sms.configure(inst, sms.url, step0=step0)
    test_sshdrop.configure(inst, ssh, [drop_team], folders={drop_team: folder},
                           step0=step0)
    text = inst.conf.read_text()
    inst.conf.write_text(text.replace('timeout = "5s"; }',
                                      'timeout = "5s"; ack_poll = 1; }', 1))
    policies(inst)
    for t in roles["link"]:
        set_policy(inst, t, "notice")
    set_policy(inst, roles["mail_strict"][0], "strict")
    set_policy(inst, drop_team, "drop")
    inst.set_keys("gateway", desk_team=desk)
    inst.run("check", check=0)

    alert = inst.submit_signed(inst.cap(addresses=" ".join(picked),
                                        severity="Severe"))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    proc = serve_bg(inst, "all")
    try:
        got = act(inst, pki, alert, accepted, who, roles, ssh.root / folder)
        # past the last step: every silent team unreached, the desk paged
        # and its page gone, and nothing the store planned still due
        end = accepted + 3 * N + 8
        while time.time() < end and not (inst.sql(
                "SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                "team = ? AND state = 'sent'", alert, desk)[0][0] and
                {s[1] for t, s in states(inst, alert).items()
                 if t != desk} <= {"acked", "unreached"}):
            time.sleep(0.1)
        inst.settled(alert)
    finally:
        stop(proc)
    return SimpleNamespace(
        inst=inst, pki=pki, alert=alert, accepted=accepted, who=who,
        roles=roles, desk=desk, drop_dir=ssh.root / folder, **got,
        states=states(inst, alert), mail=smtp.messages(),
        sms=sms_sent(sms.requests()), calls=calls_to(sms.requests()),
        status=inst.run("status", alert, check=0).stdout,
        verify=inst.run("audit", "verify"))


def act(inst, pki, alert, accepted, who, roles, drop_dir):
    """Every ack of the scenario, right after step 0 went out and well
    before step 1; returns what was seen on the way."""
    got = {}
    test_sms.wait_port(inst.port)
    # prepared while step 0 goes out: the signed reply and the drop file
    t = roles["mail_signed"][0]
    p = primary(who[t])
    signed_mail = (f"From: {p['email']}\nSubject: Re: alert\n\n").encode() + \
        gpg_sign(inst, "contacts_home", p["pgp"],
                 f"Received, on it. ACK {inst.ack_code(alert, t)}\n".encode(),
                 "--clearsign")
    p = primary(who[roles["drop"][0]])
    # signed words that name the alert: not an old ack under a new name
    drop_text = gpg_sign(inst, "contacts_home", p["pgp"],
                         f"Alert {alert} received at the registry's site; "
                         "on it.\n".encode(), "--clearsign")
    end = accepted + N - 1.5
    while time.time() < end and inst.sql(
            "SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
            "state <> 'sent'", alert)[0][0]:
        time.sleep(0.05)
    got["step0_unsent"] = inst.sql("SELECT count(*) FROM deliveries WHERE "
                                   "alert_id = ? AND state <> 'sent'",
                                   alert)[0][0]

    # links: a GET (a mail scanner) first, then the POST of a person
    link = roles["link"]
    got["ackers"] = {link[0]: primary(who[link[0]])["name"],
                     link[1]: next(c["name"] for c in who[link[1]]
                                   if not c["primary"]),
                     link[2]: primary(who[link[2]])["name"],
                     link[3]: "Night shift relay"}
    got["link_get"], got["link_post"] = {}, {}
    for t in link:
        path = f"/ack/{inst.ack_token(alert, t)}"
        st, _, page = request(inst, "GET", path)
        got["link_get"][t] = (st, states(inst, alert)[t][1],
                              f"Acknowledge for team {t}" in page)
        st, _, page = request(inst, "POST", path,
                              {"name": got["ackers"][t]})
        got["link_post"][t] = (st, page)

    # SMS replies, signed as Twilio signs them; one with a bad signature
    def reply(team, **kw):
        return post_status_callback(
            f"http://127.0.0.1:{inst.port}{SMS_HOOK}", test_sms.TOKEN,
            {"MessageSid": "SM" + team.encode().hex().ljust(32, "0"),
             "AccountSid": test_sms.ACCOUNT,
             "From": primary(who[team])["mobile"], "To": "+15555550100",
             "Body": f"ACK {inst.ack_code(alert, team)}"}, **kw)
    got["sms_reply"] = {t: reply(t) for t in roles["sms"]}
    bad = roles["sms_bad"][0]
    got["sms_bad"] = (reply(bad, signature="A" * 28),
                      states(inst, alert)[bad][1])

    # e-mail replies through the MTA pipe
    def ingest(msg):
        return subprocess.run([str(BIN), "-c", str(inst.conf), "ingest-mail"],
                              input=msg, capture_output=True)
    got["replies"] = {roles["mail_signed"][0]: ingest(signed_mail)}
    for t in roles["mail_unsigned"] + roles["mail_strict"]:
        p = primary(who[t])
        got["replies"][t] = ingest((f"From: {p['name']} <{p['email']}>\n"
                                    f"Subject: Re: alert\n\nok, ACK "
                                    f"{inst.ack_code(alert, t)}\n").encode())

    # the ack file, written whole under a hidden name, then renamed
    t = roles["drop"][0]
    got["drop_name"] = f"alert-{alert}.{t}.txt"
    (drop_dir / "ack").mkdir(parents=True, exist_ok=True)
    tmp = drop_dir / "ack" / f".{got['drop_name']}.tmp"
    tmp.write_bytes(drop_text)
    tmp.rename(drop_dir / "ack" / got["drop_name"])

    got["operator"] = inst.run("ack", alert, roles["operator"][0], "--by",
                               OPERATOR, "--via", "phone")
    got["acks_done_at"] = time.time()
    # the drop is polled every second: give it until just before step 1
    end = accepted + N - 0.5
    while time.time() < end and states(inst, alert)[t][1] != "acked":
        time.sleep(0.1)
    return got


# --- the tests ---------------------------------------------------------------

def test_the_acks_came_after_step_0_and_before_step_1(run):
    assert run.step0_unsent == 0, "step 0 was not sent in time"
    assert run.acks_done_at < run.accepted + N - 0.5


def test_a_link_get_acknowledges_nothing_a_post_does(run):
    for t in run.roles["link"]:
        assert run.link_get[t] == (200, "active", True), t
        st, page = run.link_post[t]
        assert st == 200 and "Acknowledged</b>" in page
        step, state, deadline, by, via, strength = run.states[t]
        assert (step, state, deadline) == (0, "acked", 0), t
        assert (by, via, strength) == (run.ackers[t], "link", "unsigned")


def test_signed_sms_replies_ack_and_a_bad_signature_is_refused(run):
    for t in run.roles["sms"]:
        assert run.sms_reply[t] == 200
        assert run.states[t][1:] == ("acked", 0, primary(run.who[t])["name"],
                                     "sms", "unsigned"), t
    bad = run.roles["sms_bad"][0]
    assert run.sms_bad == (403, "active")
    # refused: no ack row, and the team went on along its ladder
    assert run.inst.sql("SELECT count(*) FROM acks WHERE alert_id = ? AND "
                        "team = ?", run.alert, bad)[0][0] == 0
    assert run.states[bad][:2] == (2, "unreached")


def test_e_mail_replies_signed_unsigned_and_not_counted(run):
    inst, alert = run.inst, run.alert
    for role, strength in (("mail_signed", "signed"),
                           ("mail_unsigned", "unsigned")):
        t = run.roles[role][0]
        r = run.replies[t]
        assert r.returncode == 0, r.stderr.decode()
        assert f"{strength} ack".encode() in r.stdout
        assert run.states[t][1:] == ("acked", 0, primary(run.who[t])["name"],
                                     "mail", strength), t
    # unsigned_acks = false: kept as a record, the ladder went on
    t = run.roles["mail_strict"][0]
    r = run.replies[t]
    assert r.returncode == 0 and b"recorded only" in r.stdout
    assert inst.sql("SELECT by_whom, via, strength FROM acks WHERE "
                    "alert_id = ? AND team = ?", alert, t) == [
        (primary(run.who[t])["name"], "mail", "unsigned")]
    assert run.states[t][:2] == (2, "unreached")
    assert run.states[t][3] is None


def test_a_drop_ack_file_acks_and_is_moved_to_done(run):
    t = run.roles["drop"][0]
    name = primary(run.who[t])["name"]
    assert run.states[t][1:] == ("acked", 0, name, "drop", "signed")
    assert run.inst.sql("SELECT by_whom, via, strength FROM acks WHERE "
                        "alert_id = ? AND team = ?", run.alert, t) == [
        (name, "drop", "signed")]
    ack = run.drop_dir / "ack"
    assert sorted(p.name for p in ack.iterdir()) == ["done"]
    assert [p.name for p in (ack / "done").iterdir()] == [run.drop_name]
    assert not [a for a in run.inst.audit() if a[2] == "drop-ack-refused"]
    # the team's own drop of the alert went out at step 0 beside it
    assert (run.drop_dir / f"alert-{run.alert}.xml").exists()


def test_an_operator_ack(run):
    t = run.roles["operator"][0]
    assert run.operator.returncode == 0, run.operator.stderr
    assert "acknowledged" in run.operator.stdout
    assert run.states[t][1:] == ("acked", 0, OPERATOR, "operator:phone",
                                 "unsigned")


def escalated(run):
    return (run.roles["silent"] + run.roles["sms_bad"]
            + run.roles["mail_strict"])


def test_silent_teams_escalate_to_the_emergency_phone_then_the_substitute(run):
    inst, alert, accepted = run.inst, run.alert, run.accepted
    for t in escalated(run):
        p = primary(run.who[t])
        subs = [c for c in run.who[t] if c["substitute"]]
        rows = inst.sql("SELECT step, channel, address, created, state FROM "
                        "deliveries WHERE alert_id = ? AND team = ? AND "
                        "kind = 'alert'", alert, t)
        want = {0: {("pgp-email", p["email"]), ("sms", p["mobile"])},
                1: {("sms", p["emergency_phone"]),
                    ("voice", p["emergency_phone"])},
                2: {("pgp-email", s["email"]) for s in subs}
                | {("sms", s["mobile"]) for s in subs}}
        for step, targets in want.items():
            mine = [r for r in rows if r[0] == step]
            assert {(r[1], r[2]) for r in mine} == targets, (t, step, rows)
            # queued within a second of the step's time, and sent
            for r in mine:
                assert 0 <= r[3] - (accepted + step * N) <= 1, (t, r)
                assert r[4] == "sent", (t, r)
        assert {r[0] for r in rows} == {0, 1, 2}
        assert run.states[t][:3] == (2, "unreached", 0), t
        # the peers got them: the emergency number by SMS and by a call,
        # the substitute's mail to the substitute alone
        assert p["emergency_phone"] in {to for to, _ in run.sms}, t
        assert p["emergency_phone"] in run.calls, t
        for s in subs:
            assert s["mobile"] in {to for to, _ in run.sms}, t
        step2 = [m for m in run.mail if m["message_id"].startswith(
            f"<tocsin.{alert}.{t}.2@")]
        assert len(step2) == 1, t
        assert sorted(step2[0]["rcpt_tos"]) == sorted(s["email"] for s in subs)
        acts = inst.sql("SELECT action, ts FROM audit WHERE object = ? AND "
                        "details LIKE ? AND action IN ('escalate', "
                        "'unreached') ORDER BY seq", alert, f"team={t} %")
        assert [a for a, _ in acts] == ["escalate", "escalate", "unreached"]
        assert 0 <= acts[-1][1] - (accepted + 3 * N) <= 1, (t, acts)


def unreached(run):
    return {t for t, s in run.states.items() if s[1] == "unreached"}


def desk_mail(run):
    return [m for m in run.mail if m["message_id"].startswith(
        f"<tocsin.{run.alert}.{run.desk}.0@")]


def test_the_desk_is_paged_once(run):
    inst, alert, desk = run.inst, run.alert, run.desk
    assert set(escalated(run)) <= unreached(run)
    assert {s[1] for t, s in run.states.items() if t != desk} == {
        "acked", "unreached"}
    # the desk's own on-call, with a ladder of its own, from +3N: one
    # e-mail and one SMS to its primary, however many teams were unreached
    assert run.states[desk][:2] == (0, "active")
    p = primary(run.who[desk])
    rows = inst.sql("SELECT channel, address, created, state FROM deliveries "
                    "WHERE alert_id = ? AND team = ? AND kind = 'alert'",
                    alert, desk)
    assert sorted((r[0], r[1]) for r in rows) == [("pgp-email", p["email"]),
                                                  ("sms", p["mobile"])]
    for r in rows:
        assert 0 <= r[2] - (run.accepted + 3 * N) <= 1, r
        assert r[3] == "sent", r
    assert [m["rcpt_tos"] for m in desk_mail(run)] == [[p["email"]]]
    assert [to for to, _ in run.sms if to == p["mobile"]] == [p["mobile"]]
    pages = [a for a in inst.audit() if a[2] == "page-desk" and a[3] == alert]
    assert len(pages) == 1 and f"desk={desk}" in pages[0][4]


def test_the_desk_page_names_the_unreached_teams(run):
    p = primary(run.who[run.desk])
    gone, acked = unreached(run), {t for t, s in run.states.items()
                                   if s[1] == "acked"}
    mails = desk_mail(run)
    texts = [x for to, x in run.sms if to == p["mobile"]]
    assert mails and texts
    for m in mails:
        _, body = opened(run.pki, m)
        lines = [ln for ln in body.splitlines() if ln.startswith("UNREACHED:")]
        assert len(lines) == 1, body[:400]
        assert gone <= words(lines[0]) and not acked & words(lines[0]), lines
    for text in texts:
        assert text.startswith("tocsin: UNREACHED"), text
        assert gone <= words(text.lower()), text


def test_the_other_contacts_hear_who_acknowledged(run):
    inst, alert = run.inst, run.alert
    notices = inst.sql("SELECT team, channel, contact, address, state, "
                       "created FROM deliveries WHERE alert_id = ? AND "
                       "kind = 'notice'", alert)
    # only the link teams' policy has ack_notice
    assert {n[0] for n in notices} == set(run.roles["link"])
    for t in run.roles["link"]:
        acker, people = run.ackers[t], run.who[t]
        p = primary(people)
        # a team's link does not say who: a name typed on it keeps
        # nobody from hearing of the ack
        want = {("pgp-email", c["name"], c["email"]) for c in people
                if c["pgp"]}
        want.add(("sms", p["name"], p["mobile"]))
        mine = [n for n in notices if n[0] == t]
        assert sorted(n[1:4] for n in mine) == sorted(want), (t, mine)
        assert all(n[4] == "sent" for n in mine), mine
        ack_at = inst.sql("SELECT ack_at FROM team_states WHERE alert_id = ? "
                          "AND team = ?", alert, t)[0][0]
        assert all(0 <= n[5] - ack_at <= 1 for n in mine), mine
        # the notices as the contacts got them
        mails = [(m["rcpt_tos"], opened(run.pki, m)[1]) for m in run.mail
                 if subject(m).startswith("Acknowledged: ")
                 and set(m["rcpt_tos"]) <= {c["email"] for c in people}]
        got = sorted(a for rcpts, _ in mails for a in rcpts)
        assert got == sorted(e for ch, _, e in want if ch == "pgp-email"), t
        for _, body in mails:
            assert body.startswith("ACKNOWLEDGED"), body[:200]
            assert "link" in body, body[:400]
            # the typed name only as an unverified quote
            assert f'\nUnverified: name typed on the page: "{acker}"\n' \
                in body, body[:400]
            assert f"Acknowledged by: {acker}" not in body, body[:400]
        sms = [x for to, x in run.sms if to == p["mobile"]
               and x.startswith("tocsin: ACKNOWLEDGED")]
        assert len(sms) == 1, (t, sms)
        assert f'unverified: "{acker}"' in sms[0], sms[0]


def test_nothing_but_notices_after_an_ack_and_every_ack_is_recorded(run):
    inst, alert = run.inst, run.alert
    late = inst.sql("SELECT d.team, d.step, d.channel, d.created, t.ack_at "
                    "FROM deliveries d JOIN team_states t ON t.alert_id = "
                    "d.alert_id AND t.team = d.team WHERE d.alert_id = ? AND "
                    "t.state = 'acked' AND d.kind <> 'notice' AND "
                    "d.created > t.ack_at", alert)
    assert late == []
    acked = {t: s for t, s in run.states.items() if s[1] == "acked"}
    assert inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                    "step > 0 AND team IN (%s)" % ",".join("?" * len(acked)),
                    alert, *acked)[0][0] == 0
    rows = inst.sql("SELECT team, by_whom, via, strength, at FROM acks WHERE "
                    "alert_id = ?", alert)
    assert rows and all(r[1] and r[2] and r[3] in ("signed", "unsigned")
                        and r[4] for r in rows), rows
    for t, s in acked.items():
        assert (t, *s[3:]) in {r[:4] for r in rows}, t
    # status: per team the step, the state and the ack
    lines = {ln.split()[0]: ln for ln in run.status.splitlines()[4:]
             if ln.strip() and not ln.startswith(" ")}
    for t, (step, state, _, by, via, strength) in run.states.items():
        f = lines[t].split()
        assert (int(f[1]), f[2]) == (step, state), lines[t]
        if state == "acked":
            assert f"acked by {by} via {via} ({strength})" in lines[t]
        else:
            assert "acked by" not in lines[t]
    assert run.verify.returncode == 0, run.verify.stdout + run.verify.stderr
