#!/usr/bin/python3
"""smtp_peer: a real SMTP server for tocsin's integration tests.

It is Debian's aiosmtpd (python3-aiosmtpd 1.4.3) listening on 127.0.0.1,
with STARTTLS from the test PKI, storing every accepted message on disk so
that a test can check exactly what tocsin sent, and injecting the faults a
real mail relay produces (permanent and temporary refusals of recipients,
temporary refusal of a message).

Run it by hand, for example:

    /usr/bin/python3 tests/peers/smtp_peer.py --port 2525 --out /tmp/mail \\
        --cert server.pem --key server.key --reject-rcpt '^nobody@'

then point a client at 127.0.0.1:2525 (for instance
`openssl s_client -starttls smtp -connect 127.0.0.1:2525`).  Stop it with
Ctrl-C or SIGTERM; it exits 0.

What it writes:
  * stdout: one line "smtp_peer listening on HOST:PORT" once it listens;
  * --ready-file: the port number and a newline, written atomically, so a
    test can wait for the file instead of parsing stdout;
  * --out DIR: for each accepted message, DIR/<n>.eml (the message content
    as received after DATA, dot-unstuffed, CRLF line ends, no envelope) and
    then DIR/<n>.json (envelope and session facts).  The .json is written
    last, so a reader that lists *.json only ever sees complete messages.
    Both are in place before the 250 reply to the final dot is sent;
  * --out DIR/auth.jsonl, with --auth: one JSON line per AUTH command,
    {"t", "peer", "tls": whether the connection was TLS when AUTH came,
    "mechanism", "user" (null when none was read), "ok"}, never the
    password;
  * stderr: one line per event of interest (connect, STARTTLS, AUTH and
    its result, MAIL, RCPT and its result, DATA and its result,
    disconnect).

With --auth USER:PASSWORD the relay requires AUTH (PLAIN or LOGIN) before
MAIL, and offers and takes it only after STARTTLS (aiosmtpd's
auth_require_tls): an AUTH on a clear connection gets 538 (530 before
STARTTLS when STARTTLS is required), unless --auth-in-clear (a relay on
the same host) takes it there too; a wrong user or password gets
"535 5.7.8 Authentication credentials invalid".  Each stored message's
.json then names the "auth_user" of its session.

Use /usr/bin/python3: the python3 first on PATH may lack Debian's modules.
"""

import argparse
import asyncio
import itertools
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
import time
import traceback
from email.parser import BytesParser
from email.policy import compat32

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, TLSSetupException

from peerfiles import write_atomic

# Hostname in the greeting and EHLO reply.  aiosmtpd's default is
# socket.getfqdn(), evaluated for every connection, which can stall on a
# machine without working DNS.
SERVER_NAME = "smtp-peer.localhost"

NAME_RE = re.compile(r"^(\d+)\.(eml|json)$")


def log(msg):
    """One event line on stderr, flushed at once so a test log is live."""
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} smtp_peer: {msg}\n")
    sys.stderr.flush()


def describe(error):
    """An exception as text, even when str() of it is empty."""
    if error is None:
        return "no cause"
    if isinstance(error, type):
        return error.__name__
    return str(error) or type(error).__name__


def peer_str(peer):
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class Store:
    """Numbered message files in one folder.

    Numbering continues after the highest number already in the folder, so
    a restarted peer never overwrites what an earlier run stored.
    """

    def __init__(self, folder):
        self.folder = folder
        highest = 0
        if folder is not None:
            os.makedirs(folder, exist_ok=True)
            for name in os.listdir(folder):
                m = NAME_RE.match(name)
                if m:
                    highest = max(highest, int(m.group(1)))
        self._next = itertools.count(highest + 1)
        # The server runs in one event loop thread, so this lock is not
        # strictly needed today; it keeps numbering safe if that changes.
        self._lock = threading.Lock()

    def save(self, raw, meta):
        with self._lock:
            n = next(self._next)
        if self.folder is None:
            return n
        base = os.path.join(self.folder, f"{n:06d}")
        write_atomic(base + ".eml", raw)
        write_atomic(base + ".json",
                     (json.dumps(meta, indent=1) + "\n").encode())
        return n


def message_id(raw):
    """The Message-ID header of raw message bytes, or None."""
    try:
        # compat32 does not raise on odd headers; unfold by hand below.
        msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
        value = msg.get("Message-ID")
    except Exception:
        return None
    if value is None:
        return None
    value = " ".join(str(value).split())
    return value or None


class Faults:
    """The refusals to inject, and how many of each are left."""

    def __init__(self, reject, tempfail, tempfail_data):
        self.reject = [re.compile(r, re.IGNORECASE) for r in reject]
        self.tempfail = [(re.compile(r, re.IGNORECASE), n) for r, n in tempfail]
        # Times each recipient address has been seen by a tempfail rule,
        # over all sessions of this process.  Addresses are compared
        # without case.
        self.seen = {}
        self.tempfail_data_left = tempfail_data

    def rcpt(self, address):
        """SMTP status for RCPT TO address, or None to accept it."""
        for r in self.reject:
            if r.search(address):
                return f"550 5.1.1 <{address}>: mailbox unavailable (test peer)"
        for r, n in self.tempfail:
            if r.search(address):
                key = address.lower()
                self.seen[key] = self.seen.get(key, 0) + 1
                if self.seen[key] <= n:
                    return (f"451 4.3.0 <{address}>: try again later "
                            "(test peer)")
                return None
        return None

    def data(self):
        """SMTP status for a complete DATA, or None to accept it."""
        if self.tempfail_data_left > 0:
            self.tempfail_data_left -= 1
            return "451 4.3.0 queue busy (test peer)"
        return None


class AuthLog:
    """Every AUTH command: what it was and how it ended, without the
    password."""

    def __init__(self, folder, user, password):
        self.path = os.path.join(folder, "auth.jsonl") if folder else None
        self.user, self.password = user, password

    def write(self, rec):
        rec["t"] = time.time()
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

    def check(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd's authenticator: the configured user and password."""
        user = None
        ok = False
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            ok = (auth_data.login == self.user.encode() and
                  auth_data.password == self.password.encode())
        self.write({"peer": peer_str(session.peer),
                    "tls": session.ssl is not None,
                    "mechanism": mechanism, "user": user, "ok": ok})
        log(f"{peer_str(session.peer)} AUTH {mechanism} as {user!r} -> "
            f"{'235' if ok else '535'}")
        return AuthResult(success=ok, handled=False, auth_data=user)


class Handler:
    """aiosmtpd hooks.  A hook that exists replaces aiosmtpd's default
    action, so handle_MAIL and handle_RCPT fill the envelope themselves."""

    def __init__(self, store, faults, delay=0.0, drop_after=0):
        self.store = store
        self.faults = faults
        self.delay = delay      # a slow relay: seconds before each answer
        # a relay that drops the connection at the MAIL after this many
        # messages of one session (0: never)
        self.drop_after = drop_after

    async def handle_MAIL(self, server, session, envelope, address, options):
        await asyncio.sleep(self.delay)
        if self.drop_after and \
                getattr(session, "stored", 0) >= self.drop_after:
            log(f"{peer_str(session.peer)} MAIL FROM:<{address}> -> "
                "connection dropped")
            server.transport.abort()
            return "421 4.4.2 connection dropped (test peer)"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        log(f"{peer_str(session.peer)} MAIL FROM:<{address}> "
            f"{' '.join(options)}".rstrip())
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        await asyncio.sleep(self.delay)
        refusal = self.faults.rcpt(address)
        if refusal:
            log(f"{peer_str(session.peer)} RCPT TO:<{address}> -> {refusal}")
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        log(f"{peer_str(session.peer)} RCPT TO:<{address}> -> 250")
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # aiosmtpd calls this only once the whole message has arrived, so
        # a DATA tempfail is the reply to the final dot, like a relay whose
        # queue write failed: the client has sent everything and must still
        # not count the message as delivered.
        await asyncio.sleep(self.delay)
        raw = bytes(envelope.original_content)
        refusal = self.faults.data()
        if refusal:
            log(f"{peer_str(session.peer)} DATA {len(raw)} bytes -> {refusal}")
            return refusal
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
            "peer": peer_str(session.peer),
            "received": time.time(),
            "message_id": message_id(raw),
            "auth_user": session.auth_data if session.authenticated
            else None,
        }
        n = self.store.save(raw, meta)
        session.stored = getattr(session, "stored", 0) + 1
        log(f"{peer_str(session.peer)} DATA {len(raw)} bytes accepted as "
            f"{n:06d} for {len(meta['rcpt_tos'])} recipient(s)"
            f"{' over TLS' if meta['tls'] else ''}")
        return f"250 OK stored as {n:06d}"

    def handle_STARTTLS(self, server, session, envelope):
        # Called by aiosmtpd (not awaited) once the TLS handshake is done;
        # returning False would refuse every further command.
        obj = server.transport.get_extra_info("ssl_object")
        detail = f" {obj.version()} {obj.cipher()[0]}" if obj else ""
        log(f"{peer_str(session.peer)} STARTTLS done{detail}")
        return True


class PeerSMTP(SMTP):
    """aiosmtpd's SMTP protocol with connect/disconnect logging and a
    registry of live connections, so shutdown can close them."""

    live = set()
    auth_log = None

    async def smtp_AUTH(self, arg):
        # An AUTH the authenticator never sees (on a clear connection, or
        # before STARTTLS, when TLS is required for it) is recorded here,
        # so a test sees every attempt.
        if self.auth_log is not None and self._tls_protocol is None and \
                self._auth_require_tls:
            self.auth_log.write({"peer": peer_str(self.session.peer),
                                 "tls": False,
                                 "mechanism": (arg or "").split(" ")[0],
                                 "user": None, "ok": False})
            log(f"{peer_str(self.session.peer)} AUTH on a clear connection")
        return await super().smtp_AUTH(arg)

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        # aiosmtpd calls connection_made again, on the TLS transport, after
        # STARTTLS; only the first call is a new connection.
        if first:
            PeerSMTP.live.add(self)
            log(f"{peer_str(self.session.peer)} connect")

    def connection_lost(self, error):
        # aiosmtpd calls this itself after a failed STARTTLS handshake; log
        # the disconnect once however it is reached.
        if self in PeerSMTP.live:
            PeerSMTP.live.discard(self)
            env = self.envelope
            pending = env is not None and env.mail_from is not None
            if isinstance(error, TLSSetupException):
                why = " (after failed STARTTLS)"
            else:
                why = f" ({describe(error)})" if error else ""
            log(f"{peer_str(self.session.peer)} disconnect"
                f"{' mid-transaction, nothing stored' if pending else ''}{why}")
        super().connection_lost(error)

    async def handle_exception(self, error):
        # aiosmtpd's default logs a full traceback for every failed TLS
        # handshake, which is an expected event in these tests (a client
        # that distrusts the certificate, or hangs up after STARTTLS).
        peer = peer_str(self.session.peer)
        if isinstance(error, TLSSetupException):
            log(f"{peer} STARTTLS failed: {describe(error.__cause__)}")
            return "454 4.7.0 TLS handshake failed"  # not sent: aiosmtpd closes
        log(f"{peer} error in the peer itself:\n"
            + "".join(traceback.format_exception(error)).rstrip())
        return f"500 Error: ({type(error).__name__}) {error}"


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def tempfail_arg(text):
    """REGEX:N, split at the last colon (a regex may hold colons)."""
    regex, sep, count = text.rpartition(":")
    if not sep or not regex or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected REGEX:N, got {text!r}")
    return regex_arg(regex), int(count)


def regex_arg(text):
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regex {text!r}: {e}")
    return text


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="SMTP test peer (aiosmtpd) for tocsin's integration tests")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="0 (the default) picks a free port")
    p.add_argument("--cert", help="server certificate (PEM): offer and "
                   "require STARTTLS")
    p.add_argument("--key", help="private key (PEM) of --cert")
    p.add_argument("--no-starttls", action="store_true",
                   help="never offer STARTTLS, even with --cert")
    p.add_argument("--out", help="folder for <n>.eml and <n>.json of "
                   "accepted messages (without it, messages are only logged)")
    p.add_argument("--reject-rcpt", action="append", default=[],
                   type=regex_arg, metavar="REGEX",
                   help="550 for RCPT TO addresses matching (repeatable)")
    p.add_argument("--tempfail-rcpt", action="append", default=[],
                   type=tempfail_arg, metavar="REGEX:N",
                   help="451 the first N times a matching address is seen, "
                   "then accept (repeatable)")
    p.add_argument("--tempfail-data", type=int, default=0, metavar="N",
                   help="451 for the first N messages")
    p.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long before answering MAIL, RCPT and "
                   "the end of DATA: a slow relay")
    p.add_argument("--drop-after", type=int, default=0, metavar="N",
                   help="drop the connection at the MAIL that follows N "
                   "messages in one session")
    p.add_argument("--auth", metavar="USER:PASSWORD",
                   help="require AUTH with this user and password, after "
                   "STARTTLS only")
    p.add_argument("--auth-in-clear", action="store_true",
                   help="with --auth: take AUTH on a clear connection too "
                   "(a relay on the same host)")
    p.add_argument("--ready-file", help="written with the port once listening")
    p.add_argument("--max-size", type=int, default=10 * 1024 * 1024,
                   help="largest message in bytes (default 10 MiB)")
    p.add_argument("--debug", action="store_true",
                   help="also log aiosmtpd's own protocol trace to stderr")
    a = p.parse_args(argv)
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    if a.auth is not None and ":" not in a.auth:
        p.error("--auth is USER:PASSWORD")
    return a


async def serve(a):
    loop = asyncio.get_running_loop()
    ctx = None
    if a.cert and not a.no_starttls:
        ctx = tls_context(a.cert, a.key)
    handler = Handler(Store(a.out),
                      Faults(a.reject_rcpt, a.tempfail_rcpt, a.tempfail_data),
                      a.delay, a.drop_after)
    auth = None
    if a.auth is not None:
        user, _, password = a.auth.partition(":")
        auth = AuthLog(a.out, user, password)
        PeerSMTP.auth_log = auth

    def factory():
        extra = {}
        if auth is not None:
            extra = {"auth_required": True,
                     "auth_require_tls": not a.auth_in_clear,
                     "authenticator": auth.check}
        return PeerSMTP(handler, hostname=SERVER_NAME, loop=loop,
                        data_size_limit=a.max_size, tls_context=ctx,
                        require_starttls=ctx is not None, **extra)

    # The server is run directly rather than through aiosmtpd's Controller:
    # Controller runs its own thread and, in 1.4.3, connects to itself on
    # start, which is needless here; create_server with port 0 lets the
    # kernel pick a free port, read back from the bound socket.
    server = await loop.create_server(factory, host=a.host, port=a.port)
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if a.ready_file:
        write_atomic(a.ready_file, f"{port}\n".encode())
    print(f"smtp_peer listening on {a.host}:{port}", flush=True)
    log(f"listening on {a.host}:{port}, STARTTLS "
        f"{'required' if ctx else 'not offered'}, "
        f"{'AUTH required, ' if auth else ''}"
        f"{'storing in ' + a.out if a.out else 'not storing messages'}")

    await stop.wait()
    log("stopping")
    server.close()
    for proto in list(PeerSMTP.live):
        if proto.transport is not None:
            proto.transport.close()
    await server.wait_closed()
    # Let the closed connections run their connection_lost callbacks.
    await asyncio.sleep(0)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(serve(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
