"""Live drills (CAP status Exercise) through the real channels.

An Exercise goes out like a real alert but is marked on every channel: the
PGP e-mail's Subject starts with "[EXERCISE] " and its decrypted, signed
text with the exercise banner before any alert text; an SMS starts with
"tocsin: [EXERCISE]"; a call's first <Say> with "tocsin exercise. This is a
drill".  An
Actual alert sent the same way carries none of these marks.  Two policy
switches change how a drill travels: without `exercise_emergency` the
ladder's :emergency targets are skipped (the team still moves along the
ladder), with it the emergency phones ring; with `exercise_quiet_hours` a
drill waits for the team's business hours even when Extreme, while a real
Extreme alert to the same team goes at once.

Peers: the SMTP peer with STARTTLS (smtppeer.py) and the Twilio-compatible
test provider (smsprovider.py), both on 127.0.0.1 with the test PKI.
"""
import re
import time
import xml.etree.ElementTree as ET

import pytest

from test_email import check_inner, encrypted_part, gpg, peer_for
from test_escalation import ladder, serve_bg, states, stop
from test_quiet import hhmm, hours
from test_sms import configure, provider

BANNER = "*** EXERCISE - EXERCISE - EXERCISE ***"
SAY_MARK = "tocsin exercise. This is a drill, not a real incident."
HEADLINE = "HEADLINE-7d41 registry EPP credentials phished"
DESC = "DESCRIPTION-51c9 several registrars lost their credentials"


# --- helpers ---------------------------------------------------------------

def team_info(inst):
    """team id -> {"policy": name, "contacts": [dict of the contact's
    key = "value" and primary/substitute flags]}, from teams.conf."""
    text = (inst.dir / "teams.conf").read_text()
    out = {}
    for block in text.split('{ id = "')[1:]:
        tid = block.split('"', 1)[0]
        pol = re.search(r'policy = "([^"]+)";', block).group(1)
        contacts = []
        for c in block.split('{ name = "')[1:]:
            kv = dict(re.findall(r'(\w+) = "([^"]*)";', '{ name = "' + c))
            kv["name"] = c.split('"', 1)[0]
            kv["primary"] = bool(re.search(r"primary = true;", c))
            kv["substitute"] = bool(re.search(r"substitute = true;", c))
            contacts.append(kv)
        out[tid] = {"policy": pol, "contacts": contacts}
    return out


def primaries(info):
    """The contacts a primary: target reaches (plan.c: those with primary =
    true, else the first one that is not a substitute)."""
    p = [c for c in info["contacts"] if c["primary"]]
    if not p:
        p = [c for c in info["contacts"] if not c["substitute"]][:1]
    return p


def pick_teams(inst, n):
    """n teams whose step 0 test_sms.configure rewrites (standard, solo)
    and whose primary contacts have every endpoint the tests use."""
    info = team_info(inst)
    keys = ("email", "pgp", "mobile", "phone", "emergency_phone")
    got = [t for t in inst.teams()
           if info[t]["policy"] in ("standard", "solo")
           and all(all(c.get(k) for k in keys) for c in primaries(info[t]))]
    assert len(got) >= n
    return got[:n], info


def policy_flags(inst, **kw):
    """Set boolean keys in every policy of tocsin.conf."""
    text = inst.conf.read_text()
    ins = "".join(f"\n    {k} = {'true' if v else 'false'};"
                  for k, v in kw.items())
    text, n = re.subn(r"(\n    steps = \()", ins + r"\g<1>", text)
    assert n >= 2
    inst.conf.write_text(text)


def sms_text(r):
    form = r.get("form") or {}
    return form.get("Body") or (r.get("json") or {}).get("text")


def sms_to(r):
    return (r.get("form") or {}).get("To") or (r.get("json") or {}).get("to")


def is_sms(r):
    return r["path"].endswith("/Messages.json") or \
        r["path"].endswith("/generic/send")


def rows(inst, alert, channel=None, step=None):
    q = ("SELECT team, step, channel, contact, address, state FROM "
         "deliveries WHERE alert_id = ?")
    args = [alert]
    if channel is not None:
        q += " AND channel = ?"
        args.append(channel)
    if step is not None:
        q += " AND step = ?"
        args.append(step)
    return inst.sql(q + " ORDER BY id", *args)


def escalations(inst, alert, team):
    return [a[2] for a in inst.audit()
            if a[3] == alert and f"team={team} " in (a[4] or "")
            and a[2] in ("escalate", "unreached")]


def send_everywhere(inst, tmp_path, pki, gw_home, status, teams):
    """Step 0 = primary e-mail, SMS and call; one alert of status to teams,
    serve until idle.  Returns (alert, [(subject, decrypted text)],
    [SMS requests], [call requests])."""
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:pgp-email", "primary:sms", '
                                     '"primary:voice" ]')
        peer = peer_for(inst, tmp_path, pki)
        try:
            alert = inst.submit_signed(inst.cap(
                addresses=" ".join(teams), status=status,
                infos=[("en-US", HEADLINE, DESC, "Rotate EPP passwords.")]))
            inst.serve(timeout=120)
            msgs = peer.messages()
            reqs = p.requests()
        finally:
            peer.stop()
    mails = []
    for m in msgs:
        assert m["tls"]
        outer, enc = encrypted_part(m["raw"])
        r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
        assert r.returncode == 0, r.stderr.decode()
        mixed = check_inner(r.stdout, gw_home, pki, tmp_path)
        body = next(mixed.iter_parts()).get_content()
        mails.append((str(outer["Subject"]), body.replace("\r\n", "\n")))
    sms = [r for r in reqs if is_sms(r)]
    calls = [r for r in reqs if r["path"].endswith("/Calls.json")]
    # everything planned went out, once, on each channel
    for ch in ("pgp-email", "sms", "voice"):
        got = rows(inst, alert, ch)
        assert got and all(r[5] == "sent" for r in got), (ch, got)
        assert {r[0] for r in got} == set(teams), ch
    assert len(mails) == len(teams)        # one message per team
    assert len(sms) == len(rows(inst, alert, "sms"))
    assert len(calls) == len(rows(inst, alert, "voice"))
    assert all(r["status"] in (200, 201) for r in sms + calls)
    return alert, mails, sms, calls


def first_say(call):
    root = ET.fromstring(call["form"]["Twiml"])
    assert root.tag == "Response"
    return root.findall("Say")[0].text or ""


# --- 1. the marks on every channel ----------------------------------------

@pytest.mark.parametrize("status", ["Exercise", "Actual"])
def test_a_drill_is_marked_on_every_channel_a_real_alert_is_not(
        inst, tmp_path, pki, verify_home, status):
    teams, _ = pick_teams(inst, 3)
    alert, mails, sms, calls = send_everywhere(inst, tmp_path, pki,
                                               verify_home, status, teams)
    drill = status == "Exercise"
    for subject, body in mails:
        assert alert in subject
        assert HEADLINE not in subject       # the headline stays encrypted
        assert HEADLINE in body
        if drill:
            assert subject.startswith("[EXERCISE] "), subject
            # the banner is the first line, before any alert text
            assert body.split("\n", 1)[0] == BANNER, body[:200]
            assert body.index(BANNER) < body.index(HEADLINE)
        else:
            assert "EXERCISE" not in subject.upper(), subject
            assert BANNER not in body and "EXERCISE" not in body, body[:300]
    for r in sms:
        text = sms_text(r)
        if drill:
            assert text.startswith("tocsin: [EXERCISE]"), text
        else:
            assert "EXERCISE" not in text.upper(), text
    for c in calls:
        said = first_say(c)
        if drill:
            assert said.startswith(SAY_MARK), said
        else:
            assert said.startswith("tocsin alert. "), said
            assert "exercise" not in said.lower() and \
                "drill" not in said.lower(), said


# --- 2. exercise_emergency --------------------------------------------------

@pytest.mark.parametrize("allowed", [False, True],
                         ids=["default", "exercise_emergency"])
def test_a_drill_skips_emergency_phones_unless_the_policy_allows(
        inst, tmp_path, pki, allowed):
    teams, info = pick_teams(inst, 3)
    mobiles = {c["mobile"] for t in teams for c in primaries(info[t])}
    want_emergency = {c["emergency_phone"] for t in teams
                      for c in primaries(info[t])}
    every_emergency = {c["emergency_phone"] for t in teams
                       for c in info[t]["contacts"] if c.get("emergency_phone")}
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url)
        ladder(inst, [("0s", ["primary:sms"]),
                      ("2s", ["primary:sms:emergency"])], "60s")
        if allowed:
            policy_flags(inst, exercise_emergency=True)
        inst.run("check", check=0)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams),
                                            status="Exercise"),
                                   signers=("desk-1",))
        accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                            alert)[0][0]
        # the store planned step 1 for every team two seconds on
        assert {s[:3] for s in states(inst, alert).values()} == {
            (0, "active", accepted + 2)}
        proc = serve_bg(inst, "emergency")
        try:
            # until the team states moved to step 1 and what step 1
            # sends (if anything) has reached the provider
            end = time.monotonic() + 12
            while time.monotonic() < end:
                moved = all(s[0] == 1 for s in states(inst, alert).values())
                sent = {sms_to(r) for r in p.requests() if is_sms(r)}
                if moved and mobiles <= sent and (
                        not allowed or want_emergency <= sent):
                    break
                time.sleep(0.1)
            # what step 1 planned has all gone: the store holds what the
            # provider will ever get for it
            inst.settled(alert)
        finally:
            stop(proc)
        reqs = [r for r in p.requests() if is_sms(r)]
    sent = [sms_to(r) for r in reqs]
    # step 0 went to the primary contacts' mobiles, as a drill
    assert set(sent) >= mobiles
    assert all(sms_text(r).startswith("tocsin: [EXERCISE]") for r in reqs)
    # every team moved to step 1 all the same, and it was audited
    st = states(inst, alert)
    assert set(st) == set(teams)
    for t in teams:
        assert st[t][0] == 1 and st[t][1] == "active", (t, st[t])
        assert escalations(inst, alert, t) == ["escalate"], t
    step1 = rows(inst, alert, "sms", step=1)
    if allowed:
        assert {r[4] for r in step1} == want_emergency
        assert all(r[5] == "sent" for r in step1), step1
        # each primary contact's emergency phone once, no other one
        assert sorted(n for n in sent if n in every_emergency) == \
            sorted(want_emergency)
    else:
        assert step1 == []
        assert not set(sent) & every_emergency, sent
        assert not [r for r in rows(inst, alert)
                    if r[4] in every_emergency]


# --- 3. exercise_quiet_hours ------------------------------------------------

def outside_hours(inst, team):
    """Business hours of every contact of team: two to three hours from now
    (UTC); returns the time they open."""
    now = int(time.time())
    m = (now // 60) % 1440
    hours(inst, team, f"{hhmm(m + 120)}-{hhmm(m + 180)}")
    return now - now % 60 + 120 * 60


def n_deliveries(inst, alert):
    return inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ?",
                    alert)[0][0]


def test_a_drill_waits_for_business_hours_when_the_policy_says(inst):
    team = pick_teams(inst, 1)[0][0]
    opens = outside_hours(inst, team)
    policy_flags(inst, exercise_quiet_hours=True)
    inst.run("check", check=0)
    drill = inst.submit_signed(inst.cap(addresses=team, status="Exercise",
                                        severity="Extreme"))
    step, state, deadline = states(inst, drill)[team][:3]
    assert (step, state) == (-1, "active")          # held
    assert abs(deadline - opens) <= 60, (deadline, opens)
    assert n_deliveries(inst, drill) == 0
    # a real Extreme alert to the same team, at the same hour, goes at once
    real = inst.submit_signed(inst.cap(addresses=team, status="Actual",
                                       severity="Extreme"))
    step, state = states(inst, real)[team][:2]
    assert (step, state) == (0, "active")
    assert n_deliveries(inst, real) > 0
    assert {r[1] for r in rows(inst, real)} == {0}


def test_without_exercise_quiet_hours_an_extreme_drill_goes_at_once(inst):
    team = pick_teams(inst, 1)[0][0]
    outside_hours(inst, team)
    drill = inst.submit_signed(inst.cap(addresses=team, status="Exercise",
                                        severity="Extreme"))
    step, state = states(inst, drill)[team][:2]
    assert (step, state) == (0, "active")
    assert n_deliveries(inst, drill) > 0
