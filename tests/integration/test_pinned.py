"""Providers without DNS: each provider named under .invalid (RFC 6761: such
names never resolve) with addresses = [ "127.0.0.1" ] pinned, against the
real peers: the Twilio-compatible provider over HTTPS, the SMTP peer with
STARTTLS, a real sshd.  The test PKI's server certificate carries
sms/smtp/drop.tocsin.invalid (certs/mkpki.sh) and never other.tocsin.invalid:
a pinned address is trusted only as far as the certificate or host key
proves the configured name."""
import re
from pathlib import Path

import pytest

from sshpeer import SshPeer, keygen
from test_dropack import put, serving, state, wait_moved
from test_email import deliveries as mail_rows, peer_for
from test_sms import by_number, configure as sms_configure, provider, sms_rows
from test_sshdrop import configure as drop_configure, drop_rows, submit

PIN = '[ "127.0.0.1" ]'


class Raw:
    """A value set_keys writes as it is (a list), not as a string."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def pinned_sms(inst, p, name, addresses=PIN):
    """Both SMS providers of the repository at https://NAME:PORT, where the
    test provider listens, with addresses pinned (None: none)."""
    url = p.url.replace("127.0.0.1", name)
    kw = {"addresses": addresses} if addresses else {}
    sms_configure(inst, url, step0='[ "primary:sms" ]', **kw)
    if addresses:
        text = inst.conf.read_text()
        text, n = re.subn(r'name = "ke-gateway";',
                          f'name = "ke-gateway"; addresses = {addresses};',
                          text, count=1)
        assert n == 1
        inst.conf.write_text(text)
    return url


def test_sms_goes_to_the_pinned_address_when_the_name_does_not_resolve(
        inst, tmp_path, pki):
    teams = inst.teams()[:3]
    with provider(tmp_path, pki, "p") as p:
        pinned_sms(inst, p, "sms.tocsin.invalid")
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = p.requests()
    rows = sms_rows(inst, alert)
    assert rows
    assert [r for r in rows if r[3] != "sent"] == [], rows
    per = by_number(reqs)
    # each number once, and the request named the configured host
    assert sorted(per) == sorted(r[2] for r in rows)
    assert all(len(v) == 1 for v in per.values()), per
    for r in reqs:
        assert r["headers"]["Host"].startswith("sms.tocsin.invalid:"), r


def test_sms_at_a_pinned_address_whose_certificate_is_for_other_names(
        inst, tmp_path, pki):
    """The attacker's version: the address answers, but its certificate
    does not carry the configured name; nothing is sent."""
    inst.set_keys("gateway", retry_base="1s", retry_max="1s", max_attempts=2)
    teams = inst.teams()[:2]
    with provider(tmp_path, pki, "p") as p:
        pinned_sms(inst, p, "other.tocsin.invalid")
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = p.requests()
    assert reqs == []
    rows = sms_rows(inst, alert)
    assert rows
    for r in rows:
        assert r[3] != "sent", r
        assert "certificate" in r[5] and "other.tocsin.invalid" in r[5], r[5]
        assert "pinned address" in r[5], r[5]


def test_sms_to_a_name_that_does_not_resolve_without_addresses_fails(
        inst, tmp_path, pki):
    """The fault's version: no addresses pinned, no DNS: nothing is sent and
    the reason says the name did not resolve."""
    inst.set_keys("gateway", retry_base="1s", retry_max="1s", max_attempts=2)
    teams = inst.teams()[:1]
    with provider(tmp_path, pki, "p") as p:
        pinned_sms(inst, p, "sms.tocsin.invalid", addresses=None)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        reqs = p.requests()
    assert reqs == []
    for r in sms_rows(inst, alert):
        assert r[3] != "sent" and "resolve" in r[5], r


def test_mail_goes_to_the_pinned_address_with_starttls_verified(
        inst, tmp_path, pki):
    inst.email_all_first()
    teams = inst.teams()[:3]
    peer = peer_for(inst, tmp_path, pki)
    inst.set_keys("smtp", host="smtp.tocsin.invalid", addresses=Raw(PIN))
    try:
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        msgs = peer.messages()
    finally:
        peer.stop()
    rows = mail_rows(inst, alert)
    assert rows
    assert [r for r in rows if r[4] != "sent"] == [], rows
    # every recipient once, over TLS
    got = sorted(a for m in msgs for a in m["rcpt_tos"])
    assert got == sorted(r[3] for r in rows)
    assert all(m["tls"] for m in msgs)


def test_mail_at_a_pinned_address_whose_certificate_is_for_other_names(
        inst, tmp_path, pki):
    inst.set_keys("gateway", retry_base="1s", retry_max="1s", max_attempts=2)
    inst.email_all_first()
    teams = inst.teams()[:2]
    peer = peer_for(inst, tmp_path, pki)
    inst.set_keys("smtp", host="other.tocsin.invalid", addresses=Raw(PIN))
    try:
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        msgs = peer.messages()
        log = peer.log()
    finally:
        peer.stop()
    assert msgs == []
    assert " MAIL FROM" not in log and " RCPT " not in log
    rows = mail_rows(inst, alert)
    assert rows
    for r in rows:
        assert r[4] == "dead", r
        assert "certificate" in r[6] and "other.tocsin.invalid" in r[6], r[6]
        assert "nothing was sent" in r[6], r[6]


@pytest.fixture
def sshd(tmp_path):
    p = SshPeer(tmp_path / "sshd").start()
    yield p
    p.stop()


def pinned_drop(inst, sshd, teams, known_hosts=None, fingerprint=None,
                pin=PIN):
    """providers.sshdrop's host "peer" as drop.tocsin.invalid, with the
    addresses pin pinned (the sshd's)."""
    drop_configure(inst, sshd, teams, known_hosts=known_hosts,
                   fingerprint=fingerprint)
    text = inst.conf.read_text()
    text, n = re.subn(r'(name = "peer";) host = "127\.0\.0\.1";',
                      rf'\1 host = "drop.tocsin.invalid"; addresses = {pin};',
                      text, count=1)
    assert n == 1
    inst.conf.write_text(text)


def dropped_once(inst, sshd, teams):
    """Submit an alert for teams, serve it, and check that each team's
    folder on sshd got it once: the CAP, one manifest, no temporary file
    left."""
    alert, cap, _ = submit(inst, teams)
    p = inst.serve()
    assert p.returncode == 0, p.stderr
    rows = drop_rows(inst, alert)
    assert [r[3] for r in rows] == ["sent"] * len(teams), rows
    for t in teams:
        folder = Path(sshd.root) / t
        assert (folder / f"alert-{alert}.xml").read_bytes() == cap
        # once: one copy of the manifest, no leftover temporary file
        names = sorted(n.name for n in folder.iterdir())
        assert [n for n in names if n.endswith(".sha256")] == [
            f"alert-{alert}.{t}.s0.sha256"]
        assert not [n for n in names if n.startswith(".")], names


def test_drop_goes_to_the_pinned_address_checked_by_name_in_known_hosts(
        inst, sshd, tmp_path):
    # known_hosts holds the key for the name only, never for the address
    kh = tmp_path / "known_hosts"
    line = sshd.known_hosts_line().replace("[127.0.0.1]",
                                           "[drop.tocsin.invalid]")
    kh.write_text(line)
    teams = inst.teams()[:2]
    pinned_drop(inst, sshd, teams, known_hosts=kh)
    dropped_once(inst, sshd, teams)


def test_drop_at_a_pinned_address_with_another_key_is_refused(
        inst, sshd, tmp_path):
    """The attacker's version: the pinned address answers with a key that
    is not the one pinned; nothing is written, no login."""
    other = tmp_path / "other_key"
    keygen(other, "other")
    kh = tmp_path / "known_hosts"
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    kh.write_text(f"[drop.tocsin.invalid]:{sshd.port} {kind} {blob}\n")
    teams = inst.teams()[:1]
    pinned_drop(inst, sshd, teams, known_hosts=kh)
    alert, _, _ = submit(inst, teams)
    inst.serve()
    (row,) = drop_rows(inst, alert)
    assert row[3] == "dead" and "nothing was written" in row[5], row
    assert sshd.fingerprint() in row[5], row[5]
    assert list(Path(sshd.root).iterdir()) == []
    assert "Accepted publickey" not in sshd.log_text()


def test_drop_known_hosts_entry_for_the_address_only_is_not_enough(
        inst, sshd, tmp_path):
    """The host key is looked up by the configured name: an entry for the
    pinned address does not vouch for drop.tocsin.invalid."""
    kh = sshd.known_hosts_file(tmp_path / "known_hosts")
    teams = inst.teams()[:1]
    pinned_drop(inst, sshd, teams, known_hosts=kh)
    alert, _, _ = submit(inst, teams)
    inst.serve()
    (row,) = drop_rows(inst, alert)
    assert row[3] == "dead" and "never trusted on first use" in row[5], row
    assert list(Path(sshd.root).iterdir()) == []


def test_ack_files_are_fetched_from_the_pinned_address(inst, sshd):
    """The ack poller connects the same way as the drops: an ack file left
    on a drop host whose name does not resolve is taken, once."""
    teams = inst.teams()[:1]
    pinned_drop(inst, sshd, teams)
    alert, _, _ = submit(inst, teams)
    code = inst.ack_code(alert, teams[0])
    name = f"alert-{alert}.{teams[0]}"
    with serving(inst, sshd, teams):
        put(sshd, teams[0], name, f"By: Night shift\nACK {code}\n".encode())
        assert wait_moved(sshd, teams[0], name) == "done"
    assert state(inst, alert, teams[0]) == ("acked", "Night shift", "drop",
                                            "unsigned")
    # one ack file, taken once: nothing left in ack/ but done/
    ack = Path(sshd.root) / teams[0] / "ack"
    assert sorted(p.name for p in ack.iterdir()) == ["done"]
    assert [p.name for p in (ack / "done").iterdir()] == [name]


def test_check_names_a_pinned_host_name(inst):
    inst.set_keys("smtp", addresses=Raw('[ "smtp.example.net" ]'))
    r = inst.run("check", check=None)
    assert r.returncode != 0
    assert re.search(r'tocsin\.conf:\d+: error: providers\.smtp: address '
                     r'"smtp\.example\.net" is not an IP address',
                     r.stdout + r.stderr), r.stdout + r.stderr
