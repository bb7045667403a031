"""The listener under a slow-connection flood: one address holds at most
gateway.listen_max_per_address connections, all addresses together at most
listen_max_connections, and a request that takes longer than
listen_request_timeout in all is cut, however often its client sends a
byte.  Meanwhile other addresses ack and providers report.

The whole of 127/8 is loopback on Linux: the flood comes from 127.0.0.1,
the people and the provider from 127.0.0.2 and 127.0.0.3."""
import http.client
import select
import socket
import threading
import time
import urllib.parse

import pytest

from smsprovider import message_status_params, twilio_signature
from test_ackreply import listening, stopped
from test_sms import ACCOUNT, TOKEN, sent_through, sms_rows


class Flood:
    """n connections from addr that each send the start of a request and
    then one more byte every `every` seconds, never finishing it."""

    def __init__(self, port, addr, n, every=1.0):
        self.socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind((addr, 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            try:
                s.send(b"GET /ack/")
            except OSError:
                pass
            self.socks.append(s)
        self.every = every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self):
        while not self.done.wait(self.every):
            for s in self.socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    def held(self):
        """How many of the connections the listener still holds open."""
        n = 0
        for s in self.socks:
            try:
                r, _, _ = select.select([s], [], [], 0)
                if not r:
                    n += 1
                elif s.recv(1, socket.MSG_PEEK):
                    n += 1          # answered, not closed: counts as held
            except OSError:
                pass
        return n

    def close(self):
        self.done.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


def ack_post(inst, token, source, deadline):
    """POST the ack link's button from source; connections refused or
    closed are tried again until deadline (monotonic).  Returns (status,
    seconds taken) or (None, seconds) when it never got an answer."""
    t0 = time.monotonic()
    body = urllib.parse.urlencode({"name": "Flood Tester"})
    while time.monotonic() < deadline:
        c = http.client.HTTPConnection(
            "127.0.0.1", inst.port, source_address=(source, 0),
            timeout=max(0.1, deadline - time.monotonic()))
        try:
            c.request("POST", f"/ack/{token}", body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            return r.status, time.monotonic() - t0
        except OSError:
            time.sleep(0.05)
        finally:
            c.close()
    return None, time.monotonic() - t0


def receipt_post(inst, source, params, timeout=1.0):
    """A signed Twilio status callback from source; the HTTP status."""
    url = f"http://127.0.0.1:{inst.port}/twilio/status/twilio-main"
    body = urllib.parse.urlencode(params)
    c = http.client.HTTPConnection("127.0.0.1", inst.port,
                                   source_address=(source, 0),
                                   timeout=timeout)
    try:
        c.request("POST", "/twilio/status/twilio-main", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TOKEN, url, params)})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def team_state(inst, alert, team):
    return inst.sql("SELECT state, ack_via FROM team_states WHERE alert_id "
                    "= ? AND team = ?", alert, team)[0]


@pytest.fixture
def sent(inst, tmp_path, pki):
    """An alert whose SMS went out through the test provider: (alert,
    teams, the sms rows)."""
    teams = inst.teams()[:2]
    alert, _ = sent_through(inst, tmp_path, pki, teams)
    rows = sms_rows(inst, alert)
    assert len(rows) == 2 and all(r[3] == "sent" for r in rows)
    return alert, teams, rows


def test_one_address_cannot_hold_the_listener(inst, sent):
    alert, teams, rows = sent
    inst.set_keys("gateway", listen_request_timeout="3s")
    serve = listening(inst)
    flood = None
    try:
        t_flood = time.monotonic()
        flood = Flood(inst.port, "127.0.0.1", 256)
        time.sleep(0.5)
        # one address holds its share of the slots, no more
        assert flood.held() == 16
        # another address acks within a second, on its first connection
        st, took = ack_post(inst, inst.ack_token(alert, teams[0]),
                            "127.0.0.2", time.monotonic() + 1.0)
        assert st == 200 and took < 1.0, (st, took)
        assert team_state(inst, alert, teams[0]) == ("acked", "link")
        # and a provider's receipt gets in
        _, _, to, _, _, _, ref, _ = rows[1]
        assert receipt_post(inst, "127.0.0.3", message_status_params(
            ref.split(":", 1)[1], "delivered", account_sid=ACCOUNT,
            to=to)) == 200
        assert sms_rows(inst, alert)[1][3] == "delivered"
        # the flood keeps sending, so idleness never ends it; the whole
        # request's deadline does, not before its time
        assert time.monotonic() - t_flood < 2.5
        assert flood.held() == 16
        end = t_flood + 3 + 2.0
        while flood.held() > 0 and time.monotonic() < end:
            time.sleep(0.1)
        assert flood.held() == 0, "slow requests outlived their deadline"
        assert time.monotonic() - t_flood >= 3
    finally:
        if flood is not None:
            flood.close()
        err = stopped(serve)
    assert serve.returncode == 0, err
    assert "listen_max_per_address open already (1 refused" in err
    assert "listen_request_timeout (1 so far)" in err


def test_many_addresses_wait_at_most_the_deadline(inst, sent):
    """All slots taken by slow clients of many addresses: the total cap
    holds (libmicrohttpd stops accepting, so the rest wait in the kernel's
    queue), and slots are free again within listen_request_timeout."""
    alert, teams, _ = sent
    inst.set_keys("gateway", listen_max_connections=24,
                  listen_max_per_address=8, listen_request_timeout="2s")
    serve = listening(inst)
    floods = []
    try:
        t_flood = time.monotonic()
        for i in range(4):
            floods.append(Flood(inst.port, f"127.0.1.{i + 1}", 12))
        time.sleep(0.5)
        # the first addresses got their share each, the rest were refused
        assert [f.held() for f in floods[:2]] == [8, 8]
        st, _ = ack_post(inst, inst.ack_token(alert, teams[0]),
                         "127.0.0.2", t_flood + 2 + 2.0)
        answered = time.monotonic() - t_flood
        assert st == 200, (st, answered)
        # not before the slow requests' deadline freed slots: the total
        # cap held; and not long after it
        assert 2 <= answered <= 2 + 2.0, answered
        assert team_state(inst, alert, teams[0]) == ("acked", "link")
    finally:
        for f in floods:
            f.close()
        err = stopped(serve)
    assert serve.returncode == 0, err


def test_the_trusted_proxy_is_not_capped_per_address(inst):
    """Every client behind the TLS proxy comes from the proxy's address:
    the per-address cap would let sixteen of them in at once."""
    inst.set_keys("gateway", trusted_proxy="127.0.0.1",
                  listen_max_per_address=4, listen_request_timeout="5s")
    inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    serve = listening(inst)
    floods = []
    try:
        floods.append(Flood(inst.port, "127.0.0.1", 10))
        floods.append(Flood(inst.port, "127.0.0.2", 10))
        time.sleep(0.5)
        assert [f.held() for f in floods] == [10, 4]
    finally:
        for f in floods:
            f.close()
        err = stopped(serve)
    assert serve.returncode == 0, err
    assert "refused a connection from 127.0.0.2" in err
    assert "refused a connection from 127.0.0.1" not in err


def test_check_reads_the_listener_limits(inst):
    inst.set_keys("gateway", listen_max_connections=64,
                  listen_max_per_address=64)
    r = inst.run("check")
    assert r.returncode == 78
    assert "tocsin.conf:" in r.stdout and \
        "listen_max_per_address (64) must be less than" in r.stdout, r.stdout
    inst.set_keys("gateway", listen_max_per_address=8,
                  listen_request_timeout="0s")
    r = inst.run("check")
    assert r.returncode == 78 and "listen_request_timeout must be" in \
        r.stdout, r.stdout
    inst.set_keys("gateway", listen_request_timeout="20s",
                  listen_idle_timeout="5s")
    assert inst.run("check").returncode == 0
