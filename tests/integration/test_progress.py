"""serve's progress line on standard error: its numbers are this run's
(sent and dead as this serve recorded them, not the rows an earlier run
left), what is left to go is the store's, and making it does not walk the
deliveries table, however much history the store keeps."""
import os
import re
import subprocess
import time

import pytest

from test_faults import preload
from test_sms import configure, provider, sms_rows

LINE = re.compile(r"([a-z-]+): (\d+) sent, (\d+) dead, (\d+) to go "
                  r"\((\d+) sending, (\d+) waiting to retry\)")


def progress(stderr):
    """The progress lines of a non-terminal standard error (log lines start
    with their time), each as {channel: (sent, dead, to go, sending,
    waiting to retry)}; an empty line (nothing to say any more) as {}."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("tocsin serve: "):
            continue
        body = line[len("tocsin serve: "):]
        parts = [LINE.fullmatch(p) for p in body.split("; ")] if body else []
        if not all(parts):
            continue            # serve's last error, said without a time
        out.append({m.group(1): tuple(int(x) for x in m.groups()[1:])
                    for m in parts})
    return out


def states(inst, alert):
    """{state: count} of the alert's SMS deliveries."""
    out = {}
    for r in sms_rows(inst, alert):
        out[r[3]] = out.get(r[3], 0) + 1
    return out


def one_alert(inst, p, teams):
    """An alert by SMS to teams whose first number the provider refuses
    as invalid (dead at once): the alert."""
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                               signers=("desk-1",))
    number = sms_rows(inst, alert)[0][2]
    p.set_faults([{"action": "invalid", "count": -1,
                   "match": "^" + re.escape(number) + "$"}])
    return alert


def test_progress_counts_this_run_not_the_store_s_history(inst, tmp_path,
                                                           pki):
    """Two runs of `serve --until-idle`, each with an alert of its own
    with one number the provider refuses.  Each run's last progress line
    says that run's sent and dead, the second one not the first's.  In the
    second, one delivery is on a channel this build has no driver for (a
    store written by another release): it is not on the line, it is said
    at start-up, and --until-idle ends with it as left undone."""
    teams = inst.teams()
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        first = one_alert(inst, p, teams[:3])
        r1 = inst.serve(timeout=120)
        s1 = states(inst, first)
        assert s1.get("dead") == 1 and s1.get("sent", 0) >= 2, s1
        lines = progress(r1.stderr)
        assert lines, r1.stderr
        assert lines[-1] == {"sms": (s1["sent"], 1, 0, 0, 0)}, r1.stderr

        second = one_alert(inst, p, teams[3:8])
        rows = sms_rows(inst, second)
        undriven = rows[-1]
        with inst.connect() as c:
            c.execute("UPDATE deliveries SET channel = 'pager' WHERE id = ?",
                      (undriven[0],))
        r2 = inst.run("serve", "--until-idle", timeout=120)
        reqs = p.requests()
    s2 = states(inst, second)
    assert s2 == {"sent": len(rows) - 2, "dead": 1}, s2
    assert [r[3] for r in sms_rows(inst, second, "pager")] == ["pending"]
    assert not [r for r in reqs if undriven[2] in str(r.get("form"))]
    assert ("1 deliveries stay queued: this release has no driver for "
            "their channel" in r2.stderr), r2.stderr
    assert r2.returncode == 69, r2.stderr      # EX_UNAVAILABLE, tocsin(1)
    assert ("1 deliveries are still waiting and this serve cannot make "
            "them" in r2.stderr), r2.stderr
    lines = progress(r2.stderr)
    assert lines, r2.stderr
    # the first run's sent and dead are not this run's
    assert lines[-1] == {"sms": (s2["sent"], 1, 0, 0, 0)}, r2.stderr


def test_progress_without_work_says_nothing_of_the_past(inst, tmp_path, pki):
    """A serve with nothing to do, on a store whose deliveries all ended in
    an earlier run, writes no progress line naming them: nothing sent,
    nothing dead, nothing to go."""
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        alert = one_alert(inst, p, inst.teams()[:3])
        inst.serve(timeout=120)
        assert states(inst, alert).get("dead") == 1
        r = inst.serve(timeout=120)
    assert all(line == {} for line in progress(r.stderr)), r.stderr


def sqlscan(tmp_path):
    """serve's environment with the statement counter (sqlscan.c) preloaded,
    and the file it writes at exit."""
    so = tmp_path / "sqlscan.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so),
                    str(os.path.join(os.path.dirname(__file__),
                                     "sqlscan.c")), "-ldl", "-lsqlite3",
                    "-lpthread"], check=True, capture_output=True)
    out = tmp_path / "sqlscan.tsv"
    return dict(os.environ, LD_PRELOAD=preload(so), SQLSCAN_OUT=str(out)), out


def scans(out):
    """[(runs, full-scan steps, sql)] as sqlscan.c wrote them."""
    rows = []
    for line in out.read_text().splitlines():
        runs, full, sql = line.split("\t", 2)
        rows.append((int(runs), int(full), sql))
    return rows


@pytest.mark.sqlite_file
def test_progress_does_not_walk_the_deliveries(inst, tmp_path, pki):
    """On a store with the deliveries of an earlier run, a serve that sends
    a new alert and writes its progress lines steps through no row of the
    deliveries table in a full scan (SQLite's own count per statement, of
    a table or a whole index walked end to end): what it reads of them it
    finds through their indexes, so its cost does not grow with the
    store's history.  The statements that count what is left to go run at
    most once per progress line (every 2 s, and the last), not five times
    a tick."""
    teams = inst.teams()
    with provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]', parallel=1)
        one_alert(inst, p, teams[:4])
        inst.serve(timeout=120)
        # each answer takes a while, one at a time, so that serve runs
        # some seconds and its loop goes round a few dozen times
        p.set_faults([{"action": "delay", "seconds": 0.6, "count": -1,
                       "endpoint": "messages"}])
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams[4:10])),
                                   signers=("desk-1",))
        env, out = sqlscan(tmp_path)
        t = time.monotonic()
        r = inst.run("serve", "--until-idle", check=0, env=env, timeout=120)
        took = time.monotonic() - t
    assert set(states(inst, alert)) == {"sent"}
    assert progress(r.stderr)[-1]["sms"][:3] == (
        len(sms_rows(inst, alert)), 0, 0), r.stderr
    got = scans(out)
    on_deliveries = [g for g in got if "deliveries" in g[2]]
    # the counter saw serve's statements (claims and results among them)
    assert any("UPDATE deliveries" in g[2] and g[0] > 0
               for g in on_deliveries), got
    walked = [g for g in on_deliveries if g[1] > 0]
    assert walked == [], walked
    # one count per line (the first at once, then every 2 s, and the
    # last), one for the start-up's look for undriven channels and one for
    # --until-idle's end: five times a second would be 5 * took
    assert took >= 3, took
    counting = [g for g in on_deliveries if "count(" in g[2]]
    assert sum(g[0] for g in counting) <= took / 2 + 4, (took, counting)
