"""The SMTP test peer itself, driven with Python's smtplib.

These tests prove the peer (tests/peers/smtp_peer.py) before tocsin's tests
rely on it: STARTTLS with a verified certificate, refusal of mail in clear
when TLS is required, every injected fault, byte-exact storage, several
messages per session, clients that drop out, and numbering across restarts.
They do not need the tocsin binary.
"""
import smtplib
import socket
import ssl
import time

import pytest

from peerproc import throwaway_tls

from smtppeer import SmtpPeer

TIMEOUT = 5  # seconds for any one SMTP exchange; the peer is local


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    return throwaway_tls(tmp_path_factory.mktemp("smtp-pki"), "smtp peer")


@pytest.fixture
def client_tls(pki):
    """A client context that trusts only the test CA and checks the name."""
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


def poll(cond, timeout=5):
    """Wait for cond() to become true; the peer logs asynchronously."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def connect(peer):
    s = smtplib.SMTP("127.0.0.1", peer.port, local_hostname="client.test",
                     timeout=TIMEOUT)
    s.ehlo()
    return s


def message(subject, body="Hello.\r\n", msgid=None):
    head = f"From: desk@example.org\r\nTo: team@example.net\r\nSubject: {subject}\r\n"
    if msgid:
        head += f"Message-ID: {msgid}\r\n"
    return (head + "\r\n" + body).encode()


def test_starttls_verified_two_recipients(tmp_path, pki, client_tls):
    raw = message("two", msgid="<two.1@example.org>")
    with SmtpPeer(tmp_path, cert=pki["cert"], key=pki["key"]) as peer:
        s = connect(peer)
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=client_tls)
        assert code == 220
        # The handshake verified the chain and 127.0.0.1 against the SAN.
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.ehlo()
        refused = s.sendmail("desk@example.org",
                             ["a@example.net", "b@example.net"], raw)
        assert refused == {}
        s.quit()
        msgs = peer.messages()
    assert len(msgs) == 1
    m = msgs[0]
    assert m["tls"] is True
    assert m["mail_from"] == "desk@example.org"
    assert m["rcpt_tos"] == ["a@example.net", "b@example.net"]
    assert m["raw"] == raw
    assert m["message_id"] == "<two.1@example.org>"
    assert m["peer"].startswith("127.0.0.1:")
    assert "STARTTLS done" in peer.log()


def test_untrusted_certificate_fails_verification(tmp_path, pki):
    # The check above is only worth something if verification can fail:
    # a client that trusts the system CAs, not the test CA, must refuse.
    with SmtpPeer(tmp_path, cert=pki["cert"], key=pki["key"]) as peer:
        s = connect(peer)
        with pytest.raises(ssl.SSLCertVerificationError):
            s.starttls(context=ssl.create_default_context())
        s.close()
        assert poll(lambda: "STARTTLS failed" in peer.log()), peer.log()
        assert "Traceback" not in peer.log()
        assert peer.messages() == []


def test_mail_before_starttls_refused(tmp_path, pki):
    with SmtpPeer(tmp_path, cert=pki["cert"], key=pki["key"]) as peer:
        s = connect(peer)
        assert s.has_extn("starttls")
        code, text = s.mail("desk@example.org")
        assert 500 <= code < 600, (code, text)
        code, text = s.rcpt("a@example.net")
        assert 500 <= code < 600, (code, text)
        s.quit()
        assert peer.messages() == []


def test_no_starttls_not_advertised(tmp_path, pki):
    raw = message("clear")
    with SmtpPeer(tmp_path, cert=pki["cert"], key=pki["key"],
                  no_starttls=True) as peer:
        s = connect(peer)
        assert s.does_esmtp
        assert not s.has_extn("starttls")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            s.starttls()
        # The peer takes mail in clear here: refusing to send it is the
        # client's job, which is what this mode exists to test.
        assert s.sendmail("desk@example.org", ["a@example.net"], raw) == {}
        s.quit()
        msgs = peer.messages()
    assert [m["tls"] for m in msgs] == [False]
    assert msgs[0]["raw"] == raw


def test_reject_rcpt(tmp_path):
    raw = message("reject")
    with SmtpPeer(tmp_path, reject=[r"^gone@"]) as peer:
        s = connect(peer)
        refused = s.sendmail("desk@example.org",
                             ["GONE@example.net", "here@example.net"], raw)
        s.quit()
        msgs = peer.messages()
    # The pattern matches regardless of case.
    assert list(refused) == ["GONE@example.net"]
    code, text = refused["GONE@example.net"]
    assert code == 550
    assert text == b"5.1.1 <GONE@example.net>: mailbox unavailable (test peer)"
    assert len(msgs) == 1
    assert msgs[0]["rcpt_tos"] == ["here@example.net"]
    assert msgs[0]["raw"] == raw


def test_tempfail_rcpt_then_accept(tmp_path):
    raw = message("tempfail")
    with SmtpPeer(tmp_path, tempfail=["^slow@example\\.net$:1"]) as peer:
        s = connect(peer)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("desk@example.org", ["slow@example.net"], raw)
        code, text = e.value.recipients["slow@example.net"]
        assert code == 451
        assert text == b"4.3.0 <slow@example.net>: try again later (test peer)"
        assert peer.messages() == []
        s.rset()
        # Second try, in the same session: accepted.
        assert s.sendmail("desk@example.org", ["slow@example.net"], raw) == {}
        s.quit()
        # The count is per process, not per session: a new session is
        # not tempfailed again.
        s = connect(peer)
        assert s.sendmail("desk@example.org", ["slow@example.net"], raw) == {}
        s.quit()
        msgs = peer.messages()
    assert [m["rcpt_tos"] for m in msgs] == [["slow@example.net"]] * 2


def test_tempfail_data_then_accept(tmp_path):
    with SmtpPeer(tmp_path, tempfail_data=1) as peer:
        s = connect(peer)
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("desk@example.org", ["a@example.net"], message("first"))
        assert e.value.smtp_code == 451
        assert e.value.smtp_error == b"4.3.0 queue busy (test peer)"
        assert s.sendmail("desk@example.org", ["a@example.net"],
                          message("second")) == {}
        s.quit()
        msgs = peer.messages()
    assert [m["raw"] for m in msgs] == [message("second")]


def test_utf8_body_byte_exact(tmp_path):
    body = ("Grüße aus Köln — 警報 — ½ € ✓\r\n"
            ".a line that starts with a dot (smtplib stuffs it)\r\n"
            "..two dots\r\n"
            "trailing space, then an empty line \r\n"
            "\r\n").encode("utf-8")
    raw = (b"From: desk@example.org\r\nTo: team@example.net\r\n"
           b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
    assert any(b > 0x7F for b in raw)
    with SmtpPeer(tmp_path) as peer:
        s = connect(peer)
        assert s.has_extn("8bitmime")
        assert s.sendmail("desk@example.org", ["a@example.net"], raw,
                          mail_options=["BODY=8BITMIME"]) == {}
        s.quit()
        msgs = peer.messages()
    assert len(msgs) == 1
    assert msgs[0]["raw"] == raw


def test_two_messages_one_session(tmp_path):
    first = message("one", msgid="<m1@example.org>")
    second = message("two", msgid="<m2@example.org>")
    with SmtpPeer(tmp_path) as peer:
        s = connect(peer)
        assert s.sendmail("desk@example.org", ["a@example.net"], first) == {}
        assert s.sendmail("other@example.org", ["b@example.net"], second) == {}
        s.quit()
        msgs = peer.messages()
    assert [m["n"] for m in msgs] == [1, 2]
    assert [m["raw"] for m in msgs] == [first, second]
    assert [m["message_id"] for m in msgs] == ["<m1@example.org>",
                                               "<m2@example.org>"]
    assert [m["mail_from"] for m in msgs] == ["desk@example.org",
                                              "other@example.org"]
    assert [m["rcpt_tos"] for m in msgs] == [["a@example.net"], ["b@example.net"]]
    assert (tmp_path / "mail" / "000001.eml").read_bytes() == first


def test_client_drops_mid_session(tmp_path, pki, client_tls):
    with SmtpPeer(tmp_path, cert=pki["cert"], key=pki["key"]) as peer:
        # A client that hangs up right after STARTTLS, before any handshake.
        # (The file from makefile() holds the socket open too: close both.)
        c = socket.create_connection(("127.0.0.1", peer.port), timeout=TIMEOUT)
        with c, c.makefile("rb") as f:
            assert f.readline().startswith(b"220")
            c.sendall(b"EHLO client.test\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            c.sendall(b"STARTTLS\r\n")
            assert f.readline().startswith(b"220")
        assert poll(lambda: "STARTTLS failed" in peer.log())
        # A TLS client that hangs up in the middle of DATA.
        s = connect(peer)
        s.starttls(context=client_tls)
        s.ehlo()
        assert s.mail("desk@example.org")[0] == 250
        assert s.rcpt("a@example.net")[0] == 250
        assert s.docmd("DATA")[0] == 354
        s.send(b"Subject: cut short\r\n\r\nhalf a mess")
        s.sock.close()
        # The peer is still up and stores the next message as number 1.
        raw = message("after the drops")
        s = connect(peer)
        s.starttls(context=client_tls)
        s.ehlo()
        assert s.sendmail("desk@example.org", ["a@example.net"], raw) == {}
        s.quit()
        msgs = peer.messages()
        assert peer.proc.poll() is None
        assert poll(lambda: peer.log().count(" disconnect") == 3), peer.log()
        assert "mid-transaction, nothing stored" in peer.log()
        # Expected hang-ups are one line each, not tracebacks.
        assert "Traceback" not in peer.log()
    assert [(m["n"], m["raw"]) for m in msgs] == [(1, raw)]


def test_numbering_continues_after_restart(tmp_path):
    with SmtpPeer(tmp_path) as peer:
        s = connect(peer)
        s.sendmail("desk@example.org", ["a@example.net"], message("run 1"))
        s.quit()
    # SIGTERM is a clean stop.
    assert peer.proc.returncode == 0
    with SmtpPeer(tmp_path) as peer:
        s = connect(peer)
        s.sendmail("desk@example.org", ["a@example.net"], message("run 2"))
        s.quit()
        msgs = peer.messages()
    assert peer.proc.returncode == 0
    assert [(m["n"], m["raw"]) for m in msgs] == [(1, message("run 1")),
                                                  (2, message("run 2"))]
    # Nothing but the numbered files (no temporaries) in the folder.
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == [
        "000001.eml", "000001.json", "000002.eml", "000002.json"]
