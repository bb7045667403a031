"""Escalation along the ladder, with step delays of seconds: deadlines in
the store fired by serve within a second, an operator's ack that stops a
team's ladder, unreached teams at the end, and a step that fires once
across kill -9 and two serve processes."""
import collections
import http.client
import json
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN
from test_email import peer_for


def ladder(inst, steps, unreached_after, repeat=0):
    """Every policy's steps replaced by steps [(after, [targets])]."""
    body = "\n".join(
        f'      {{ after = "{a}"; notify = [ '
        + ", ".join(f'"{t}"' for t in ts) + " ]; },"
        for a, ts in steps).rstrip(",")
    text = inst.conf.read_text()
    text, n = re.subn(r"    steps = \(\n.*?\n    \);",
                      lambda m: f"    steps = (\n{body}\n    );\n"
                      f'    unreached_after = "{unreached_after}";'
                      + (f"\n    repeat = {repeat};" if repeat else ""),
                      text, flags=re.S)
    assert n >= 2
    inst.conf.write_text(text)


def on_failure(inst, value):
    """Every policy's on_failure set."""
    inst.on_failure(value)


@pytest.fixture
def peer(inst, tmp_path, pki):
    p = peer_for(inst, tmp_path, pki)
    yield p
    p.stop()


def serve_bg(inst, tag):
    log = open(inst.dir / f"serve-{tag}.log", "w")
    return subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve"],
                            stdout=log, stderr=subprocess.STDOUT)


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    proc.wait(timeout=60)


def states(inst, alert):
    return {r[0]: r[1:] for r in inst.sql(
        "SELECT team, step, state, deadline, ack_by, ack_via, ack_strength "
        "FROM team_states WHERE alert_id = ?", alert)}


def step_rows(inst, alert):
    return inst.sql("SELECT team, step, count(*), min(created) FROM "
                    "deliveries WHERE alert_id = ? GROUP BY team, step",
                    alert)


def test_ladder_moves_on_time_stops_on_ack_and_ends_unreached(inst, peer):
    """The one wall-clock smoke test of escalation: a real serve moves real
    ladders of seconds on the machine's clock, each step within a second
    of its time.  Every other ladder test asserts what the store planned
    (tests/unit/test_escalate.c moves a clock of its own)."""
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("3s", ["all:pgp-email"]),
                  ("6s", ["primary:pgp-email", "all:pgp-email"])], "3s")
    teams = inst.teams()[:6]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    proc = serve_bg(inst, "ladder")
    try:
        for t in teams[:2]:
            r = inst.run("ack", alert, t, "--by", "Duty officer Ann",
                         "--via", "phone", "--note", "called back", check=0)
            assert "acknowledged" in r.stdout
        # a repeat is recorded, and changes nothing
        r = inst.run("ack", alert, teams[0], "--by", "Bob", "--via",
                     "phone", check=0)
        assert "already" in r.stdout
        time.sleep(max(0.0, accepted + 10.5 - time.time()))
    finally:
        stop(proc)
    st = states(inst, alert)
    for t in teams[:2]:
        step, state, deadline, by, via, strength = st[t]
        assert (step, state, deadline) == (0, "acked", 0)
        assert (by, via, strength) == ("Duty officer Ann", "operator:phone",
                                       "unsigned")
    for t in teams[2:]:
        step, state, deadline, by, _, _ = st[t]
        assert (step, state, deadline, by) == (2, "unreached", 0, None), t
    rows = step_rows(inst, alert)
    for t in teams[:2]:
        assert {r[1] for r in rows if r[0] == t} == {0}
    for t in teams[2:]:
        steps = {r[1]: r for r in rows if r[0] == t}
        assert set(steps) == {0, 1, 2}, t
        # each step queued within a second of its time
        assert 0 <= steps[1][3] - (accepted + 3) <= 1, steps
        assert 0 <= steps[2][3] - (accepted + 6) <= 1, steps
    acts = [(a[2], a[4]) for a in inst.audit() if a[3] == alert]
    assert sum(1 for a in acts if a[0] == "ack") == 3
    for t in teams[2:]:
        mine = [a for a, d in acts if f"team={t} " in d]
        assert mine == ["escalate", "escalate", "unreached"], mine
    # the acked teams' mail went out at step 0 only
    assert inst.run("audit", "verify", check=0)


def test_a_step_fires_once_across_kill_9_and_two_serves(inst, peer):
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("4s", ["all:pgp-email"])], "60s")
    teams = inst.teams()[:5]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    proc = serve_bg(inst, "first")
    time.sleep(max(0.0, accepted + 2.5 - time.time()))
    stop(proc, signal.SIGKILL)
    assert {s[1] for s in states(inst, alert).values()} == {"active"}
    # down while the deadline passes; then two serves at once
    time.sleep(max(0.0, accepted + 5 - time.time()))
    procs = [serve_bg(inst, "second"), serve_bg(inst, "third")]
    t_restart = time.time()
    try:
        # until every team moved and what step 1 planned has gone
        end = time.monotonic() + 15
        while {s[0] for s in states(inst, alert).values()} != {1}:
            assert time.monotonic() < end, states(inst, alert)
            time.sleep(0.05)
        inst.settled(alert)
    finally:
        for p in procs:
            stop(p)
    st = states(inst, alert)
    assert {s[0] for s in st.values()} == {1}
    rows = step_rows(inst, alert)
    want = inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? "
                    "AND step = 1", alert)[0][0]
    assert want > 0
    for t in teams:
        r = [x for x in rows if x[0] == t and x[1] == 1]
        assert len(r) == 1
        # fired at the restart, once: as many deliveries as contacts
        n_contacts = len(re.findall(
            r"\{ name = ", (inst.dir / "teams.conf").read_text().split(
                f'{{ id = "{t}";')[1].split("\n  },")[0]))
        assert r[0][2] == n_contacts, (t, r)
        assert r[0][3] <= t_restart + 1.5
    esc = [a for a in inst.audit() if a[2] == "escalate" and a[3] == alert]
    assert len(esc) == len(teams)


def test_ack_of_an_unknown_team_changes_nothing(inst):
    alert = inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    r = inst.run("ack", alert, "zz-none", "--by", "X", "--via", "phone")
    assert r.returncode != 0 and "no team" in r.stderr
    r = inst.run("ack", alert, inst.teams()[0], "--by", "X\nY", "--via",
                 "phone")
    assert r.returncode == 64
    assert inst.sql("SELECT count(*) FROM acks")[0][0] == 0


def test_a_repeated_ladder_calls_again_then_ends_unreached(inst, peer):
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("1s", ["primary:pgp-email"])], "1s", repeat=1)
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    assert states(inst, alert)[team][:3] == (0, "active", accepted + 1)
    proc = serve_bg(inst, "repeat")
    try:
        # until the ladder ended and every call it made has gone
        end = time.monotonic() + 20
        while states(inst, alert)[team][1] != "unreached":
            assert time.monotonic() < end, states(inst, alert)
            time.sleep(0.05)
        inst.settled(alert)
    finally:
        stop(proc)
    rows = {r[1]: r for r in step_rows(inst, alert) if r[0] == team}
    # round 1 at +0 and +1, round 2 at +2 and +3, unreached at +4: each
    # step once, none early, each at least its gap after the one before
    # (test_escalate holds the times exactly on its own clock)
    assert sorted(rows) == [0, 1, 2, 3]
    assert [rows[k][2] for k in range(4)] == [1, 1, 1, 1]
    for step, gap in ((1, 1), (2, 1), (3, 1)):
        assert rows[step][3] >= accepted + step, (step, rows)
        assert rows[step][3] - rows[step - 1][3] >= gap, (step, rows)
    step, state, deadline = states(inst, alert)[team][:3]
    assert (step, state, deadline) == (3, "unreached", 0)
    # every call of the second round is a message of its own
    ids = [m["message_id"] for m in peer.messages()]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_an_unreached_team_pages_the_desk_once(inst, peer):
    ladder(inst, [("0s", ["primary:pgp-email"])], "2s")
    teams = inst.teams()[:3]
    desk = inst.teams()[5]
    inst.set_keys("gateway", desk_team=desk)
    assert inst.run("check").returncode == 0
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    inst.run("ack", alert, teams[0], "--by", "Ann", "--via", "phone",
             check=0)
    proc = serve_bg(inst, "desk")
    try:
        # until the desk was paged and its page has gone
        end = time.monotonic() + 15
        while desk not in states(inst, alert):
            assert time.monotonic() < end, states(inst, alert)
            time.sleep(0.05)
        inst.settled(alert)
        # the desk's link works like a team's
        c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
        c.request("GET", f"/ack/{inst.ack_token(alert, desk)}")
        r = c.getresponse()
        assert r.status == 200 and f"team <b><bdi>{desk}</bdi></b>" in r.read().decode()
        c.close()
    finally:
        stop(proc)
    st = states(inst, alert)
    assert st[teams[0]][1] == "acked"
    assert {st[t][1] for t in teams[1:]} == {"unreached"}
    # the desk's own on-call got the alert once, with a ladder of its own
    assert st[desk][0] == 0 and st[desk][1] in ("active", "unreached")
    rows = [r for r in step_rows(inst, alert) if r[0] == desk]
    assert len(rows) == 1 and rows[0][2] >= 1
    assert rows[0][3] >= accepted + 2
    # once: each of its contacts once, though two teams ended unreached
    dels = inst.sql("SELECT contact, channel FROM deliveries WHERE "
                    "alert_id = ? AND team = ?", alert, desk)
    assert len(dels) == len(set(dels)) == rows[0][2]
    # and the unreached teams themselves get nothing more
    assert {r[1] for r in step_rows(inst, alert) if r[0] != desk} == {0}
    assert sum(r[2] for r in step_rows(inst, alert) if r[0] != desk) == \
        len(inst.sql("SELECT 1 FROM deliveries WHERE alert_id = ? AND "
                     "team <> ? AND created <= ?", alert, desk, accepted + 1))
    pages = [a for a in inst.audit() if a[2] == "page-desk"]
    assert len(pages) == 1 and f"desk={desk}" in pages[0][4]
    # check names a desk_team that is no team
    inst.set_keys("gateway", desk_team="zz-none")
    r = inst.run("check")
    assert r.returncode != 0 and "desk_team" in r.stdout + r.stderr


def test_a_step_that_fails_on_every_channel_moves_on_at_once(
        inst, tmp_path, pki):
    """Every delivery of a team's step dead (the relay refuses its
    addresses): the team moves to its next step at once, not after the
    step's minute, and on to unreached when that step fails too, with the
    trigger in status, report and audit.  A team whose mail went, and the
    attacker's version of the same outage (one address refused, another
    accepted), keep their step's time."""
    ladder(inst, [("0s", ["all:pgp-email"]), ("60s", ["all:pgp-email"])],
           "60s")
    on_failure(inst, "next")
    teams = inst.teams()[:8]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]
    addrs = {}
    for team, addr in inst.sql("SELECT team, address FROM deliveries WHERE "
                               "alert_id = ? ORDER BY id", alert):
        addrs.setdefault(team, []).append(addr)
    bad = teams[0]
    partial = next(t for t in teams[1:] if len(addrs[t]) >= 2)
    good = next(t for t in teams[1:] if t != partial)
    # bad: every address refused; partial: only its first contact's
    peer = peer_for(inst, tmp_path, pki,
                    reject=[re.escape(a) + "$" for a in addrs[bad]] +
                    [re.escape(addrs[partial][0]) + "$"])
    try:
        proc = serve_bg(inst, "failed")
        try:
            end = time.monotonic() + 20
            while states(inst, alert)[bad][1] != "unreached":
                assert time.monotonic() < end, states(inst, alert)
                time.sleep(0.1)
            took = time.time() - accepted
            inst.settled(alert)
        finally:
            stop(proc)
        got = {a for m in peer.messages() for a in m["rcpt_tos"]}
    finally:
        peer.stop()
    # the peer got the others' mail, and none of the refused addresses
    assert set(addrs[good]) <= got and set(addrs[partial][1:]) <= got
    assert not (set(addrs[bad]) | {addrs[partial][0]}) & got
    st = states(inst, alert)
    # two steps of a minute each passed in seconds
    assert took < 20
    assert st[bad][:2] == (1, "unreached")
    assert st[good][:2] == (0, "active") and st[partial][:2] == (0, "active")
    assert st[good][2] >= accepted + 60 and st[partial][2] >= accepted + 60
    # the refused team's two steps were both tried and both died
    dead = inst.sql("SELECT step, state FROM deliveries WHERE alert_id = ? "
                    "AND team = ?", alert, bad)
    assert {s for s, _ in dead} == {0, 1}, dead
    assert {d for _, d in dead} == {"dead"}
    acts = [(a[2], a[4]) for a in inst.audit() if a[3] == alert]
    mine = [(a, d) for a, d in acts if f"team={bad} " in d]
    assert [a for a, _ in mine] == ["escalate", "unreached"], mine
    assert all(" why=failed" in d for _, d in mine), mine
    assert not [d for a, d in acts if a == "escalate" and
                f"team={bad} " not in d]
    # status says why, in words and in JSON
    text = inst.run("status", alert, check=0).stdout
    line = [x for x in text.splitlines() if x.startswith(bad + " ")]
    assert line and "(step 1 failed on every channel)" in line[0], text
    j = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    why = {t["team"]: t["why"] for t in j["teams"]}
    assert why[bad] == "step 1 failed on every channel"
    assert why[partial] is None and why[good] is None
    rep = json.loads(inst.run("report", alert, "--format", "json",
                              check=0).stdout)
    trig = [e for e in rep["escalations"] if e["team"] == bad]
    assert len(trig) == 1 and trig[0]["trigger"].startswith(
        "step 0 failed on every channel"), trig
    assert inst.run("audit", "verify", check=0)


def test_on_failure_wait_keeps_the_steps_time(inst, tmp_path, pki):
    """on_failure = "wait": the same refused team waits out its step."""
    ladder(inst, [("0s", ["all:pgp-email"]), ("60s", ["all:pgp-email"])],
           "60s")
    on_failure(inst, "wait")
    assert inst.run("check").returncode == 0
    bad = inst.teams()[0]
    peer = peer_for(inst, tmp_path, pki,
                    reject=[re.escape(f"@irt.{bad}.example") + "$"])
    try:
        alert = inst.submit_signed(inst.cap(addresses=bad))
        accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                            alert)[0][0]
        proc = serve_bg(inst, "wait")
        try:
            end = time.monotonic() + 20
            while inst.sql("SELECT count(*) FROM deliveries WHERE "
                           "alert_id = ? AND state <> 'dead'", alert)[0][0]:
                assert time.monotonic() < end
                time.sleep(0.1)
            time.sleep(3)
        finally:
            stop(proc)
    finally:
        peer.stop()
    assert states(inst, alert)[bad][:3] == (0, "active", accepted + 60)
    assert not [a for a in inst.audit() if a[3] == alert and
                a[2] in ("escalate", "unreached")]
    # a value that is not known is refused, naming the remedy
    inst.conf.write_text(inst.conf.read_text().replace(
        'on_failure = "wait";', 'on_failure = "later";', 1))
    r = inst.run("check")
    assert r.returncode != 0 and 'use "next"' in r.stdout + r.stderr


# --- a burst: more teams due at once than one store batch (500) ------------

# 7 alerts to every team: 560 ladders at 80 teams, more than a batch
BURST_ALERTS = 7


def burst_setup(inst, p, step1_after=8, parallel=16):
    """Alerts to every team whose step 0 (primary:sms) and step 1
    (primary:sms again, step1_after seconds on) go through the provider p,
    and a step 2 an hour on; returns (alerts, the time every step 1 is
    due by)."""
    from test_sms import configure as sms_configure
    sms_configure(inst, p.url, step0='[ "primary:sms" ]', parallel=parallel,
                  rate=5000, burst=5000)
    ladder(inst, [("0s", ["primary:sms"]),
                  (f"{step1_after}s", ["primary:sms"]),
                  ("1h", ["primary:sms"])], "1h")
    teams = inst.teams()
    alerts = [inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                 signers=("desk-1",))
              for _ in range(BURST_ALERTS)]
    last = inst.sql("SELECT max(received) FROM alerts")[0][0]
    return alerts, last + step1_after


def sms_sids(p):
    """How many accepted requests the provider holds per message sid."""
    return collections.Counter(r["sid"] for r in p.requests()
                               if r.get("status") == 201 and r.get("sid"))


def burst_rows(inst):
    return inst.sql("SELECT alert_id, team, step, state, provider_ref FROM "
                    "deliveries WHERE step = 1 ORDER BY id")


def test_a_burst_moves_every_team_once_and_an_ack_stops_its_team(
        inst, tmp_path, pki):
    """560 ladders due at the same second: each team is moved once and
    its step's SMS reaches the provider once; five teams acked while the
    burst is sent end acked, get nothing of the step after, and nothing
    of step 1 that was not sent before their ack."""
    from smsprovider import SmsProvider
    from test_sms import ACCOUNT, TOKEN
    d = pki["dir"]
    with SmsProvider(tmp_path / "sms", accounts={ACCOUNT: TOKEN},
                     cert=d / pki["server_cert"],
                     key=d / pki["server_key"]) as p:
        alerts, due = burst_setup(inst, p)
        ladders = len(alerts) * len(inst.teams())
        assert ladders > 500
        # every answer takes a little, so that the burst is still being
        # sent when the acks come
        p.set_faults([{"action": "delay", "seconds": 0.02, "count": -1,
                       "endpoint": "messages"}])
        time.sleep(max(0.0, due + 1.2 - time.time()))
        acked = inst.teams()[-5:]
        proc = serve_bg(inst, "burst")
        try:
            for t in acked:
                inst.run("ack", alerts[-1], t, "--by", "Duty officer Ann",
                         "--via", "phone", check=0)
            for a in alerts:
                inst.settled(a, timeout=120)
        finally:
            stop(proc)
        sids = sms_sids(p)
        nreq = sum(sids.values())
    rows = burst_rows(inst)
    moved = {(r[0], r[1]) for r in rows}
    esc = collections.Counter((a[3], a[4].split()[0]) for a in inst.audit()
                              if a[2] == "escalate")
    # every team moved once: one step-1 delivery and one escalate record
    # each, the acked teams excepted when their ack came first
    assert len(rows) == len(moved)
    assert ladders - len(acked) <= len(moved) <= ladders
    assert all(n == 1 for n in esc.values()), esc.most_common(3)
    assert len(esc) == len(moved)
    # every step-1 SMS of a team not acked reached the provider once
    for a, t, _, state, ref in rows:
        if a == alerts[-1] and t in acked:
            continue
        assert state == "sent", (a, t, state)
        assert sids[ref.split(":", 1)[1]] == 1, (a, t, ref)
    # an acked team: acked, nothing of step 2, and a step-1 SMS only if it
    # was recorded sent (never one cancelled and sent all the same)
    st = states(inst, alerts[-1])
    for t in acked:
        assert st[t][1] == "acked", (t, st[t])
        mine = [r for r in rows if r[0] == alerts[-1] and r[1] == t]
        for _, _, _, state, ref in mine:
            assert state in ("sent", "cancelled"), (t, state)
            assert (ref is not None and sids[ref.split(":", 1)[1]] == 1) \
                == (state == "sent"), (t, state, ref)
    assert inst.sql("SELECT count(*) FROM deliveries WHERE step = 2")[0][0] \
        == 0
    # no request the store does not hold as sent: nothing went twice
    sent = inst.sql("SELECT count(*) FROM deliveries WHERE state = 'sent'")
    assert nreq == sent[0][0]
    # the burst was moved at its deadline, not spread over later ticks
    first, last = inst.sql("SELECT min(created), max(created) FROM "
                           "deliveries WHERE step = 1")[0]
    assert last - first <= 1, (first, last)
