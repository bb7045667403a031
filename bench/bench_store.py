#!/usr/bin/python3
"""bench_store: the SMS broadcast of bench_sms.py on each store engine.

The same signed Extreme alerts to every team of a generated repository
(300 teams with the internationalised ccTLDs; step 0 `all:sms`, about 1,500
SMS in all) dispatched by `tocsin serve --until-idle` with 2 workers to the
Twilio-compatible test provider (HTTPS, test PKI, TCP_NODELAY set), on
three stores, each run on a fresh store with a fresh submit of the same
alerts:
  * SQLite (the baseline): one serve;
  * PostgreSQL 15, one node: one serve, the same settings;
  * PostgreSQL, two nodes: two serve processes on one database, each with
    the same settings (2 workers, the provider's parallel and rate are per
    node), started at the same moment, timed until both have exited.
In two phases:
  * prompt: the provider answers at once, so the store and the machine's
    CPUs set the pace; PostgreSQL's cost against SQLite is judged here;
  * latency: each request waits a time drawn between 100 and 300 ms
    (--latency), as a real provider's API answers, so the providers'
    round trips set the pace; what a second node buys is judged here (with
    a prompt provider on one 2-core machine, both nodes, PostgreSQL and
    the provider share two CPUs: that ratio is printed as a diagnostic).
The configurations run interleaved (SQLite, PG1, PG2, SQLite, ...), --runs
times each per phase, and the medians are compared.  Every run is checked:
each sms delivery ended `sent`, and the provider got exactly one request
per delivery (duplicates are counted and printed).  It prints figures and
targets beside them; it never asserts timings, and exits non-zero only when
a check fails.

usage: bench/bench_store.py [--teams N] [--runs N] [--messages N]
                            [--parallel P] [--phases prompt,latency]
                            [--latency LO-HI] [--keep] [--bin PATH]
                            [--serve-timeout SECONDS] [--provider-nagle]
Targets: PostgreSQL with one node within 1.3x of SQLite; two nodes no
slower than one.
"""
import argparse
import collections
import os
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import die, end_work, run, serve_options, stop
from bench_sms import (PROVIDER, SERVE_WORKERS, ProviderLog, control,
                       free_port, make_alert, pki_and_provider, proc_cpu,
                       sms_only_conf, summarise)

SRC = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
sys.path.insert(0, str(SRC / "tests" / "pg"))
import pgcluster  # noqa: E402

TARGET_PG1 = 1.3        # PG one node / SQLite
TARGET_PG2 = 1.0        # PG two nodes / PG one node
PHASES = ("prompt", "latency")
# The phase each target is judged in: the store's own cost shows where the
# provider answers at once; what a second node buys shows where requests
# take a real provider's time (on one 2-core machine, with a prompt
# provider, the two nodes, PostgreSQL and the provider share two CPUs and
# a second node adds only work: that ratio is printed, as a diagnostic).
JUDGED = {"pg1": "prompt", "pg2": "latency"}
CONFIGS = ("sqlite", "pg1", "pg2")
LABEL = {"sqlite": "SQLite, 1 node", "pg1": "PostgreSQL, 1 node",
         "pg2": "PostgreSQL, 2 nodes"}


def set_gateway_keys(text, **kw):
    """text of tocsin.conf with keys of its gateway section set (added
    when missing); values are strings."""
    m = re.search(r"^gateway = \{\n(.*?)^\};", text, re.M | re.S)
    if not m:
        die("tocsin.conf: no gateway section; gen-repo changed?")
    body = m.group(1)
    for k, v in kw.items():
        val = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        body, n = re.subn(r"^(\s*)" + k + r" = [^;]*;",
                          lambda mm: f"{mm.group(1)}{k} = {val};", body,
                          flags=re.M)
        if n == 0:
            body += f"  {k} = {val};\n"
    return text[:m.start(1)] + body + text[m.end(1):]


class Store:
    """One run's store: a new SQLite file, or a new database of the
    cluster; sms_rows() reads its sms deliveries back."""

    def __init__(self, kind, repo, tag, cluster):
        self.kind, self.cluster = kind, cluster
        if kind == "sqlite":
            self.rel = f"runs/{tag}/tocsin.db"
            self.path = repo / self.rel
            self.conf_value = self.rel
        else:
            self.db = f"b_{tag}"
            cluster.create_store_db(self.db)
            self.conf_value = cluster.conninfo(self.db)

    def sms_rows(self):
        """[(id, state, provider_ref, address)] of the sms deliveries."""
        q = ("SELECT id, state, provider_ref, address FROM deliveries "
             "WHERE channel = 'sms'")
        if self.kind == "sqlite":
            if not self.path.exists():
                return []
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                return db.execute(q).fetchall()
            except sqlite3.OperationalError:
                return []
            finally:
                db.close()
        conn = self.cluster.connect(self.db)
        conn.set_client_encoding("UTF8")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('deliveries')")
                if cur.fetchone()[0] is None:
                    return []
                cur.execute(q)
                return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def drop(self):
        if self.kind != "sqlite":
            self.cluster.dropdb(self.db)


def node_confs(base_text, repo, tag, store, nnodes, secret):
    """One configuration per node beside tocsin.conf (relative paths stay
    valid), each with its own listener port and public_url (so that the
    StatusCallback of each request names its node) and, on PostgreSQL,
    its own copy of the shared ack secret (its audit checkpoint goes
    beside it).  Returns [(conf path, listen port)]."""
    out = []
    for i in range(nnodes):
        port = free_port()
        keys = {"store": store.conf_value,
                "listen": f"127.0.0.1:{port}",
                "public_url": f"http://127.0.0.1:{port}/"}
        if store.kind != "sqlite":
            d = repo / "runs" / tag / f"node{i + 1}"
            d.mkdir(parents=True, mode=0o700)
            key = d / "ack.key"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secret)
            keys["ack_secret"] = str(key)
        else:
            (repo / "runs" / tag).mkdir(parents=True, exist_ok=True)
        conf = repo / f"run-{tag}-node{i + 1}.conf"
        conf.write_text(set_gateway_keys(base_text, **keys))
        out.append((conf, port))
    return out


def serve_nodes(tocsin, confs, errdir, tag, timeout):
    """Start `serve --until-idle --quiet` for every configuration at once
    and wait for all of them.  Returns (wall s until the last exited,
    [per node: dict wall, rc, killed, maxrss KiB, cpu s])."""
    procs, errs = [], []
    t0 = time.monotonic()
    for i, conf in enumerate(confs):
        err = open(errdir / f"serve-{tag}-node{i + 1}.err", "wb")
        procs.append(subprocess.Popen(
            [str(tocsin), "-c", str(conf), "serve", "--until-idle",
             "--quiet"], stdout=subprocess.DEVNULL, stderr=err))
        err.close()
        errs.append(err.name)
    res = [None] * len(procs)
    killed = threading.Event()

    def waiter(i, p):
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        res[i] = {"wall": time.monotonic() - t0, "rc": p.returncode,
                  "maxrss": ru.ru_maxrss,
                  "cpu": ru.ru_utime + ru.ru_stime, "err": errs[i]}

    def expire():
        killed.set()
        for p in procs:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    ths = [threading.Thread(target=waiter, args=(i, p))
           for i, p in enumerate(procs)]
    for th in ths:
        th.start()
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    for th in ths:
        th.join()
    timer.cancel()
    for r in res:
        r["killed"] = killed.is_set()
    return max(r["wall"] for r in res), res


def check_run(rows, recs, node_ports):
    """The checks of one run, from the store's sms rows and the provider's
    requests of the run: a dict of counts and the list of problems."""
    states = collections.Counter(r[1] for r in rows)
    ts = summarise(recs, [])
    # provider_ref is "PROVIDER:SID"
    refs = collections.Counter(r[2].split(":", 1)[-1] for r in rows if r[2])
    sids = collections.Counter(r.get("sid") for r in recs
                               if r["status"] == 201)
    # the same message twice: same number and text (the ack link in the
    # text names the node's public_url, which differs between nodes)
    keys = collections.Counter(
        (r["form"].get("To"), re.sub(r"http://127\.0\.0\.1:\d+/", "URL/",
                                     str(r["form"].get("Body"))))
        for r in recs if isinstance(r.get("form"), dict))
    dup_text = sum(n - 1 for n in keys.values() if n > 1)
    # accepted requests whose sid no delivery holds: sent once more
    orphan = sum(n for s, n in sids.items() if s not in refs)
    per_node = collections.Counter()
    unknown = 0
    for r in recs:
        cb = r.get("form", {}).get("StatusCallback", "") \
            if isinstance(r.get("form"), dict) else ""
        m = re.match(r"http://127\.0\.0\.1:(\d+)/", cb or "")
        if m and int(m.group(1)) in node_ports:
            per_node[node_ports.index(int(m.group(1)))] += 1
        else:
            unknown += 1
    n = len(rows)
    problems = []
    if states.get("sent", 0) != n:
        problems.append("not every sms delivery sent: " + ", ".join(
            f"{k} {v}" for k, v in sorted(states.items())))
    if ts["requests"] != n or ts["ok"] != n:
        problems.append(f"{ts['requests']} requests ({ts['ok']} answered "
                        f"201) for {n} deliveries")
    if ts["other_paths"]:
        problems.append(f"{ts['other_paths']} requests not to {PROVIDER}'s "
                        f"Messages.json")
    if dup_text or orphan:
        problems.append(f"duplicates: {dup_text} repeated (To, Body), "
                        f"{orphan} accepted requests whose sid no delivery "
                        f"holds")
    if any(v > 1 for v in refs.values()):
        problems.append("deliveries sharing one provider sid")
    if unknown:
        problems.append(f"{unknown} requests with a StatusCallback of no "
                        f"node")
    return {"deliveries": n, "states": dict(states), "requests":
            ts["requests"], "ok": ts["ok"], "dup_text": dup_text,
            "orphan": orphan, "per_node": [per_node[i] for i in
                                           range(len(node_ports))],
            "first": ts["first"], "last": ts["last"]}, problems


def tree_cpu(pid):
    """CPU seconds of process pid and of the children it has waited for
    (the postmaster waits for every backend that ended)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postmaster_pid(cluster):
    with open(os.path.join(cluster.datadir, "postmaster.pid")) as f:
        return int(f.readline())


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def summary(a, phases, results, failed):
    """Print the medians and the targets' verdicts; True if a check of the
    summary itself failed (duplicates)."""
    print()
    print(f"medians over {a.runs} runs each (CPU: tocsin's, all nodes; "
          f"provider CPU beside it)")
    med = {}
    for ph in phases:
        med[ph] = {c: median([r["wall"] for r in results[ph][c]])
                   for c in CONFIGS}
        print(f"  -- {ph}")
        for c in CONFIGS:
            rs = results[ph][c]
            print(f"  {LABEL[c]:<22} wall {med[ph][c]:.3f} s, "
                  f"{median([r['ok'] / r['wall'] for r in rs]):.1f} "
                  f"requests/s, first request after "
                  f"{median([r['first'] for r in rs]):.3f} s, CPU tocsin "
                  f"{median([r['cpu'] for r in rs]):.2f} s, "
                  + ("" if c == "sqlite" else "PostgreSQL server "
                     f"{median([r['scpu'] for r in rs]):.2f} s, ")
                  + f"provider {median([r['pcpu'] for r in rs]):.2f} s, "
                  f"peak RSS "
                  f"{median([r['rss'] for r in rs]):.1f} MiB")
        pg2 = results[ph]["pg2"]
        print("  two nodes, SMS sent by node 1 / node 2 (from the "
              "StatusCallback of each request): " + ", ".join(
                  "/".join(str(x) for x in r["per_node"]) for r in pg2))
        print("  two nodes, exit of node 1 / node 2 after: " + ", ".join(
            "/".join(f"{w:.2f}" for w in r["node_walls"]) for r in pg2)
              + " s")
    every = [r for ph in phases for c in CONFIGS for r in results[ph][c]]
    ndup = sum(r["dup"] for r in every)
    nwarn = sum(r["warn"] for r in every)
    if nwarn:
        print(f"  serve logged {nwarn} warnings in all (column warn; "
              f"rerun with --keep to read serve-*.err in the work "
              f"folder)")
    print()

    def row(what, measured, target="", judged=""):
        print(f"  {what:<40} {measured:>10}   {target:<16} "
              f"{judged}".rstrip())

    def verdict(ok):
        if failed:
            return "NOT judged (a check failed)"
        return "met" if ok else "NOT met"

    print("summary")
    row("", "measured", "target", "verdict")
    for ph in phases:
        m = med[ph]
        r1 = m["pg1"] / m["sqlite"]
        r2 = m["pg2"] / m["pg1"]
        row(f"{ph}: SQLite wall (median)", f"{m['sqlite']:.3f} s")
        row(f"{ph}: PostgreSQL 1 node wall", f"{m['pg1']:.3f} s")
        row(f"{ph}: PostgreSQL 2 nodes wall", f"{m['pg2']:.3f} s")
        for what, ratio, cfg, limit, words, note in (
                ("PG 1 node / SQLite", r1, "pg1", TARGET_PG1,
                 f"within {TARGET_PG1}x", "(diagnostic)"),
                ("PG 2 nodes / PG 1 node", r2, "pg2", TARGET_PG2,
                 f"not above {TARGET_PG2}",
                 "(diagnostic: one machine's CPUs)")):
            if JUDGED[cfg] == ph:
                row(f"{ph}: {what}", f"{ratio:.2f} x", words,
                    verdict(ratio <= limit))
            else:
                row(f"{ph}: {what}", f"{ratio:.2f} x", "", note)
    row("every sms delivery sent, 1 request each",
        "no" if failed else "yes", "", "" if not failed else "FAILED")
    row("duplicate requests (all runs)", f"{ndup}", "0",
        "met" if ndup == 0 else "FAILED")
    return ndup != 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teams", type=int, default=300,
                    help="teams of the repository (gen-repo --idn; default "
                    "300)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--runs", type=int, default=3,
                    help="runs of each configuration, interleaved "
                    "(default 3)")
    ap.add_argument("--messages", type=int, default=1500,
                    help="SMS deliveries to make at least (alerts are added "
                    "until there are this many; default 1500)")
    ap.add_argument("--parallel", type=int, default=16,
                    help="providers.sms twilio-main parallel (default 16)")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help="comma-separated, of prompt and latency (default "
                    "both)")
    ap.add_argument("--latency", default="100-300",
                    help="LO-HI: in the latency phase each request waits a "
                    "time drawn between LO and HI ms (default 100-300)")
    serve_options(ap, SRC)
    ap.add_argument("--provider-nagle", action="store_true",
                    help="diagnostic: the test provider without "
                    "TCP_NODELAY (then it, not the store, sets the pace)")
    a = ap.parse_args()
    if a.runs < 1 or a.teams < 1:
        die("--runs and --teams must be at least 1")
    phases = [x for x in a.phases.split(",") if x]
    if not phases or any(x not in PHASES for x in phases):
        die(f"--phases: a list of {', '.join(PHASES)}")
    m = re.fullmatch(r"(\d+)-(\d+)", a.latency)
    if not m or int(m.group(1)) > int(m.group(2)):
        die("--latency: LO-HI in ms, LO <= HI, e.g. 100-300")
    lat = (int(m.group(1)), int(m.group(2)))
    tocsin = Path(a.bin)
    if not os.access(tocsin, os.X_OK):
        die(f"{tocsin} is missing: run `ninja -C build` first")

    work = Path(tempfile.mkdtemp(prefix="tbo-", dir="/tmp"))
    pgbase = Path(tempfile.mkdtemp(prefix="tbp-", dir="/tmp"))
    pki = work / "pki"
    prov = cluster = None
    failed = False
    t_all = time.monotonic()
    try:
        # -- setup: PKI, provider, repository, PostgreSQL -----------------
        t = time.monotonic()
        info, ca, account, token, prov, port = pki_and_provider(
            work, pki, not a.provider_nagle)
        plog = ProviderLog(work / "sms.jsonl", work / "sms.err")
        repo = work / "repo"
        gen = run([PY, SRC / "examples" / "gen-repo.py", "--pki", pki,
                   "--out", repo, "--teams", a.teams, "--idn", "--seed",
                   a.seed, "--smtp-port", 25, "--sms-port", port,
                   "--sms-account", account, "--sms-token", token,
                   "--listen-port", free_port()], text=True)
        conf = repo / "tocsin.conf"
        unused, n_step0, rate = sms_only_conf(tocsin, conf, a.parallel)
        base_text = conf.read_text()
        cluster = pgcluster.Cluster(pgbase, "primary").init().start()
        pgver = cluster.sql("postgres", "SHOW server_version")[0][0]
        setup_s = time.monotonic() - t
        secret = secrets.token_bytes(32)

        alerts = []         # (alert, sigs), made on the first run's need
        results = {ph: {c: [] for c in CONFIGS} for ph in phases}
        print(f"bench_store: {SERVE_WORKERS} workers per node, provider "
              f"{PROVIDER} (rate {rate}/s, parallel {a.parallel}), "
              f"{'provider without TCP_NODELAY (diagnostic)' if a.provider_nagle else 'provider with TCP_NODELAY'}, "
              f"PostgreSQL {pgver} on 127.0.0.1 (fsync off), "
              f"{os.cpu_count()} CPUs")
        print(f"  setup (mkpki + gen-repo + initdb, untimed) {setup_s:.1f} s: "
              f"{gen.stdout.strip().split(' -> ')[0]}; step 0 = all:sms in "
              f"{n_step0} policies; ke-gateway given [ \"{unused}\" ]")
        print(f"  phases: prompt (the provider answers at once: the store "
              f"and the CPUs set the pace), latency (each request waits "
              f"{lat[0]}-{lat[1]} ms, drawn per request, as a real "
              f"provider's API does: the providers' round trips set the "
              f"pace)")
        print()
        print(f"  {'run':<26} {'SMS':>5} {'wall s':>7} {'req/s':>7} "
              f"{'1st req s':>9} {'CPU s':>6} {'PG CPU':>6} {'RSS MiB':>7}  "
              f"{'dup':>3} {'warn':>4}  per node  checks")
        sys.stdout.flush()

        for ph in phases:
            rules = [] if ph == "prompt" else [
                {"action": "delay", "seconds": lat[0] / 1000,
                 "seconds_max": lat[1] / 1000, "name": "latency"}]
            control(port, ca, {"reset": True, "rules": rules})
            print(f"  -- {ph}")
            for k in range(a.runs):
                for c in CONFIGS:
                    tag = f"{ph[0]}{k + 1}-{c}"
                    store = Store("sqlite" if c == "sqlite" else "pg", repo, tag,
                                  cluster)
                    confs = node_confs(base_text, repo, tag, store,
                                       2 if c == "pg2" else 1, secret)
                    # -- a fresh submit of the same alerts -------------------
                    i = 0
                    while i < len(alerts) or len(store.sms_rows()) < a.messages:
                        if i == len(alerts):
                            if alerts and not store.sms_rows():
                                die("a submitted alert made no sms delivery")
                            if len(alerts) >= 100:
                                die("100 alerts and still not enough deliveries")
                            alerts.append(make_alert(work, pki, info, i))
                        cmd = [tocsin, "-c", confs[0][0], "submit", alerts[i][0]]
                        for s in alerts[i][1]:
                            cmd += ["--sig", s]
                        run(cmd, text=True)
                        i += 1
                    ndeliv = len(store.sms_rows())
                    # -- the timed serve run(s) ------------------------------
                    plog.mark()
                    pm = None if c == "sqlite" else postmaster_pid(cluster)
                    pc0, t_start = proc_cpu(prov.pid), time.time()
                    sc0 = tree_cpu(pm)
                    wall, nodes = serve_nodes(tocsin, [x[0] for x in confs],
                                              work, tag, a.serve_timeout)
                    pcpu = proc_cpu(prov.pid) - pc0
                    # the backends of the nodes' connections end just after
                    # the nodes do: their CPU counts once the postmaster
                    # has waited for them
                    time.sleep(0.2)
                    scpu = tree_cpu(pm) - sc0
                    recs, _ = plog.since()
                    got, problems = check_run(store.sms_rows(), recs,
                                              [x[1] for x in confs])
                    for j, nd in enumerate(nodes):
                        if nd["rc"] != 0 or nd["killed"]:
                            problems.append(
                                f"node {j + 1} exited {nd['rc']}"
                                + (" (stopped by --serve-timeout)"
                                   if nd["killed"] else "") + ": " +
                                Path(nd["err"]).read_text(errors="replace")
                                .strip()[-300:])
                    store.drop()
                    first = (got["first"] - t_start) if got["first"] else 0
                    r = {"wall": wall, "n": ndeliv, "ok": got["ok"],
                         "cpu": sum(x["cpu"] for x in nodes), "pcpu": pcpu,
                         "scpu": scpu,
                         "rss": max(x["maxrss"] for x in nodes) / 1024,
                         "first": first, "per_node": got["per_node"],
                         "node_walls": [x["wall"] for x in nodes],
                         "dup": got["dup_text"] + got["orphan"],
                         "warn": sum(Path(x["err"]).read_text(errors="replace")
                                     .count(": warning: ") for x in nodes),
                         "problems": problems}
                    results[ph][c].append(r)
                    failed |= bool(problems)
                    pgc = f"{scpu:.2f}" if pm else "-"
                    pn = "/".join(str(x) for x in r["per_node"]) \
                        if c == "pg2" else "-"
                    print(f"  {tag + ' ' + LABEL[c]:<26} {ndeliv:>5} "
                          f"{wall:>7.3f} {got['ok'] / wall:>7.1f} "
                          f"{first:>9.3f} {r['cpu']:>6.2f} "
                          f"{pgc:>6} {r['rss']:>7.1f}  "
                          f"{r['dup']:>3} {r['warn']:>4}  {pn:<9} "
                          f"{'ok' if not problems else 'FAILED'}")
                    for p in problems:
                        print(f"    FAILED: {p}")
                    sys.stdout.flush()

        # -- summary ---------------------------------------------------------
        failed |= summary(a, phases, results, failed)
        print(f"  run time of the whole bench {time.monotonic() - t_all:.0f} s")
    finally:
        stop(prov)
        if cluster is not None:
            cluster.cleanup()
        shutil.rmtree(pgbase, ignore_errors=True)
        end_work(work, pki, a.keep)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
