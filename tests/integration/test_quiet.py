"""Quiet hours: below a policy's hold_below severity an alert waits for the
team's business hours (in UTC, its primary contact's); an Extreme one
never waits; a held ladder starts when the hours open."""
import re
import time

from test_escalation import ladder, peer, serve_bg, states, stop  # noqa: F401


def hours(inst, team, span):
    """Every contact of team gets business_hours = span."""
    text = (inst.dir / "teams.conf").read_text()
    head, rest = text.split(f'{{ id = "{team}";', 1)
    block, tail = rest.split("\n  },", 1)
    block = re.sub(r'business_hours = "[^"]*";', f'business_hours = "{span}";',
                   block)
    (inst.dir / "teams.conf").write_text(head + f'{{ id = "{team}";' + block +
                                         "\n  }," + tail)


def hold_below(inst, sev):
    text = inst.conf.read_text()
    text, n = re.subn(r"(\n    steps = \()", rf'\n    hold_below = "{sev}";\g<1>',
                      text)
    assert n >= 2
    inst.conf.write_text(text)


def hhmm(minute):
    minute %= 1440
    return f"{minute // 60:02d}:{minute % 60:02d}"


def deliveries(inst, alert):
    return inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ?",
                    alert)[0][0]


def test_low_severity_waits_for_business_hours_extreme_does_not(inst):
    hold_below(inst, "Extreme")
    closed, open_ = inst.teams()[:2]
    now = int(time.time())
    m = (now // 60) % 1440
    hours(inst, closed, f"{hhmm(m + 120)}-{hhmm(m + 180)}")
    hours(inst, open_, f"{hhmm(m - 60)}-{hhmm(m + 60)}")
    severe = inst.submit_signed(inst.cap(addresses=f"{closed} {open_}",
                                         severity="Severe"))
    st = states(inst, severe)
    step, state, deadline = st[closed][0], st[closed][1], st[closed][2]
    assert (step, state) == (-1, "active")
    opens = now - now % 60 + 120 * 60
    assert abs(deadline - opens) <= 60, (deadline, opens)
    assert st[open_][0] == 0
    rows = inst.sql("SELECT team FROM deliveries WHERE alert_id = ?", severe)
    assert rows and {t for (t,) in rows} == {open_}
    # an Extreme alert pages at once, business hours or not
    extreme = inst.submit_signed(inst.cap(addresses=closed,
                                          severity="Extreme"))
    assert states(inst, extreme)[closed][0] == 0
    assert deliveries(inst, extreme) > 0
    # a policy without hold_below holds nothing
    text = inst.conf.read_text()
    inst.conf.write_text(re.sub(r'\n    hold_below = "[^"]*";', "", text))
    minor = inst.submit_signed(inst.cap(addresses=closed, severity="Minor"))
    assert states(inst, minor)[closed][0] == 0


def test_a_held_ladder_starts_when_the_hours_open(inst, peer):
    ladder(inst, [("0s", ["primary:pgp-email"]),
                  ("3s", ["all:pgp-email"])], "60s")
    hold_below(inst, "Extreme")
    team = inst.teams()[0]
    now = int(time.time())
    m = (now // 60) % 1440
    hours(inst, team, f"{hhmm(m + 120)}-{hhmm(m + 180)}")
    alert = inst.submit_signed(inst.cap(addresses=team, severity="Moderate"))
    assert states(inst, alert)[team][0] == -1
    assert deliveries(inst, alert) == 0
    # the hours "open" now: the row as submit writes it, with the opening
    # moved near (test_escalate holds it to the real opening)
    opens = int(time.time())
    inst.sql("UPDATE team_states SET deadline = ? WHERE alert_id = ?",
             opens, alert)
    proc = serve_bg(inst, "quiet")
    try:
        end = time.monotonic() + 10
        while states(inst, alert)[team][0] != 0:
            assert time.monotonic() < end, states(inst, alert)
            time.sleep(0.05)
        st = states(inst, alert)[team]
        created = inst.sql("SELECT min(created) FROM deliveries WHERE "
                           "alert_id = ?", alert)[0][0]
        assert created >= opens
        # the ladder counts from the step sent at the opening, not from
        # the acceptance
        assert st[2] == created + 3
        assert deliveries(inst, alert) >= 1
    finally:
        stop(proc)
