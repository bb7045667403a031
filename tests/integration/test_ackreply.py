"""Acks by SMS reply and by voice keypress, posted to serve's listener as
Twilio posts them (signed), after real calls and messages through the
Twilio-compatible test provider."""
import re
import signal
import subprocess
import xml.etree.ElementTree as ET

from conftest import BIN
from smsprovider import post_status_callback
from test_sms import ACCOUNT, TOKEN, configure, provider, sms_rows, wait_port




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


def listening(inst):
    p = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                          "--quiet"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    wait_port(inst.port)
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
