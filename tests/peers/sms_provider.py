#!/usr/bin/python3
"""sms_provider: a Twilio-compatible SMS and voice provider for tocsin's tests.

It answers the two Twilio REST calls tocsin makes (create a Message, create a
Call) and a simpler "generic" gateway call, on 127.0.0.1, over HTTP or HTTPS.
It records every request it receives, one JSON line each, so that a test can
check exactly what tocsin sent and when, and it injects the faults a real
provider produces (429 with Retry-After, 500, slow answers, numbers refused as
invalid, connections dropped without an answer), chosen by rules that can be
changed while it runs.  It never throttles by itself: rate limits are judged
by the tests from the recorded arrival times.

Run it by hand, for example:

    /usr/bin/python3 tests/peers/sms_provider.py --port 8080 \\
        --account AC1:tok1 --log /tmp/sms.jsonl \\
        --fault '{"match": "^\\\\+254", "action": "429", "retry_after": 2, "count": 1}'

then

    curl -u AC1:tok1 http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Messages.json \\
        --data-urlencode To=+41790000000 --data-urlencode From=+15005550006 \\
        --data-urlencode Body=hello
    curl http://127.0.0.1:8080/_control
    curl http://127.0.0.1:8080/_control -d '{"rules": [{"action": "500", "count": 1}]}'

(--data-urlencode, not -d: in a form body a bare "+" is a space, and the
provider, like Twilio, then sees no valid number.)

Stop it with Ctrl-C or SIGTERM; it exits 0.

Endpoints:
  POST /2010-04-01/Accounts/{SID}/Messages.json   form To, From or
       MessagingServiceSid, Body, optional StatusCallback; HTTP Basic SID:TOKEN
       where SID is also the account in the path.  201 and a Twilio-like
       Message ("sid": "SM" + 32 hex, "status": "queued", or "accepted" when
       only MessagingServiceSid is given; "num_segments" as GSM-7 160/153
       septets per part, extension characters counting 2 and never split
       across parts, else UCS-2 70/67 units, surrogate pairs never split).
       Errors as Twilio: 21604 no To, 21211 To not E.164, 21603 no From,
       21602 no Body, 21617 Body over 1600 characters, 21609 bad
       StatusCallback.  Fields are read from form-encoded bodies only, as
       Twilio does: a JSON body is recorded but has no To.
  POST /2010-04-01/Accounts/{SID}/Calls.json      form To, From, Twiml or Url
       (or ApplicationSid), optional StatusCallback.  201 and a Call ("sid":
       "CA" + 32 hex, "status": "queued").  Errors: 21201 no To, 21211 To not
       E.164, 21213 no From, 21205 no Url/Twiml/ApplicationSid or bad Url,
       21609 bad StatusCallback.
  Wrong or missing credentials on either: 401 {"code": 20003, "message":
       "Authenticate", "status": 401, ...} with WWW-Authenticate.
  POST /generic/send    JSON {"to", "text"[, "from"]} or the same as form
       fields, "Authorization: Bearer TOKEN" with any --account TOKEN.  202
       {"message_id": "G" + 16 hex, "accepted": true}; 401 {"error":
       "unauthorized"}; 422 {"error": "invalid number"} or {"error": "missing
       text"}; 400 {"error": "bad request"} for a body it cannot read.
       With --idempotency-header (default "Idempotency-Key"), a generic
       request that carries the header is done once per account and key
       within 24 hours: a repeat gets the first request's answer (the same
       message_id) and is recorded with "replay": true, not as a new
       message; a repeat that arrives while the first is still being
       answered waits for it.  Only a 2xx answer is kept: after an error
       the key may be used again.  Twilio's Messages and Calls take no such
       key, and neither does this provider's Twilio side.
  GET  /_control        the rules with their counters, and request counters.
  POST /_control        JSON: {"reset": true} clears the rules, {"rules": [..]}
       replaces them, {"add": [..]} appends (applied in that order; any
       combination).  Answers the new state, or 400 and changes nothing if a
       rule is bad.  No authentication, and only from 127.0.0.1 or ::1.
  Anything else: 404 (405 for a wrong method) in the endpoint's style.

Fault rules (also --fault JSON, repeatable; a JSON list adds several).  They
are tried in order on every authenticated Messages, Calls or generic request:
  {"match": REGEX,            searched in the To number (re.search); absent
                              means every number
   "endpoint": "messages" | "calls" | "generic" or a list of them; absent
                              means all three
   "action": "429" | "500" | any status 400..599 | "delay" | "invalid" | "drop"
             | "late",
   "count": N,                how many times it fires; -1 (the default) always,
                              0 never
   "retry_after": 2,          with a status action: Retry-After header value
                              (a number, or a string sent as it is)
   "seconds": 5,              with "delay" or "late": how long to wait
   "seconds_max": 0.3,        with "delay": wait a time drawn uniformly
                              between seconds and seconds_max (a provider's
                              varying latency)
   "reset": true,             with "drop": close with a TCP RST, not a FIN
   "name": "any label"}
A status action answers that status (Twilio body {"code": 20000 + status,
...}, generic body {"error": ...}); "invalid" answers 400 code 21211 (generic:
422) even for a valid number; "drop" closes the connection without a byte of
answer; "late" accepts the request at once (the message is sent, recorded,
and its idempotency key kept) and sends the answer only after "seconds",
as a provider does that accepted a request after the client gave up.  "delay" sleeps and then goes on to the next rules, so a delay rule
followed by a "500" rule gives a slow 500; without a later rule that fires,
the request is answered normally.  At most one non-delay rule fires per
request.  Faults are decided after authentication and before validation.

What it writes:
  * stdout: "sms_provider listening on URL" once it listens;
  * --ready-file: the port and a newline, written atomically;
  * --log FILE: one JSON line per request to the provider endpoints (not for
    /_control and not for requests too malformed to have a method and path),
    flushed, written just before the answer is sent so that a client holding
    an answer always finds its line: {"t": arrival (unix float), "t_end":
    answer time (for "late": the acceptance), "method", "path", "account": the SID in a Twilio path or the
    account whose token a generic request carried (else null), "auth_ok",
    "form": dict (a field sent twice is a list) for any body that is not JSON,
    or "json": parsed JSON (null if unparseable) for a JSON body, "raw": body
    as text (invalid UTF-8 replaced), "headers": dict (the credentials in
    Authorization replaced by "[redacted]"), "status": the status answered or
    null if dropped, "sid": the sid or message_id returned or null, "faults":
    the actions of the rules that fired, "twiml": for Calls, the Twiml field
    or null, and with --max-rate "over_rate": whether this arrival made more
    than R requests in the last max(1, 1/R) seconds};
  * stderr: one line per request and per event of interest.

Use /usr/bin/python3 (standard library only).
"""

import argparse
import base64
import binascii
import collections
import hmac
import http
import json
import os
import random
import re
import secrets
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from peerfiles import write_atomic

API = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json$")
GENERIC_PATH = "/generic/send"
CONTROL_PATH = "/_control"

MAX_BODY = 1024 * 1024          # larger bodies get 413
IDLE_TIMEOUT = 60               # seconds an idle keep-alive connection stays
HANDSHAKE_TIMEOUT = 10          # seconds for a TLS handshake
MAX_BODY_CHARS = 1600           # Twilio's limit on a message Body

# GSM 03.38 default alphabet (the escape 0x1B left out) and its extension
# table, whose characters take two septets (escape + code).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = set("\f^{}\\[~]|€")
assert len(GSM_BASIC) == 127 and len(GSM_EXT) == 10

ACTIONS_OTHER = ("delay", "invalid", "drop", "late")
IDEM_TTL = 24 * 3600            # seconds an idempotency key is kept
IDEM_WAIT = 60                  # seconds a repeat waits for the first
ENDPOINTS = ("messages", "calls", "generic")
RULE_KEYS = {"match", "endpoint", "action", "count", "retry_after", "seconds",
             "seconds_max", "reset", "name"}


def log(msg):
    """One event line on stderr, flushed at once so a test log is live."""
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} sms_provider: {msg}\n")
    sys.stderr.flush()


def num_segments(text):
    """How many SMS parts text needs, as a carrier splits it."""
    if all(c in GSM_BASIC or c in GSM_EXT for c in text):
        units = [2 if c in GSM_EXT else 1 for c in text]
        single, part = 160, 153
    else:
        units = [len(c.encode("utf-16-le")) // 2 for c in text]
        single, part = 70, 67
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for u in units:
        # An escape pair or a surrogate pair is never split between parts.
        if used + u > part:
            parts += 1
            used = 0
        used += u
    return parts


def rfc2822_now():
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())


def valid_url(u):
    try:
        p = urllib.parse.urlsplit(u)
    except ValueError:
        return False
    return p.scheme in ("http", "https") and bool(p.netloc)


def twilio_error(status, code, message, **extra):
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    body.update(extra)
    return body


def phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class RuleError(ValueError):
    pass


class Rule:
    """One fault rule and its counters."""

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise RuleError(f"a rule must be a JSON object, got {spec!r}")
        unknown = set(spec) - RULE_KEYS
        if unknown:
            raise RuleError(f"unknown rule keys {sorted(unknown)}")
        self.spec = dict(spec)
        match = spec.get("match")
        if match is not None and not isinstance(match, str):
            raise RuleError("match must be a string")
        try:
            self.match = re.compile(match) if match else None
        except re.error as e:
            raise RuleError(f"bad regex {match!r}: {e}")
        ep = spec.get("endpoint")
        if ep is None:
            self.endpoints = None
        else:
            eps = [ep] if isinstance(ep, str) else ep
            if not isinstance(eps, list) or not eps or \
                    any(e not in ENDPOINTS for e in eps):
                raise RuleError(f"endpoint must be one or a list of {ENDPOINTS}")
            self.endpoints = set(eps)
        action = spec.get("action")
        if isinstance(action, int) and not isinstance(action, bool):
            action = str(action)
        if not isinstance(action, str):
            raise RuleError("action is required")
        if action.isdigit() and len(action) == 3 and 400 <= int(action) <= 599:
            self.status = int(action)
        elif action in ACTIONS_OTHER:
            self.status = None
        else:
            raise RuleError(f"unknown action {action!r}")
        self.action = action
        count = spec.get("count", -1)
        if not isinstance(count, int) or isinstance(count, bool) or count < -1:
            raise RuleError("count must be an integer >= -1")
        self.left = count
        self.fired = 0
        ra = spec.get("retry_after")
        if ra is not None:
            if self.status is None:
                raise RuleError("retry_after goes with a status action")
            if isinstance(ra, bool) or not isinstance(ra, (int, float, str)):
                raise RuleError("retry_after must be a number or a string")
            if isinstance(ra, float) and ra.is_integer():
                ra = int(ra)
            ra = str(ra)
            if "\r" in ra or "\n" in ra:
                raise RuleError("retry_after must be one line")
        self.retry_after = ra
        secs = spec.get("seconds")
        if action in ("delay", "late"):
            if isinstance(secs, bool) or not isinstance(secs, (int, float)) \
                    or secs < 0:
                raise RuleError(f"{action} needs seconds >= 0")
        elif secs is not None:
            raise RuleError("seconds goes with the delay or late action")
        self.seconds = secs
        smax = spec.get("seconds_max")
        if smax is not None:
            if action != "delay":
                raise RuleError("seconds_max goes with the delay action")
            if isinstance(smax, bool) or not isinstance(smax, (int, float)) \
                    or smax < secs:
                raise RuleError("delay needs seconds_max >= seconds")
        self.seconds_max = smax
        self.reset = bool(spec.get("reset", False))
        if self.reset and action != "drop":
            raise RuleError("reset goes with the drop action")

    def public(self):
        d = dict(self.spec)
        d["fired"] = self.fired
        d["left"] = self.left
        return d


class IdemEntry:
    """The first request with an idempotency key, and its kept answer."""

    def __init__(self, t):
        self.t = t
        self.done = False
        self.answer = None
        self.event = threading.Event()


class State:
    """Accounts, rules, counters and the request log, shared by all threads."""

    def __init__(self, accounts, rules, logfile, max_rate):
        self.accounts = accounts
        self.rules = rules
        self.lock = threading.Lock()
        self.logfile = logfile
        self.max_rate = max_rate
        self.idem_header = "Idempotency-Key"
        self.idem = {}          # (account, key) -> IdemEntry
        self.replays = 0
        self.window = max(1.0, 1.0 / max_rate) if max_rate else None
        self.arrivals = collections.deque()
        self.over_rate = 0
        self.requests = 0
        self.statuses = collections.Counter()

    def fire(self, endpoint, to):
        """The rules that fire for this request, in order: any number of
        delays, then at most one other action."""
        fired = []
        with self.lock:
            for r in self.rules:
                if r.left == 0:
                    continue
                if r.endpoints is not None and endpoint not in r.endpoints:
                    continue
                if r.match is not None and not r.match.search(to):
                    continue
                if r.left > 0:
                    r.left -= 1
                r.fired += 1
                fired.append(r)
                if r.action != "delay":
                    break
        return fired

    def idem_begin(self, account, key):
        """(entry, True) when this request is the first with the key (the
        caller finishes the entry), or (entry, False) with the kept answer
        of the first; waits while the first is being answered."""
        deadline = time.monotonic() + IDEM_WAIT
        while True:
            with self.lock:
                now = time.time()
                e = self.idem.get((account, key))
                if e is None or (e.done and (e.answer is None or
                                             now - e.t > IDEM_TTL)):
                    e = IdemEntry(now)
                    self.idem[(account, key)] = e
                    return e, True
                if e.done:
                    self.replays += 1
                    return e, False
            if not e.event.wait(max(0.0, deadline - time.monotonic())):
                raise ConnectionError("the first request with this "
                                      "idempotency key never ended")

    def idem_finish(self, entry, status, payload, sid):
        """The first request's answer: kept when 2xx, else the key is free
        again."""
        with self.lock:
            entry.answer = (status, payload, sid) if 200 <= status < 300 \
                else None
            entry.done = True
        entry.event.set()

    def observe(self, t):
        """Note an arrival; True if it is over --max-rate."""
        if not self.max_rate:
            return None
        with self.lock:
            while self.arrivals and self.arrivals[0] <= t - self.window:
                self.arrivals.popleft()
            self.arrivals.append(t)
            over = len(self.arrivals) > self.max_rate * self.window + 1e-9
            if over:
                self.over_rate += 1
        return over

    def record(self, rec):
        line = json.dumps(rec) + "\n"
        with self.lock:
            self.requests += 1
            self.statuses[str(rec["status"])] += 1
            if self.logfile is not None:
                self.logfile.write(line)
                self.logfile.flush()

    def control(self, cmd):
        """Apply a POST /_control command; raises RuleError, changing
        nothing, if any part of it is bad."""
        if not isinstance(cmd, dict):
            raise RuleError("expected a JSON object")
        unknown = set(cmd) - {"reset", "rules", "add"}
        if unknown:
            raise RuleError(f"unknown keys {sorted(unknown)}")
        new_rules = add = None
        if "rules" in cmd:
            if not isinstance(cmd["rules"], list):
                raise RuleError("rules must be a list")
            new_rules = [Rule(s) for s in cmd["rules"]]
        if "add" in cmd:
            if not isinstance(cmd["add"], list):
                raise RuleError("add must be a list")
            add = [Rule(s) for s in cmd["add"]]
        with self.lock:
            rules = self.rules
            if cmd.get("reset"):
                rules = []
            if new_rules is not None:
                rules = new_rules
            if add is not None:
                rules = rules + add
            self.rules = rules

    def snapshot(self):
        with self.lock:
            return {"rules": [r.public() for r in self.rules],
                    "requests": self.requests,
                    "statuses": dict(self.statuses),
                    "max_rate": self.max_rate,
                    "replays": self.replays,
                    "over_rate": self.over_rate}


class BodyError(Exception):
    def __init__(self, status, why):
        super().__init__(why)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sms_provider/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    # http.server's default, HTTP/0.9, would answer a garbled request line
    # with a bare body and no status line.
    default_request_version = "HTTP/1.0"

    # --- connection -------------------------------------------------------
    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            # The listening socket does not handshake on accept, so that a
            # slow or broken client cannot hold up the accepting thread.
            self.request.settimeout(HANDSHAKE_TIMEOUT)
            self.request.do_handshake()
        super().setup()

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        pass  # State.record and dispatch log each request themselves

    def log_message(self, fmt, *args):
        log(f"{self.peer()} {fmt % args}")

    def peer(self):
        return f"{self.client_address[0]}:{self.client_address[1]}"

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # --- request reading --------------------------------------------------
    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "").strip().lower()
        if te:
            if te != "chunked":
                raise BodyError(501, f"Transfer-Encoding {te} not supported")
            return self.read_chunked()
        cl = self.headers.get_all("Content-Length") or []
        if not cl:
            return b""
        if len(set(v.strip() for v in cl)) != 1 or not cl[0].strip().isdigit():
            raise BodyError(400, f"bad Content-Length {cl!r}")
        n = int(cl[0])
        if n > MAX_BODY:
            raise BodyError(413, f"body of {n} bytes")
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("client closed mid-body")
        return data

    def read_chunked(self):
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BodyError(400, "bad chunk size line")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError(400, "bad chunk size")
            if size < 0 or len(data) + size > MAX_BODY:
                raise BodyError(413, "chunked body too large")
            if size == 0:
                break
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ConnectionError("client closed mid-chunk")
            data += chunk
            if self.rfile.readline(1024).strip():
                raise BodyError(400, "chunk not followed by CRLF")
        # Trailers, up to the empty line.
        for _ in range(100):
            line = self.rfile.readline(8192)
            if not line or not line.strip():
                break
        return bytes(data)

    # --- answering --------------------------------------------------------
    def send_json(self, status, payload, headers=(), close=False):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.answered = True

    def answer(self, rec, status, payload, headers=(), close=False, sid=None):
        """Record rec, then send the answer (so the line is in the log before
        the client can read the answer)."""
        rec["status"] = status
        rec["sid"] = sid
        rec["t_end"] = time.time()
        self.server.state.record(rec)
        log(f"{self.peer()} {rec['method']} {rec['path']} -> {status}"
            f"{' ' + sid if sid else ''}"
            f"{' faults ' + ','.join(rec['faults']) if rec['faults'] else ''}"
            f"{' (replay)' if rec.get('replay') else ''}")
        entry, self.idem_entry = self.idem_entry, None
        if entry is not None:
            self.server.state.idem_finish(entry, status, payload, sid)
        if self.late is not None:
            # accepted and recorded; the answer comes after the client's
            # timeout, or never reaches it
            time.sleep(self.late)
        self.send_json(status, payload, headers, close)

    def drop(self, rec, rule):
        self.idem_release()
        rec["status"] = None
        rec["t_end"] = time.time()
        self.server.state.record(rec)
        log(f"{self.peer()} {rec['method']} {rec['path']} -> dropped"
            f"{' (RST)' if rule.reset else ''}")
        if rule.reset:
            # Close the descriptor at once with a zero linger time: the
            # kernel sends RST.  Detached first, so that the later closing
            # of the connection by http.server finds nothing left to close
            # (it would otherwise send a FIN before the RST).
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                os.close(self.connection.detach())
            except OSError:
                pass
        self.close_connection = True
        self.answered = True

    # --- dispatch ---------------------------------------------------------
    def dispatch(self):
        self.answered = False
        self.late = None
        self.idem_entry = None
        t = time.time()
        try:
            path = urllib.parse.urlsplit(self.path).path
        except ValueError:
            path = self.path
        try:
            if path == CONTROL_PATH:
                self.control()
                return
            try:
                body = self.read_body()
            except BodyError as e:
                log(f"{self.peer()} {self.command} {self.path}: {e}")
                rec = self.new_record(t, b"")
                self.answer(rec, e.status, {"error": str(e)}, close=True)
                return
            rec = self.new_record(t, body)
            over = self.server.state.observe(t)
            if over is not None:
                rec["over_rate"] = over
                if over:
                    log(f"{self.peer()} over --max-rate "
                        f"{self.server.state.max_rate}/s")
            m = TWILIO_PATH.match(path)
            if m:
                if self.command != "POST":
                    self.answer(rec, 405, twilio_error(
                        405, 20004, "Method not allowed"),
                        headers=[("Allow", "POST")])
                    return
                self.twilio(rec, m.group(1), m.group(2).lower())
            elif path == GENERIC_PATH:
                if self.command != "POST":
                    self.answer(rec, 405, {"error": "method not allowed"},
                                headers=[("Allow", "POST")])
                    return
                self.generic(rec)
            else:
                self.answer(rec, 404, twilio_error(
                    404, 20404, f"The requested resource {path} was not found"))
        except (ConnectionError, socket.timeout, ssl.SSLError) as e:
            log(f"{self.peer()} connection lost: {type(e).__name__} {e}")
            self.idem_release()
            self.close_connection = True
        except Exception:
            log(f"{self.peer()} error in the provider itself:\n"
                + traceback.format_exc().rstrip())
            self.idem_release()
            if not self.answered:
                try:
                    self.send_json(500, {"error": "provider bug"}, close=True)
                except OSError:
                    pass
            self.close_connection = True

    def idem_release(self):
        entry, self.idem_entry = getattr(self, "idem_entry", None), None
        if entry is not None:
            self.server.state.idem_finish(entry, 0, None, None)

    def new_record(self, t, body):
        headers = {}
        for k, v in self.headers.items():
            if k.lower() == "authorization":
                scheme = v.split(" ", 1)[0]
                v = f"{scheme} [redacted]"
            headers[k] = v
        raw = body.decode("utf-8", errors="replace")
        rec = {"t": t, "t_end": None, "method": self.command,
               "path": self.path, "account": None, "auth_ok": False}
        ctype = self.headers.get_content_type()
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                rec["json"] = json.loads(raw)
            except ValueError:
                rec["json"] = None
            self.form = {}
        else:
            form = {}
            if ctype == "application/x-www-form-urlencoded" or \
                    "Content-Type" not in self.headers:
                try:
                    pairs = urllib.parse.parse_qsl(
                        raw, keep_blank_values=True, max_num_fields=1000)
                except ValueError:
                    pairs = []
                for k, v in pairs:
                    if k in form:
                        if not isinstance(form[k], list):
                            form[k] = [form[k]]
                        form[k].append(v)
                    else:
                        form[k] = v
            rec["form"] = form
            self.form = form
        rec.update({"raw": raw, "headers": headers, "status": None,
                    "sid": None, "faults": []})
        return rec

    def field(self, name):
        """A form field's (first) value, or None."""
        v = self.form.get(name)
        if isinstance(v, list):
            v = v[0]
        return v

    def apply_faults(self, rec, endpoint, to, invalid):
        """Run the rules; True if a fault answered (or dropped) already.
        invalid() answers the "invalid number" error of the endpoint."""
        fired = self.server.state.fire(endpoint, to if isinstance(to, str)
                                       else "")
        rec["faults"] = [r.action for r in fired]
        for r in fired:
            if r.action == "delay":
                time.sleep(r.seconds if r.seconds_max is None else
                           random.uniform(r.seconds, r.seconds_max))
            elif r.action == "drop":
                self.drop(rec, r)
                return True
            elif r.action == "invalid":
                invalid()
                return True
            elif r.action == "late":
                self.late = r.seconds
            else:
                headers = []
                if r.retry_after is not None:
                    headers.append(("Retry-After", r.retry_after))
                if endpoint == "generic":
                    payload = {"error": phrase(r.status).lower()}
                else:
                    payload = twilio_error(r.status, 20000 + r.status,
                                           phrase(r.status))
                self.answer(rec, r.status, payload, headers=headers)
                return True
        return False

    # --- Twilio -----------------------------------------------------------
    def basic_auth(self):
        """(sid, token) from an HTTP Basic header, or (None, None)."""
        h = self.headers.get("Authorization", "")
        scheme, _, cred = h.partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            user, sep, pw = base64.b64decode(cred.strip(), validate=True) \
                .decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        if not sep:
            return None, None
        return user, pw

    def twilio(self, rec, sid, kind):
        rec["account"] = sid
        user, pw = self.basic_auth()
        token = self.server.state.accounts.get(sid)
        ok = (user is not None and token is not None and user == sid and
              hmac.compare_digest(pw.encode(), token.encode()))
        rec["auth_ok"] = ok
        if kind == "calls":
            rec["twiml"] = self.field("Twiml")
        if not ok:
            self.answer(rec, 401, twilio_error(
                401, 20003, "Authenticate",
                detail="Your AccountSid or AuthToken was incorrect."),
                headers=[("WWW-Authenticate", 'Basic realm="Twilio API"')])
            return
        to = self.field("To")

        def invalid():
            self.answer(rec, 400, twilio_error(
                400, 21211, f"The 'To' number {to} is not a valid phone number."))

        if self.apply_faults(rec, kind, to, invalid):
            return

        def err(code, message):
            self.answer(rec, 400, twilio_error(400, code, message))

        frm = self.field("From")
        cb = self.field("StatusCallback")
        if kind == "messages":
            mss = self.field("MessagingServiceSid")
            body = self.field("Body")
            if not to:
                return err(21604, "A 'To' phone number is required.")
            if not E164.match(to):
                return invalid()
            if not frm and not mss:
                return err(21603, "A 'From' phone number is required.")
            if not body and not self.field("MediaUrl"):
                return err(21602, "Message body is required.")
            body = body or ""
            if len(body) > MAX_BODY_CHARS:
                return err(21617, "The concatenated message body exceeds the "
                           "1600 character limit.")
            if cb is not None and not valid_url(cb):
                return err(21609, f"The StatusCallback URL {cb} is not a "
                           "valid URL.")
            msid = "SM" + secrets.token_hex(16)
            now = rfc2822_now()
            base = f"/{API}/Accounts/{sid}/Messages/{msid}"
            self.answer(rec, 201, {
                "account_sid": sid, "api_version": API, "body": body,
                "date_created": now, "date_sent": None, "date_updated": now,
                "direction": "outbound-api", "error_code": None,
                "error_message": None, "from": frm or None,
                "messaging_service_sid": mss or None,
                "num_media": "0", "num_segments": str(num_segments(body)),
                "price": None, "price_unit": "USD", "sid": msid,
                "status": "queued" if frm else "accepted",
                "subresource_uris": {"media": base + "/Media.json"},
                "to": to, "uri": base + ".json"}, sid=msid)
            return
        # Calls
        url = self.field("Url")
        if not to:
            return err(21201, "No 'To' number is specified")
        if not E164.match(to):
            return invalid()
        if not frm:
            return err(21213, "No 'From' number is specified")
        if not url and not self.field("Twiml") and \
                not self.field("ApplicationSid"):
            return err(21205, "A 'Url', 'Twiml' or 'ApplicationSid' parameter "
                       "is required.")
        if url and not valid_url(url):
            return err(21205, f"Url is not a valid URL: {url}")
        if cb is not None and not valid_url(cb):
            return err(21609, f"The StatusCallback URL {cb} is not a valid URL.")
        csid = "CA" + secrets.token_hex(16)
        now = rfc2822_now()
        base = f"/{API}/Accounts/{sid}/Calls/{csid}"
        self.answer(rec, 201, {
            "account_sid": sid, "annotation": None, "answered_by": None,
            "api_version": API, "caller_name": None, "date_created": now,
            "date_updated": now, "direction": "outbound-api", "duration": None,
            "end_time": None, "forwarded_from": None, "from": frm,
            "from_formatted": frm, "group_sid": None, "parent_call_sid": None,
            "phone_number_sid": None, "price": None, "price_unit": "USD",
            "queue_time": "0", "sid": csid, "start_time": None,
            "status": "queued",
            "subresource_uris": {"recordings": base + "/Recordings.json"},
            "to": to, "to_formatted": to, "trunk_sid": None,
            "uri": base + ".json"}, sid=csid)

    # --- generic ----------------------------------------------------------
    def generic(self, rec):
        h = self.headers.get("Authorization", "")
        scheme, _, given = h.partition(" ")
        given = given.strip()
        account = None
        if scheme.lower() == "bearer" and given:
            for sid, token in self.server.state.accounts.items():
                # Compare with every token, no early exit.
                if hmac.compare_digest(given.encode(), token.encode()) and \
                        account is None:
                    account = sid
        rec["account"] = account
        rec["auth_ok"] = account is not None
        if account is None:
            self.answer(rec, 401, {"error": "unauthorized"},
                        headers=[("WWW-Authenticate", 'Bearer realm="generic"')])
            return
        if "json" in rec:
            doc = rec["json"]
            if not isinstance(doc, dict):
                self.answer(rec, 400, {"error": "bad request"})
                return
        else:
            doc = {k: (v[0] if isinstance(v, list) else v)
                   for k, v in self.form.items()}
        to, text = doc.get("to"), doc.get("text")
        key = self.headers.get(self.server.state.idem_header)
        if key:
            rec["idempotency_key"] = key
            entry, first = self.server.state.idem_begin(account, key)
            if not first:
                status, payload, sid = entry.answer
                rec["replay"] = True
                self.answer(rec, status, payload, sid=sid)
                return
            self.idem_entry = entry

        def invalid():
            self.answer(rec, 422, {"error": "invalid number"})

        if self.apply_faults(rec, "generic", to, invalid):
            return
        if not isinstance(to, str) or not E164.match(to):
            return invalid()
        if not isinstance(text, str) or not text:
            self.answer(rec, 422, {"error": "missing text"})
            return
        mid = "G" + secrets.token_hex(8)
        self.answer(rec, 202, {"message_id": mid, "accepted": True}, sid=mid)

    # --- control ----------------------------------------------------------
    def control(self):
        state = self.server.state
        if self.client_address[0] not in ("127.0.0.1", "::1"):
            log(f"{self.peer()} {self.command} {CONTROL_PATH} refused")
            self.send_json(403, {"error": "control only from 127.0.0.1"},
                           close=True)
            return
        if self.command == "GET":
            self.send_json(200, state.snapshot())
            return
        if self.command != "POST":
            self.send_json(405, {"error": "method not allowed"},
                           headers=[("Allow", "GET, POST")])
            return
        try:
            body = self.read_body()
        except BodyError as e:
            self.send_json(e.status, {"error": str(e)}, close=True)
            return
        try:
            cmd = json.loads(body.decode("utf-8"))
            state.control(cmd)
        except (ValueError, RuleError) as e:
            log(f"{self.peer()} POST {CONTROL_PATH} refused: {e}")
            self.send_json(400, {"error": str(e)})
            return
        snap = state.snapshot()
        log(f"{self.peer()} POST {CONTROL_PATH}: now {len(snap['rules'])} "
            f"rule(s)")
        self.send_json(200, snap)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on
        # a machine without working DNS; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        peer = f"{client_address[0]}:{client_address[1]}"
        if isinstance(e, (OSError, ssl.SSLError)):
            log(f"{peer} connection error: {type(e).__name__} {e}")
        else:
            log(f"{peer} error in the provider itself:\n"
                + traceback.format_exc().rstrip())


def account_arg(text):
    sid, sep, token = text.partition(":")
    if not sep or not sid or not token:
        raise argparse.ArgumentTypeError(f"expected SID:TOKEN, got {text!r}")
    return sid, token


def fault_arg(text):
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--fault is not JSON: {e}")
    specs = spec if isinstance(spec, list) else [spec]
    try:
        return [Rule(s) for s in specs]
    except RuleError as e:
        raise argparse.ArgumentTypeError(f"bad --fault {text!r}: {e}")


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Twilio-compatible SMS/voice test provider for tocsin")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="0 (the default) picks a free port")
    p.add_argument("--ready-file", help="written with the port once listening")
    p.add_argument("--cert", help="server certificate (PEM): serve HTTPS")
    p.add_argument("--key", help="private key (PEM) of --cert")
    p.add_argument("--log", help="JSON lines, one per request")
    p.add_argument("--account", action="append", default=[], type=account_arg,
                   metavar="SID:TOKEN", help="an account (repeatable)")
    p.add_argument("--fault", action="append", default=[], type=fault_arg,
                   metavar="JSON", help="a fault rule, or a list of them "
                   "(repeatable, tried in order)")
    p.add_argument("--idempotency-header", default="Idempotency-Key",
                   metavar="NAME", help="the header whose value makes a "
                   "generic request happen once per key (default "
                   "Idempotency-Key)")
    p.add_argument("--max-rate", type=float, metavar="R",
                   help="requests per second to flag as over rate in the log "
                   "(observed only: nothing is throttled)")
    a = p.parse_args(argv)
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    if a.max_rate is not None and a.max_rate <= 0:
        p.error("--max-rate must be positive")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    accounts = dict(a.account)
    if not accounts:
        log("no --account: every request will get 401")
    rules = [r for group in a.fault for r in group]
    logfile = open(a.log, "a", encoding="utf-8") if a.log else None

    # Signals are taken by sigwait in the main thread; block them before any
    # thread starts so that every thread inherits the mask.
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)

    # an IPv6 literal (--host ::1) listens on IPv6
    cls = Server
    if ":" in a.host:
        cls = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    server = cls((a.host, a.port), Handler)
    server.state = State(accounts, rules, logfile, a.max_rate)
    server.state.idem_header = a.idempotency_header
    scheme = "http"
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        scheme = "https"
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    if a.ready_file:
        write_atomic(a.ready_file, f"{port}\n".encode())
    url = f"{scheme}://{'[' + a.host + ']' if ':' in a.host else a.host}:{port}"
    print(f"sms_provider listening on {url}", flush=True)
    log(f"listening on {url}, {len(accounts)} account(s), {len(rules)} "
        f"fault rule(s){', max rate %g/s observed' % a.max_rate if a.max_rate else ''}")

    signal.sigwait(sigs)
    log("stopping")
    server.shutdown()
    server.server_close()
    if logfile is not None:
        # Threads of open keep-alive connections may still be answering.
        with server.state.lock:
            server.state.logfile = None
        logfile.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
