#!/usr/bin/python3
"""bench_deadlines: escalation lateness with 100,000 pending deadlines.

DESIGN.md: "an escalation fires within 1 s of its deadline with 100,000
pending deadlines".  A store (SQLite, or PostgreSQL) holds --pending active
escalation ladders (signed Extreme alerts to every team of a generated
repository, 300 ladders an alert) whose deadlines lie spread over the
coming hours, and
--due more (one per team) whose deadlines fall, spread over --window
seconds, while `tocsin serve` runs.  Step 1 is one SMS to the team's
primary contact, sent to the Twilio-compatible test provider (HTTPS,
TCP_NODELAY, answers at once), so that sending is not what is measured.
For each due ladder:
  * store lateness: when the store recorded the move (the creation time of
    its step-1 delivery, whole seconds as the store keeps time) minus its
    deadline (whole seconds);
  * wire lateness: when the provider received that step's SMS (its log,
    sub-second) minus the deadline: the move plus the send, an upper bound
    of the move's lateness at a finer grain.
Baseline in the same run, interleaved: the same store with --baseline
pending ladders left (the others and their deliveries deleted), the same
due ladders.  Each run starts from a copy.  Every run is checked: every
due team moved exactly once (step 1, one audit `escalate`, its SMS received
once), no ladder not yet due moved.  It prints max, p99 and median
lateness, medians over --runs, and the ratio to the baseline; it never
asserts timings.  Setup (alerts, deadlines moved by SQL) is untimed.

usage: bench/bench_deadlines.py [--pending 100000] [--baseline 1000]
                                [--due 300] [--window 20] [--runs 3]
                                [--teams 300] [--store sqlite|pg]
                                [--self-check] [--keep] [--bin PATH]
--store pg runs the same on PostgreSQL 15 (a cluster of its own, as
bench_store.py runs it): the stores are made on SQLite, then moved into
it by `tocsin store copy`; each run's database is made from them as a
template.
"""
import argparse
import collections
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import die, end_work, run, serve_options, stop  # noqa: E402
from bench_escalate import burst_repo, store_of  # noqa: E402
from bench_sms import make_alert, proc_cpu  # noqa: E402
from bench_store import (pgcluster, postmaster_pid,  # noqa: E402
                         set_gateway_keys, tree_cpu)

SRC = Path(__file__).resolve().parents[1]
LEAD = 15            # s from the deadlines' setting to the first due one
FAR_FROM, FAR_SPAN = 1800, 4 * 3600   # pending: 30 min to 4.5 h ahead


def ro(store):
    return sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)


def submit_until(tocsin, conf, work, pki, info, store, want):
    """Signed alerts until `want` ladders are active; returns how many
    alerts."""
    n, have = 0, 0
    while have < want:
        alert, sigs = make_alert(work, pki, info, n)
        cmd = [tocsin, "-c", conf, "submit", alert]
        for s in sigs:
            cmd += ["--sig", s]
        run(cmd, text=True)
        alert.unlink()
        for s in sigs:
            s.unlink()
        n += 1
        if n % 20 == 0 or have + 300 * 20 >= want:
            db = ro(store)
            have = db.execute("SELECT count(*) FROM team_states WHERE "
                              "state = 'active'").fetchone()[0]
            db.close()
            print(f"  setup: {n} alerts, {have} ladders", flush=True)
        if n > 2000:
            die("more than 2,000 alerts and still not enough ladders")
    return n


def prepare_base(store, ndue, seed):
    """Step 0 sent; the due ladders chosen (one per team, a random alert
    each); returns [(alert_id, team)] of them."""
    db = sqlite3.connect(store)
    try:
        db.execute("UPDATE deliveries SET state = 'sent', updated = 1000 "
                   "WHERE step = 0")
        rng = random.Random(seed)
        by_team = collections.defaultdict(list)
        for aid, team in db.execute(
                "SELECT alert_id, team FROM team_states WHERE state = "
                "'active' AND step = 0 ORDER BY alert_id, team"):
            by_team[team].append(aid)
        teams = sorted(by_team)
        if ndue > len(teams):
            die(f"--due {ndue}: only {len(teams)} teams (one due ladder "
                f"per team, so that each SMS names its team)")
        due = [(rng.choice(by_team[t]), t) for t in rng.sample(teams, ndue)]
        db.execute("CREATE TABLE bench_due (alert_id TEXT, team TEXT, "
                   "i INTEGER)")
        db.executemany("INSERT INTO bench_due VALUES (?,?,?)",
                       [(a, t, i) for i, (a, t) in enumerate(due)])
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return due


def shrink(src, dst, keep, seed):
    """dst: src with only `keep` pending ladders beside the due ones (the
    others and their deliveries and audit lines deleted)."""
    shutil.copyfile(src, dst)
    db = sqlite3.connect(dst)
    try:
        rows = [r[0] for r in db.execute(
            "SELECT t.rowid FROM team_states t WHERE NOT EXISTS (SELECT 1 "
            "FROM bench_due b WHERE b.alert_id = t.alert_id AND b.team = "
            "t.team) ORDER BY t.rowid")]
        rng = random.Random(seed + 1)
        kept = set(rng.sample(rows, min(keep, len(rows))))
        db.execute("CREATE TEMP TABLE gone (r INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO gone VALUES (?)",
                       [(r,) for r in rows if r not in kept])
        db.execute("DELETE FROM deliveries WHERE EXISTS (SELECT 1 FROM "
                   "team_states t JOIN gone g ON g.r = t.rowid WHERE "
                   "t.alert_id = deliveries.alert_id AND t.team = "
                   "deliveries.team)")
        db.execute("DELETE FROM team_states WHERE rowid IN (SELECT r FROM "
                   "gone)")
        db.commit()
        db.execute("VACUUM")
        n = db.execute("SELECT count(*) FROM team_states WHERE state = "
                       "'active'").fetchone()[0]
    finally:
        db.close()
    return n


class SqliteRun:
    """A run's store on SQLite: a fresh copy of a base file at the
    configuration's store path."""
    kind = "sqlite"

    def __init__(self, conf, store):
        self.conf, self.store = conf, store

    def fresh(self, base, tag):
        for suffix in ("-wal", "-shm"):
            Path(str(self.store) + suffix).unlink(missing_ok=True)
        shutil.copyfile(base, self.store)
        return self.conf

    def q(self, sql, params=(), write=False):
        db = (sqlite3.connect(self.store, timeout=30) if write else
              ro(self.store))
        try:
            rows = db.execute(sql, params).fetchall()
            if write:
                db.commit()
            return rows
        finally:
            db.close()

    def q_many(self, sql, rows):
        db = sqlite3.connect(self.store, timeout=30)
        try:
            db.executemany(sql, rows)
            db.commit()
        finally:
            db.close()

    def spread(self):
        return "(rowid * 2654435761) % ?"

    def concat(self):
        return "group_concat(DISTINCT d.address)"

    def server_cpu(self):
        return None

    def done(self):
        pass


class PgRun:
    """A run's store on PostgreSQL: a database made from a base database
    (CREATE DATABASE ... TEMPLATE), and a configuration naming it, with an
    ack secret (and so an audit checkpoint) in a folder of the run's own."""
    kind = "pg"

    def __init__(self, cluster, conf, work, ack_key):
        self.cluster, self.base_conf, self.work = cluster, conf, work
        self.ack_key, self.db = ack_key, None

    def fresh(self, base, tag):
        from psycopg2 import sql
        self.done()
        self.db = f"r_{tag.replace('-', '_')}"
        self.cluster.sql("postgres", sql.SQL(
            "CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(self.db), sql.Identifier(base)))
        d = self.work / "pgnodes" / tag
        d.mkdir(parents=True, mode=0o700)
        key = d / "ack.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.ack_key)
        conf = self.base_conf.parent / f"tocsin-pg-{tag}.conf"
        conf.write_text(set_gateway_keys(
            self.base_conf.read_text(),
            store=self.cluster.conninfo(self.db), ack_secret=str(key)))
        return conf

    def q(self, sql_text, params=(), write=False):
        return self.cluster.sql(self.db, sql_text.replace("?", "%s"),
                                params)

    def q_many(self, sql_text, rows):
        conn = self.cluster.connect(self.db)
        try:
            with conn.cursor() as cur:
                cur.executemany(sql_text.replace("?", "%s"), rows)
        finally:
            conn.close()

    def spread(self):
        # %% is psycopg2's %: a statement with parameters
        return "(hashtext(alert_id || team) & 2147483647) %% ?"

    def concat(self):
        return "string_agg(DISTINCT d.address, ',')"

    def server_cpu(self):
        """PostgreSQL's CPU seconds so far: the postmaster and the
        backends that ended (serve's end when serve does)."""
        return tree_cpu(postmaster_pid(self.cluster))

    def done(self):
        if self.db is not None:
            self.cluster.dropdb(self.db)
            self.db = None


def set_deadlines(st, ndue, window):
    """The pending ladders due in the coming hours and the due ones from
    LEAD s on, spread over window s.  Returns {(alert_id, team): deadline}
    of the due ones."""
    t0 = int(time.time())
    st.q("UPDATE team_states SET deadline = ? + " + st.spread() +
         " WHERE state = 'active'", (t0 + FAR_FROM, FAR_SPAN), write=True)
    # one statement per due ladder, by its key: quick whatever the size of
    # the store, so that the LEAD is not spent here
    due = st.q("SELECT alert_id, team, i FROM bench_due")
    t0 = int(time.time()) + LEAD
    st.q_many("UPDATE team_states SET deadline = ? WHERE alert_id = ? AND "
              "team = ?", [(t0 + i * window // ndue, a, t) for a, t, i in due])
    if st.kind == "sqlite":
        st.q("PRAGMA wal_checkpoint(TRUNCATE)", write=True)
    return {(a, t): d for a, t, d in st.q(
        "SELECT t.alert_id, t.team, t.deadline FROM team_states t JOIN "
        "bench_due b ON b.alert_id = t.alert_id AND b.team = t.team")}


def quantile(xs, q):
    """The value at rank ceil(q * n) of the sorted xs (p99 of 300: the
    third largest)."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


def one_run(tocsin, st, base, plog, work, tag, ndue, window, timeout,
            fault=False):
    conf = st.fresh(base, tag)
    due = set_deadlines(st, ndue, window)
    if fault:
        # the checks' own check: one ladder that is not one of the due
        # ones made due at the first deadline; serve moves it, and the run
        # must be reported as failed (one ladder not due moved)
        st.q("UPDATE team_states SET deadline = ? WHERE state = 'active' "
             "AND NOT EXISTS (SELECT 1 FROM bench_due b WHERE b.alert_id = "
             "team_states.alert_id AND b.team = team_states.team) AND "
             "alert_id = (SELECT min(alert_id) FROM team_states t WHERE NOT "
             "EXISTS (SELECT 1 FROM bench_due b WHERE b.alert_id = "
             "t.alert_id AND b.team = t.team)) AND team = (SELECT min(team) "
             "FROM team_states t WHERE t.alert_id = team_states.alert_id "
             "AND NOT EXISTS (SELECT 1 FROM bench_due b WHERE b.alert_id = "
             "t.alert_id AND b.team = t.team))", (min(due.values()),),
             write=True)
    last = max(due.values())
    plog.mark()
    pg0 = st.server_cpu()
    err = open(work / f"serve-{tag}.err", "wb")
    t_start = time.time()
    p = subprocess.Popen([str(tocsin), "-c", str(conf), "serve"],
                         stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    # until every due ladder moved and its SMS went, 3 s past the last
    # deadline at least (a late extra move would show), or the timeout
    moved, ru, status, cpu_first = 0, None, None, None
    first = min(due.values())
    while True:
        time.sleep(0.5)
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid != 0:
            break       # serve ended by itself: a failure, said below
        now = time.time()
        if cpu_first is None and now >= first:
            cpu_first = proc_cpu(p.pid)     # start-up done, window begins
        moved = st.q(
            "SELECT count(*) FROM team_states t JOIN bench_due b ON "
            "b.alert_id = t.alert_id AND b.team = t.team WHERE t.step >= 1 "
            "AND EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = "
            "t.alert_id AND d.team = t.team AND d.step = 1 AND d.state = "
            "'sent')")[0][0]
        if now > last + 3 and moved == len(due):
            break
        if now > last + timeout:
            break
    t_stop = time.time()
    ended = ru is not None and pid != 0
    cpu_last = None if ended else proc_cpu(p.pid)
    if not ended:
        os.kill(p.pid, signal.SIGTERM)
        _, status, ru = os.wait4(p.pid, 0)
    p.returncode = code = os.waitstatus_to_exitcode(status)
    time.sleep(0.5)     # serve's backends end after it
    pg_cpu = None if pg0 is None else st.server_cpu() - pg0
    cpu = ru.ru_utime + ru.ru_stime
    recs, _ = plog.since()

    rows = st.q(
        "SELECT t.alert_id, t.team, t.step, (SELECT min(d.created) FROM "
        "deliveries d WHERE d.alert_id = t.alert_id AND d.team = t.team "
        "AND d.step = 1), (SELECT count(*) FROM deliveries d WHERE "
        "d.alert_id = t.alert_id AND d.team = t.team AND d.step = 1), "
        "(SELECT " + st.concat() + " FROM deliveries d "
        "WHERE d.alert_id = t.alert_id AND d.team = t.team AND d.step "
        "= 1) FROM team_states t JOIN bench_due b ON b.alert_id = "
        "t.alert_id AND b.team = t.team")
    audit = collections.Counter(
        (obj, re.match(r"team=(\S+)", det).group(1))
        for obj, det in st.q(
            "SELECT object, details FROM audit WHERE action = "
            "'escalate' AND details LIKE 'team=%'"))
    stray = st.q(
        "SELECT count(*) FROM team_states t WHERE (t.step <> 0 OR "
        "t.state <> 'active') AND NOT EXISTS (SELECT 1 FROM bench_due "
        "b WHERE b.alert_id = t.alert_id AND b.team = t.team)")[0][0]
    stray_d = st.q(
        "SELECT count(*) FROM deliveries d WHERE d.step <> 0 AND NOT "
        "EXISTS (SELECT 1 FROM bench_due b WHERE b.alert_id = "
        "d.alert_id AND b.team = d.team)")[0][0]
    pending = st.q("SELECT count(*) FROM team_states WHERE state = "
                   "'active' AND step = 0")[0][0]
    st.done()
    got = collections.defaultdict(list)
    for r in recs:
        if r["status"] == 201:
            got[r["form"].get("To")].append(r["t"])
    store_late, wire_late, bad = [], [], []
    for aid, team, step, created, ndel, addrs in rows:
        d = due[(aid, team)]
        if step != 1 or created is None or audit[(aid, team)] != 1:
            bad.append(f"{team}: step {step}, {audit[(aid, team)]} audit "
                       f"escalate lines")
            continue
        store_late.append(created - d)
        sent = [t for a in (addrs or "").split(",") for t in got.get(a, [])]
        if len(sent) != ndel or ndel == 0:
            bad.append(f"{team}: {ndel} step-1 deliveries, {len(sent)} SMS "
                       f"received")
            continue
        wire_late.append(max(sent) - d)
    if ended:
        bad.append(f"serve ended by itself with {code}")
    ok = (not bad and stray == 0 and stray_d == 0 and
          len(store_late) == len(due) == len(wire_late))
    return {"store": store_late, "wire": wire_late, "ok": ok, "bad": bad,
            "stray": stray, "stray_d": stray_d, "pending": pending,
            "cpu": cpu, "span": t_stop - t_start, "code": code,
            "pg_cpu": pg_cpu,
            "cpu_start": cpu_first if cpu_first is not None else cpu,
            "cpu_window": (cpu_last - cpu_first
                           if cpu_first is not None and cpu_last is not None
                           else float("nan")),
            "window_s": t_stop - max(first, t_start),
            "first_after_start": min(due.values()) - t_start}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pending", type=int, default=100000)
    ap.add_argument("--baseline", type=int, default=1000)
    ap.add_argument("--due", type=int, default=300)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--teams", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--self-check", action="store_true",
                    help="after the runs, one more on the baseline store "
                    "with one ladder not due made due: it must be reported "
                    "as a failed check")
    ap.add_argument("--store", choices=("sqlite", "pg"), default="sqlite",
                    help="the store engine (pg: a PostgreSQL 15 cluster of "
                    "its own, as bench_store.py runs it; the stores are "
                    "made on SQLite and moved by `tocsin store copy`)")
    serve_options(ap, SRC)
    a = ap.parse_args()
    tocsin = Path(a.bin)
    if not os.access(tocsin, os.X_OK):
        die(f"{tocsin} is missing: run `ninja -C build` first")

    work = Path(tempfile.mkdtemp(prefix="tbl-", dir="/tmp"))
    pki = work / "pki"
    prov = cluster = pgbase = None
    try:
        t = time.monotonic()
        s = burst_repo(tocsin, work, pki, a.teams, a.seed, 16)
        info, prov, plog, conf = s.info, s.prov, s.plog, s.conf
        store = store_of(conf)
        nalerts = submit_until(tocsin, conf, work, pki, info, store,
                               a.pending + a.due)
        due = prepare_base(store, a.due, a.seed)
        big = work / "big.db"
        shutil.copyfile(store, big)
        small = work / "small.db"
        nsmall = shrink(big, small, a.baseline, a.seed)
        db = ro(big)
        nbig = db.execute("SELECT count(*) FROM team_states WHERE state = "
                          "'active'").fetchone()[0]
        db.close()
        setup_s = time.monotonic() - t
        print(f"  setup: {nalerts} alerts, stores of {nbig} and {nsmall} "
              f"active ladders ({len(due)} of them due in the window), "
              f"{setup_s:.0f} s (untimed)", flush=True)

        stores = [("pending", big, nbig - len(due)),
                  ("baseline", small, nsmall - len(due))]
        engine = "SQLite"
        if a.store == "sqlite":
            st = SqliteRun(conf, store)
        else:
            pgbase = Path(tempfile.mkdtemp(prefix="tbp-", dir="/tmp"))
            cluster = pgcluster.Cluster(pgbase, "primary").init().start()
            engine = "PostgreSQL " + cluster.sql(
                "postgres", "SHOW server_version")[0][0]
            ack_key = (store.parent / "ack.key").read_bytes()
            for i, (k, f, n) in enumerate(stores):
                name = f"b_{k}"
                cluster.create_store_db(name)
                run([tocsin, "store", "copy", "--from", f, "--to",
                     cluster.conninfo(name)], text=True)
                cluster.sql(name, "CREATE TABLE bench_due (alert_id TEXT, "
                            "team TEXT, i INTEGER)")
                conn = cluster.connect(name)
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO bench_due VALUES "
                                    "(%s,%s,%s)", [(x, t, j) for j, (x, t)
                                                   in enumerate(due)])
                    cur.execute("ANALYZE")
                conn.close()
                stores[i] = (k, name, n)
            st = PgRun(cluster, conf, work, ack_key)
            print(f"  setup: both stores copied into {engine}", flush=True)
        res = {k: [] for k, _, _ in stores}
        for i in range(a.runs):
            for k, base, _ in stores:
                r = one_run(tocsin, st, base, plog, work, f"{k}-{i}",
                            a.due, a.window, a.serve_timeout)
                res[k].append(r)
                sl, wl = r["store"], r["wire"]
                print(f"  run {i + 1} {k:8s} store late max "
                      f"{max(sl, default=float('nan'))} s, median "
                      f"{statistics.median(sl) if sl else float('nan')} s;"
                      f" wire late max {max(wl, default=float('nan')):.3f} s,"
                      f" p99 {quantile(wl, .99) if wl else float('nan'):.3f}"
                      f" s, median "
                      f"{statistics.median(wl) if wl else float('nan'):.3f} "
                      f"s; serve CPU {r['cpu']:.2f} s in {r['span']:.1f} s "
                      f"(until the first deadline, "
                      f"{r['first_after_start']:.1f} s after the start: "
                      f"{r['cpu_start']:.2f} s; from it to the stop: "
                      f"{r['cpu_window']:.2f} s in {r['window_s']:.1f} s)"
                      + (f"; PostgreSQL CPU {r['pg_cpu']:.2f} s"
                         if r["pg_cpu"] is not None else "") + "; "
                      f"{'ok' if r['ok'] else 'CHECK FAILED'}", flush=True)
                if not r["ok"]:
                    print(f"    {r['stray']} ladders not due moved, "
                          f"{r['stray_d']} of their deliveries; "
                          f"{'; '.join(r['bad'][:5])}")

        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        print(f"bench_deadlines: {a.due} ladders due over {a.window} s among "
              f"{nbig - a.due} pending (baseline {nsmall - a.due}), "
              f"{nalerts} signed Extreme alerts to {a.teams} teams, step 1 = "
              f"primary:sms to the test provider (TCP_NODELAY), {engine}, "
              f"{os.cpu_count()} CPUs, load average {load}")
        med = {}
        for k, _, n in stores:
            rs = res[k]
            m = {}
            for what in ("store", "wire"):
                m[what] = {
                    "max": statistics.median(max(r[what]) for r in rs
                                             if r[what]),
                    "p99": statistics.median(quantile(r[what], .99)
                                             for r in rs if r[what]),
                    "median": statistics.median(statistics.median(r[what])
                                                for r in rs if r[what])}
            m["cpu"] = statistics.median(r["cpu_window"] / r["window_s"]
                                         for r in rs)
            m["cpu_start"] = statistics.median(r["cpu_start"] for r in rs)
            m["pg_cpu"] = (statistics.median(r["pg_cpu"] for r in rs)
                           if rs[0]["pg_cpu"] is not None else None)
            med[k] = m
            print(f"  {k:8s} {n:6d} pending, medians of {len(rs)} runs: "
                  f"store lateness max {m['store']['max']} s, p99 "
                  f"{m['store']['p99']} s, median {m['store']['median']} s "
                  f"(whole seconds); wire lateness max "
                  f"{m['wire']['max']:.3f} s, p99 {m['wire']['p99']:.3f} s, "
                  f"median {m['wire']['median']:.3f} s; serve CPU "
                  f"{m['cpu_start']:.2f} s to start, then "
                  f"{m['cpu'] * 100:.1f}% of one core from the first "
                  f"deadline on"
                  + (f"; PostgreSQL {m['pg_cpu']:.2f} s in the run"
                     if m["pg_cpu"] is not None else ""))
        pw, bw = med["pending"]["wire"], med["baseline"]["wire"]
        print(f"  pending / baseline, wire lateness: max "
              f"{pw['max'] / bw['max']:.2f}x, p99 {pw['p99'] / bw['p99']:.2f}x"
              f", median {pw['median'] / bw['median']:.2f}x; serve CPU "
              f"{med['pending']['cpu'] / med['baseline']['cpu']:.2f}x")
        allok = all(r["ok"] for v in res.values() for r in v)
        if a.self_check:
            k, base, _ = stores[1]
            r = one_run(tocsin, st, base, plog, work, "fault", a.due,
                        a.window, a.serve_timeout, fault=True)
            caught = not r["ok"] and r["stray"] == 1
            print(f"  self-check: one ladder not due made due: "
                  f"{r['stray']} ladders not due moved, {r['stray_d']} of "
                  f"their deliveries; the checks "
                  f"{'caught it' if caught else 'did NOT catch it'}")
            allok = allok and caught
        met = allok and pw["max"] <= 1.0
        print(f"  target: every escalation within 1 s of its deadline "
              f"(wire lateness, which includes the send): "
              f"{'met' if met else 'NOT met'}; store lateness max "
              f"{med['pending']['store']['max']} s")
        if not allok:
            print("  a check FAILED: see the runs above")
            return 1
        return 0
    finally:
        stop(prov)
        if cluster is not None:
            cluster.cleanup()
        if pgbase is not None:
            shutil.rmtree(pgbase, ignore_errors=True)
        end_work(work, pki, a.keep)


if __name__ == "__main__":
    raise SystemExit(main())
