#!/usr/bin/python3
"""bench_dispatch: time the fan-out of the PGP e-mail channel.

One signed Extreme alert to every team of a generated repository whose
first ladder step is `all:pgp-email`, dispatched by `tocsin serve
--until-idle` with 2 workers to the SMTP test peer (STARTTLS, test PKI):
wall time, messages/s, contacts/s and peak RSS.  Beside it, measured in the
same run on the same keys:
  * the OpenPGP floor: for every team, the two gpg operations tocsin does
    (a detached signature by the gateway key, then one encryption to the
    team's contacts' keys), two at a time, with no tocsin;
  * the encryption-only floor: one `gpg --encrypt` per team, two at a time;
  * the naive loop: a /bin/sh loop of `gpg --encrypt | msmtp` per contact
    over a sample of contacts, projected to all contacts.
It prints figures and the DESIGN.md targets beside them; it never asserts
timings.

usage: bench/bench_dispatch.py [--teams N] [--seed S] [--keep]
                               [--loop-sample N] [--bin PATH]
                               [--serve-timeout SECONDS] [--no-tls-tickets]
Targets (DESIGN.md): under 5 s at 300 teams / 1,500 contacts on 2 cores,
within 1.3x of the OpenPGP floor, at least 20x faster than the shell loop,
peak RSS under 64 MiB.
"""
import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchlib import die, end_work, run, stop, timed

SRC = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
TARGET_TEAMS, TARGET_CONTACTS = 300, 1500
WORKERS = 2            # gpg at a time in the floors: the machine's 2 cores
SERVE_WORKERS = 2      # gateway.workers of tocsin serve (--workers)
STEP0_OLD = 'notify = [ "primary:pgp-email", "primary:sms" ]'
STEP0_NEW = 'notify = [ "all:pgp-email" ]'


def parse_teams(text):
    """teams.conf -> [(team id, [(email, fingerprint), ...])], in order."""
    teams = []
    for m in re.finditer(r'^  \{ id = "([^"]+)";(.*?)(?=^  \{ id = |\Z)',
                         text, re.M | re.S):
        block = m.group(2)
        emails = re.findall(r'^\s+email = "([^"]+)";', block, re.M)
        fprs = re.findall(r'^\s+pgp = "([0-9A-Fa-f]{40})";', block, re.M)
        if len(emails) != len(fprs) or not emails:
            die(f"team {m.group(1)}: {len(emails)} e-mail addresses but "
                f"{len(fprs)} pgp keys in teams.conf")
        teams.append((m.group(1), list(zip(emails, fprs))))
    return teams


def edit_conf(conf, smtp_port, pgp_mime="nested", engine=None):
    """Step 0 to all:pgp-email, 2 workers, the peer's port, the PGP/MIME
    form (nested: RFC 3156 6.1, sign then encrypt; combined: 6.2) and,
    when given, gateway.pgp_engine."""
    text = conf.read_text()
    if engine is not None:
        text, n = re.subn(r"(\n  workers\s*=\s*\d+;)",
                          rf'\g<1>\n  pgp_engine = "{engine}";', text)
        if n != 1:
            die(f"{conf}: expected one gateway workers key, found {n}")
    n_step0 = text.count(STEP0_OLD)
    if n_step0 == 0:
        die(f"{conf}: no {STEP0_OLD!r} to replace; gen-repo changed?")
    text = text.replace(STEP0_OLD, STEP0_NEW)
    text, n = re.subn(r"(\n  workers\s*=\s*)\d+;", rf"\g<1>{SERVE_WORKERS};",
                      text)
    if n != 1:
        die(f"{conf}: expected one gateway workers key, found {n}")
    text, n = re.subn(r"(\n  smtp = \{[^}]*?\n    port\s*=\s*)\d+;",
                      rf"\g<1>{smtp_port};", text)
    if n != 1:
        die(f"{conf}: no providers.smtp port to set")
    text, n = re.subn(r"(\n  smtp = \{\n)", rf'\g<1>    pgp_mime = "{pgp_mime}";\n',
                      text)
    if n != 1:
        die(f"{conf}: no providers.smtp group")
    conf.write_text(text)
    return n_step0


# --no-tls-tickets: run the unchanged test peer with a TLS context that sends
# no TLS 1.3 session tickets (a diagnostic, see bench/README.md).
NO_TICKETS = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("smtp_peer", sys.argv.pop(1))
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
_tls = m.tls_context
def tls_context(cert, key):
    ctx = _tls(cert, key)
    ctx.num_tickets = 0
    return ctx
m.tls_context = tls_context
sys.exit(m.main())
"""


def start_peer(work, pki, no_tickets):
    ready = work / "peer.ready"
    err = open(work / "peer.err", "wb")
    peer_py = SRC / "tests" / "peers" / "smtp_peer.py"
    argv0 = [PY, "-c", NO_TICKETS, peer_py] if no_tickets else [PY, peer_py]
    p = subprocess.Popen(argv0 + ["--port", "0", "--ready-file", ready,
                          "--cert", pki / "server.pem",
                          "--key", pki / "server.key",
                          "--out", work / "mail"],
                         stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    deadline = time.monotonic() + 20
    while not ready.exists():
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            die(f"smtp_peer did not start: "
                f"{(work / 'peer.err').read_text()[-2000:]}")
        time.sleep(0.05)
    return p, int(ready.read_text().strip())


def make_alert(work, pki, info):
    text = (SRC / "tests" / "data" / "alerts" /
            "sample-extreme.xml").read_text()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S-00:00")
    ident = f"BENCH-DISPATCH-{os.getpid()}-{int(time.time())}"
    text, n1 = re.subn(r"<identifier>[^<]*</identifier>",
                       f"<identifier>{ident}</identifier>", text, count=1)
    text, n2 = re.subn(r"<sent>[^<]*</sent>", f"<sent>{now}</sent>", text,
                       count=1)
    if n1 != 1 or n2 != 1:
        die("sample-extreme.xml has no <identifier> or <sent> to replace")
    alert = work / "alert.xml"
    alert.write_text(text)
    sigs = []
    for who in ("desk-1", "desk-2"):
        s = work / f"alert.xml.{who}.asc"
        run(["gpg", "--homedir", pki / info["signers_home"], "--batch",
             "--yes", "--quiet", "--armor", "--local-user",
             info["issuers"][who], "--output", s, "--detach-sign", alert])
        sigs.append(s)
    return alert, sigs


def gpg_base(home):
    return ["gpg", "--homedir", str(home), "--batch", "--quiet",
            "--trust-model", "always", "--armor"]


def floor(home, gateway_fpr, teams, bodies, sign):
    """Per team: [a detached signature, then] one encryption to the team's
    keys; WORKERS at a time.  Returns wall seconds."""
    base = gpg_base(home)

    def one(i):
        body = bodies[i]
        if sign:
            s = subprocess.run(base + ["--local-user", gateway_fpr,
                                       "--detach-sign"], input=body,
                               capture_output=True)
            if s.returncode != 0:
                raise RuntimeError(s.stderr.decode(errors="replace"))
            body = body + s.stdout
        cmd = base + ["--encrypt"]
        for _, fpr in teams[i][1]:
            cmd += ["--recipient", fpr]
        e = subprocess.run(cmd, input=body, capture_output=True)
        if e.returncode != 0:
            raise RuntimeError(e.stderr.decode(errors="replace"))
        return len(e.stdout)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
        list(ex.map(one, range(len(teams))))
    return time.monotonic() - t0


LOOP_SH = """\
#!/bin/sh
# The naive way: one gpg and one msmtp per contact.
set -u
while read -r addr fpr; do
	{ printf 'From: tocsin@alerts.example\\nTo: %s\\nSubject: alert\\n\\n' \\
	    "$addr"
	  gpg --homedir "$1" --batch --quiet --trust-model always --armor \\
	    --encrypt --recipient "$fpr" < "$2"
	} | msmtp -C "$3" "$addr" || exit 1
done < "$4"
"""


def naive_loop(work, pki, port, home, sample, body):
    rc = work / "msmtprc"
    rc.write_text(f"""defaults
account bench
host 127.0.0.1
port {port}
tls on
tls_starttls on
tls_trust_file {pki / 'ca.pem'}
from tocsin@alerts.example
auth off
account default : bench
""")
    rc.chmod(0o600)
    script, lst, bodyf = work / "loop.sh", work / "loop.list", work / "body"
    script.write_text(LOOP_SH)
    lst.write_text("".join(f"{a} {f}\n" for a, f in sample))
    bodyf.write_bytes(body)
    t0 = time.monotonic()
    p = subprocess.run(["/bin/sh", script, home, bodyf, rc, lst],
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        die(f"naive loop failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return wall


def peer_messages(maildir):
    out = []
    for f in sorted(maildir.glob("*.json")):
        j = json.loads(f.read_text())
        eml = f.with_suffix(".eml")
        j["size"] = eml.stat().st_size if eml.exists() else 0
        out.append(j)
    return out


def peer_sessions(log_text):
    """From the peer's stderr: (connect checks, SMTP sessions, sessions
    that sent no MAIL after STARTTLS and were idle >= 5 s until they
    closed).  Times are to the second."""
    conns = {}
    for line in log_text.splitlines():
        m = re.match(r"(\d\d):(\d\d):(\d\d) smtp_peer: (\S+) (connect|"
                     r"STARTTLS done|MAIL FROM|disconnect)", line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
        c = conns.setdefault(m.group(4), {})
        c.setdefault(m.group(5), t)
    probes = sum(1 for c in conns.values() if "STARTTLS done" not in c)
    sessions = [c for c in conns.values() if "STARTTLS done" in c]
    stalled = sum(1 for c in sessions if "MAIL FROM" not in c and
                  c.get("disconnect", 1 << 30) - c["STARTTLS done"] >= 5)
    return probes, len(sessions), stalled


def verdict(ok, complete):
    if not complete:
        return "NOT met (deliveries not all sent)"
    return "met" if ok else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teams", type=int, default=TARGET_TEAMS)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--contacts-per-team", type=int, default=0,
                    help="gen-repo: exactly N contacts a team, a key each "
                    "(default: 1 to 4); 5 makes the target's 1,500 at 300 "
                    "teams")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (printed at the end)")
    ap.add_argument("--loop-sample", type=int, default=30,
                    help="contacts sent by the naive shell loop")
    ap.add_argument("--bin", default=str(SRC / "build" / "gateway" / "tocsin"))
    ap.add_argument("--workers", type=int, default=2,
                    help="gateway.workers of tocsin serve (the floors "
                    "always run 2 gpg at a time)")
    ap.add_argument("--pgp-mime", choices=("nested", "combined"),
                    default="nested",
                    help="providers.smtp.pgp_mime: RFC 3156 6.1 (nested, "
                    "two gpg runs per team) or 6.2 (combined, one)")
    ap.add_argument("--serve-timeout", type=float, default=600,
                    help="stop `tocsin serve` after this many seconds")
    ap.add_argument("--engine", choices=("rnp", "gpgme"),
                    help="gateway.pgp_engine (default: the gateway's own "
                    "default)")
    ap.add_argument("--no-tls-tickets", action="store_true",
                    help="diagnostic: the SMTP peer sends no TLS 1.3 "
                    "session tickets (real relays do send them)")
    a = ap.parse_args()
    global SERVE_WORKERS
    SERVE_WORKERS = a.workers
    tocsin = Path(a.bin)
    if not os.access(tocsin, os.X_OK):
        die(f"{tocsin} is missing: run `ninja -C build` first")
    if shutil.which("msmtp") is None:
        die("msmtp is missing: apt-get install msmtp (see .ci/install-deps)")

    # gpg-agent sockets live under the GnuPG home when /run/user/UID is
    # missing, and socket paths are limited to about 100 bytes: keep it short.
    work = Path(tempfile.mkdtemp(prefix="tbd-", dir="/tmp"))
    pki = work / "pki"
    peer = None
    try:
        # -- 1. PKI and repository -----------------------------------------
        t = time.monotonic()
        run(["sh", SRC / "certs" / "mkpki.sh", pki])
        info = json.loads((pki / "pki.json").read_text())
        gen = run([PY, SRC / "examples" / "gen-repo.py", "--pki", pki,
                   "--out", work / "repo", "--teams", a.teams,
                   "--contacts-per-team", a.contacts_per_team,
                   "--seed", a.seed, "--smtp-port", 25], text=True)
        setup_s = time.monotonic() - t
        conf = work / "repo" / "tocsin.conf"
        teams = parse_teams((work / "repo" / "teams.conf").read_text())
        nteams = len(teams)
        ncontacts = sum(len(c) for _, c in teams)
        home = pki / info["gnupg_home"]
        gateway_fpr = info["gateway"]

        # -- 2. the SMTP peer ------------------------------------------------
        peer, port = start_peer(work, pki, a.no_tls_tickets)
        n_step0 = edit_conf(conf, port, a.pgp_mime, a.engine)
        chk = subprocess.run([tocsin, "-c", conf, "check"],
                             capture_output=True, text=True)
        if chk.returncode != 0:
            die(f"tocsin check failed ({chk.returncode}):\n{chk.stdout}"
                f"{chk.stderr}")

        # -- 3. submit, then time serve --------------------------------------
        alert, sigs = make_alert(work, pki, info)
        cmd = [tocsin, "-c", conf, "submit", alert]
        for s in sigs:
            cmd += ["--sig", s]
        sub = run(cmd, text=True)
        alert_id = sub.stdout.strip()
        # Start the gateway home's gpg-agent outside the timing, as it is
        # on a running gateway (the floor below gets it warm too).
        run(gpg_base(home) + ["--local-user", gateway_fpr, "--detach-sign"],
            input=b"warm-up\n")

        t_epoch = time.time()
        wall, maxrss, hwm, code, killed = timed(
            [tocsin, "-c", conf, "serve", "--until-idle", "--quiet"],
            work / "serve.err", a.serve_timeout, sample=True)
        serve_cpu = timed.cpu
        serve_err = (work / "serve.err").read_text(errors="replace")
        serve_err_lines = [x for x in serve_err.splitlines() if x.strip()]

        m = re.search(r'^\s*store\s*=\s*"([^"]+)";', conf.read_text(), re.M)
        store = Path(m.group(1))
        if not store.is_absolute():
            store = conf.parent / store
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        states = dict(db.execute(
            "SELECT state, count(*) FROM deliveries WHERE channel = "
            "'pgp-email' GROUP BY state").fetchall())
        db.close()
        nsent = states.get("sent", 0)
        ndeliv = sum(states.values())

        msgs = peer_messages(work / "mail")
        team_of = {e.lower(): tid for tid, cs in teams for e, _ in cs}
        per_team, rcpts_of = {}, {}
        for msg in msgs:
            ts = {team_of.get(r.lower(), "?") for r in msg["rcpt_tos"]}
            for tid in ts:
                per_team[tid] = per_team.get(tid, 0) + 1
                rcpts_of.setdefault(tid, set()).update(
                    r.lower() for r in msg["rcpt_tos"])
        one = sum(1 for tid, _ in teams if per_team.get(tid) == 1)
        none = sum(1 for tid, _ in teams if tid not in per_team)
        many = sum(1 for tid, _ in teams if per_team.get(tid, 0) > 1)
        mixed = sum(1 for msg in msgs if len(
            {team_of.get(r.lower(), "?") for r in msg["rcpt_tos"]}) > 1)
        full = sum(1 for tid, cs in teams
                   if rcpts_of.get(tid) == {e.lower() for e, _ in cs})
        last_msg = (max(msg["received"] for msg in msgs) - t_epoch
                    if msgs else float("nan"))
        avg_size = sum(msg["size"] for msg in msgs) / len(msgs) if msgs else 0
        # complete: every delivery sent and serve ended by itself;
        # clean: also exactly one message per team, to all its contacts.
        complete = (not killed and code == 0 and nsent == ncontacts
                    and ndeliv == ncontacts)
        clean = (complete and one == nteams and len(msgs) == nteams
                 and mixed == 0 and full == nteams)
        probes, sessions, stalled = peer_sessions(
            (work / "peer.err").read_text(errors="replace"))

        # -- 4. the OpenPGP floor ------------------------------------------
        rng = random.Random(a.seed)
        filler = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz.\n")
                         for _ in range(4096))
        bodies = [(f"Alert {alert_id} for team {tid}\n" + filler)
                  .encode()[:4096] for tid, _ in teams]
        floor_se = floor(home, gateway_fpr, teams, bodies, sign=True)
        floor_e = floor(home, gateway_fpr, teams, bodies, sign=False)

        # -- 5. the naive loop -----------------------------------------------
        flat = [c for _, cs in teams for c in cs]
        sample = rng.sample(flat, min(a.loop_sample, len(flat)))
        before = len(list((work / "mail").glob("*.json")))
        loop_s = naive_loop(work, pki, port, home, sample, bodies[0])
        loop_msgs = len(list((work / "mail").glob("*.json"))) - before
        if loop_msgs != len(sample):
            die(f"naive loop: the peer stored {loop_msgs} messages for "
                f"{len(sample)} contacts")
        loop_per_contact = loop_s / len(sample)
        loop_all = loop_per_contact * ncontacts

        # -- 6. report -------------------------------------------------------
        mib = maxrss / 1024
        proj_contact = wall * TARGET_CONTACTS / ncontacts
        proj_team = wall * TARGET_TEAMS / nteams
        r_floor = wall / floor_se
        r_floor_e = wall / floor_e
        r_loop = loop_all / wall
        print(f"bench_dispatch: PGP e-mail fan-out of one signed Extreme "
              f"alert, step 0 = all:pgp-email ({n_step0} policies), "
              f"{SERVE_WORKERS} workers, pgp_mime {a.pgp_mime}, "
              f"engine {a.engine or 'default'}, "
              f"{os.cpu_count()} CPUs")
        print(f"  setup (mkpki + gen-repo, untimed) {setup_s:.1f} s: "
              f"{gen.stdout.strip().split(' -> ')[0]}")
        if nteams != a.teams:
            print(f"  note: asked for {a.teams} teams, got {nteams}")
        if ncontacts != TARGET_CONTACTS:
            print(f"  note: {ncontacts} contacts, not {TARGET_CONTACTS} "
                  f"(--contacts-per-team 5 at 300 teams makes them); the "
                  f"target is judged on projections")
        if a.no_tls_tickets:
            print("  note: --no-tls-tickets: the SMTP peer sends no TLS 1.3 "
                  "session tickets (diagnostic run)")
        print(f"  {sub.stderr.strip()}")
        print()
        print("tocsin serve --until-idle --quiet")
        print(f"  teams                 {nteams}")
        print(f"  contacts              {ncontacts} "
              f"({ncontacts / nteams:.2f} per team)")
        print("  deliveries pgp-email  " + ", ".join(
            f"{k} {v}" for k, v in sorted(states.items())))
        print(f"  messages at the peer  {len(msgs)}, mean "
              f"{avg_size / 1024:.1f}"
              f" KiB; teams with one message {one}, with none {none}, with "
              f"several {many}; messages mixing teams {mixed}; teams whose "
              f"contacts all got it {full}")
        print(f"  SMTP sessions         {sessions} (and {probes} connect "
              f"checks); stalled after STARTTLS, no MAIL, >= 5 s: {stalled}")
        print(f"  exit                  {code}"
              + (f" (stopped after --serve-timeout {a.serve_timeout:g} s)"
                 if killed else ""))
        print(f"  wall                  {wall:.3f} s (last message stored "
              f"at the peer after {last_msg:.3f} s)")
        print(f"  CPU                   {serve_cpu:.3f} s user + system "
              f"(tocsin and the gpg processes it ran; "
              f"{serve_cpu / nteams * 1000:.2f} ms per team)")
        print(f"  messages/s            {len(msgs) / wall:.1f}")
        print(f"  contacts/s            {nsent / wall:.1f} (deliveries sent "
              f"per second)")
        print(f"  per team / contact    {wall / nteams * 1000:.1f} ms / "
              f"{wall / ncontacts * 1000:.1f} ms")
        print(f"  peak RSS              {mib:.1f} MiB (wait4 ru_maxrss: "
              f"tocsin or its largest gpg child; tocsin's own VmHWM, "
              f"sampled: {hwm / 1024:.1f} MiB)")
        if serve_err_lines:
            print(f"  stderr                {len(serve_err_lines)} lines, "
                  f"the first:")
            for line in serve_err_lines[:3]:
                print(f"    {line[:160]}")
        print()
        print(f"OpenPGP floor: gpg alone, {nteams} teams, {WORKERS} at a "
              f"time, 4 KiB body, same keys")
        print(f"  sign + encrypt        {floor_se:.3f} s "
              f"({floor_se / nteams * 1000:.1f} ms per team); "
              f"tocsin / floor {r_floor:.2f}")
        print(f"  encrypt only          {floor_e:.3f} s "
              f"({floor_e / nteams * 1000:.1f} ms per team); "
              f"tocsin / floor {r_floor_e:.2f}")
        print()
        print(f"naive loop: /bin/sh, gpg --encrypt | msmtp per contact, "
              f"{len(sample)} contacts")
        print(f"  wall                  {loop_s:.3f} s "
              f"({loop_per_contact * 1000:.1f} ms per contact)")
        print(f"  projected             {loop_all:.2f} s for {ncontacts} "
              f"contacts, {loop_per_contact * TARGET_CONTACTS:.2f} s for "
              f"{TARGET_CONTACTS}; loop / tocsin {r_loop:.1f}")
        print()

        def row(what, measured, target="", judged=""):
            line = f"  {what:<40} {measured:>11}   {target:<14} {judged}"
            print(line.rstrip())

        print("summary")
        row("", "measured", "target", "verdict")
        row(f"wall, {nteams} teams / {ncontacts} contacts", f"{wall:.2f} s")
        row(f"projected to {TARGET_CONTACTS} contacts (x contacts)",
            f"{proj_contact:.2f} s", "under 5 s",
            verdict(proj_contact < 5, complete))
        row(f"projected to {TARGET_TEAMS} teams (x teams)",
            f"{proj_team:.2f} s", "under 5 s",
            verdict(proj_team < 5, complete))
        row("tocsin / floor (sign + encrypt)", f"{r_floor:.2f} x",
            "within 1.3x", verdict(r_floor <= 1.3, complete))
        row("tocsin / floor (encrypt only)", f"{r_floor_e:.2f} x",
            "within 1.3x", verdict(r_floor_e <= 1.3, complete))
        row("loop (projected) / tocsin", f"{r_loop:.1f} x", "at least 20x",
            verdict(r_loop >= 20, complete))
        row("peak RSS", f"{mib:.1f} MiB", "under 64 MiB",
            verdict(mib < 64, True))
        row("every delivery sent", "yes" if complete else "NO")
        row("one message per team, to all contacts", "yes" if clean else "NO")
    finally:
        stop(peer)
        end_work(work, pki, a.keep)


if __name__ == "__main__":
    main()
