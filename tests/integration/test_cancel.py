"""A signed CAP Cancel stops every ladder of the alert it references and
tells the teams already reached; an Update goes to the same teams and
replaces the earlier ladders.  Against the real SMTP peer, with step
delays of seconds."""
import re
import time

import pytest

from smtppeer import SmtpPeer
from test_escalation import ladder, peer, serve_bg, states, stop  # noqa: F401


def submit(inst, **kw):
    doc = inst.cap(**kw)
    alert = inst.submit_signed(doc)
    ident = next(line.split(">")[1].split("<")[0] for line in doc.splitlines()
                 if "<identifier>" in line)
    sent = next(line.split(">")[1].split("<")[0] for line in doc.splitlines()
                if "<sent>" in line)
    return alert, f"desk@dns-cert.example,{ident},{sent}"


def primary_email(inst, team):
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    c = re.search(r'primary = true;(?:(?!\n      \}).)*', block, re.S).group(0)
    return re.search(r'email = "([^"]+)"', c).group(1)


@pytest.fixture
def refusing_peer(inst, tmp_path, pki):
    """The SMTP peer, refusing the fourth team's primary contact."""
    d = pki["dir"]
    who = primary_email(inst, inst.teams()[3])
    p = SmtpPeer(tmp_path, cert=d / pki["server_cert"],
                 key=d / pki["server_key"], reject=[re.escape(who)]).start()
    inst.set_keys("smtp", port=p.port)
    yield p
    p.stop()


def test_cancel_stops_the_ladders_and_tells_those_reached(inst,
                                                          refusing_peer):
    peer = refusing_peer
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("5s", ["all:pgp-email"])], "60s")
    teams = inst.teams()[:4]
    alert, ref = submit(inst, addresses=" ".join(teams))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    # step 0 reaches the first three teams; the fourth's relay refuses
    t0 = time.time()
    inst.serve()
    assert time.time() - t0 < 4, f"serve took {time.time() - t0:.1f} s"
    inst.run("ack", alert, teams[0], "--by", "Ann", "--via", "phone",
             check=0)
    cancel, _ = submit(inst, msg_type="Cancel", references=ref,
                       addresses=" ".join(teams))
    # the earlier alert's ladders stopped, its waiting delivery cancelled
    st = states(inst, alert)
    assert st[teams[0]][1] == "acked"
    assert {st[t][1] for t in teams[1:]} == {"cancelled"}
    assert all(st[t][2] == 0 for t in teams)
    assert time.time() < accepted + 5       # before step 1 was due
    assert inst.sql("SELECT state FROM deliveries WHERE alert_id = ? AND "
                    "team = ?", alert, teams[3]) == [("dead",)]
    # the Cancel goes to the three reached teams, acked one included, and
    # has no ladder of its own
    cs = states(inst, cancel)
    assert sorted(cs) == sorted(teams[:3])
    assert all(v[2] == 0 for v in cs.values())
    n_before = len(peer.messages())
    proc = serve_bg(inst, "cancel")
    try:
        time.sleep(max(2.0, accepted + 7 - time.time()))
    finally:
        stop(proc)
    # no step 1 of the cancelled alert, ever; the Cancel itself went out
    assert inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? "
                    "AND step > 0", alert)[0][0] == 0
    sent = inst.sql("SELECT team, state FROM deliveries WHERE alert_id = ?",
                    cancel)
    assert sorted(t for t, s in sent) == sorted(teams[:3])
    assert {s for t, s in sent} == {"sent"}
    assert len(peer.messages()) - n_before == 3
    audit = [a for a in inst.audit() if a[2] == "submit" and a[3] == cancel]
    assert f"cancelled={alert}" in audit[0][4]
    assert not [a for a in inst.audit() if a[2] == "escalate"]


def test_update_goes_to_the_same_teams(inst, peer):
    teams = inst.teams()[:3]
    alert, ref = submit(inst, addresses=" ".join(teams))
    update, _ = submit(inst, msg_type="Update", references=ref,
                       addresses="all")
    assert sorted(states(inst, update)) == sorted(teams)
    assert {v[1] for v in states(inst, alert).values()} == {"updated"}
    assert {v[1] for v in states(inst, update).values()} == {"active"}
    assert all(v[2] > 0 for v in states(inst, update).values())


def test_cancel_of_an_unknown_alert_is_refused(inst):
    r = inst.run("submit", inst.write("c.xml", inst.cap(
        msg_type="Cancel", references="desk@dns-cert.example,NOPE,"
        "2026-01-01T00:00:00-00:00")), "--sig", "/dev/null")
    assert r.returncode != 0
    doc = inst.cap(msg_type="Cancel", references="desk@dns-cert.example,"
                   "NOPE,2026-01-01T00:00:00-00:00")
    a = inst.write("c2.xml", doc)
    r = inst.run("submit", a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                 inst.gpg_sign(a, "desk-2"))
    assert r.returncode == 65
    assert "references no alert this gateway accepted" in r.stderr
    assert inst.counts()["alerts"] == 0
