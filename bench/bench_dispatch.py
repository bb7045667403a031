#!/usr/bin/python3
"""bench_dispatch: time the fan-out of PGP e-mail and SMS to every team.

One signed Extreme alert to every team of a generated repository whose
first ladder step is `all:pgp-email` and (with --with-sms, the default)
`all:sms`, dispatched by `tocsin serve --until-idle` with 2 workers to an
SMTP sink (STARTTLS, test PKI) and to the Twilio-compatible test provider
(HTTPS, TCP_NODELAY, `twilio-main` with the rate limits bench_sms.py sets):
wall time, CPU, messages/s, contacts/s and peak RSS.  The SMTP sink is a
private Postfix instance that discards what it accepts (--peer postfix, the
default when Debian's postfix is installed) or the Python test peer
(--peer python).  Beside it, measured in the same run on the same keys:
  * the sink's own limit (Postfix): smtp-source sending as many messages of
    the same size to as many recipients over as many parallel sessions,
    plain SMTP, plus a STARTTLS handshake floor for tocsin's TLS sessions;
  * the OpenPGP floor: for every team, the two gpg operations tocsin does
    (a detached signature by the gateway key, then one encryption to the
    team's contacts' keys), two at a time, with no tocsin;
  * the encryption-only floor: one `gpg --encrypt` per team, two at a time;
  * the loop: a /bin/sh loop of `gpg --sign --encrypt | msmtp` per team
    (to all its contacts) and one `curl` per SMS, over a sample of teams,
    projected to all teams;
  * the old per-contact loop: `gpg --encrypt | msmtp` per contact (no
    signature, no SMS) over a sample of contacts, projected to all.
It prints figures and the targets beside them; it never asserts timings.

usage: bench/bench_dispatch.py [--teams N] [--contacts-per-team N]
                               [--peer postfix|python] [--no-sms]
                               [--reuse DIR] [--keep] [...]
Target (issue 21): PGP e-mail + SMS to 1,500 contacts in 300 teams in under
1 s of serve on 2 cores, at least 100x faster than the gpg | msmtp + curl
loop, peak RSS under 64 MiB.
"""
import argparse
import concurrent.futures
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import postfix_sink
from bench_sms import (PROVIDER, ProviderLog, curl_parallel_config,
                       proc_cpu, replay_requests, sms_limits, start_provider,
                       summarise, unused_prefix)
from benchlib import die, end_work, run, stop, timed

SRC = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
CURL = "/usr/bin/curl"
TARGET_TEAMS, TARGET_CONTACTS = 300, 1500
WORKERS = 2            # gpg at a time in the floors: the machine's 2 cores
SERVE_WORKERS = 2      # gateway.workers of tocsin serve (--workers)
STEP0_OLD = 'notify = [ "primary:pgp-email", "primary:sms" ]'
STEP0_NEW = 'notify = [ "all:pgp-email" ]'
STEP0_SMS = 'notify = [ "all:pgp-email", "all:sms" ]'
TARGET_WALL, TARGET_LOOP = 1.0, 100.0


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


def parse_mobiles(text):
    """teams.conf -> {team id: [mobile number of each contact that has
    one]}: where step 0's all:sms sends."""
    out = {}
    for m in re.finditer(r'^  \{ id = "([^"]+)";(.*?)(?=^  \{ id = |\Z)',
                         text, re.M | re.S):
        out[m.group(1)] = re.findall(r'^\s+mobile = "([^"]+)";',
                                     m.group(2), re.M)
    return out


def edit_conf(conf, smtp_port, pgp_mime="nested", engine=None,
              sms_parallel=None, smtp_batch=None):
    """Step 0 to all:pgp-email (and all:sms with sms_parallel, the SMS
    providers then set as bench_sms sets them), 2 workers, the peer's port,
    the PGP/MIME form (nested: RFC 3156 6.1, sign then encrypt; combined:
    6.2) and, when given, gateway.pgp_engine and providers.smtp.batch.
    Returns (policies changed,
    twilio-main's rate or None)."""
    text = conf.read_text()
    rate = None
    if sms_parallel is not None:
        unused = unused_prefix((conf.parent / "teams.conf").read_text())
        text, rate = sms_limits(text, conf, sms_parallel, unused)
    if engine is not None:
        text, n = re.subn(r"(\n  workers\s*=\s*\d+;)",
                          rf'\g<1>\n  pgp_engine = "{engine}";', text)
        if n != 1:
            die(f"{conf}: expected one gateway workers key, found {n}")
    n_step0 = text.count(STEP0_OLD)
    if n_step0 == 0:
        die(f"{conf}: no {STEP0_OLD!r} to replace; gen-repo changed?")
    text = text.replace(STEP0_OLD, STEP0_NEW if sms_parallel is None
                        else STEP0_SMS)
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
    if smtp_batch is not None:
        text = re.sub(r"(\n  smtp = \{\n)",
                      rf"\g<1>    batch = {smtp_batch};\n", text, count=1)
    conf.write_text(text)
    return n_step0, rate


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


def msmtp_rc(work, port):
    """An msmtp configuration for the SMTP sink on port, STARTTLS checked
    against the test CA."""
    pki = work / "pki"
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
    return rc


def naive_loop(work, port, home, sample, body):
    rc = msmtp_rc(work, port)
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


TEAM_LOOP_SH = """\
#!/bin/sh
# The loop an operator would write: per team, one gpg signing and
# encrypting to all the team's keys, piped to one msmtp to all its
# contacts; then one curl per SMS.  Lines of $4: id|addresses|keys|mobiles
set -u
while IFS='|' read -r tid addrs fprs mobiles; do
	r=
	for f in $fprs; do r="$r --recipient $f"; done
	# shellcheck disable=SC2086
	{ printf 'From: tocsin@alerts.example\\nTo: undisclosed-recipients:;\\nSubject: alert %s\\n\\n' \\
	    "$tid"
	  gpg --homedir "$1" --batch --quiet --trust-model always --armor \\
	    --local-user "$5" --sign --encrypt $r < "$2"
	} | msmtp -C "$3" $addrs || exit 1
	for m in $mobiles; do
		sms "$m" || exit 1
	done
done < "$4"
"""


def team_loop(work, port, home, gateway_fpr, sample, mobiles, body, sms):
    """TEAM_LOOP_SH over the teams of sample ([(id, [(email, fpr)])]);
    msmtp to the SMTP sink on port (msmtp_rc), curl as sms(), which posts the form fields of one request
    tocsin sent (sms: base URL, path, user, CA, [(field, value)]) with To
    changed, or no SMS when sms is None.  Returns wall seconds."""
    rc = msmtp_rc(work, port)
    if sms is None:
        fn = "sms() { :; }"
    else:
        args = [CURL, "-sS", "-f", "-o", "/dev/null", "--cacert",
                str(sms["ca"]), "-u", sms["user"]]
        for k, v in sms["fields"]:
            if k != "To":
                args += ["--data-urlencode", f"{k}={v}"]
        args.append(sms["base"] + sms["path"])
        fn = ("sms() { " + " ".join(shlex.quote(a) for a in args)
              + ' --data-urlencode "To=$1"; }')
    script = work / "team-loop.sh"
    text = TEAM_LOOP_SH.replace("set -u\n", f"set -u\n{fn}\n", 1)
    script.write_text(text)
    lst, bodyf = work / "team-loop.list", work / "team-loop.body"
    lst.write_text("".join(
        f"{tid}|{' '.join(a for a, _ in cs)}|{' '.join(f for _, f in cs)}"
        f"|{' '.join(mobiles.get(tid, []) if sms else [])}\n"
        for tid, cs in sample))
    bodyf.write_bytes(body)
    t0 = time.monotonic()
    p = subprocess.run(["/bin/sh", script, home, bodyf, rc, lst,
                        gateway_fpr], capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        die(f"team loop failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return wall


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


class PythonSink:
    """tests/peers/smtp_peer.py as the sink, with the interface of
    postfix_sink.PostfixSink: mark(), settle(), messages(), cpu(), stop().
    """
    name = "tests/peers/smtp_peer.py (Python aiosmtpd)"

    def __init__(self, work, pki, no_tickets):
        self.work, self.maildir = work, work / "mail"
        self.proc, self.port = start_peer(work, pki, no_tickets)
        self.seen = set()

    def mark(self):
        self.seen = set(self.maildir.glob("*.json"))

    def _new(self):
        return sorted(set(self.maildir.glob("*.json")) - self.seen)

    def settle(self, timeout=30):
        """The peer stores a message before it answers 250: nothing to
        wait for once the client is done."""
        return True

    def messages(self):
        out = []
        for f in self._new():
            j = json.loads(f.read_text())
            eml = f.with_suffix(".eml")
            j["size"] = eml.stat().st_size if eml.exists() else 0
            j["other"] = 0
            out.append(j)
        return out

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        stop(self.proc)


def verdict(ok, complete):
    if not complete:
        return "NOT met (deliveries not all sent)"
    return "met" if ok else "NOT met"


def sigterm(signum, frame):
    """SIGTERM as Ctrl-C: unwind through the finally that stops the sink
    and the provider."""
    raise KeyboardInterrupt


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
    ap.add_argument("--reuse", metavar="DIR",
                    help="work in DIR and keep it: its PKI and contact keys "
                    "(from an earlier --keep or --reuse run) are reused, "
                    "the repository, store and sink are made afresh")
    ap.add_argument("--peer", choices=("postfix", "python"),
                    help="the SMTP sink: a private Postfix instance "
                    "(default when postfix is installed) or "
                    "tests/peers/smtp_peer.py")
    ap.add_argument("--sink-tmpfs", action="store_true",
                    help="--peer postfix: its queue and log in /dev/shm "
                    "(no fsync reaching a disk), not in the work folder")
    ap.add_argument("--with-sms", dest="sms", action="store_true",
                    default=True,
                    help="step 0 also all:sms, to the test provider "
                    "(default)")
    ap.add_argument("--no-sms", dest="sms", action="store_false",
                    help="step 0 all:pgp-email alone")
    ap.add_argument("--parallel", type=int, default=16,
                    help="providers.sms twilio-main parallel (as "
                    "bench_sms.py; default 16)")
    ap.add_argument("--loop-teams", type=int, default=10,
                    help="teams sent by the gpg | msmtp + curl loop")
    ap.add_argument("--loop-sample", type=int, default=30,
                    help="contacts sent by the old per-contact loop "
                    "(0: skip it)")
    ap.add_argument("--bin", default=str(SRC / "build" / "gateway" / "tocsin"))
    ap.add_argument("--workers", type=int, default=2,
                    help="gateway.workers of tocsin serve (the floors "
                    "always run 2 gpg at a time)")
    ap.add_argument("--smtp-batch", type=int, default=None, metavar="N",
                    help="providers.smtp.batch: PGP e-mails a worker claims "
                    "and sends in one SMTP session (default: tocsin's)")
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
                    help="diagnostic, --peer python: the SMTP peer sends no "
                    "TLS 1.3 session tickets (real relays do send them)")
    ap.add_argument("--serve-wrap", metavar="CMD",
                    help="diagnostic: run serve under CMD (split as a "
                    "shell would), e.g. 'heaptrack -o /tmp/serve' for "
                    "where its memory goes; serve's figures are then the "
                    "wrapper's")
    a = ap.parse_args()
    global SERVE_WORKERS
    SERVE_WORKERS = a.workers
    if a.loop_teams < 1:
        die("--loop-teams must be at least 1: the ratio to the per-team "
            "loop is one of the targets")
    tocsin = Path(a.bin)
    if not os.access(tocsin, os.X_OK):
        die(f"{tocsin} is missing: run `ninja -C build` first")
    if shutil.which("msmtp") is None:
        die("msmtp is missing: apt-get install msmtp (see .ci/install-deps)")
    if a.sms and not os.access(CURL, os.X_OK):
        die(f"{CURL} is missing: apt-get install curl")
    why_not = postfix_sink.available()
    peer_note = ""
    if a.peer == "postfix" and why_not:
        die(f"--peer postfix: {why_not}")
    if a.peer is None:
        a.peer = "python" if why_not else "postfix"
        if why_not:
            peer_note = (f"no Postfix sink ({why_not}); the Python peer "
                         f"sets the pace")
    if a.sink_tmpfs and a.peer != "postfix":
        die("--sink-tmpfs is for --peer postfix")
    if a.no_tls_tickets and a.peer != "python":
        die("--no-tls-tickets is for --peer python")

    # gpg-agent sockets live under the GnuPG home when /run/user/UID is
    # missing, and socket paths are limited to about 100 bytes: keep it short.
    if a.reuse:
        work = Path(a.reuse).resolve()
        work.mkdir(parents=True, exist_ok=True)
        for old in ("repo", "mail", "postfix"):
            shutil.rmtree(work / old, ignore_errors=True)
        for old in ("sms.jsonl", "sms.err", "sms.ready", "peer.ready",
                    "peer.err"):
            (work / old).unlink(missing_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="tbd-", dir="/tmp"))
    pki = work / "pki"
    sink = prov = shm = None
    signal.signal(signal.SIGTERM, sigterm)
    try:
        # -- 1. PKI, provider, repository ----------------------------------
        t = time.monotonic()
        run(["sh", SRC / "certs" / "mkpki.sh", pki])
        info = json.loads((pki / "pki.json").read_text())
        ca = pki / info["ca"]
        gen_cmd = [PY, SRC / "examples" / "gen-repo.py", "--pki", pki,
                   "--out", work / "repo", "--teams", a.teams,
                   "--contacts-per-team", a.contacts_per_team,
                   "--seed", a.seed, "--smtp-port", 25,
                   "--listen-port", postfix_sink.free_port()]
        if a.sms:
            account = "AC" + secrets.token_hex(16)
            token = secrets.token_hex(16)
            prov, sms_port = start_provider(work, pki, account, token, True)
            plog = ProviderLog(work / "sms.jsonl", work / "sms.err")
            gen_cmd += ["--sms-port", sms_port, "--sms-account", account,
                        "--sms-token", token]
        gen = run(gen_cmd, text=True)
        setup_s = time.monotonic() - t
        conf = work / "repo" / "tocsin.conf"
        teams_text = (work / "repo" / "teams.conf").read_text()
        teams = parse_teams(teams_text)
        mobiles = parse_mobiles(teams_text) if a.sms else {}
        nteams = len(teams)
        ncontacts = sum(len(c) for _, c in teams)
        nmobiles = sum(len(v) for v in mobiles.values())
        home = pki / info["gnupg_home"]
        gateway_fpr = info["gateway"]

        # -- 2. the SMTP sink ------------------------------------------------
        if a.peer == "postfix":
            pfdir = work / "postfix"
            if a.sink_tmpfs:
                shm = Path(tempfile.mkdtemp(prefix="tbd-pfx-",
                                            dir="/dev/shm"))
                shm.chmod(0o711)
                pfdir = shm / "postfix"
            else:
                # Postfix's daemons (user postfix) must pass through the
                # work folder, 0700 from mkdtemp; what it holds keeps its
                # own modes (the PKI's folders are 0700).
                work.chmod(0o711)
            sink = postfix_sink.PostfixSink(pfdir,
                                            pki / "server.pem",
                                            pki / "server.key")
            sink.name = ("Postfix " + subprocess.run(
                ["postconf", "-h", "mail_version"], capture_output=True,
                text=True).stdout.strip() + " (private instance, discard)")
            port = sink.start()
        else:
            sink = PythonSink(work, pki, a.no_tls_tickets)
            port = sink.port
        n_step0, sms_rate = edit_conf(conf, port, a.pgp_mime, a.engine,
                                      a.parallel if a.sms else None,
                                      a.smtp_batch)
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

        sink.mark()
        if a.sms:
            plog.mark()
            pcpu0 = proc_cpu(prov.pid)
        scpu0 = sink.cpu()
        t_epoch = time.time()
        wrap = shlex.split(a.serve_wrap) if a.serve_wrap else []
        wall, maxrss, hwm, code, killed = timed(
            wrap + [tocsin, "-c", conf, "serve", "--until-idle", "--quiet"],
            work / "serve.err", a.serve_timeout, sample=True)
        serve_cpu = timed.cpu
        settled = sink.settle()
        sink_cpu = sink.cpu() - scpu0
        prov_cpu = proc_cpu(prov.pid) - pcpu0 if a.sms else 0.0
        serve_err = (work / "serve.err").read_text(errors="replace")
        serve_err_lines = [x for x in serve_err.splitlines() if x.strip()]

        m = re.search(r'^\s*store\s*=\s*"([^"]+)";', conf.read_text(), re.M)
        store = Path(m.group(1))
        if not store.is_absolute():
            store = conf.parent / store
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        states, sms_states = (dict(db.execute(
            "SELECT state, count(*) FROM deliveries WHERE channel = ? "
            "GROUP BY state", (ch,)).fetchall()) for ch in ("pgp-email",
                                                             "sms"))
        db.close()
        nsent = states.get("sent", 0)
        ndeliv = sum(states.values())

        msgs = sink.messages()
        if a.peer == "postfix":
            sessions, tls_sessions, tls_est, mails = sink.sessions()
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
        not_sent = sum(msg["other"] for msg in msgs)
        full = sum(1 for tid, cs in teams
                   if rcpts_of.get(tid) == {e.lower() for e, _ in cs})
        last_msg = (max(msg["received"] for msg in msgs) - t_epoch
                    if msgs and "received" in msgs[0] else None)
        avg_size = sum(msg["size"] for msg in msgs) / len(msgs) if msgs else 0
        avg_rcpts = (sum(len(msg["rcpt_tos"]) for msg in msgs) / len(msgs)
                     if msgs else 0)
        # SMS: every delivery sent, the provider answered 201 to each, and
        # each contact's mobile got exactly one request.
        sms_ok, sms_line = True, ""
        if a.sms:
            recs, ports = plog.since()
            st = summarise(recs, ports)
            got = Counter(r["form"].get("To") for r in recs
                          if r["status"] == 201)
            want = Counter(x for v in mobiles.values() for x in v)
            nsms = sum(sms_states.values())
            sms_ok = (nsms == nmobiles and sms_states.get("sent", 0) == nsms
                      and st["requests"] == nsms and st["ok"] == nsms
                      and st["other_paths"] == 0 and got == want)
            twice = sum(1 for x, c in got.items() if c > 1)
            missed = sum(1 for x in want if x not in got)
            sms_line = (f"{st['requests']} requests, " + ", ".join(
                f"{k}: {v}" for k, v in sorted(st["statuses"].items()))
                + f"; numbers sent to once {sum(1 for c in got.values() if c == 1)}"
                f" of {len(want)}, twice or more {twice}, missed {missed}; "
                f"{st['connections']} connections")
            sms_first = (st["first"] - t_epoch) if st["first"] else None
            sms_last = (st["last"] - t_epoch) if st["last"] else None
            sms_reqs = [r for r in recs if r["status"] == 201]
        # complete: every delivery sent and serve ended by itself;
        # clean: also exactly one message per team, to all its contacts.
        complete = (not killed and code == 0 and nsent == ncontacts
                    and ndeliv == ncontacts and sms_ok)
        clean = (complete and one == nteams and len(msgs) == nteams
                 and mixed == 0 and full == nteams and not_sent == 0
                 and settled)

        # -- 4. the sink's own limit -----------------------------------------
        limit = None
        if a.peer == "postfix" and msgs:
            sink.mark()
            lc0 = sink.cpu()
            src_s = postfix_sink.smtp_source(
                port, len(msgs), SERVE_WORKERS, int(avg_size),
                round(avg_rcpts))
            sink.settle()
            src_msgs = sink.messages()
            src_cpu = sink.cpu() - lc0
            if len(src_msgs) != len(msgs):
                # smtp-source gives up on a message now and then on a
                # loaded machine: the limit is still measured, and said
                print(f"  (smtp-source: the sink logged {len(src_msgs)} "
                      f"messages of {len(msgs)}; the limit below counts "
                      f"the time for all)", flush=True)
            ntls = max(tls_sessions, 1)
            tls_s = postfix_sink.tls_floor(port, ca, ntls, SERVE_WORKERS)
            limit = (src_s, src_cpu, ntls, tls_s)
            probe = (postfix_sink.pipelined_wait(port, quickack=False),
                     postfix_sink.pipelined_wait(port, quickack=True))

        # -- 5. the OpenPGP floor ------------------------------------------
        rng = random.Random(a.seed)
        filler = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz.\n")
                         for _ in range(4096))
        bodies = [(f"Alert {alert_id} for team {tid}\n" + filler)
                  .encode()[:4096] for tid, _ in teams]
        floor_se = floor(home, gateway_fpr, teams, bodies, sign=True)
        floor_e = floor(home, gateway_fpr, teams, bodies, sign=False)
        # the target's floor: the same OpenPGP work in one process through
        # the gateway's engine (bench/pgp_floor.c), as many threads as
        # serve has workers
        import bench_pgpfloor
        inproc = None
        if Path(bench_pgpfloor.FLOOR_BIN).exists():
            fbody = bench_pgpfloor.make_body(work, pki, info)
            inproc = bench_pgpfloor.pgp_floor(
                home, gateway_fpr, teams, fbody, work,
                threads=SERVE_WORKERS, mode=a.pgp_mime)

        sms_spec = None
        if a.sms and sms_reqs:
            r0 = sms_reqs[0]
            fields = [(k, x) for k, v in r0["form"].items()
                      for x in (v if isinstance(v, list) else [v])]
            sms_spec = {"base": f"https://127.0.0.1:{sms_port}",
                        "path": r0["path"], "user": f"{account}:{token}",
                        "ca": ca, "fields": fields}

        # -- 5b. the machine's bound -----------------------------------------
        # Every party's least work on these cores: the OpenPGP floor in
        # process, the SMS tocsin sent replayed by one curl --parallel
        # process (curl's CPU and the provider's for them), and Postfix's
        # CPU for the same messages from smtp-source (plain SMTP: less
        # than tocsin's STARTTLS costs it).  Their CPU over the cores is
        # the shortest wall any gateway could have here, peers included.
        bound = None
        if inproc is not None and limit is not None:
            sms_cpu = sms_pcpu = 0.0
            if a.sms and sms_reqs:
                cfg = work / "bound-sms.conf"
                curl_parallel_config(cfg, sms_spec["base"],
                                     replay_requests(sms_reqs),
                                     sms_spec["user"], sms_spec["ca"])
                plog.mark()
                pc0 = proc_cpu(prov.pid)
                _, _, _, bcode, bkilled = timed(
                    [CURL, "--parallel", "--parallel-max", a.parallel,
                     "-sS", "--config", cfg], work / "bound-sms.err",
                    a.serve_timeout)
                sms_cpu, sms_pcpu = timed.cpu, proc_cpu(prov.pid) - pc0
                br = summarise(*plog.since())
                if bcode != 0 or bkilled or br["ok"] != len(sms_reqs):
                    die(f"machine bound: curl --parallel sent "
                        f"{br['ok']} of {len(sms_reqs)} SMS ({bcode}): "
                        f"{(work / 'bound-sms.err').read_text()[-1500:]}")
            # each peer's CPU the lower of its two runs (tocsin's and the
            # baseline's): a bound, not an estimate
            parts = (inproc["cpu_s"], sms_cpu,
                     min(sms_pcpu, prov_cpu) if a.sms else 0.0,
                     min(limit[1], sink_cpu))
            bound = (parts, sum(parts) / (os.cpu_count() or 1))

        # -- 6. the loops ----------------------------------------------------
        lsample = rng.sample(teams, min(a.loop_teams, nteams))
        sink.mark()
        if a.sms:
            plog.mark()
        tloop_s = team_loop(work, port, home, gateway_fpr, lsample, mobiles,
                            bodies[0], sms_spec)
        sink.settle()
        tl_msgs = sink.messages()
        tl_want = sum(1 for _ in lsample)
        tl_full = sum(1 for tid, cs in lsample if any(
            {r.lower() for r in msg["rcpt_tos"]} == {e.lower() for e, _ in cs}
            for msg in tl_msgs))
        if len(tl_msgs) != tl_want or tl_full != tl_want:
            die(f"team loop: the sink logged {len(tl_msgs)} messages for "
                f"{tl_want} teams ({tl_full} to all the team's contacts)")
        tl_sms = sum(len(mobiles.get(tid, [])) for tid, _ in lsample) \
            if sms_spec else 0
        if sms_spec:
            lr = summarise(*plog.since())
            if lr["requests"] != tl_sms or lr["ok"] != tl_sms:
                die(f"team loop: the provider got {lr['requests']} requests "
                    f"({lr['ok']} answered 201) for {tl_sms} SMS")
        tloop_all = tloop_s / len(lsample) * nteams

        loop_s = None
        if a.loop_sample > 0:
            flat = [c for _, cs in teams for c in cs]
            sample = rng.sample(flat, min(a.loop_sample, len(flat)))
            sink.mark()
            loop_s = naive_loop(work, port, home, sample, bodies[0])
            sink.settle()
            loop_msgs = len(sink.messages())
            if loop_msgs != len(sample):
                die(f"naive loop: the sink logged {loop_msgs} messages for "
                    f"{len(sample)} contacts")
            loop_per_contact = loop_s / len(sample)
            loop_all = loop_per_contact * ncontacts

        # -- 7. report -------------------------------------------------------
        mib = maxrss / 1024
        proj_contact = wall * TARGET_CONTACTS / ncontacts
        proj_team = wall * TARGET_TEAMS / nteams
        r_floor = wall / floor_se
        r_floor_e = wall / floor_e
        r_tloop = tloop_all / wall
        what = "PGP e-mail + SMS" if a.sms else "PGP e-mail"
        print(f"bench_dispatch: {what} fan-out of one signed Extreme "
              f"alert, step 0 = "
              f"{(STEP0_SMS if a.sms else STEP0_NEW).split('=', 1)[1].strip()}"
              f" ({n_step0} policies), {SERVE_WORKERS} workers, pgp_mime "
              f"{a.pgp_mime}, engine {a.engine or 'default'}, "
              f"{os.cpu_count()} CPUs")
        print(f"  setup (mkpki + gen-repo, untimed) {setup_s:.1f} s: "
              f"{gen.stdout.strip().split(' -> ')[0]}")
        print(f"  SMTP sink: {sink.name}, STARTTLS, port {port}"
              + (", queue and log in /dev/shm" if a.sink_tmpfs else ""))
        if a.sms:
            print(f"  SMS: tests/peers/sms_provider.py (TCP_NODELAY), "
                  f"{PROVIDER} rate {sms_rate}/s, burst {sms_rate}, "
                  f"parallel {a.parallel}")
        load = os.getloadavg()
        print(f"  load average at the end {load[0]:.2f} {load[1]:.2f} "
              f"{load[2]:.2f}")
        if peer_note:
            print(f"  note: {peer_note}; for Postfix: {postfix_sink.INSTALL_HINT}")
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
        if a.sms:
            print("  deliveries sms        " + ", ".join(
                f"{k} {v}" for k, v in sorted(sms_states.items()))
                + f" (contacts with a mobile: {nmobiles})")
            print(f"  provider              {sms_line}")
        print(f"  messages at the sink  {len(msgs)}, mean "
              f"{avg_size / 1024:.1f}"
              f" KiB; teams with one message {one}, with none {none}, with "
              f"several {many}; messages mixing teams {mixed}; teams whose "
              f"contacts all got it {full}"
              + (f"; recipients not sent {not_sent}" if not_sent else "")
              + ("" if settled else "; the sink's log did NOT settle"))
        if a.peer == "postfix":
            print(f"  SMTP sessions         {sessions} ({tls_sessions} with "
                  f"STARTTLS, {tls_est} TLS sessions logged); MAIL "
                  f"commands {mails}")
        else:
            probes, nsess, stalled = peer_sessions(
                (work / "peer.err").read_text(errors="replace"))
            print(f"  SMTP sessions         {nsess} (and {probes} connect "
                  f"checks); stalled after STARTTLS, no MAIL, >= 5 s: "
                  f"{stalled}")
        print(f"  exit                  {code}"
              + (f" (stopped after --serve-timeout {a.serve_timeout:g} s)"
                 if killed else ""))
        extra = []
        if last_msg is not None:
            extra.append(f"last message stored at the peer after "
                         f"{last_msg:.3f} s")
        if a.sms and sms_first is not None:
            extra.append(f"SMS from {sms_first:.3f} s to {sms_last:.3f} s")
        print(f"  wall                  {wall:.3f} s"
              + (f" ({'; '.join(extra)})" if extra else ""))
        print(f"  CPU                   {serve_cpu:.3f} s user + system "
              f"(tocsin and the gpg processes it ran; "
              f"{serve_cpu / nteams * 1000:.2f} ms per team); the SMTP sink "
              f"{sink_cpu:.3f} s"
              + (f", the SMS provider {prov_cpu:.3f} s" if a.sms else ""))
        print(f"  messages/s            {len(msgs) / wall:.1f} e-mail"
              + (f" + {sms_states.get('sent', 0) / wall:.1f} SMS"
                 if a.sms else ""))
        print(f"  contacts/s            {nsent / wall:.1f} (pgp-email "
              f"deliveries sent per second)")
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
        if limit:
            src_s, src_cpu, ntls, tls_s = limit
            sink_s = src_s + tls_s
            print(f"the sink's own limit: smtp-source -d -s {SERVE_WORKERS} "
                  f"-m {len(msgs)} -l {int(avg_size)} -r {round(avg_rcpts)}"
                  f" (plain SMTP: smtp-source has no TLS), then {ntls} "
                  f"STARTTLS handshakes {SERVE_WORKERS} at a time (tocsin's "
                  f"TLS sessions; Python client)")
            print(f"  smtp-source           {src_s:.3f} s, "
                  f"{len(msgs) / src_s:.0f} messages/s; Postfix CPU "
                  f"{src_cpu:.3f} s ({src_cpu / len(msgs) * 1000:.2f} ms a "
                  f"message)")
            print(f"  STARTTLS floor        {tls_s:.3f} s for {ntls} "
                  f"handshakes (client included: an upper bound)")
            print(f"  sink limit            {sink_s:.3f} s, "
                  f"{len(msgs) / sink_s:.0f} messages/s; "
                  f"{sink_s / wall * 100:.0f}% of tocsin's serve wall")
            print(f"  pipelined client      median wait for the reply to a "
                  f"message sent with MAIL, RCPT and DATA in one go: "
                  f"{probe[0]:.1f} ms; with TCP_QUICKACK after the command "
                  f"replies {probe[1]:.1f} ms (30 messages each, plain)")
            print()
        if inproc is not None:
            print(f"OpenPGP floor in process: pgp_floor, the engine's "
                  f"{a.pgp_mime} form, {SERVE_WORKERS} threads, {nteams} "
                  f"teams, same keys")
            print(f"  wall                  {inproc['wall_s']:.3f} s (keys "
                  f"loaded in {inproc['load_s']:.3f} s); CPU "
                  f"{inproc['cpu_s']:.3f} s; peak RSS "
                  f"{inproc['maxrss_kib'] / 1024:.1f} MiB; tocsin / floor "
                  f"{wall / inproc['wall_s']:.2f}")
        print(f"OpenPGP floor: gpg alone, {nteams} teams, {WORKERS} at a "
              f"time, 4 KiB body, same keys")
        print(f"  sign + encrypt        {floor_se:.3f} s "
              f"({floor_se / nteams * 1000:.1f} ms per team); "
              f"tocsin / floor {r_floor:.2f}")
        print(f"  encrypt only          {floor_e:.3f} s "
              f"({floor_e / nteams * 1000:.1f} ms per team); "
              f"tocsin / floor {r_floor_e:.2f}")
        print()
        if bound is not None:
            (f_cpu, c_cpu, p_cpu, k_cpu), bwall = bound
            print(f"the machine's bound: the least CPU of every party, over "
                  f"{os.cpu_count()} CPUs")
            print(f"  OpenPGP floor {f_cpu:.3f} s + curl --parallel's SMS "
                  f"{c_cpu:.3f} s + the provider {p_cpu:.3f} s + Postfix "
                  f"{k_cpu:.3f} s (each peer the lower of its CPU for tocsin "
                  f"and for the baseline)")
            print(f"  shortest wall         {bwall:.3f} s (every core busy "
                  f"all the time); tocsin's wall / bound "
                  f"{wall / bwall:.2f}; loop / bound "
                  f"{tloop_all / bwall:.1f}")
            print()
        print("loop: /bin/sh, per team gpg --sign --encrypt (all its keys) "
              "| msmtp (all its contacts)"
              + (" + one curl per SMS" if sms_spec else "")
              + f", {len(lsample)} teams ({sum(len(c) for _, c in lsample)} "
              f"contacts, {tl_sms} SMS)")
        print(f"  wall                  {tloop_s:.3f} s "
              f"({tloop_s / len(lsample) * 1000:.1f} ms per team)")
        print(f"  projected             {tloop_all:.2f} s for {nteams} "
              f"teams; loop / tocsin {r_tloop:.1f}")
        if loop_s is not None:
            print(f"old loop: /bin/sh, gpg --encrypt | msmtp per contact, no "
                  f"signature, no SMS, {len(sample)} contacts: "
                  f"{loop_s:.3f} s ({loop_per_contact * 1000:.1f} ms per "
                  f"contact), projected {loop_all:.2f} s for {ncontacts}; "
                  f"loop / tocsin {loop_all / wall:.1f}")
        print()

        def row(what, measured, target="", judged=""):
            line = f"  {what:<40} {measured:>11}   {target:<14} {judged}"
            print(line.rstrip())

        print("summary")
        row("", "measured", "target", "verdict")
        row(f"wall, {nteams} teams / {ncontacts} contacts", f"{wall:.2f} s")
        row(f"projected to {TARGET_CONTACTS} contacts (x contacts)",
            f"{proj_contact:.2f} s", f"under {TARGET_WALL:g} s",
            verdict(proj_contact < TARGET_WALL, complete))
        row(f"projected to {TARGET_TEAMS} teams (x teams)",
            f"{proj_team:.2f} s", f"under {TARGET_WALL:g} s",
            verdict(proj_team < TARGET_WALL, complete))
        if limit:
            row("sink limit / tocsin wall", f"{sink_s / wall:.2f} x",
                "well under 1", "")
        if inproc is not None:
            r_in = wall / inproc["wall_s"]
            r_cpu = serve_cpu / inproc["cpu_s"]
            # wall includes the peers' share of the cores, and tocsin's
            # SMS beside the e-mail; CPU is what the floor does alike
            row("tocsin / in-process OpenPGP floor, wall", f"{r_in:.2f} x")
            row("tocsin / in-process OpenPGP floor, CPU", f"{r_cpu:.2f} x",
                "within 1.5x", verdict(r_cpu <= 1.5, complete))
        if bound is not None:
            row(f"machine bound ({os.cpu_count()} CPUs, peers included)",
                f"{bound[1]:.2f} s", f"under {TARGET_WALL:g} s",
                "reachable" if bound[1] < TARGET_WALL else
                "NOT reachable here")
        row("tocsin / gpg floor (sign + encrypt)", f"{r_floor:.2f} x",
            "", "(processes, not the target's floor)")
        row("loop (projected) / tocsin", f"{r_tloop:.1f} x",
            f"at least {TARGET_LOOP:g}x",
            verdict(r_tloop >= TARGET_LOOP, complete))
        # wait4's figure also counts children (gpgme's gpg runs); the
        # gateway's own is its VmHWM, sampled every 10 ms until it exits
        row("peak RSS, tocsin's own (VmHWM)", f"{hwm / 1024:.1f} MiB",
            "under 64 MiB", verdict(0 < hwm < 64 * 1024, True))
        row("peak RSS with its children (wait4)", f"{mib:.1f} MiB")
        row("every delivery sent", "yes" if complete else "NO")
        row("one message per team, to all contacts", "yes" if clean else "NO")
        if a.sms:
            row("each SMS received once", "yes" if sms_ok else "NO")
    finally:
        if sink is not None:
            sink.stop()
        stop(prov)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)
        end_work(work, pki, a.keep or bool(a.reuse))


if __name__ == "__main__":
    main()
