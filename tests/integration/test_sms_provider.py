"""The SMS/voice test provider itself, driven with urllib and http.client.

These tests prove the provider (tests/peers/sms_provider.py) and its helper
(smsprovider.py) before tocsin's tests rely on them: Twilio's Messages and
Calls calls with Basic auth, its validation errors, segment counting, the
generic endpoint, every fault rule, HTTPS with a verified certificate,
keep-alive under concurrency, malformed input, and the X-Twilio-Signature
helper against Twilio's published test vector.  They do not need the tocsin
binary.
"""
import base64
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from peerproc import throwaway_tls

from smsprovider import (SmsProvider, call_status_params,
                         message_status_params, post_status_callback,
                         twilio_signature)

TIMEOUT = 10
SID, TOKEN = "AC1", "tok1"
TO, FROM = "+41790000001", "+15005550006"


@pytest.fixture
def sms(tmp_path):
    with SmsProvider(tmp_path) as p:
        yield p


def post(url, fields=None, auth=(SID, TOKEN), json_body=None, bearer=None,
         context=None, headers=None, timeout=TIMEOUT):
    """POST form fields (or a JSON body); returns (status, headers, body)."""
    headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    else:
        data = urllib.parse.urlencode(fields or {}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if auth:
        cred = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {cred}"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=context) as r:
            return r.status, r.headers, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def send_sms(sms, to=TO, body="hello", **extra):
    return post(sms.messages_url(), {"To": to, "From": FROM, "Body": body,
                                     **extra})


def test_message_accepted_and_recorded(sms):
    cb = "https://tocsin.example/hooks/twilio?x=1"
    t0 = time.time()
    status, headers, body = send_sms(sms, body="Alert 42: rotate keys",
                                     StatusCallback=cb)
    assert status == 201, body
    assert headers["Content-Type"].startswith("application/json")
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    int(body["sid"][2:], 16)
    assert body["status"] == "queued"
    assert (body["to"], body["from"], body["body"]) == \
        (TO, FROM, "Alert 42: rotate keys")
    assert body["num_segments"] == "1" and body["account_sid"] == SID
    assert body["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{body['sid']}.json"

    reqs = sms.requests()
    assert len(reqs) == 1
    r = reqs[0]
    assert r["method"] == "POST"
    assert r["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert r["account"] == SID and r["auth_ok"] is True
    assert r["form"] == {"To": TO, "From": FROM, "Body": "Alert 42: rotate keys",
                         "StatusCallback": cb}
    assert "StatusCallback=https%3A%2F%2Ftocsin.example" in r["raw"]
    assert r["status"] == 201 and r["sid"] == body["sid"]
    assert r["faults"] == []
    assert t0 <= r["t"] <= r["t_end"] <= time.time()
    # The credentials are redacted from the record.
    assert r["headers"]["Authorization"] == "Basic [redacted]"
    assert TOKEN not in sms.requests_file.read_text()


def test_num_segments(sms):
    cyrillic = ("Внимание: компрометация учётных данных регистратора, "
                "смените пароли EPP")[:71]
    assert len(cyrillic) == 71
    cases = [
        ("a" * 160, "1"),
        ("a" * 161, "2"),               # GSM-7 over one part: 153 per part
        ("a" * 306, "2"),
        ("a" * 307, "3"),
        (cyrillic[:70], "1"),
        (cyrillic, "2"),                # UCS-2 over one part: 67 per part
        ("ж" * 134, "2"),
        ("ж" * 135, "3"),
        ("€" * 80, "1"),                # 160 septets
        ("a" * 158 + "€", "1"),         # 160 septets
        ("a" * 159 + "€", "2"),         # 161 septets: "€" counts 2
        ("a" * 159 + "[", "2"),
        # The escape pair is not split: 152 | € + 151 | 1.
        ("a" * 152 + "€" + "a" * 152, "3"),
        ("😀" * 35, "1"),               # 70 UTF-16 units
        ("😀" * 36, "2"),
    ]
    for text, want in cases:
        status, _, body = send_sms(sms, body=text)
        assert status == 201, body
        assert body["num_segments"] == want, (text, body["num_segments"])
        assert body["body"] == text
    assert [r["form"]["Body"] for r in sms.requests()] == [c[0] for c in cases]


def test_wrong_credentials_401(sms):
    for auth in ((SID, "wrong"), None, ("AC2", TOKEN)):
        status, headers, body = post(
            sms.messages_url(), {"To": TO, "From": FROM, "Body": "x"},
            auth=auth)
        assert status == 401, auth
        assert body["code"] == 20003 and body["message"] == "Authenticate"
        assert body["status"] == 401
        assert headers["WWW-Authenticate"].startswith("Basic")
    # Right credentials, but another account's path.
    status, _, body = post(sms.messages_url("AC9"),
                           {"To": TO, "From": FROM, "Body": "x"})
    assert status == 401 and body["code"] == 20003
    reqs = sms.requests()
    assert [r["auth_ok"] for r in reqs] == [False] * 4
    assert [r["status"] for r in reqs] == [401] * 4
    assert all(r["sid"] is None for r in reqs)
    assert "wrong" not in sms.requests_file.read_text()


def test_validation_errors(sms):
    status, _, body = send_sms(sms, to="0790000001")
    assert status == 400
    assert body == {"code": 21211,
                    "message": "The 'To' number 0790000001 is not a valid "
                               "phone number.",
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": 400}
    status, _, body = post(sms.messages_url(), {"To": TO, "From": FROM})
    assert status == 400 and body["code"] == 21602
    status, _, body = post(sms.messages_url(), {"To": TO, "Body": "x"})
    assert status == 400 and body["code"] == 21603
    # A MessagingServiceSid stands in for From.
    status, _, body = post(sms.messages_url(), {
        "To": TO, "MessagingServiceSid": "MG" + "0" * 32, "Body": "x"})
    assert status == 201 and body["from"] is None
    assert body["status"] == "accepted"
    # Twilio reads form fields only: a JSON body has no To.
    status, _, body = post(sms.messages_url(),
                           json_body={"To": TO, "From": FROM, "Body": "x"})
    assert status == 400 and body["code"] == 21604
    reqs = sms.requests()
    assert [r["status"] for r in reqs] == [400, 400, 400, 201, 400]
    assert reqs[-1]["json"] == {"To": TO, "From": FROM, "Body": "x"}
    assert "form" not in reqs[-1]


def test_calls_record_twiml(sms):
    twiml = "<Response><Say>Alert 42. Press 1 to acknowledge.</Say></Response>"
    status, _, body = post(sms.calls_url(), {
        "To": TO, "From": FROM, "Twiml": twiml,
        "StatusCallback": "http://127.0.0.1:9/cb"})
    assert status == 201, body
    assert body["sid"].startswith("CA") and len(body["sid"]) == 34
    assert body["status"] == "queued" and body["to"] == TO
    status, _, body = post(sms.calls_url(), {"To": TO, "From": FROM})
    assert status == 400 and body["code"] == 21205
    reqs = sms.requests()
    assert reqs[0]["twiml"] == twiml and reqs[0]["form"]["Twiml"] == twiml
    assert reqs[0]["sid"].startswith("CA") and reqs[1]["status"] == 400


def test_429_rule_with_retry_after_then_success(sms):
    state = sms.set_faults([{"match": "^\\+254", "action": "429",
                             "retry_after": 2, "count": 1}])
    assert len(state["rules"]) == 1
    status, _, _ = send_sms(sms, to="+41790000002")    # does not match
    assert status == 201
    status, headers, body = send_sms(sms, to="+254712345678")
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert body["code"] == 20429 and body["status"] == 429
    status, headers, body = send_sms(sms, to="+254712345678")
    assert status == 201, body
    assert "Retry-After" not in headers
    rule = sms.control()["rules"][0]
    assert (rule["fired"], rule["left"]) == (1, 0)
    reqs = sms.requests()
    assert [(r["status"], r["faults"]) for r in reqs] == \
        [(201, []), (429, ["429"]), (201, [])]


def test_500_rule_from_command_line(tmp_path):
    with SmsProvider(tmp_path, faults=[{"action": "500", "count": 2}]) as sms:
        got = [send_sms(sms) for _ in range(3)]
        assert [g[0] for g in got] == [500, 500, 201]
        assert got[0][2]["code"] == 20500
        assert [r["status"] for r in sms.requests()] == [500, 500, 201]
        # An always-on rule limited to one endpoint.
        sms.set_faults([{"endpoint": "calls", "action": "503"}])
        assert send_sms(sms)[0] == 201
        for _ in range(2):
            assert post(sms.calls_url(), {"To": TO, "From": FROM,
                                          "Url": "http://x.test/t"})[0] == 503
        assert sms.control()["rules"][0]["fired"] == 2
        assert sms.control()["rules"][0]["left"] == -1


def test_invalid_rule_refuses_a_valid_number(sms):
    sms.set_faults([{"action": "invalid", "count": 1}])
    status, _, body = send_sms(sms, to="+41790000003")
    assert status == 400 and body["code"] == 21211
    assert body["message"] == \
        "The 'To' number +41790000003 is not a valid phone number."
    assert send_sms(sms, to="+41790000003")[0] == 201


def test_delay_rule(sms):
    sms.set_faults([{"action": "delay", "seconds": 1, "count": 1}])
    t0 = time.monotonic()
    status, _, _ = send_sms(sms)
    took = time.monotonic() - t0
    assert status == 201 and took >= 1.0
    t0 = time.monotonic()
    assert send_sms(sms)[0] == 201
    assert time.monotonic() - t0 < 0.5
    r = sms.requests()[0]
    assert r["t_end"] - r["t"] >= 1.0 and r["faults"] == ["delay"]


def test_delay_range_draws_each_wait(sms):
    sms.set_faults([{"action": "delay", "seconds": 0.1,
                     "seconds_max": 0.3}])
    took = []
    for _ in range(6):
        t0 = time.monotonic()
        assert send_sms(sms)[0] == 201
        took.append(time.monotonic() - t0)
    assert min(took) >= 0.1 and max(took) < 1.0
    waits = [r["t_end"] - r["t"] for r in sms.requests()]
    assert all(0.1 <= w < 0.35 for w in waits), waits
    # drawn, not one fixed wait
    assert max(waits) - min(waits) > 0.005, waits
    for bad in ({"action": "delay", "seconds": 0.3, "seconds_max": 0.1},
                {"action": "late", "seconds": 1, "seconds_max": 2},
                {"action": "delay", "seconds": 0, "seconds_max": "1"}):
        with pytest.raises(RuntimeError, match="400"):
            sms.set_faults([bad])


def test_delay_then_status(sms):
    sms.set_faults([{"action": "delay", "seconds": 0.3, "count": 1},
                    {"action": "500", "count": 1}])
    t0 = time.monotonic()
    assert send_sms(sms)[0] == 500
    assert time.monotonic() - t0 >= 0.3
    assert sms.requests()[0]["faults"] == ["delay", "500"]


def test_drop_rule_closes_without_answer(sms):
    sms.set_faults([{"match": "0004$", "action": "drop", "count": 1},
                    {"match": "0005$", "action": "drop", "reset": True,
                     "count": 1}])
    cred = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    hdrs = {"Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {cred}"}

    def attempt(to):
        conn = http.client.HTTPConnection("127.0.0.1", sms.port,
                                          timeout=TIMEOUT)
        body = urllib.parse.urlencode({"To": to, "From": FROM, "Body": "x"})
        conn.request("POST", f"/2010-04-01/Accounts/{SID}/Messages.json",
                     body, hdrs)
        try:
            return conn.getresponse().status
        except Exception as e:
            return type(e)
        finally:
            conn.close()

    # Closed with a FIN, then with a RST; each rule fires once.
    assert attempt("+41790000004") is http.client.RemoteDisconnected
    assert attempt("+41790000005") is ConnectionResetError
    assert attempt("+41790000004") == 201
    assert attempt("+41790000005") == 201
    reqs = sms.requests()
    assert [(r["status"], r["faults"]) for r in reqs] == \
        [(None, ["drop"]), (None, ["drop"]), (201, []), (201, [])]


def test_generic_endpoint(sms):
    url = sms.generic_url
    status, _, body = post(url, auth=None, bearer=TOKEN,
                           json_body={"to": TO, "text": "Alert 42"})
    assert status == 202, body
    assert body["accepted"] is True
    assert body["message_id"].startswith("G") and len(body["message_id"]) == 17
    int(body["message_id"][1:], 16)
    status, _, body2 = post(url, {"to": TO, "text": "Alert 43"}, auth=None,
                            bearer=TOKEN)
    assert status == 202 and body2["message_id"] != body["message_id"]
    assert post(url, {"to": TO, "text": "x"}, auth=None, bearer="nope")[0] == 401
    assert post(url, {"to": TO, "text": "x"})[0] == 401     # Basic is not Bearer
    status, _, body3 = post(url, auth=None, bearer=TOKEN,
                            json_body={"to": "12345", "text": "x"})
    assert status == 422 and body3 == {"error": "invalid number"}
    reqs = sms.requests()
    assert reqs[0]["json"] == {"to": TO, "text": "Alert 42"}
    assert reqs[0]["sid"] == body["message_id"] and reqs[0]["account"] == SID
    assert reqs[1]["form"] == {"to": TO, "text": "Alert 43"}
    assert [r["auth_ok"] for r in reqs] == [True, True, False, False, True]
    assert [r["status"] for r in reqs] == [202, 202, 401, 401, 422]
    assert reqs[0]["headers"]["Authorization"] == "Bearer [redacted]"


def test_concurrent_keepalive(sms):
    """50 clients at once, each sending 2 messages over one connection."""
    clients, per = 50, 2
    barrier = threading.Barrier(clients)
    cred = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    hdrs = {"Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {cred}"}
    results, errors = [], []

    def client(n):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", sms.port,
                                              timeout=TIMEOUT)
            conn.connect()
            sock = conn.sock
            barrier.wait(timeout=TIMEOUT)
            for i in range(per):
                body = urllib.parse.urlencode(
                    {"To": f"+4179{n:07d}", "From": FROM, "Body": f"c{n} m{i}"})
                conn.request("POST", f"/2010-04-01/Accounts/{SID}/Messages.json",
                             body, hdrs)
                resp = conn.getresponse()
                data = json.loads(resp.read())
                results.append((n, i, resp.status, data["sid"],
                                conn.sock is sock,
                                resp.getheader("Connection")))
            conn.close()
        except Exception as e:  # reported below, with the others
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:5]
    assert len(results) == clients * per
    assert all(r[2] == 201 for r in results)
    assert all(r[4] for r in results), "a connection was not kept alive"
    assert all(r[5] != "close" for r in results)
    reqs = sms.requests()
    assert len(reqs) == clients * per
    assert sorted(r["form"]["Body"] for r in reqs) == \
        sorted(f"c{n} m{i}" for n in range(clients) for i in range(per))
    assert {r["sid"] for r in reqs} == {r[3] for r in results}


def test_max_rate_is_observed_not_enforced(tmp_path):
    # One request per 4 s: of 4 quick requests, the last 3 are over.
    with SmsProvider(tmp_path, max_rate=0.25) as sms:
        assert [send_sms(sms)[0] for _ in range(4)] == [201] * 4
        assert [r["over_rate"] for r in sms.requests()] == \
            [False, True, True, True]
        assert sms.control()["over_rate"] == 3


def test_control_refuses_bad_rules(sms):
    sms.set_faults([{"action": "500"}])
    with pytest.raises(RuntimeError, match="400"):
        sms.set_faults([{"action": "500"}, {"action": "explode"}])
    with pytest.raises(RuntimeError, match="400"):
        sms.set_faults([{"match": "(", "action": "500"}])
    assert [r["action"] for r in sms.control()["rules"]] == ["500"]
    assert sms.reset()["rules"] == []
    assert send_sms(sms)[0] == 201
    # Control requests are not in the request log.
    assert len(sms.requests()) == 1


def test_malformed_requests_do_not_hurt(sms):
    def raw(data):
        with socket.create_connection(("127.0.0.1", sms.port),
                                      timeout=TIMEOUT) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    assert raw(b"\x00\xffGARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"POST /generic/send HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: abc\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"POST /generic/send HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 99999999\r\n\r\n").startswith(b"HTTP/1.1 413")
    # Body shorter than announced, then the client goes away.
    raw(b"POST /generic/send HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab")
    # Chunked bodies are read.
    chunked = raw(b"POST /generic/send HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer tok1\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  b"b\r\n{\"to\": \"+41\r\n18\r\n790000005\", \"text\": \"x\"}"
                  b"\r\n0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 202"), chunked
    status, _, body = post(sms.generic_url, auth=None, bearer=TOKEN,
                           json_body=None, fields=None)
    assert status == 422
    req = urllib.request.Request(sms.generic_url, data=b"{not json",
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=TIMEOUT)
    assert e.value.code == 400
    assert post(f"{sms.url}/nowhere", {})[0] == 404
    assert send_sms(sms)[0] == 201
    assert sms.proc.poll() is None
    assert "error in the provider itself" not in sms.log()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    return throwaway_tls(tmp_path_factory.mktemp("sms-pki"), "sms provider")


def test_https(tmp_path, pki):
    with SmsProvider(tmp_path, cert=pki["cert"], key=pki["key"]) as sms:
        assert sms.url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        status, _, body = post(sms.messages_url(),
                               {"To": TO, "From": FROM, "Body": "over TLS"},
                               context=ctx)
        assert status == 201 and body["body"] == "over TLS"
        # A client that does not trust the test CA refuses the certificate.
        with pytest.raises(urllib.error.URLError) as e:
            post(sms.messages_url(), {"To": TO, "From": FROM, "Body": "x"},
                 context=ssl.create_default_context())
        assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
        # Plain HTTP to the TLS port gets no HTTP answer.
        conn = http.client.HTTPConnection("127.0.0.1", sms.port, timeout=TIMEOUT)
        with pytest.raises((http.client.HTTPException, OSError)):
            conn.request("GET", "/_control")
            conn.getresponse().read()
        conn.close()
        # The control channel works over TLS too.
        sms.set_faults([{"action": "500", "count": 1}])
        assert post(sms.messages_url(), {"To": TO, "From": FROM, "Body": "x"},
                    context=ctx)[0] == 500
        assert [r["status"] for r in sms.requests()] == [201, 500]


# Twilio's published test vector (the request validator tests of its SDKs):
# this URL, these parameters and auth token "12345" give this signature.
# It was checked independently of Python with
#   printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDE\
#   Caller+14158675309Digits1234From+14158675309To+18005551212' |
#     openssl dgst -sha1 -hmac 12345 -binary | openssl base64
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {"To": "+18005551212", "From": "+14158675309",
                 "Digits": "1234", "Caller": "+14158675309",
                 "CallSid": "CA1234567890ABCDE"}
VECTOR_SIG = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def independent_signature(token, url, pairs):
    """The documented algorithm built another way: an incremental HMAC fed
    the URL, then name and value of each (name, value) pair in name order."""
    mac = hmac.HMAC(token.encode(), digestmod=hashlib.sha1)
    mac.update(url.encode())
    for name, value in sorted(pairs):
        mac.update(name.encode())
        mac.update(value.encode())
    return base64.standard_b64encode(mac.digest()).decode()


def test_twilio_signature_known_vector():
    assert twilio_signature("12345", VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIG
    assert independent_signature("12345", VECTOR_URL,
                                 VECTOR_PARAMS.items()) == VECTOR_SIG
    # Anything changed changes the signature.
    assert twilio_signature("12346", VECTOR_URL, VECTOR_PARAMS) != VECTOR_SIG
    assert twilio_signature("12345", VECTOR_URL + "&x",
                            VECTOR_PARAMS) != VECTOR_SIG
    assert twilio_signature("12345", VECTOR_URL,
                            {**VECTOR_PARAMS, "Digits": "1235"}) != VECTOR_SIG
    # A repeated parameter: each value, sorted.
    params = {"Body": "é ok", "MediaUrl": ["https://b.test/2", "https://a.test/1"]}
    assert twilio_signature("tok1", "https://h.test/cb", params) == \
        independent_signature("tok1", "https://h.test/cb", [
            ("Body", "é ok"), ("MediaUrl", "https://a.test/1"),
            ("MediaUrl", "https://b.test/2")])


def test_post_status_callback():
    """A webhook that checks the signature independently accepts the
    helper's callback and refuses one with a wrong signature."""
    seen = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers["Content-Length"])
            params = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
            url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            want = independent_signature("tok1", url, params.items())
            ok = hmac.compare_digest(
                want, self.headers.get("X-Twilio-Signature", ""))
            seen.append((params, ok))
            self.send_response(204 if ok else 403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/twilio?t=7"
        params = message_status_params("SM" + "a" * 32, "delivered", to=TO)
        assert post_status_callback(url, "tok1", params) == 204
        assert post_status_callback(url, "tok1", params,
                                    signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 403
        assert post_status_callback(url, "wrong", params) == 403
        cparams = call_status_params("CA" + "b" * 32, "completed", duration=12)
        assert post_status_callback(url, "tok1", cparams) == 204
    finally:
        server.shutdown()
        server.server_close()
    assert [ok for _, ok in seen] == [True, False, False, True]
    assert seen[0][0]["MessageStatus"] == "delivered"
    assert seen[0][0]["To"] == TO


def test_generic_idempotency_key(sms):
    """A repeat with the same key is answered with the first answer and is
    no new message; another key, or a key after an error, is."""
    url = sms.generic_url
    doc = {"to": TO, "text": "Alert 7"}

    def send(key, **kw):
        return post(url, auth=None, bearer=TOKEN, json_body=doc,
                    headers={"Idempotency-Key": key}, **kw)

    s1, _, b1 = send("k1")
    s2, _, b2 = send("k1")
    assert s1 == s2 == 202 and b1 == b2
    s3, _, b3 = send("k2")
    assert s3 == 202 and b3["message_id"] != b1["message_id"]
    assert [r["sid"] for r in sms.messages(TO)] == [b1["message_id"],
                                                    b3["message_id"]]
    assert [r.get("replay", False) for r in sms.requests()] == \
        [False, True, False]
    # an error is not kept: the same key goes through afterwards
    sms.set_faults([{"endpoint": "generic", "action": "500", "count": 1}])
    assert send("k3")[0] == 500
    s4, _, b4 = send("k3")
    assert s4 == 202 and len(sms.messages(TO)) == 3
    assert sms.control()["replays"] == 1


def test_generic_accepts_late(sms):
    """"late": the message is sent at once, the answer comes after the
    client gave up; the client's repeat with the same key gets the first
    answer, and the phone has one message."""
    sms.set_faults([{"endpoint": "generic", "action": "late", "seconds": 3,
                     "count": 1}])
    doc = {"to": TO, "text": "Alert 8"}
    hdr = {"Idempotency-Key": "late-1"}
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, urllib.error.URLError)):
        post(sms.generic_url, auth=None, bearer=TOKEN, json_body=doc,
             headers=hdr, timeout=1)
    assert time.monotonic() - t0 < 2.5
    status, _, body = post(sms.generic_url, auth=None, bearer=TOKEN,
                           json_body=doc, headers=hdr)
    assert status == 202
    msgs = sms.messages(TO)
    assert [m["sid"] for m in msgs] == [body["message_id"]]
    assert msgs[0]["faults"] == ["late"]
    # without the key, the late answer's repeat is a second message
    sms.set_faults([{"endpoint": "generic", "action": "late", "seconds": 3,
                     "count": 1}])
    with pytest.raises((socket.timeout, urllib.error.URLError)):
        post(sms.generic_url, auth=None, bearer=TOKEN, json_body=doc,
             timeout=1)
    post(sms.generic_url, auth=None, bearer=TOKEN, json_body=doc)
    assert len(sms.messages(TO)) == 3
