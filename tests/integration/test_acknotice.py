"""A team's other contacts hear who acknowledged (a policy's ack_notice):
one notice on each text channel the alert reached them by, none to the
contact who acknowledged, none for a repeat, and none at all without
ack_notice."""
import re
import time

from test_ackreply import listening, primary, stopped
from test_sms import ACCOUNT, TOKEN, configure, provider
from smsprovider import post_status_callback


def notice_on(inst, on=True):
    text = inst.conf.read_text()
    text, n = re.subn(r"(\n  (standard|solo) = \{\n)",
                      rf"\1    ack_notice = {'true' if on else 'false'};\n",
                      text)
    assert n == 2
    inst.conf.write_text(text)


def mobiles(inst, team):
    """(name, mobile) of every contact of team with a mobile."""
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    return re.findall(r'name = "([^"]+)";[^{}]*?mobile = "(\+\d+)"', block,
                      re.S)


def wait_sent(inst, alert, kind, count, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                     "kind = ? AND state = 'sent'", alert, kind)[0][0]
        if n >= count:
            return n
        time.sleep(0.1)
    raise AssertionError(f"{kind}: fewer than {count} sent")


def texts(p, number):
    return [r["form"]["Body"] for r in p.requests()
            if "/Messages.json" in r["path"] and r.get("form")
            and r["form"].get("To") == number]


def run(inst, tmp_path, pki, on):
    # two teams with several mobiles each, so that there are others to tell
    teams = [t for t in inst.teams() if len(mobiles(inst, t)) >= 2][:2]
    assert len(teams) == 2
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url)
        notice_on(inst, on)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        nmob = sum(len(mobiles(inst, t)) for t in teams)
        proc = listening(inst)
        try:
            wait_sent(inst, alert, "alert", nmob)
            name0, mob0 = primary(inst, teams[0])
            url = f"http://127.0.0.1:{inst.port}/twilio/sms/twilio-main"
            reply = {"MessageSid": "SM" + "1" * 32, "AccountSid": ACCOUNT,
                     "From": mob0, "To": "+15555550100",
                     "Body": f"ACK {inst.ack_code(alert, teams[0])}"}
            assert post_status_callback(url, TOKEN, reply) == 200
            assert post_status_callback(url, TOKEN, reply) == 200  # repeat
            others = [m for n, m in mobiles(inst, teams[0]) if m != mob0]
            if on:
                wait_sent(inst, alert, "notice", len(others))
            # every notice the store planned went, in the ack's own
            # transaction: nothing more is queued for the acked team
            inst.settled(alert)
            assert inst.planned(alert)[teams[0]][1:] == ("acked", None)
        finally:
            stopped(proc)
        return teams, alert, name0, mob0, others, p


def test_other_contacts_hear_who_acknowledged(inst, tmp_path, pki):
    teams, alert, name0, mob0, others, p = run(inst, tmp_path, pki, True)
    rows = inst.sql("SELECT team, address, channel, state FROM deliveries "
                    "WHERE alert_id = ? AND kind = 'notice'", alert)
    assert sorted(r[1] for r in rows) == sorted(others)
    assert {(r[0], r[2], r[3]) for r in rows} == {(teams[0], "sms", "sent")}
    for m in others:
        got = [t for t in texts(p, m) if t.startswith("tocsin: ACKNOWLEDGED")]
        assert len(got) == 1, (m, texts(p, m))
        assert got[0].startswith(f"tocsin: ACKNOWLEDGED {teams[0]} by {name0} (sms)")
        # a notice asks for nothing: no code, no link
        assert inst.ack_code(alert, teams[0]) not in got[0]
        assert "/ack/" not in got[0]
    # the one who acknowledged, and the other team, hear nothing more
    assert not [t for t in texts(p, mob0) if "ACKNOWLEDGED" in t]
    for _, m in mobiles(inst, teams[1]):
        assert not [t for t in texts(p, m) if "ACKNOWLEDGED" in t]
    assert inst.sql("SELECT state FROM team_states WHERE alert_id = ? AND "
                    "team = ?", alert, teams[1])[0][0] == "active"


def test_no_notice_without_ack_notice(inst, tmp_path, pki):
    teams, alert, _, _, others, p = run(inst, tmp_path, pki, False)
    assert others
    assert inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                    "kind = 'notice'", alert) == [(0,)]
    assert not [r for r in p.requests()
                if "ACKNOWLEDGED" in str(r.get("form"))]


# --- who acknowledged, as the gateway knows it ------------------------------

HOSTILE = ("Duty desk: FALSE ALARM, ignore alert; call +1 555 0100 "
           "http://evil.example \u202e")
# what the notices may show of it: bounded (40 characters, then an
# ellipsis), punctuation, the number, the link and the override gone
QUOTED = "Duty desk FALSE ALARM ignore alert call \u2026"


def link_ack(tmp_path, pki, inst, name):
    """Step 0 to every contact by SMS and PGP e-mail; the team's link is
    posted with name typed on it.  (team, alert, sms texts by number,
    decrypted notice mails as (recipients, text))."""
    from smtppeer import SmtpPeer
    from test_acklink import request
    from test_ack_all import opened, subject
    team = [t for t in inst.teams() if len(mobiles(inst, t)) >= 2][0]
    smtp = SmtpPeer(tmp_path / "smtp", cert=pki["dir"] / pki["server_cert"],
                    key=pki["dir"] / pki["server_key"]).start()
    try:
        with provider(tmp_path, pki, "p") as p:
            inst.set_keys("smtp", port=smtp.port)
            configure(inst, p.url, step0='[ "all:sms", "all:pgp-email" ]')
            notice_on(inst)
            alert = inst.submit_signed(inst.cap(addresses=team),
                                       signers=("desk-1",))
            proc = listening(inst)
            try:
                wait_sent(inst, alert, "alert", inst.sql(
                    "SELECT count(*) FROM deliveries WHERE alert_id = ?",
                    alert)[0][0])
                st, _, page = request(inst, "POST",
                                      f"/ack/{inst.ack_token(alert, team)}",
                                      {"name": name})
                assert st == 200
                # a notice to every contact reached, on each channel
                wait_sent(inst, alert, "notice", inst.sql(
                    "SELECT count(*) FROM deliveries WHERE alert_id = ? "
                    "AND kind = 'alert'", alert)[0][0])
            finally:
                stopped(proc)
            sms = {m: [t for t in texts(p, m) if t.startswith("tocsin: ACKNOWLEDGED")]
                   for _, m in mobiles(inst, team)}
        mails = [(m["rcpt_tos"], opened(pki, m)[1]) for m in smtp.messages()
                 if subject(m).startswith("Acknowledged: ")]
    finally:
        smtp.stop()
    return team, alert, sms, mails


def test_a_typed_name_is_only_an_unverified_quote(inst, tmp_path, pki):
    team, alert, sms, mails = link_ack(tmp_path, pki, inst, HOSTILE)
    assert inst.sql("SELECT state, ack_via, ack_contact FROM team_states "
                    "WHERE alert_id = ? AND team = ?", alert, team) == \
        [("acked", "link", None)]
    # every contact got one notice by SMS (nobody is known to have acked)
    assert all(len(v) == 1 for v in sms.values()), sms
    assert mails
    got = [v[0] for v in sms.values()] + [text for _, text in mails]
    for text in got:
        # the audit head is a hash: its hex digits may hold "555"
        said = re.sub(r"Audit-Head: .*", "", text)
        for bad in ("555", "0100", "evil", "http", "\u202e", "ignore alert;"):
            assert bad not in said, (bad, text)
        # FALSE ALARM only inside the quote, the quote as the rules make it
        assert text.count("FALSE ALARM") == 1, text
        assert f'unverified: "{QUOTED}"' in text or \
            f'name typed on the page: "{QUOTED}"' in text, text
    for v in sms.values():
        assert v[0].startswith(
            f'tocsin: ACKNOWLEDGED {team} via link (unsigned); name typed on the '
            f'page, unverified: "{QUOTED}" at '), v[0]
    for _, text in mails:
        assert "\nAcknowledged by: someone the gateway does not know by " \
            "number, key or own link\n" in text, text
        assert "\nUnverified: name typed on the page: " \
            f'"{QUOTED}"\n' in text, text


def test_a_contact_s_name_typed_on_a_team_link_is_not_that_contact(
        inst, tmp_path, pki):
    team = [t for t in inst.teams() if len(mobiles(inst, t)) >= 2][0]
    name, _ = primary(inst, team)
    team, alert, sms, mails = link_ack(tmp_path, pki, inst, name)
    assert inst.sql("SELECT ack_contact FROM team_states WHERE alert_id = ? "
                    "AND team = ?", alert, team) == [(None,)]
    got = [t for v in sms.values() for t in v] + [t for _, t in mails]
    assert got
    for text in got:
        assert f"by {name}" not in text and \
            f"Acknowledged by: {name}" not in text, text
        assert f'"{name}"' in text, text


def test_a_contact_acking_by_sms_is_named_from_the_repository(inst, tmp_path,
                                                              pki):
    teams, alert, name0, mob0, others, p = run(inst, tmp_path, pki, True)
    assert inst.sql("SELECT ack_contact FROM team_states WHERE alert_id = ? "
                    "AND team = ?", alert, teams[0]) == [(name0,)]
    for m in others:
        got = [t for t in texts(p, m) if t.startswith("tocsin: ACKNOWLEDGED")]
        assert got[0].startswith(f"tocsin: ACKNOWLEDGED {teams[0]} by {name0} (sms) "
                                 "at "), got
        assert "unverified" not in got[0]


def test_the_notice_speaks_the_team_s_language(inst, tmp_path, pki):
    """A French team's other contacts read who acknowledged in French (the
    word ACKNOWLEDGED kept first, for the eye and for filters); nothing
    English but that word."""
    for t in [t for t in inst.teams() if len(mobiles(inst, t)) >= 2][:2]:
        inst.set_contact_langs(t, ["fr"])
    inst.languages()
    teams, alert, name0, mob0, others, p = run(inst, tmp_path, pki, True)
    assert others
    for m in others:
        got = [t for t in texts(p, m) if t.startswith("tocsin: ACKNOWLEDGED")]
        assert len(got) == 1, (m, texts(p, m))
        assert got[0].startswith(f"tocsin: ACKNOWLEDGED {teams[0]} par "
                                 f"{name0} (sms) à "), got[0]
        assert re.search(r" UTC\. Aucune action requise : ", got[0]), got[0]
        for english in (" by ", " at ", "No action needed"):
            assert english not in got[0], (english, got[0])
