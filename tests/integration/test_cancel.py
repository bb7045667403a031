"""A signed CAP Cancel stops every ladder of the alert it references and
tells the teams already reached; an Update goes to the same teams and
replaces the earlier ladders.  Against the real SMTP peer, with step
delays of seconds."""
import json
import re
import time

import pytest

from test_email import peer_for
from test_escalation import (ladder, on_failure, peer,  # noqa: F401
                             serve_bg, states, stop)


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
    who = primary_email(inst, inst.teams()[3])
    p = peer_for(inst, tmp_path, pki, reject=[re.escape(who)])
    yield p
    p.stop()


def test_cancel_stops_the_ladders_and_tells_those_reached(inst,
                                                          refusing_peer):
    peer = refusing_peer
    # step 1 comes 30 s on: far enough that a loaded machine still
    # cancels before it, near enough to be a real deadline
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("30s", ["all:pgp-email"])], "60s")
    # the refused team's step stays its time (on_failure "next" would
    # move it on at once: test_escalation.py), so the Cancel finds it at
    # step 0 with its one delivery dead
    on_failure(inst, "wait")
    teams = inst.teams()[:4]
    alert, ref = submit(inst, addresses=" ".join(teams))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    # step 0 reaches the first three teams; the fourth's relay refuses
    t0 = time.time()
    inst.serve()
    # it ends with step 0 done, not waiting for step 1's deadline
    assert time.time() - t0 < 20, f"serve took {time.time() - t0:.1f} s"
    inst.run("ack", alert, teams[0], "--by", "Ann", "--via", "phone",
             check=0)
    cancel, _ = submit(inst, msg_type="Cancel", references=ref,
                       addresses=" ".join(teams))
    # the earlier alert's ladders stopped, its waiting delivery cancelled
    st = states(inst, alert)
    assert st[teams[0]][1] == "acked"
    assert {st[t][1] for t in teams[1:]} == {"cancelled"}
    assert all(st[t][2] == 0 for t in teams)
    assert time.time() < accepted + 30      # before step 1 was due
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
        inst.settled(cancel)
    finally:
        stop(proc)
    # no step 1 of the cancelled alert, ever: the store plans no next
    # step for any of its teams, and serve queued none; the Cancel itself
    # went out and has no ladder either
    assert {t: p[1:] for t, p in inst.planned(alert).items()} == {
        teams[0]: ("acked", None),
        **{t: ("cancelled", None) for t in teams[1:]}}
    assert {p[2] for p in inst.planned(cancel).values()} == {None}
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


# --- a Cancel or an Update needs the authority of what it stops ----------

EX_NOPERM = 77


def refused(inst, doc, signers, *reasons, name="stop.xml"):
    """Submit doc signed by signers; it must be refused with exit 77, audited,
    and leave the store as it was."""
    before, audit_before = inst.counts(), len(inst.audit())
    a = inst.write(name, doc)
    sigs = []
    for s in signers:
        sigs += ["--sig", inst.gpg_sign(a, s)]
    p = inst.run("submit", a, *sigs)
    assert p.returncode == EX_NOPERM, p.stderr
    for r in reasons:
        assert r in p.stderr, p.stderr
    assert p.stdout == ""
    assert inst.counts() == before, "a refused message changed the store"
    audit = inst.audit()
    assert len(audit) == audit_before + 1
    assert audit[-1][2] == "refuse" and "exit=77" in audit[-1][4]
    for r in reasons:
        assert r in audit[-1][4]
    return p


def extreme_to_all(inst):
    """An Extreme alert to every team, signed by its two issuers (the quorum
    of the generated repository)."""
    alert, ref = submit(inst, severity="Extreme", addresses="all")
    assert sorted(states(inst, alert)) == sorted(inst.teams())
    return alert, ref


def all_active(inst, alert):
    st = states(inst, alert)
    assert sorted(st) == sorted(inst.teams())
    assert {v[1] for v in st.values()} == {"active"}, \
        "a ladder of the alert was stopped"
    assert all(v[2] > 0 for v in st.values()), "a ladder lost its deadline"


def test_one_issuer_cannot_cancel_what_took_two(inst, peer):
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("10m", ["all:pgp-email"])], "60m")
    alert, ref = extreme_to_all(inst)
    # a Cancel without <info> is severity Unknown, which alone needs one
    # issuer; the alert it cancels needed two
    cancel = inst.cap(msg_type="Cancel", references=ref, addresses="all",
                      infos=[])
    p = refused(inst, cancel, ["desk-1"], "quorum not met",
                f"the alert it cancels, {alert}", "of severity Extreme",
                "quorum rule 1")
    assert "needs 2 distinct issuers" in p.stderr
    all_active(inst, alert)
    # the teams hear of the alert and of nothing else
    inst.serve()
    msgs = peer.messages()
    sent = inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                    "state = 'sent'", alert)[0][0]
    assert sent == len(inst.teams()) and len(msgs) == sent
    assert all(m["message_id"].startswith(f"<tocsin.{alert}.") for m in msgs)
    all_active(inst, alert)
    st = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    assert len(st["teams"]) == len(inst.teams())
    assert {t["state"] for t in st["teams"]} == {"active"}
    # replaying the refused Cancel with the same single signature is no
    # better the second time
    refused(inst, cancel, ["desk-1"], "quorum not met", name="again.xml")
    # two issuers may cancel it
    a = inst.write("stop2.xml", cancel)
    c = inst.run("submit", a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                 inst.gpg_sign(a, "desk-2"), check=0).stdout.strip()
    assert {v[1] for v in states(inst, alert).values()} == {"cancelled"}
    assert sorted(states(inst, c)) == sorted(inst.teams())


def test_one_issuer_cannot_replace_an_extreme_alert_by_a_minor_update(inst):
    alert, ref = extreme_to_all(inst)
    update = inst.cap(msg_type="Update", references=ref, addresses="all",
                      severity="Minor")
    refused(inst, update, ["desk-2"], "quorum not met",
            f"the alert it updates, {alert}")
    all_active(inst, alert)
    a = inst.write("u2.xml", update)
    u = inst.run("submit", a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                 inst.gpg_sign(a, "desk-2"), check=0).stdout.strip()
    assert {v[1] for v in states(inst, alert).values()} == {"updated"}
    assert {v[1] for v in states(inst, u).values()} == {"active"}


def narrow(inst, issuer, teams):
    conf = inst.conf.read_text()
    start = conf.index(f'name = "{issuer}"')
    end = conf.index("}", start)
    seg = re.sub(r'may_address\s*=\s*\[[^\]]*\]', "may_address = [ " +
                 ", ".join(f'"{t}"' for t in teams) + " ]", conf[start:end])
    inst.conf.write_text(conf[:start] + seg + conf[end:])
    inst.run("check", check=0)


def test_an_issuer_cannot_cancel_outside_its_scope(inst):
    teams = inst.teams()
    narrow(inst, "desk-2", [teams[0]])
    a = inst.write("a.xml", inst.cap(addresses=f"{teams[0]} {teams[1]}"))
    alert = inst.run("submit", a, "--sig", inst.gpg_sign(a, "desk-1"),
                     check=0).stdout.strip()
    ident = re.search(r"<identifier>([^<]+)", a.read_text()).group(1)
    sent = re.search(r"<sent>([^<]+)", a.read_text()).group(1)
    ref = f"desk@dns-cert.example,{ident},{sent}"
    # desk-2 may address teams[0], which is all its Cancel names; but the
    # alert it would stop reaches teams[1] too
    cancel = inst.cap(msg_type="Cancel", references=ref, addresses=teams[0],
                      infos=[])
    refused(inst, cancel, ["desk-2"], f"issuer desk-2 may not address team "
            f"'{teams[1]}' of the alert it cancels, {alert}")
    assert {v[1] for v in states(inst, alert).values()} == {"active"}
    # a signature by someone allowed lends desk-2 no authority (an
    # Extreme alert to all: two issuers needed, one counts)
    d = inst.write("big.xml", inst.cap(severity="Extreme", addresses="all"))
    big = inst.run("submit", d, "--sig", inst.gpg_sign(d, "desk-1"), "--sig",
                   inst.cms_sign(d), check=0).stdout.strip()
    ident = re.search(r"<identifier>([^<]+)", d.read_text()).group(1)
    sent = re.search(r"<sent>([^<]+)", d.read_text()).group(1)
    bigref = f"desk@dns-cert.example,{ident},{sent}"
    c2 = inst.cap(msg_type="Cancel", references=bigref, addresses=teams[0],
                  infos=[])
    refused(inst, c2, ["desk-1", "desk-2"], "quorum not met",
            f"also: issuer desk-2 may not address team", name="c2.xml")
    all_active(inst, big)
    # desk-1, whose scope is all, cancels the first alert
    b = inst.write("c.xml", cancel)
    inst.run("submit", b, "--sig", inst.gpg_sign(b, "desk-1"), check=0)
    st = states(inst, alert)
    assert st[teams[0]][1] == "cancelled" and st[teams[1]][1] == "active"


def test_status_open_lists_the_alerts_a_team_still_owes_an_ack_for(inst):
    """`status --open` on a store with an acked alert, a cancelled one, its
    Cancel, a check of contacts and an open alert: only the open one is
    listed, in text and in JSON, with the count of those left out; plain
    `status` still lists all five.  Once its last team acks, none is open.
    --open with an alert id is a usage error."""
    t = inst.teams()[:4]
    acked, _ = submit(inst, addresses=t[0])
    inst.run("ack", acked, t[0], "--by", "Ann", "--via", "phone", check=0)
    gone, ref = submit(inst, addresses=t[1])
    cancel, _ = submit(inst, msg_type="Cancel", references=ref,
                       addresses=t[1])
    inst.run("verify-contacts", t[2], check=0)
    open_, _ = submit(inst, addresses=f"{t[2]} {t[3]}")

    every = json.loads(inst.run("status", "--json", check=0).stdout)
    ids = [a["id"] for a in every["alerts"]]
    assert len(ids) == 5 and {acked, gone, cancel, open_} < set(ids), ids
    check = (set(ids) - {acked, gone, cancel, open_}).pop()
    assert inst.sql("SELECT DISTINCT state FROM team_states WHERE "
                    "alert_id = ?", check) == [("checking",)]

    got = json.loads(inst.run("status", "--open", "--json", check=0).stdout)
    assert [a["id"] for a in got["alerts"]] == [open_], got
    assert got["alerts"][0]["team_states"]["active"] == 2
    text = inst.run("status", "--open", check=0).stdout
    listed = {i for i in ids if i in text}
    assert listed == {open_}, text
    assert "1 open of 5 alerts" in text, text
    # the plain list is unchanged: all five
    text = inst.run("status", check=0).stdout
    assert {i for i in ids if i in text} == set(ids), text

    for team in t[2:]:
        inst.run("ack", open_, team, "--by", "Bo", "--via", "phone",
                 check=0)
    got = json.loads(inst.run("status", "--open", "--json", check=0).stdout)
    assert got["alerts"] == [], got
    assert inst.run("status", "--open", check=0).stdout.startswith(
        "no open alerts (5 closed"), "no open alert expected"
    # --open chooses alerts of the list, not teams of one alert
    r = inst.run("status", open_, "--open", check=64)
    assert "usage: tocsin status" in r.stderr
