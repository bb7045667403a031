"""postfix_sink: a private Postfix instance as the SMTP sink of a bench.

Debian's postfix package, run as its own instance in a folder of the bench
(its own config_directory, queue_directory and data_directory), never the
system's /etc/postfix instance: one smtpd on 127.0.0.1 and a free port,
STARTTLS offered (`may`) with the test PKI's server certificate, mail from
127.0.0.0/8 accepted for any domain and thrown away by the discard
transport, the log in a file (postlogd, maillog_file) that the bench reads
to count what the sink accepted.  `postfix -c DIR start` starts it (root
only: Postfix's master must start as root; -c needs no
alternate_config_directories for root) and `postfix -c DIR stop` stops it;
stop() then waits for the master to go and kills it, by its pid, if it
lingers.  sink_limit() measures what the sink itself takes for a given
load with Postfix's smtp-source (plain SMTP: smtp-source has no TLS) and a
STARTTLS handshake floor in Python.
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"
SMTP_SOURCE = "/usr/sbin/smtp-source"
INSTALL_HINT = "sh .ci/install-deps bench   (as root: installs postfix)"

MAIN_CF = """\
# A private Postfix instance of the tocsin bench: accepts mail from
# loopback for any domain and discards it.  Made and removed by the bench.
compatibility_level = 3.7
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = sink.bench.invalid
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
default_transport = discard:
relay_transport = discard:
local_transport = discard:
virtual_transport = discard:
# The log of this instance, for the bench to count accepted and discarded
# messages (postlogd, Postfix 3.4+); the folder must be allowed explicitly.
maillog_file = {log}
maillog_file_prefixes = {top}
# STARTTLS offered with the test PKI; one loglevel-1 line per TLS session.
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database =
# Throughput: no DNS, no arrival throttling, no per-client limits, no
# lookups the discard transport does not need, processes kept for the run.
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_host_lookup = native
in_flow_delay = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_connection_count_limit = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
receive_override_options = no_address_mappings, no_header_body_checks,
    no_unknown_recipient_checks, no_milters
max_use = 100000
max_idle = 600s
default_process_limit = 100
default_destination_concurrency_limit = 50
message_size_limit = 0
"""

# chroot off (the private queue is not set up as a chroot jail); only the
# services a discarding smtpd needs, plus postlogd for maillog_file.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    """None when a private Postfix can run here, else why not."""
    for f in (POSTFIX, SMTP_SOURCE):
        if not os.access(f, os.X_OK):
            return f"{f} is missing: {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "Postfix's master must be started as root"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree_cpu(root):
    """CPU seconds (user + system) of process root, of the children it
    reaped and of its live children: a Postfix master and its daemons."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(d), int(fields[1])
        if pid == root:
            total += sum(int(x) for x in fields[11:15]) / tck
        elif ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tck
    return total


class PostfixSink:
    """A private Postfix under folder; start() returns its port."""

    def __init__(self, folder, cert, key):
        self.dir = Path(folder)
        self.conf = self.dir / "conf"
        self.log = self.dir / "maillog"
        self.cert, self.key = Path(cert), Path(key)
        self.port = None
        self.master = None
        self.pos = 0

    def postfix(self, *args, check=True):
        p = subprocess.run([POSTFIX, "-c", str(self.conf), *args],
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(
                f"postfix -c {self.conf} {' '.join(args)} failed "
                f"({p.returncode}): {p.stderr.strip()[-1500:]} "
                f"{self.log_tail()}")
        return p

    def log_tail(self):
        try:
            return "; log: " + self.log.read_text(
                errors="replace")[-1500:]
        except OSError:
            return ""

    def start(self):
        # Postfix's daemons run as the postfix user: every folder above
        # the instance must let others through (mkdtemp makes 0700).
        for up in self.dir.parents:
            if up.exists() and not os.stat(up).st_mode & 0o001:
                raise RuntimeError(
                    f"{up} is not searchable by others: Postfix's daemons "
                    f"(user postfix) could not reach {self.dir}")
        pidf = self.dir / "queue" / "pid" / "master.pid"
        if (self.conf / "main.cf").exists() and pidf.exists():
            # a run that was killed outright (SIGKILL) may have left its
            # instance running in a --reuse folder
            try:
                self.master = int(pidf.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                self.master = None
            self.stop()
        if self.dir.exists():
            shutil.rmtree(self.dir)
        for d in ("conf", "queue", "data"):
            (self.dir / d).mkdir(parents=True)
        shutil.chown(self.dir / "data", "postfix")
        self.port = free_port()
        (self.conf / "main.cf").write_text(MAIN_CF.format(
            queue=self.dir / "queue", data=self.dir / "data", log=self.log,
            top=self.dir, cert=self.cert, key=self.key))
        (self.conf / "master.cf").write_text(MASTER_CF.format(
            port=self.port))
        # check makes the queue's subfolders with their owners and modes
        self.postfix("check")
        self.postfix("start")
        deadline = time.monotonic() + 20
        while True:
            try:
                self.master = int(pidf.read_text().split()[0])
                with socket.create_connection(("127.0.0.1", self.port), 1):
                    break
            except (OSError, ValueError, IndexError):
                if time.monotonic() > deadline:
                    raise RuntimeError("Postfix did not start listening"
                                       + self.log_tail())
                time.sleep(0.05)
        return self.port

    def stop(self):
        """Stop this instance and wait for its master to end; kill it by
        its pid if it has not gone after 10 s."""
        if self.master is None:
            return
        try:
            with open(f"/proc/{self.master}/comm") as f:
                if f.read().strip() != "master":
                    self.master = None  # gone; the pid is someone else's
                    return
        except OSError:
            self.master = None
            return
        self.postfix("stop", check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not os.path.exists(f"/proc/{self.master}"):
                break
            time.sleep(0.05)
        else:
            self.postfix("abort", check=False)
            try:
                os.kill(self.master, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.master = None

    def cpu(self):
        return proc_tree_cpu(self.master) if self.master else 0.0

    def mark(self):
        """Read the log from here on (see messages())."""
        self.pos = self.log.stat().st_size if self.log.exists() else 0

    def _text(self):
        with open(self.log, "rb") as f:
            f.seek(self.pos)
            return f.read().decode(errors="replace")

    def settle(self, timeout=60):
        """Wait until every message queued since mark() is logged as
        removed (delivered by discard) and the log stops growing."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            text = self._text()
            queued = len(re.findall(r": from=<", text))
            removed = len(re.findall(r": removed$", text, re.M))
            if queued == removed and last == len(text):
                return True
            last = len(text)
            time.sleep(0.3)
        return False

    def messages(self):
        """The messages accepted since mark(), from the log: one dict per
        queue id with rcpt_tos (recipients discarded with status=sent),
        size (bytes, as qmgr counts) and other (recipients with another
        status)."""
        msgs = {}
        for line in self._text().splitlines():
            m = re.search(r"postfix/(\w+)\[\d+\]: ([0-9A-F]{6,}): (.*)$",
                          line)
            if not m:
                continue
            who, qid, rest = m.groups()
            msg = msgs.setdefault(qid, {"rcpt_tos": [], "size": 0,
                                        "other": 0, "queued": False})
            if who == "qmgr" and rest.startswith("from=<"):
                sz = re.search(r"size=(\d+)", rest)
                msg["size"] = int(sz.group(1)) if sz else 0
                msg["queued"] = True
            elif who == "discard":
                to = re.match(r"to=<([^>]*)>", rest)
                if to and "status=sent" in rest:
                    msg["rcpt_tos"].append(to.group(1))
                elif to:
                    msg["other"] += 1
        return [m for m in msgs.values() if m["queued"]]

    def sessions(self):
        """(SMTP sessions, of them with STARTTLS, TLS sessions logged,
        MAIL commands) since mark(), from smtpd's disconnect lines."""
        text = self._text()
        ends = re.findall(r"smtpd\[\d+\]: disconnect from \S+ (.*)$", text,
                          re.M)
        tls = sum(1 for e in ends if re.search(r"\bstarttls=1", e))
        mails = sum(int(x) for e in ends
                    for x in re.findall(r"\bmail=(\d+)", e))
        est = len(re.findall(r"TLS connection established from", text))
        return len(ends), tls, est, mails


def tls_floor(port, ca, sessions, parallel):
    """Wall seconds of `sessions` SMTP sessions of EHLO, STARTTLS (the
    handshake, checking the certificate against ca), EHLO and QUIT,
    `parallel` at a time, from Python: the TLS part of the sink's work that
    smtp-source cannot do (its own client share included, so an upper
    bound)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    left = [sessions]
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                    s.ehlo("bench.invalid")
                    s.starttls(context=ctx)
                    s.ehlo("bench.invalid")
            except (OSError, smtplib.SMTPException) as e:
                errors.append(str(e))
                return

    t0 = time.monotonic()
    ths = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    if errors:
        raise RuntimeError(f"STARTTLS floor: {errors[0]}")
    return time.monotonic() - t0


def smtp_source(port, messages, sessions, size, rcpts):
    """smtp-source sending `messages` messages of `size` payload bytes to
    `rcpts` recipients each over `sessions` parallel SMTP sessions (kept
    open: -d), plain SMTP.  Returns wall seconds."""
    cmd = [SMTP_SOURCE, "-d", "-s", str(sessions), "-m", str(messages),
           "-l", str(size), "-r", str(max(1, rcpts)),
           "-f", "tocsin@alerts.example", "-t", "contact@sink.example",
           "-M", "bench.invalid", f"127.0.0.1:{port}"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({p.returncode}): "
                           f"{p.stderr.strip()[-1500:]}")
    return wall


def pipelined_wait(port, messages=30, quickack=False):
    """Median milliseconds a client waits for the sink's reply to the end
    of a message when it pipelines MAIL, RCPT, DATA and the message in one
    go, as libesmtp does (plain SMTP, TCP_NODELAY set).  Postfix answers
    the commands in one segment and the message in a second: without an
    ACK for the first, which a client that has nothing more to send
    delays (about 40 ms on Linux), Nagle's algorithm on the server's side
    holds the second.  quickack: TCP_QUICKACK after reading the first."""
    body = b"Subject: probe\r\n\r\n" + (b"x" * 76 + b"\r\n") * 100
    cmds = (b"MAIL FROM:<probe@alerts.example>\r\n"
            + b"".join(b"RCPT TO:<c%d@sink.example>\r\n" % k
                       for k in range(5)) + b"DATA\r\n")
    waits = []
    with socket.create_connection(("127.0.0.1", port), 10) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = c.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if not line:
                    raise RuntimeError("the sink closed the probe session")
                if line[3:4] != b"-":
                    return line

        reply()
        c.sendall(b"EHLO probe.invalid\r\n")
        reply()
        for _ in range(messages):
            c.sendall(cmds)
            c.sendall(body + b".\r\n")
            for _ in range(7):
                if not reply().startswith((b"250", b"354")):
                    raise RuntimeError("the sink refused a probe message")
            if quickack:
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            t = time.monotonic()
            if not reply().startswith(b"250"):
                raise RuntimeError("the sink refused a probe message")
            waits.append(time.monotonic() - t)
        c.sendall(b"QUIT\r\n")
    waits.sort()
    return waits[len(waits) // 2] * 1000
