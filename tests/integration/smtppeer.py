"""Start and stop tests/peers/smtp_peer.py from a test, and read what it stored.

    with SmtpPeer(tmp_path, cert=pem, key=key) as peer:
        ... point tocsin at 127.0.0.1:peer.port ...
        msgs = peer.messages()

The peer's stdout and stderr go to files in workdir (smtp_peer.out and
smtp_peer.log), never to pipes: an unread pipe fills up and stalls the peer.
"""
import json
import time
from pathlib import Path

from peerproc import PeerProcess

SRC = Path(__file__).resolve().parents[2]
PEER = SRC / "tests" / "peers" / "smtp_peer.py"
PYTHON = "/usr/bin/python3"  # Debian's, which has python3-aiosmtpd


class SmtpPeer(PeerProcess):
    what = "smtp_peer"

    def __init__(self, workdir, cert=None, key=None, no_starttls=False,
                 reject=(), tempfail=(), tempfail_data=0, max_size=None,
                 delay=0.0, port=0, drop_after=0, auth=None,
                 auth_in_clear=False):
        """reject: regexes for --reject-rcpt; tempfail: "REGEX:N" strings or
        (regex, n) pairs for --tempfail-rcpt; tempfail_data: --tempfail-data;
        auth: "USER:PASSWORD" for --auth (AUTH required after STARTTLS);
        auth_in_clear: --auth-in-clear (AUTH taken without TLS too)."""
        self.workdir = Path(workdir)
        self.out = self.workdir / "mail"
        self.ready = self.workdir / "smtp_peer.ready"
        self.logfile = self.workdir / "smtp_peer.log"
        self.stdout_file = self.workdir / "smtp_peer.out"
        self.cert, self.key = cert, key
        self.no_starttls = no_starttls
        self.reject = list(reject)
        self.tempfail = [t if isinstance(t, str) else f"{t[0]}:{t[1]}"
                         for t in tempfail]
        self.tempfail_data = tempfail_data
        self.max_size = max_size
        self.delay = delay
        self.drop_after = drop_after
        self.fixed_port = port
        self.auth = auth
        self.auth_in_clear = auth_in_clear
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"

    def command(self):
        cmd = [PYTHON, str(PEER), "--host", self.host, "--port",
               str(self.fixed_port),
               "--out", str(self.out), "--ready-file", str(self.ready)]
        if self.cert:
            cmd += ["--cert", str(self.cert), "--key", str(self.key)]
        if self.no_starttls:
            cmd.append("--no-starttls")
        for r in self.reject:
            cmd += ["--reject-rcpt", r]
        for t in self.tempfail:
            cmd += ["--tempfail-rcpt", t]
        if self.tempfail_data:
            cmd += ["--tempfail-data", str(self.tempfail_data)]
        if self.delay:
            cmd += ["--delay", str(self.delay)]
        if self.drop_after:
            cmd += ["--drop-after", str(self.drop_after)]
        if self.max_size is not None:
            cmd += ["--max-size", str(self.max_size)]
        if self.auth is not None:
            cmd += ["--auth", self.auth]
        if self.auth_in_clear:
            cmd.append("--auth-in-clear")
        return cmd

    def auth_attempts(self):
        """Every AUTH the peer saw (see smtp_peer.py), oldest first."""
        f = self.out / "auth.jsonl"
        if not f.exists():
            return []
        return [json.loads(line) for line in f.read_text().splitlines()
                if line]

    def messages(self):
        """Stored messages, oldest first: each the JSON sidecar plus "n"
        (its number) and "raw" (bytes of the .eml)."""
        if not self.out.is_dir():
            return []
        found = []
        # The peer writes <n>.json after <n>.eml, so a .json means the
        # message is complete.  Temporary files start with a dot.
        for j in self.out.glob("[0-9]*.json"):
            meta = json.loads(j.read_text())
            meta["n"] = int(j.stem)
            meta["raw"] = j.with_suffix(".eml").read_bytes()
            found.append(meta)
        return sorted(found, key=lambda m: m["n"])

    def wait_messages(self, count, timeout=10):
        """Poll until at least count messages are stored; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= count or time.monotonic() > deadline:
                return msgs
            time.sleep(0.02)
