"""tocsin verify-contacts: a check of contacts (an alert of status System
made by the gateway, no ladder, never an emergency number) that each
contact confirms for itself through the usual ack paths; exactly those
who did not answer are stale, in verify-contacts --stale, check and
status."""
import json
import re
import subprocess
import time

from smsprovider import post_status_callback
from test_acklink import request
from test_ackreply import listening, primary, stopped
from test_escalation import ladder
from test_ingestmail import contact, gpg_sign, ingest
from test_sms import ACCOUNT, TOKEN, configure, provider


def contacts(inst, team):
    """Names and phone numbers of every contact of team."""
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    names = re.findall(r'\{ name = "([^"]+)";', block)
    phones = set(re.findall(r'"(\+\d+)"', block))
    emergency = set(re.findall(r'emergency_phone = "(\+\d+)"', block))
    return names, phones, emergency


def test_a_check_marks_exactly_the_silent_contacts_stale(inst, tmp_path,
                                                         pki, verify_home):
    from conftest import BIN
    inst.bin = BIN
    teams = [t for t in inst.teams() if len(contacts(inst, t)[0]) >= 2][:3]
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        ladder(inst, [("0s", ["primary:sms"]),
                      ("2s", ["all:sms:emergency"])], "2s")
        r = inst.run("verify-contacts", *teams, check=0)
        alert = r.stdout.strip()
        assert "queued" in r.stderr
        rows = inst.sql("SELECT team, channel, contact, address FROM "
                        "deliveries WHERE alert_id = ?", alert)
        for t in teams:
            names, _, emergency = contacts(inst, t)
            mine = [x for x in rows if x[0] == t]
            # every contact, on its everyday endpoints only
            assert {x[2] for x in mine} == set(names)
            assert not {x[3] for x in mine} & emergency
        assert inst.sql("SELECT DISTINCT deadline, state FROM team_states "
                        "WHERE alert_id = ?", alert) == [(0, "active")]
        assert inst.sql("SELECT status FROM alerts WHERE id = ?",
                        alert) == [("System",)]
        # no issuer wrote it: the gateway signed it in its own name
        (issuer, kind, sig), = inst.sql("SELECT issuer, kind, sig FROM "
                                        "signatures WHERE alert_id = ?",
                                        alert)
        assert (issuer, kind) == ("gateway", "openpgp")
        capdoc, = inst.sql("SELECT cap FROM alerts WHERE id = ?", alert)[0]
        (tmp_path / "c.xml").write_bytes(capdoc)
        (tmp_path / "c.asc").write_bytes(sig)
        v = subprocess.run(["gpg", "--homedir", str(verify_home), "--batch",
                            "--status-fd", "1", "--verify",
                            str(tmp_path / "c.asc"), str(tmp_path / "c.xml")],
                           capture_output=True, text=True)
        assert "[GNUPG:] VALIDSIG" in v.stdout, v.stderr
        proc = listening(inst)
        try:
            deadline = time.time() + 20
            while time.time() < deadline and inst.sql(
                    "SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                    "channel = 'sms' AND state = 'sent'", alert)[0][0] < \
                    sum(1 for x in rows if x[1] == "sms"):
                time.sleep(0.1)
            # team 0's primary by SMS reply
            n0, m0 = primary(inst, teams[0])
            url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"
            assert post_status_callback(url, TOKEN, {
                "MessageSid": "SM" + "2" * 32, "AccountSid": ACCOUNT,
                "From": m0, "To": "+15555550100",
                "Body": f"ACK {inst.ack_code(alert, teams[0])}"}) == 200
            # team 1: one contact by link with their name, one wrong name
            n1 = contacts(inst, teams[1])[0][1]
            path = f"/ack/{inst.ack_token(alert, teams[1])}"
            st, _, page = request(inst, "POST", path, {"name": n1})
            assert st == 200 and "Confirmed" in page
            st, _, page = request(inst, "POST", path,
                                  {"name": "Somebody Else"})
            assert st == 200 and "Nothing was confirmed" in page
            # team 2's primary by a signed e-mail reply with the code
            n2, _, fpr2 = contact(inst, teams[2])
            body = gpg_sign(inst, "contacts_home", fpr2, (
                f"Confirmed. ACK {inst.ack_code(alert, teams[2])}\n"
            ).encode(), "--clearsign")
            em2 = contact(inst, teams[2])[1]
            res = ingest(inst, f"From: {em2}\nSubject: Re: check\n\n"
                         .encode() + body)
            assert res.returncode == 0, res.stderr
            time.sleep(3)       # past the ladder's 2 s: a check has none
        finally:
            stopped(proc)
    # no escalation, no emergency number, nobody's ladder moved
    assert inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                    "step > 0", alert) == [(0,)]
    assert inst.sql("SELECT DISTINCT state FROM team_states WHERE "
                    "alert_id = ?", alert) == [("active",)]
    confirmed = {(teams[0], n0), (teams[1], n1), (teams[2], n2)}
    assert set(inst.sql("SELECT team, contact FROM contact_checks")) == \
        confirmed
    r = inst.run("verify-contacts", "--stale", "--json", check=0)
    stale = {(s["team"], s["contact"]) for s in json.loads(r.stdout)["stale"]}
    everyone = {(t, n) for t in teams for n in contacts(inst, t)[0]}
    assert stale & everyone == everyone - confirmed
    assert not stale & confirmed
    # check warns of each stale contact at its line, and of no other
    chk = inst.run("check").stdout
    for t, n in everyone - confirmed:
        assert f"contact {n} of team {t} is stale" in chk
    for t, n in confirmed:
        assert f"contact {n} of team {t} is stale" not in chk
    assert re.search(r"\d+ of \d+ contacts are stale",
                     inst.run("status", check=0).stdout)
    acts = [a[2] for a in inst.audit() if a[3] == alert]
    assert acts.count("verify") == 4        # three confirmed, one not
