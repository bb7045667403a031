"""IPv6 end to end on the loopback ::1.  serve's listener on [::1]: the ack
link (GET shows, POST acknowledges), the monitor pages, guessing limited
per address, a trusted proxy on ::1 with IPv6 clients behind it, its
address written in another spelling than the one the listener prints.
And the pinned addresses of an SMS provider and of a drop host given as
IPv6 literals, the configured names under .invalid never resolving."""
import re
import socket

import pytest

from sshpeer import SshPeer, free_port
from test_acklink import request as acklink_request, serving, team_state
from test_pinned import dropped_once, pinned_drop
from test_sms import by_number, configure as sms_configure, provider, sms_rows


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as so:
            so.bind(("::1", 0))
        return True
    except OSError:
        return False


# a machine whose loopback has no ::1 cannot run these: said as skipped
# (counted apart from passed), never passed
pytestmark = pytest.mark.skipif(not _has_ipv6_loopback(),
                                reason="this machine's loopback has no ::1")


def request(port, method, path, body=None, forwarded=None):
    """(status, text) of one request to serve's listener on [::1]."""
    st, _, text = acklink_request(None, method, path, body, forwarded,
                                  host="::1", port=port)
    return st, text


@pytest.fixture
def port6(inst):
    """The port serve listens on, on [::1] only."""
    port = free_port("::1")
    inst.set_keys("gateway", listen=f"[::1]:{port}",
                  public_url=f"http://[::1]:{port}/")
    return port


@pytest.fixture
def served6(inst, port6):
    """serve in the background on port6, started by the test."""
    yield from serving(inst, lambda: request(port6, "GET", "/healthz"))


def test_the_listener_on_ipv6_shows_acks_and_answers_this_host(inst, port6,
                                                                 served6):
    teams = inst.teams()[:2]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    served6()
    tok = inst.ack_token(alert, teams[0])
    st, page = request(port6, "GET", f"/ack/{tok}")
    assert st == 200 and f"Acknowledge for team {teams[0]}" in page, page
    assert team_state(inst, alert, teams[0])[0] == "active"
    st, page = request(port6, "POST", f"/ack/{tok}", {"name": "Amina O."})
    assert st == 200 and "Acknowledged</b>" in page, page
    assert team_state(inst, alert, teams[0])[:2] == ("acked", "Amina O.")
    assert team_state(inst, alert, teams[1])[0] == "active"
    # the monitor pages answer this host's ::1
    st, body = request(port6, "GET", "/metrics")
    assert st == 200 and re.search(r'^tocsin_acks\{via="link",.* 1$', body,
                                   re.M), (st, body)
    # bound to [::1] alone: nothing listens on 127.0.0.1 at that port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port6), timeout=5).close()


def test_guessing_over_ipv6_is_limited_per_address(inst, port6, served6):
    alert = inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    served6()
    codes = [request(port6, "GET", f"/ack/{i:032x}")[0] for i in range(13)]
    assert codes[:10] == [404] * 10 and set(codes[10:]) == {429}, codes
    st, _ = request(port6, "POST",
                    f"/ack/{inst.ack_token(alert, inst.teams()[0])}",
                    {"name": "x"})
    assert st == 429
    assert team_state(inst, alert, inst.teams()[0])[0] == "active"
    log = (inst.dir / "serve.log").read_text()
    assert "unknown link from ::1" in log, log


@pytest.mark.parametrize("spelling", ["::1", "0:0:0:0:0:0:0:1", "::0001"])
def test_a_trusted_proxy_on_ipv6_in_any_spelling(inst, port6, served6,
                                                 spelling):
    """The proxy's address written as the operator likes: its clients
    count one by one and the monitor pages stay this host's own.  Matched
    as text before, "0:0:0:0:0:0:0:1" never matched the peer the listener
    printed "::1": every client behind the proxy shared one limit (one
    guesser locked every team out of its link) and /metrics answered
    whoever the proxy forwarded."""
    inst.set_keys("gateway", trusted_proxy=spelling)
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team))
    served6()
    codes = [request(port6, "GET", f"/ack/{i:032x}",
                     forwarded=f"10.9.{i}.1, 2001:DB8:0::7")[0]
             for i in range(14)]
    assert codes[:10] == [404] * 10 and set(codes[10:]) == {429}, codes
    tok = inst.ack_token(alert, team)
    st, _ = request(port6, "POST", f"/ack/{tok}", {"name": "guesser"},
                    forwarded="2001:db8::7")
    assert st == 429
    assert team_state(inst, alert, team)[0] == "active"
    # another client behind the same proxy acks
    st, page = request(port6, "POST", f"/ack/{tok}", {"name": "Amina O."},
                       forwarded="2001:db8::8")
    assert st == 200 and "Acknowledged</b>" in page, page
    assert team_state(inst, alert, team)[:2] == ("acked", "Amina O.")
    # through the proxy, the monitor pages are not this host's
    for path in ("/metrics", "/healthz"):
        st, _ = request(port6, "GET", path, forwarded="2001:db8::8")
        assert st == 403, (path, st)
    log = (inst.dir / "serve.log").read_text()
    assert "from 2001:db8::7" in log and "from ::1" not in log, log
    assert "10.9." not in log


def test_sms_goes_to_a_pinned_ipv6_address(inst, tmp_path, pki):
    """addresses = [ "127.0.0.1", "::1" ] where only ::1 answers: each
    number gets its SMS once, the request still names the configured host
    (the certificate proved it)."""
    teams = inst.teams()[:3]
    with provider(tmp_path, pki, "p", host="::1") as p:
        url = p.url.replace("[::1]", "sms.tocsin.invalid")
        pin = '[ "127.0.0.1", "::1" ]'
        sms_configure(inst, url, step0='[ "primary:sms" ]', addresses=pin)
        text, n = re.subn(r'name = "ke-gateway";',
                          f'name = "ke-gateway"; addresses = {pin};',
                          inst.conf.read_text(), count=1)
        assert n == 1
        inst.conf.write_text(text)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = p.requests()
    rows = sms_rows(inst, alert)
    assert rows and [r for r in rows if r[3] != "sent"] == [], rows
    per = by_number(reqs)
    assert sorted(per) == sorted(r[2] for r in rows)
    assert all(len(v) == 1 for v in per.values()), per
    for r in reqs:
        assert r["headers"]["Host"].startswith("sms.tocsin.invalid:"), r


def test_a_drop_at_a_pinned_ipv6_address(inst, tmp_path):
    """sshd on [::1] only, its host key pinned for the name alone (never
    for the address): the files land once."""
    with SshPeer(tmp_path / "sshd", host="::1") as sshd:
        teams = inst.teams()[:2]
        kh = tmp_path / "known_hosts"
        kh.write_text(sshd.known_hosts_line().replace(
            "[::1]", "[drop.tocsin.invalid]"))
        pinned_drop(inst, sshd, teams, known_hosts=kh, pin='[ "::1" ]')
        dropped_once(inst, sshd, teams)
