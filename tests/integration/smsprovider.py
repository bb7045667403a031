"""Start and stop tests/peers/sms_provider.py from a test, read what it
recorded, change its fault rules, and play Twilio's status callbacks.

    with SmsProvider(tmp_path, accounts={"AC1": "tok1"}) as sms:
        ... point tocsin at sms.url ...
        sms.set_faults([{"match": "^\\+254", "action": "429",
                         "retry_after": 2, "count": 1}])
        reqs = sms.requests()

    code = post_status_callback(webhook_url, "tok1",
                                message_status_params("SM...", "delivered"))

The provider's stdout and stderr go to files in workdir (<name>.out and
<name>.log), never to pipes: an unread pipe fills up and stalls the peer.
Several providers can share a workdir if each has its own name.
"""
import base64
import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from peerproc import PeerProcess

SRC = Path(__file__).resolve().parents[2]
PEER = SRC / "tests" / "peers" / "sms_provider.py"
PYTHON = "/usr/bin/python3"


class SmsProvider(PeerProcess):
    what = "sms_provider"

    def __init__(self, workdir, accounts=None, cert=None, key=None, faults=(),
                 max_rate=None, name="sms_provider",
                 idempotency_header=None, host="127.0.0.1"):
        """accounts: {SID: TOKEN}, by default {"AC1": "tok1"}; cert and key
        make it serve HTTPS; faults: rule dicts given with --fault;
        max_rate: --max-rate (observed and flagged, never enforced);
        idempotency_header: --idempotency-header (generic requests carrying
        it happen once per key); host: the address to listen on, an
        IPv6 literal such as "::1" for IPv6."""
        self.workdir = Path(workdir)
        self.accounts = dict(accounts if accounts is not None
                             else {"AC1": "tok1"})
        self.cert, self.key = cert, key
        self.faults = list(faults)
        self.max_rate = max_rate
        self.idempotency_header = idempotency_header
        self.name = name
        self.ready = self.workdir / f"{name}.ready"
        self.logfile = self.workdir / f"{name}.log"
        self.stdout_file = self.workdir / f"{name}.out"
        self.requests_file = self.workdir / f"{name}.jsonl"
        self.host = host
        self.proc = None
        self.port = None

    @property
    def url(self):
        scheme = "https" if self.cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def messages_url(self, sid="AC1"):
        return f"{self.url}/2010-04-01/Accounts/{sid}/Messages.json"

    def calls_url(self, sid="AC1"):
        return f"{self.url}/2010-04-01/Accounts/{sid}/Calls.json"

    @property
    def generic_url(self):
        return f"{self.url}/generic/send"

    def command(self):
        cmd = [PYTHON, str(PEER), "--host", self.host, "--port", "0",
               "--ready-file", str(self.ready), "--log", str(self.requests_file)]
        for sid, token in self.accounts.items():
            cmd += ["--account", f"{sid}:{token}"]
        if self.cert:
            cmd += ["--cert", str(self.cert), "--key", str(self.key)]
        for f in self.faults:
            cmd += ["--fault", json.dumps(f)]
        if self.max_rate is not None:
            cmd += ["--max-rate", str(self.max_rate)]
        if self.idempotency_header is not None:
            cmd += ["--idempotency-header", self.idempotency_header]
        return cmd

    def requests(self):
        """Every recorded request, oldest first (parsed JSON lines).  A line
        still being written (no newline yet) is left out."""
        try:
            text = self.requests_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.split("\n")[:-1] if line]

    def messages(self, to=None):
        """The messages the provider sent (a phone received): requests
        answered 2xx that were not the repeat of an idempotency key, to
        the number to (all when None)."""
        out = []
        for r in self.requests():
            if r["status"] is None or not 200 <= r["status"] < 300 or \
                    r.get("replay"):
                continue
            doc = r.get("form") or r.get("json") or {}
            if to is None or doc.get("To", doc.get("to")) == to:
                out.append(r)
        return out

    def wait_requests(self, count, timeout=10):
        """Poll until at least count requests are recorded; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.requests()
            if len(reqs) >= count or time.monotonic() > deadline:
                return reqs
            time.sleep(0.02)

    # --- run-time control ----------------------------------------------------
    def _control(self, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            self.url + "/_control", data=data,
            headers={"Content-Type": "application/json"} if data else {})
        # The control channel is the harness talking to its own child on
        # 127.0.0.1; its certificate is not what is under test here.
        ctx = ssl._create_unverified_context() if self.cert else None
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"/_control refused: {e.code} "
                               f"{e.read().decode(errors='replace')}")

    def control(self):
        """The rules with their counters ("fired", "left") and the request
        counters."""
        return self._control()

    def set_faults(self, rules):
        """Replace the fault rules (fresh counters); returns the new state."""
        return self._control({"reset": True, "rules": list(rules)})

    def add_faults(self, rules):
        """Append fault rules after the current ones."""
        return self._control({"add": list(rules)})

    def reset(self):
        """Clear the fault rules."""
        return self._control({"reset": True})


def twilio_signature(auth_token, url, params):
    """X-Twilio-Signature for a POST of params to url: HMAC-SHA1, keyed with
    the auth token, over the full URL (query string included) followed by
    each parameter name and its value, parameters sorted by name; base64 of
    the digest.  A parameter sent several times (a list value) contributes
    each of its distinct values, sorted, as Twilio's own libraries do."""
    s = url
    for name in sorted(params):
        v = params[name]
        values = sorted(set(map(str, v))) if isinstance(v, (list, tuple)) \
            else [str(v)]
        for value in values:
            s += name + value
    digest = hmac.new(auth_token.encode("utf-8"), s.encode("utf-8"),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def post_status_callback(url, auth_token, params, signature=None,
                         context=None, timeout=10):
    """POST params form-encoded to url with X-Twilio-Signature, as Twilio
    posts a status callback; signature overrides the computed one (to send
    a wrong one).  context: an ssl.SSLContext for an https url.  Returns
    the HTTP status code."""
    if signature is None:
        signature = twilio_signature(auth_token, url, params)
    body = urllib.parse.urlencode(params, doseq=True).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "X-Twilio-Signature": signature,
        "User-Agent": "TwilioProxy/1.1",
    })
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


def message_status_params(message_sid, status, account_sid="AC1",
                          to="+41790000000", from_="+15005550006",
                          error_code=None):
    """The form fields of a Twilio message status callback."""
    p = {"AccountSid": account_sid, "ApiVersion": "2010-04-01",
         "From": from_, "MessageSid": message_sid, "MessageStatus": status,
         "SmsSid": message_sid, "SmsStatus": status, "To": to}
    if error_code is not None:
        p["ErrorCode"] = str(error_code)
    return p


def call_status_params(call_sid, status, account_sid="AC1", to="+41790000000",
                       from_="+15005550006", duration=None):
    """The form fields of a Twilio call status callback."""
    p = {"AccountSid": account_sid, "ApiVersion": "2010-04-01",
         "CallSid": call_sid, "CallStatus": status, "Direction": "outbound-api",
         "From": from_, "To": to}
    if duration is not None:
        p["CallDuration"] = str(duration)
    return p
