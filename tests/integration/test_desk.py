"""The desk's controls from the command line: `escalate ALERT TEAM` moves a
silent team to its next step now (its deliveries planned, audited with who
ran it), never a team whose ladder has ended; `retry` makes dead
deliveries due again, and the peer then gets each once; `status` counts an
alert's teams by state and shows only those asked for."""
import json
import re

import pytest

from test_email import peer_for
from test_escalation import ladder, states, step_rows


def test_escalate_moves_one_team_now_and_is_audited(inst):
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("1h", ["all:pgp-email"])], "1h")
    teams = inst.teams()[:3]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    before = states(inst, alert)
    assert {t: s[:2] for t, s in before.items()} == {
        t: (0, "active") for t in teams}

    r = inst.run("escalate", alert, teams[1], check=0)
    assert f"team {teams[1]}, alert {alert}: no ack, step 2 now" in r.stdout
    after = states(inst, alert)
    # that team alone moved, its step's deliveries planned for now
    assert after[teams[1]][:2] == (1, "active")
    for t in (teams[0], teams[2]):
        assert after[t] == before[t]
    rows = {(t, s): n for t, s, n, _ in step_rows(inst, alert)}
    assert rows.get((teams[1], 1), 0) >= 1
    assert (teams[0], 1) not in rows and (teams[2], 1) not in rows
    # audited with the operator the system knows, not the one $USER names
    esc = [a for a in inst.audit() if a[2] == "escalate"]
    assert len(esc) == 1 and esc[0][3] == alert
    assert re.fullmatch(r"unix:[^()]+\(\d+\)", esc[0][1])
    inst.run("audit", "verify", check=0)

    # the last step done, the next escalate ends the ladder: unreached
    r = inst.run("escalate", alert, teams[1], check=0)
    assert "unreached" in r.stdout
    assert states(inst, alert)[teams[1]][1] == "unreached"
    # a ladder that has ended is not moved again
    r = inst.run("escalate", alert, teams[1], check=65)
    assert "its ladder has ended" in r.stderr
    assert states(inst, alert)[teams[1]][1] == "unreached"


def test_escalate_refuses_acked_unknown_and_hostile_names(inst):
    teams = inst.teams()[:2]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    inst.run("ack", alert, teams[0], "--by", "Desk", "--via", "phone",
             check=0)
    before = states(inst, alert)
    r = inst.run("escalate", alert, teams[0], check=65)
    assert "acked" in r.stderr
    # a team of no alert, an alert that is not there
    r = inst.run("escalate", alert, "zz-none", check=66)
    assert "has no team zz-none" in r.stderr
    inst.run("escalate", "no-such-alert", teams[1], check=66)
    # control characters in a name never reach the store or the log
    r = inst.run("escalate", alert, teams[1] + "\n\x1b[31m", check=64)
    assert states(inst, alert) == before
    assert not [a for a in inst.audit() if a[2] == "escalate"]


def test_retry_makes_dead_deliveries_due_and_each_arrives_once(inst, pki,
                                                               tmp_path,
                                                               request):
    ladder(inst, [("0s", ["primary:pgp-email"])], "1h")
    inst.set_keys("gateway", max_attempts=1)
    teams = inst.teams()[:3]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    # the relay refuses every recipient for good: dead at the first try
    bad = peer_for(inst, tmp_path / "bad", pki, reject=(".*",))
    try:
        inst.serve()
    finally:
        bad.stop()
    assert inst.settled(alert) == {"dead": 3}
    assert bad.messages() == []

    # one team's, one delivery, then the rest; each arrives once
    peer = peer_for(inst, tmp_path / "good", pki)
    request.addfinalizer(peer.stop)
    r = inst.run("retry", alert, teams[0], check=0)
    assert "1 dead delivery is due again" in r.stdout
    inst.serve()
    assert inst.settled(alert) == {"dead": 2, "sent": 1}
    assert len(peer.messages()) == 1
    r = inst.run("retry", alert, teams[0], check=65)
    assert "no dead delivery" in r.stderr

    dead = inst.sql("SELECT id FROM deliveries WHERE alert_id = ? AND "
                    "team = ? AND state = 'dead'", alert, teams[1])
    r = inst.run("retry", str(dead[0][0]), check=0)
    assert "1 dead delivery is due again" in r.stdout
    r = inst.run("retry", alert, check=0)
    assert "1 dead delivery is due again" in r.stdout
    inst.serve()
    assert inst.settled(alert) == {"sent": 3}
    assert len(peer.messages()) == 3
    retries = [a for a in inst.audit() if a[2] == "retry"]
    # the one that found nothing is audited too: someone asked
    assert [a[4] for a in retries] == [
        f"{n} dead deliveries due again" for n in (1, 0, 1, 1)]
    inst.run("audit", "verify", check=0)


def test_status_counts_teams_by_state_and_filters_them(inst):
    ladder(inst, [("0s", ["primary:pgp-email"])], "1h")
    teams = inst.teams()[:4]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    inst.run("ack", alert, teams[0], "--by", "Desk", "--via", "phone",
             check=0)
    inst.run("escalate", alert, teams[1], check=0)      # the last step
    want = {"acked": 1, "active": 2, "held": 0, "unreached": 1, "told": 0,
            "checking": 0, "other": 0}

    doc = json.loads(inst.run("status", "--json", check=0).stdout)
    assert [a["team_states"] for a in doc["alerts"]
            if a["id"] == alert] == [want]
    text = inst.run("status", check=0).stdout
    row = [line for line in text.splitlines() if line.startswith(alert)]
    assert re.search(r"\s4\s+1\s+2\s+0\s+1\s", row[0]), row

    one = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    assert one["team_states"] == want
    assert {t["team"] for t in one["teams"]} == set(teams)
    unacked = json.loads(inst.run("status", alert, "--unacked", "--json",
                                  check=0).stdout)
    assert {t["team"] for t in unacked["teams"]} == set(teams[1:])
    assert unacked["team_states"] == want       # counts of all teams
    gone = json.loads(inst.run("status", alert, "--state", "unreached",
                               "--json", check=0).stdout)
    assert [t["team"] for t in gone["teams"]] == [teams[1]]
    text = inst.run("status", alert, "--unacked", "--state", "active",
                    check=0).stdout
    shown = [line.split()[0] for line in text.splitlines()
             if line.split() and line.split()[0] in teams]
    assert sorted(shown) == sorted(teams[2:])
    assert "(2 of 4 teams shown)" in text
    assert "teams: 1 acked, 2 active, 0 held, 1 unreached" in text
    # a state that is none, or a filter without an alert: usage
    r = inst.run("status", alert, "--state", "gone\x1b[2J", check=64)
    assert "--state is one of" in r.stderr
    inst.run("status", "--unacked", check=64)
