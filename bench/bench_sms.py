#!/usr/bin/python3
"""bench_sms: time 1,500 SMS or more through one provider.

Signed Extreme alerts to every team of a generated repository whose first
ladder step is `all:sms`, dispatched by `tocsin serve --until-idle` with 2
workers to the Twilio-compatible test provider (HTTPS, test PKI) through the
provider `twilio-main` alone (rate and burst set high, `parallel` = P): wall
time, requests/s and peak RSS.  Beside it, measured in the same run and
sending the same requests (the form fields tocsin sent: To, From, Body and
StatusCallback, read back from the provider's request log; same URL, HTTP
Basic auth, same CA):
  * one `curl --parallel --parallel-max P` process sending them all, from a
    config file with `next` between the requests;
  * a /bin/sh script running one `curl` process per message, over a sample
    of messages, projected to all of them.
Every run is checked: each request must have been answered 201, from the
provider's request log read per run.  It prints figures and the DESIGN.md
target beside them; it never asserts timings.

usage: bench/bench_sms.py [--parallel P] [--loop-sample N] [--messages N]
                          [--keep] [--bin PATH] [--serve-timeout SECONDS]
                          [--provider-nodelay]
Target (DESIGN.md): 1,500 SMS alone through one provider within 2x of one
`curl --parallel` process doing the same requests.
"""
import argparse
import json
import os
import re
import secrets
import shlex
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from benchlib import die, end_work, run, serve_options, stop, timed

SRC = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
CURL = "/usr/bin/curl"
TARGET_MESSAGES = 1500
TARGET_RATIO = 2.0
SERVE_WORKERS = 2
PROVIDER = "twilio-main"
STEP0_OLD = 'notify = [ "primary:pgp-email", "primary:sms" ]'
STEP0_NEW = 'notify = [ "all:sms" ]'
# ke-gateway gets a prefix that no number of the repository starts with
# (not +999: gen-repo gives it to territories with no calling code).
PREFIX_CANDIDATES = ("+9990", "+8880", "+2540", "+10")


def provider_block(text, name):
    """(start, end) of the `{ name = "NAME"; ... }` group in tocsin.conf."""
    m = re.search(r'\{ name = "' + re.escape(name) + r'";.*?\}', text, re.S)
    if not m:
        die(f"tocsin.conf: no provider {name!r}; gen-repo changed?")
    return m.start(), m.end()


def unused_prefix(teams_text):
    """A prefix that no phone number in teams.conf starts with."""
    numbers = re.findall(r'"(\+\d+)"', teams_text)
    for p in PREFIX_CANDIDATES:
        if not any(x.startswith(p) for x in numbers):
            return p
    die(f"every candidate prefix {PREFIX_CANDIDATES} is used in teams.conf")


def edit_conf(conf, parallel, unused):
    """Step 0 of every policy to all:sms; twilio-main with a high rate and
    burst and `parallel`; ke-gateway serving only a prefix no contact has
    (so that every SMS goes to twilio-main); gateway.workers to 2."""
    text = conf.read_text()
    n_step0 = text.count(STEP0_OLD)
    if n_step0 == 0:
        die(f"{conf}: no {STEP0_OLD!r} to replace; gen-repo changed?")
    text = text.replace(STEP0_OLD, STEP0_NEW)
    text, n = re.subn(r"(\n  workers\s*=\s*)\d+;", rf"\g<1>{SERVE_WORKERS};",
                      text)
    if n != 1:
        die(f"{conf}: expected one gateway workers key, found {n}")
    text, rate = sms_limits(text, conf, parallel, unused)
    conf.write_text(text)
    return n_step0, rate


def sms_limits(text, conf, parallel, unused):
    """The SMS providers of tocsin.conf's text as the SMS benches set them:
    twilio-main with a high rate and burst and `parallel`, ke-gateway
    serving only the prefix unused.  Returns (new text, rate)."""
    s, e = provider_block(text, PROVIDER)
    block = text[s:e]
    rate = max(5000, 100 * parallel)
    block, n1 = re.subn(r"rate = \d+;", f"rate = {rate}; burst = {rate};",
                        block)
    block, n2 = re.subn(r"parallel = \d+;", f"parallel = {parallel};", block)
    if n1 != 1 or n2 != 1:
        die(f"{conf}: {PROVIDER} has no rate or parallel key to set")
    text = text[:s] + block + text[e:]

    s, e = provider_block(text, "ke-gateway")
    block, n = re.subn(r'prefixes = \[[^]]*\];',
                       f'prefixes = [ "{unused}" ];', text[s:e])
    if n != 1:
        die(f"{conf}: ke-gateway has no prefixes to set")
    text = text[:s] + block + text[e:]
    return text, rate


def sms_only_conf(tocsin, conf, parallel):
    """edit_conf on the repository's tocsin.conf, with a prefix for
    ke-gateway that no number of its teams.conf has; `tocsin check` must
    accept the result.  Returns (that prefix, policies changed, rate)."""
    unused = unused_prefix((conf.parent / "teams.conf").read_text())
    n_step0, rate = edit_conf(conf, parallel, unused)
    chk = subprocess.run([tocsin, "-c", conf, "check"],
                         capture_output=True, text=True)
    if chk.returncode != 0:
        die(f"tocsin check failed ({chk.returncode}):\n{chk.stdout}"
            f"{chk.stderr}")
    return unused, n_step0, rate


# --provider-nodelay: run the unchanged test provider with TCP_NODELAY on
# its accepted connections (a diagnostic, see bench/README.md).  It answers
# with two writes (headers, then body); without it, Nagle's algorithm holds
# the body until the client acknowledges the headers, and a client's delayed
# ACK makes that about 40 ms per request.
NODELAY = """\
import importlib.util, os, socket, sys
path = sys.argv.pop(1)
# the provider imports peerfiles from its own folder, which python -c does
# not put on sys.path
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
spec = importlib.util.spec_from_file_location("sms_provider", path)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
_setup = m.Handler.setup
def setup(self):
    self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _setup(self)
m.Handler.setup = setup
sys.exit(m.main())
"""


def pki_and_provider(work, pki, nodelay):
    """A throwaway PKI made in pki and the test provider started with
    fresh credentials: (info, ca, account, token, provider process, port).
    """
    run(["sh", SRC / "certs" / "mkpki.sh", pki])
    info = json.loads((pki / "pki.json").read_text())
    account = "AC" + secrets.token_hex(16)
    token = secrets.token_hex(16)
    prov, port = start_provider(work, pki, account, token, nodelay)
    return info, pki / info["ca"], account, token, prov, port


def start_provider(work, pki, account, token, nodelay):
    ready = work / "sms.ready"
    err = open(work / "sms.err", "wb")
    prov_py = SRC / "tests" / "peers" / "sms_provider.py"
    argv0 = [PY, "-c", NODELAY, prov_py] if nodelay else [PY, prov_py]
    p = subprocess.Popen(argv0 + ["--port", "0", "--ready-file", ready,
                          "--cert", pki / "server.pem",
                          "--key", pki / "server.key",
                          "--account", f"{account}:{token}",
                          "--log", work / "sms.jsonl"],
                         stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    deadline = time.monotonic() + 20
    while not ready.exists():
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            die(f"sms_provider did not start: "
                f"{(work / 'sms.err').read_text()[-2000:]}")
        time.sleep(0.05)
    return p, int(ready.read_text().strip())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProviderLog:
    """The provider's request log (JSON lines) and its stderr, read per
    run: mark() before a run, since() after it."""

    def __init__(self, jsonl, errlog):
        self.jsonl, self.errlog = jsonl, errlog
        self.pos = (0, 0)

    def mark(self):
        self.pos = (self.jsonl.stat().st_size if self.jsonl.exists() else 0,
                    self.errlog.stat().st_size)

    def since(self):
        """(request records, client ports of the answered requests)."""
        with open(self.jsonl, "rb") as f:
            f.seek(self.pos[0])
            recs = [json.loads(x) for x in f.read().splitlines() if x.strip()]
        with open(self.errlog, "rb") as f:
            f.seek(self.pos[1])
            text = f.read().decode(errors="replace")
        ports = re.findall(r"sms_provider: [\d.]+:(\d+) POST \S+ -> \d+",
                           text)
        return recs, ports


def summarise(recs, ports):
    statuses = {}
    for r in recs:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    other = sum(1 for r in recs if not re.fullmatch(
        r"/2010-04-01/Accounts/[^/]+/Messages\.json", r["path"]))
    return {"requests": len(recs), "ok": statuses.get("201", 0),
            "other_paths": other,
            "statuses": statuses, "connections": len(set(ports)),
            "first": min((r["t"] for r in recs), default=None),
            "last": max((r["t_end"] for r in recs if r["t_end"]),
                        default=None)}


def control(port, ca, cmd=None):
    """GET or POST the provider's /_control; returns its JSON."""
    ctx = ssl.create_default_context(cafile=str(ca))
    data = None if cmd is None else json.dumps(cmd).encode()
    req = urllib.request.Request(f"https://127.0.0.1:{port}/_control",
                                 data=data, method="GET" if cmd is None
                                 else "POST")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())


def make_alert(work, pki, info, n):
    text = (SRC / "tests" / "data" / "alerts" /
            "sample-extreme.xml").read_text()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S-00:00")
    ident = f"BENCH-SMS-{os.getpid()}-{int(time.time())}-{n}"
    text, n1 = re.subn(r"<identifier>[^<]*</identifier>",
                       f"<identifier>{ident}</identifier>", text, count=1)
    text, n2 = re.subn(r"<sent>[^<]*</sent>", f"<sent>{now}</sent>", text,
                       count=1)
    if n1 != 1 or n2 != 1:
        die("sample-extreme.xml has no <identifier> or <sent> to replace")
    alert = work / f"alert-{n}.xml"
    alert.write_text(text)
    sigs = []
    for who in ("desk-1", "desk-2"):
        s = work / f"alert-{n}.xml.{who}.asc"
        run(["gpg", "--homedir", pki / info["signers_home"], "--batch",
             "--yes", "--quiet", "--armor", "--local-user",
             info["issuers"][who], "--output", s, "--detach-sign", alert])
        sigs.append(s)
    return alert, sigs


def proc_cpu(pid):
    """CPU seconds (user + system) used so far by process pid."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def curl_quote(s):
    """A curl config file parameter in double quotes (see curl(1), -K)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') \
        .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") \
        .replace("\v", "\\v") + '"'


def replay_requests(recs):
    """(path, [(field, value), ...]) of each request tocsin sent, in order
    of arrival.  A field sent twice would be a list: kept as it is."""
    out = []
    for r in sorted(recs, key=lambda r: r["t"]):
        fields = []
        for k, v in r["form"].items():
            for x in (v if isinstance(v, list) else [v]):
                fields.append((k, x))
        out.append((r["path"], fields))
    return out


def curl_parallel_config(path, base, reqs, user, ca):
    """One operation per request, `next` between them."""
    lines = []
    for i, (p, fields) in enumerate(reqs):
        if i:
            lines.append("next")
        lines.append(f"url = {curl_quote(base + p)}")
        for k, v in fields:
            lines.append(f"data-urlencode = {curl_quote(f'{k}={v}')}")
        lines.append(f"user = {curl_quote(user)}")
        lines.append(f"cacert = {curl_quote(str(ca))}")
        lines.append('output = "/dev/null"')
    path.write_text("\n".join(lines) + "\n")


def curl_loop_script(path, base, reqs, user, ca):
    """One curl process per message, one after the other, from one sh
    script.  Written out line by line, so the shell does no parsing work
    per message beyond starting curl."""
    lines = ["#!/bin/sh", "set -e"]
    for p, fields in reqs:
        args = [CURL, "-sS", "-o", "/dev/null", "--cacert", str(ca),
                "-u", user]
        for k, v in fields:
            args += ["--data-urlencode", f"{k}={v}"]
        args.append(base + p)
        lines.append(" ".join(shlex.quote(a) for a in args))
    path.write_text("\n".join(lines) + "\n")


def verdict(ok, complete):
    if not complete:
        return "NOT met (not every request answered 201)"
    return "met" if ok else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parallel", type=int, default=16,
                    help="providers.sms twilio-main parallel, and curl "
                    "--parallel-max (default 16)")
    ap.add_argument("--loop-sample", type=int, default=50,
                    help="messages sent by the curl-per-message loop")
    ap.add_argument("--messages", type=int, default=TARGET_MESSAGES,
                    help="SMS deliveries to make at least (alerts are added "
                    "until there are this many)")
    serve_options(ap, SRC)
    ap.add_argument("--provider-nodelay", action="store_true",
                    help="diagnostic: the test provider sets TCP_NODELAY "
                    "(without it, each answer waits about 40 ms for the "
                    "client's delayed ACK)")
    a = ap.parse_args()
    if not 1 <= a.parallel <= 300:
        die("--parallel must be 1 .. 300 (curl's --parallel-max limit)")
    tocsin = Path(a.bin)
    if not os.access(tocsin, os.X_OK):
        die(f"{tocsin} is missing: run `ninja -C build` first")
    if not os.access(CURL, os.X_OK):
        die(f"{CURL} is missing: apt-get install curl")

    # gpg-agent sockets live under the GnuPG home when /run/user/UID is
    # missing, and socket paths are limited to about 100 bytes: keep it short.
    work = Path(tempfile.mkdtemp(prefix="tbm-", dir="/tmp"))
    pki = work / "pki"
    prov = None
    try:
        # -- 1. PKI, provider, repository ----------------------------------
        t = time.monotonic()
        info, ca, account, token, prov, port = pki_and_provider(
            work, pki, a.provider_nodelay)
        plog = ProviderLog(work / "sms.jsonl", work / "sms.err")
        gen_py = SRC / "examples" / "gen-repo.py"
        gen_cmd = [PY, gen_py, "--pki", pki, "--out", work / "repo",
                   "--smtp-port", 25, "--sms-port", port,
                   "--sms-account", account, "--sms-token", token]
        if "--listen-port" in run([PY, gen_py, "--help"], text=True).stdout:
            # serve's listener (delivery receipts) on a free port, not
            # on the fixed default that another run may hold
            gen_cmd += ["--listen-port", free_port()]
        gen = run(gen_cmd, text=True)
        setup_s = time.monotonic() - t
        conf = work / "repo" / "tocsin.conf"
        unused, n_step0, rate = sms_only_conf(tocsin, conf, a.parallel)

        m = re.search(r'^\s*store\s*=\s*"([^"]+)";', conf.read_text(), re.M)
        store = Path(m.group(1))
        if not store.is_absolute():
            store = conf.parent / store

        def sms_states():
            if not store.exists():
                return {}
            db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            try:
                return dict(db.execute(
                    "SELECT state, count(*) FROM deliveries WHERE channel = "
                    "'sms' GROUP BY state").fetchall())
            except sqlite3.OperationalError:
                return {}
            finally:
                db.close()

        # -- 2. submit alerts until there are enough SMS deliveries --------
        nalerts, t_sub = 0, 0.0
        while sum(sms_states().values()) < a.messages:
            if nalerts and sum(sms_states().values()) == 0:
                die("a submitted alert made no sms delivery: "
                    "step 0 not all:sms?")
            alert, sigs = make_alert(work, pki, info, nalerts)
            cmd = [tocsin, "-c", conf, "submit", alert]
            for s in sigs:
                cmd += ["--sig", s]
            t = time.monotonic()
            run(cmd, text=True)
            t_sub += time.monotonic() - t
            nalerts += 1
            if nalerts > 100:
                die("more than 100 alerts and still not enough deliveries")
        before = sms_states()
        ndeliv = sum(before.values())

        # -- 3. tocsin serve -------------------------------------------------
        plog.mark()
        pc0, t_start = proc_cpu(prov.pid), time.time()
        wall, maxrss, hwm, code, killed = timed(
            [tocsin, "-c", conf, "serve", "--until-idle", "--quiet"],
            work / "serve.err", a.serve_timeout, sample=True)
        serve_cpu, serve_pcpu = timed.cpu, proc_cpu(prov.pid) - pc0
        serve_err = (work / "serve.err").read_text(errors="replace")
        serve_err_lines = [x for x in serve_err.splitlines() if x.strip()]
        recs, ports = plog.since()
        ts = summarise(recs, ports)
        states = sms_states()
        nsent = states.get("sent", 0)
        complete = (not killed and code == 0 and nsent == ndeliv
                    and ts["ok"] == ndeliv and ts["requests"] == ndeliv
                    and ts["other_paths"] == 0)
        if ts["ok"] == 0:
            die(f"the provider got no accepted request from tocsin "
                f"(states {states}, provider {ts['statuses']}); "
                f"stderr: {serve_err.strip()[-1500:]}")

        # The requests to replay: those tocsin got 201 for, exactly as sent.
        reqs = replay_requests([r for r in recs if r["status"] == 201])
        n = len(reqs)
        nfields = sorted({k for _, f in reqs for k, _ in f})
        base = f"https://127.0.0.1:{port}"
        user = f"{account}:{token}"
        snap0 = control(port, ca)

        # -- 4. one curl --parallel process --------------------------------
        cfg = work / "curl-parallel.conf"
        curl_parallel_config(cfg, base, reqs, user, ca)
        plog.mark()
        pc0 = proc_cpu(prov.pid)
        par_s, par_rss, _, par_code, par_killed = timed(
            [CURL, "--parallel", "--parallel-max", a.parallel, "-sS",
             "--config", cfg], work / "curl-parallel.err", a.serve_timeout)
        par_cpu, par_pcpu = timed.cpu, proc_cpu(prov.pid) - pc0
        pr = summarise(*plog.since())
        if par_code != 0 or par_killed:
            die(f"curl --parallel failed ({par_code}): "
                f"{(work / 'curl-parallel.err').read_text()[-1500:]}")
        par_ok = pr["ok"] == n and pr["requests"] == n

        # -- 5. the curl-per-message loop -----------------------------------
        step = max(1, n // max(1, a.loop_sample))
        sample = reqs[::step][:a.loop_sample]
        script = work / "loop.sh"
        curl_loop_script(script, base, sample, user, ca)
        plog.mark()
        pc0 = proc_cpu(prov.pid)
        loop_s, _, _, loop_code, loop_killed = timed(
            ["/bin/sh", script], work / "loop.err", a.serve_timeout)
        loop_cpu, loop_pcpu = timed.cpu, proc_cpu(prov.pid) - pc0
        lr = summarise(*plog.since())
        if loop_code != 0 or loop_killed:
            die(f"curl loop failed ({loop_code}): "
                f"{(work / 'loop.err').read_text()[-1500:]}")
        loop_ok = lr["ok"] == len(sample) and lr["requests"] == len(sample)
        loop_per = loop_s / len(sample)
        loop_all = loop_per * n
        snap1 = control(port, ca)

        # -- 6. report -------------------------------------------------------
        mib = maxrss / 1024
        r_par = wall / par_s
        r_loop = loop_all / wall
        checked = complete and par_ok and loop_ok
        print(f"bench_sms: {ndeliv} SMS of {nalerts} signed Extreme alerts, "
              f"step 0 = all:sms ({n_step0} policies), one provider "
              f"{PROVIDER} (rate {rate}/s, burst {rate}, parallel "
              f"{a.parallel}), {SERVE_WORKERS} workers, HTTPS to "
              f"tests/peers/sms_provider.py, {os.cpu_count()} CPUs")
        print(f"  setup (mkpki + gen-repo, untimed) {setup_s:.1f} s: "
              f"{gen.stdout.strip().split(' -> ')[0]}")
        print(f"  submit of {nalerts} alerts (untimed) {t_sub:.2f} s; "
              f"ke-gateway given prefixes [ \"{unused}\" ] "
              f"(accepted by tocsin check)")
        if a.provider_nodelay:
            print("  note: --provider-nodelay: the provider sets TCP_NODELAY "
                  "(diagnostic run)")
        print(f"  form fields sent by tocsin and replayed: "
              f"{', '.join(nfields)}")
        print()
        print("tocsin serve --until-idle --quiet")
        print("  deliveries sms        before " + ", ".join(
            f"{k} {v}" for k, v in sorted(before.items())) + "; after " +
            ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
        print(f"  provider              {ts['requests']} requests, "
              + ", ".join(f"{k}: {v}" for k, v in
                          sorted(ts["statuses"].items()))
              + f"; {ts['connections']} client connections (distinct "
              f"client ports)")
        if ts["other_paths"]:
            print(f"  NOTE                  {ts['other_paths']} requests did "
                  f"not go to {PROVIDER}'s Messages.json")
        print(f"  exit                  {code}"
              + (f" (stopped after --serve-timeout {a.serve_timeout:g} s)"
                 if killed else ""))
        if ts["first"]:
            print(f"  wall                  {wall:.3f} s (first request at "
                  f"the provider after {ts['first'] - t_start:.3f} s, first "
                  f"to last {ts['last'] - ts['first']:.3f} s)")
        else:
            print(f"  wall                  {wall:.3f} s")
        print(f"  CPU                   tocsin {serve_cpu:.2f} s, provider "
              f"{serve_pcpu:.2f} s (user + system)")
        print(f"  requests/s            {ts['ok'] / wall:.1f}")
        print(f"  peak RSS              {mib:.1f} MiB (wait4 ru_maxrss; "
              f"VmHWM sampled: {hwm / 1024:.1f} MiB)")
        if serve_err_lines:
            print(f"  stderr                {len(serve_err_lines)} lines, "
                  f"the first:")
            for line in serve_err_lines[:3]:
                print(f"    {line[:160]}")
        print()
        print(f"curl --parallel --parallel-max {a.parallel}: one process, "
              f"the same {n} requests")
        print(f"  provider              {pr['requests']} requests, "
              + ", ".join(f"{k}: {v}" for k, v in
                          sorted(pr["statuses"].items()))
              + f"; {pr['connections']} client connections")
        print(f"  wall                  {par_s:.3f} s, "
              f"{pr['ok'] / par_s:.1f} requests/s, peak RSS "
              f"{par_rss / 1024:.1f} MiB; tocsin / curl --parallel "
              f"{r_par:.2f}")
        print(f"  CPU                   curl {par_cpu:.2f} s, provider "
              f"{par_pcpu:.2f} s")
        print()
        print(f"curl loop: /bin/sh, one curl process per message, "
              f"{len(sample)} messages")
        print(f"  provider              {lr['requests']} requests, "
              + ", ".join(f"{k}: {v}" for k, v in
                          sorted(lr["statuses"].items()))
              + f"; {lr['connections']} client connections")
        print(f"  wall                  {loop_s:.3f} s "
              f"({loop_per * 1000:.1f} ms per message); CPU curl and sh "
              f"{loop_cpu:.2f} s, provider {loop_pcpu:.2f} s")
        print(f"  projected             {loop_all:.2f} s for {n} messages; "
              f"loop / tocsin {r_loop:.1f}")
        d = {k: snap1["statuses"].get(k, 0) - snap0["statuses"].get(k, 0)
             for k in snap1["statuses"]}
        print("  (provider counters over both baselines: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(d.items()) if v)
              + ")")
        print()

        def row(what, measured, target="", judged=""):
            line = f"  {what:<40} {measured:>11}   {target:<14} {judged}"
            print(line.rstrip())

        print("summary")
        row("", "measured", "target", "verdict")
        row(f"tocsin wall, {ndeliv} SMS", f"{wall:.2f} s")
        row("curl --parallel wall", f"{par_s:.2f} s")
        row("tocsin / curl --parallel", f"{r_par:.2f} x", "within 2x",
            verdict(r_par <= TARGET_RATIO, checked))
        row("loop (projected) / tocsin", f"{r_loop:.1f} x", "",
            "(no target of its own)")
        row("peak RSS", f"{mib:.1f} MiB", "under 64 MiB",
            verdict(mib < 64, True))
        row("every sms delivery sent, 201 each", "yes" if complete else "NO")
        row("baselines: 201 for every request",
            "yes" if par_ok and loop_ok else "NO")
        if n < TARGET_MESSAGES:
            print(f"  note: {n} messages, fewer than the target's "
                  f"{TARGET_MESSAGES}")
    finally:
        stop(prov)
        end_work(work, pki, a.keep)


if __name__ == "__main__":
    main()
