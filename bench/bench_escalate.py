#!/usr/bin/python3
"""bench_escalate: time an escalation burst of 6,000 teams to SMS.

Signed Extreme alerts to every team of a generated repository (300 teams,
20 alerts: 6,000 ladders) whose step 1 is one SMS to the team's primary
contact.  Step 0 is marked sent and every ladder's deadline put in the
past (untimed), so that `tocsin serve --until-idle` meets 6,000 teams due
at once: it moves them to step 1 and sends the 6,000 SMS to the
Twilio-compatible test provider (HTTPS, test PKI, TCP_NODELAY: it answers
at once) through `twilio-main` alone.  Each run starts from a copy of the
same store.  Beside it, interleaved with it in the same run, one
`curl --parallel --parallel-max P` process sends the same 6,000 requests
(read back from the provider's log, as bench_sms.py does).  Every run is
checked: each step-1 delivery `sent`, the provider answered 201 to exactly
one request per delivery, none twice.  It prints the median of the runs
and the ratio; it never asserts timings.

usage: bench/bench_escalate.py [--teams 300] [--burst 6000] [--runs 3]
                               [--parallel 16] [--before PATH] [--keep]
                               [--bin PATH] [--serve-timeout SECONDS]
--before PATH times another tocsin binary (an older build) on the same
store copies, for before/after figures.
Target (DESIGN.md): an escalation burst of 6,000 teams' next steps to SMS
within 1.3x of one `curl --parallel` of the same requests.
"""
import argparse
import collections
import os
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
import types
from pathlib import Path

from benchlib import die, end_work, run, serve_options, stop, timed
from bench_sms import (CURL, PY, ProviderLog, curl_parallel_config,
                       free_port, make_alert, pki_and_provider,
                       replay_requests, sms_only_conf, summarise)

SRC = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.3
# gen-repo's step 1 (15 minutes): the emergency number by SMS and voice.
STEP1_OLD = 'notify = [ "primary:sms:emergency", "primary:voice:emergency" ]'
STEP1_NEW = 'notify = [ "primary:sms" ]'


def store_of(conf):
    m = re.search(r'^\s*store\s*=\s*"([^"]+)";', conf.read_text(), re.M)
    store = Path(m.group(1))
    return store if store.is_absolute() else conf.parent / store


def burst_repo(tocsin, work, pki, teams, seed, parallel):
    """The test PKI and SMS provider (TCP_NODELAY) in work, and a
    repository of `teams` teams (IDN ones too) whose step 1 is one SMS to
    the team's primary contact through `twilio-main` (`parallel`
    requests), accepted by `tocsin check`.  The provider is stopped again
    if anything after its start fails."""
    info, ca, account, token, prov, port = pki_and_provider(work, pki, True)
    try:
        plog = ProviderLog(work / "sms.jsonl", work / "sms.err")
        run([PY, SRC / "examples" / "gen-repo.py", "--pki", pki, "--out",
             work / "repo", "--teams", teams, "--idn", "--seed", seed,
             "--smtp-port", 25, "--sms-port", port, "--sms-account",
             account, "--sms-token", token, "--listen-port", free_port()],
            text=True)
        conf = work / "repo" / "tocsin.conf"
        sms_only_conf(tocsin, conf, parallel)
        text = conf.read_text()
        if STEP1_OLD not in text:
            die("tocsin.conf: no step 1 to change; gen-repo changed?")
        conf.write_text(text.replace(STEP1_OLD, STEP1_NEW))
        run([tocsin, "-c", conf, "check"], text=True)
    except BaseException:
        stop(prov)
        raise
    return types.SimpleNamespace(info=info, ca=ca, account=account,
                                 token=token, prov=prov, port=port,
                                 plog=plog, conf=conf)


def prepare_burst(store):
    """Step 0 sent, every active ladder due long ago: the burst."""
    db = sqlite3.connect(store)
    try:
        db.execute("UPDATE deliveries SET state = 'sent', updated = 1000 "
                   "WHERE step = 0")
        db.execute("UPDATE team_states SET deadline = 1000 WHERE state = "
                   "'active' AND step = 0")
        db.commit()
        n = db.execute("SELECT count(*) FROM team_states WHERE state = "
                       "'active' AND deadline = 1000").fetchone()[0]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return n


def restore(base, store):
    """The burst's store, its ladders due a second ago (an older serve
    with --until-idle stops waiting for deadlines more than 5 s old)."""
    for suffix in ("-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    shutil.copyfile(base, store)
    db = sqlite3.connect(store)
    try:
        db.execute("UPDATE team_states SET deadline = ? WHERE deadline = "
                   "1000", (int(time.time()) - 1,))
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def step1(store):
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        states = dict(db.execute(
            "SELECT state, count(*) FROM deliveries WHERE step = 1 GROUP BY "
            "state").fetchall())
        moved = db.execute("SELECT count(*) FROM team_states WHERE step = 1"
                           ).fetchone()[0]
    finally:
        db.close()
    return states, moved


def run_tocsin(tocsin, conf, base, store, plog, work, tag, timeout):
    restore(base, store)
    plog.mark()
    wall, _, _, code, killed = timed(
        [tocsin, "-c", conf, "serve", "--until-idle", "--quiet"],
        work / f"serve-{tag}.err", timeout)
    recs, ports = plog.since()
    states, moved = step1(store)
    ts = summarise(recs, ports)
    keys = collections.Counter(
        (r["form"].get("To"), r["form"].get("Body")) for r in recs
        if r["status"] == 201)
    dups = sum(c - 1 for c in keys.values() if c > 1)
    n = sum(states.values())
    ok = (not killed and code == 0 and states.get("sent", 0) == n
          and ts["ok"] == n and ts["requests"] == n and dups == 0)
    return {"wall": wall, "n": n, "moved": moved, "ok": ok,
            "dups": dups, "requests": ts["requests"], "code": code,
            "recs": recs, "first": ts["first"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teams", type=int, default=300)
    ap.add_argument("--burst", type=int, default=6000,
                    help="ladders due at once (alerts are added until "
                    "there are this many)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--before", help="an older tocsin binary, timed on the "
                    "same store copies")
    serve_options(ap, SRC)
    a = ap.parse_args()
    tocsin = Path(a.bin)
    if not os.access(tocsin, os.X_OK):
        die(f"{tocsin} is missing: run `ninja -C build` first")
    if not os.access(CURL, os.X_OK):
        die(f"{CURL} is missing: apt-get install curl")
    bins = [("tocsin", tocsin)]
    if a.before:
        bins.append(("before", Path(a.before)))

    work = Path(tempfile.mkdtemp(prefix="tbe-", dir="/tmp"))
    pki = work / "pki"
    prov = None
    try:
        t = time.monotonic()
        s = burst_repo(tocsin, work, pki, a.teams, a.seed, a.parallel)
        info, ca, account, token = s.info, s.ca, s.account, s.token
        prov, port, plog, conf = s.prov, s.port, s.plog, s.conf
        store = store_of(conf)
        setup_s = time.monotonic() - t

        # -- the alerts, until there are enough ladders ---------------------
        t = time.monotonic()
        nalerts, nladders = 0, 0
        while nladders < a.burst:
            alert, sigs = make_alert(work, pki, info, nalerts)
            cmd = [tocsin, "-c", conf, "submit", alert]
            for s in sigs:
                cmd += ["--sig", s]
            run(cmd, text=True)
            nalerts += 1
            db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            nladders = db.execute("SELECT count(*) FROM team_states WHERE "
                                  "state = 'active'").fetchone()[0]
            db.close()
            if nalerts > 200:
                die("more than 200 alerts and still not enough ladders")
        sub_s = time.monotonic() - t
        burst = prepare_burst(store)
        base = work / "burst.db"
        shutil.copyfile(store, base)

        # -- interleaved runs -----------------------------------------------
        results = {name: [] for name, _ in bins}
        results["curl"] = []
        reqs, user = None, f"{account}:{token}"
        for i in range(a.runs):
            for name, b in bins:
                r = run_tocsin(b, conf, base, store, plog, work,
                               f"{name}-{i}", a.serve_timeout)
                results[name].append(r)
                print(f"  run {i + 1} {name:7s} {r['wall']:6.2f} s "
                      f"{r['n']} SMS of step 1, {r['moved']} teams moved, "
                      f"{r['requests']} requests, {r['dups']} twice, "
                      f"{'ok' if r['ok'] else 'CHECK FAILED'}", flush=True)
                if reqs is None and name == "tocsin" and r["ok"]:
                    reqs = replay_requests(
                        [x for x in r["recs"] if x["status"] == 201])
                    cfg = work / "curl-parallel.conf"
                    curl_parallel_config(cfg, f"https://127.0.0.1:{port}",
                                         reqs, user, ca)
            if reqs is None:
                die("tocsin's first run failed its checks; see "
                    f"{work}/serve-*.err (--keep keeps it)")
            plog.mark()
            w, _, _, code, killed = timed(
                [CURL, "--parallel", "--parallel-max", a.parallel, "-sS",
                 "--config", work / "curl-parallel.conf"],
                work / "curl.err", a.serve_timeout)
            cr = summarise(*plog.since())
            ok = code == 0 and not killed and cr["ok"] == len(reqs)
            results["curl"].append({"wall": w, "ok": ok})
            print(f"  run {i + 1} curl    {w:6.2f} s {cr['ok']} of "
                  f"{len(reqs)} answered 201 "
                  f"{'ok' if ok else 'CHECK FAILED'}", flush=True)

        med = {k: statistics.median(x["wall"] for x in v)
               for k, v in results.items()}
        # an older binary's failed check is its own figure, not a failure
        # of this one (before the batches, --until-idle stopped waiting
        # for ladders due more than 5 s before, and left some unmoved)
        allok = all(x["ok"] for k in ("tocsin", "curl") for x in results[k])
        print(f"bench_escalate: {burst} ladders due at once ({nalerts} signed "
              f"Extreme alerts to {a.teams} teams), step 1 = primary:sms, "
              f"one provider (parallel {a.parallel}, TCP_NODELAY), "
              f"{os.cpu_count()} CPUs; setup {setup_s:.0f} s, submit "
              f"{sub_s:.1f} s (untimed)")
        for k in [n for n, _ in bins] + ["curl"]:
            print(f"  median of {a.runs} {k:7s} {med[k]:6.2f} s "
                  f"({burst / med[k]:.0f} SMS/s)")
        ratio = med["tocsin"] / med["curl"]
        print(f"  tocsin / curl --parallel: {ratio:.2f}x (target within "
              f"{TARGET_RATIO}x: "
              f"{'met' if allok and ratio <= TARGET_RATIO else 'NOT met'})")
        if a.before:
            bad = sum(1 for x in results["before"] if not x["ok"])
            if bad:
                print(f"  before: {bad} of {a.runs} runs ended with ladders "
                      f"unmoved or SMS unsent (its --until-idle gives up on "
                      f"deadlines more than 5 s old): its median is a "
                      f"lower bound")
            print(f"  before / tocsin: {med['before'] / med['tocsin']:.2f}x; "
                  f"before / curl --parallel: "
                  f"{med['before'] / med['curl']:.2f}x")
        if not allok:
            print("  a check FAILED: see the runs above")
            return 1
        return 0
    finally:
        stop(prov)
        end_work(work, pki, a.keep)


if __name__ == "__main__":
    raise SystemExit(main())
