"""tocsin ingest-mail: a reply PGP-signed by a contact's pinned key is a
signed ack (PGP/MIME with CRLF or LF line ends, or clearsigned text); an
unsigned reply from a contact's address with the team's code is an
unsigned one, counted or not by policy; anything else acks nothing.
Signed with real gpg and the contacts' keys of the test PKI."""
import re
import subprocess

import pytest


def contact(inst, team, primary=True):
    """(name, email, fingerprint) of the team's primary contact."""
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    c = re.search(r'\{ name = "([^"]+)";(?:(?!\n      \{).)*?primary = true;'
                  r'(?:(?!\n      \}).)*', block, re.S).group(0)
    return (re.search(r'name = "([^"]+)"', c).group(1),
            re.search(r'email = "([^"]+)"', c).group(1),
            re.search(r'pgp = "([0-9A-F]{40})"', c).group(1))


def gpg_sign(inst, home_key, fpr, data, mode):
    home = inst.pki["dir"] / inst.pki[home_key]
    r = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes",
                        "--quiet", "--pinentry-mode", "loopback",
                        "--passphrase", "", "--local-user", fpr, "--armor",
                        mode], input=data, capture_output=True, check=True)
    return r.stdout


def pgp_mime(frm, in_reply_to, part, sig):
    b = "=_reply_b0undary"
    return (f"From: Someone <{frm}>\r\nTo: tocsin@alerts.example\r\n"
            f"Subject: Re: alert\r\nIn-Reply-To: {in_reply_to}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/signed; "
            'micalg=pgp-sha256;\r\n protocol="application/pgp-signature";'
            f'\r\n boundary="{b}"\r\n\r\n--{b}\r\n').encode() + part + \
        f"\r\n--{b}\r\nContent-Type: application/pgp-signature\r\n\r\n" \
        .encode() + sig + f"\r\n--{b}--\r\n".encode()


def ingest(inst, msg):
    return subprocess.run([str(inst.bin), "-c", str(inst.conf),
                           "ingest-mail"], input=msg, capture_output=True)


def state(inst, alert, team):
    return inst.sql("SELECT state, ack_by, ack_via, ack_strength FROM "
                    "team_states WHERE alert_id = ? AND team = ?",
                    alert, team)[0]


@pytest.fixture
def alert(inst):
    from conftest import BIN
    inst.bin = BIN
    teams = inst.teams()[:6]
    return inst.submit_signed(inst.cap(addresses=" ".join(teams))), teams


def test_pgp_mime_reply_signed_by_the_contact(inst, alert):
    a, teams = alert
    for team, lf in ((teams[0], False), (teams[1], True)):
        name, email, fpr = contact(inst, team)
        part = (b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
                b"We have it; on it now.\r\n")
        sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
        msg = pgp_mime(email, f"<tocsin.{a}.{team}.0@alerts.example>", part,
                       sig)
        if lf:          # as an MTA pipe may hand it over
            msg = msg.replace(b"\r\n", b"\n")
        r = ingest(inst, msg)
        assert r.returncode == 0, r.stderr.decode()
        assert b"signed ack" in r.stdout
        assert state(inst, a, team) == ("acked", name, "mail", "signed")
    assert state(inst, a, teams[2])[0] == "active"


def test_clearsigned_reply_with_the_code(inst, alert):
    a, teams = alert
    name, email, fpr = contact(inst, teams[2])
    body = gpg_sign(inst, "contacts_home", fpr,
                    f"Received. ACK {inst.ack_code(a, teams[2])}\n".encode(),
                    "--clearsign")
    msg = (f"From: {email}\nSubject: ack\n\n").encode() + body
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr.decode()
    assert state(inst, a, teams[2]) == ("acked", name, "mail", "signed")


def test_unsigned_reply_counts_or_not_by_policy(inst, alert):
    a, teams = alert
    name, email, _ = contact(inst, teams[3])
    msg = (f"From: {name} <{email.upper()}>\nSubject: Re: alert\n\n"
           f"ok, code {inst.ack_code(a, teams[3])[:4]} "
           f"{inst.ack_code(a, teams[3])[4:]}\n> quoted text\n").encode()
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr.decode()
    assert state(inst, a, teams[3]) == ("acked", name, "mail", "unsigned")
    # a policy that does not count unsigned acks keeps them as records
    text = inst.conf.read_text()
    inst.conf.write_text(re.sub(r"(\n    steps = \()",
                                r"\n    unsigned_acks = false;\g<1>", text))
    name4, email4, _ = contact(inst, teams[4])
    msg = (f"From: {email4}\n\nACK {inst.ack_code(a, teams[4])}\n").encode()
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr.decode()
    assert b"recorded only" in r.stdout
    assert state(inst, a, teams[4])[0] == "active"
    assert inst.sql("SELECT strength FROM acks WHERE team = ?",
                    teams[4]) == [("unsigned",)]


def test_replies_that_ack_nothing(inst, alert):
    a, teams = alert
    t = teams[5]
    name, email, fpr = contact(inst, t)
    ref = f"<tocsin.{a}.{t}.0@alerts.example>"
    part = b"Content-Type: text/plain\r\n\r\nWe have it.\r\n"
    # signed by an issuer's key, not the contact's
    desk = inst.pki["issuers"]["desk-1"]
    sig = gpg_sign(inst, "signers_home", desk, part, "--detach-sign")
    r = ingest(inst, pgp_mime(email, ref, part, sig))
    assert r.returncode == 65 and b"no contact's pinned key" in r.stderr
    # the contact's signature over other text
    sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
    r = ingest(inst, pgp_mime(email, ref, part.replace(b"have", b"lost"),
                              sig))
    assert r.returncode == 77 and b"does not verify" in r.stderr
    # unsigned, with another team's code
    r = ingest(inst, (f"From: {email}\n\nACK {inst.ack_code(a, teams[0])}\n")
               .encode())
    assert r.returncode == 65
    # unsigned, with the code, from an address no contact has
    r = ingest(inst, (f"From: x@elsewhere.example\n\nACK "
                      f"{inst.ack_code(a, t)}\n").encode())
    assert r.returncode == 65
    # not an e-mail at all
    r = ingest(inst, b"\x00\x01garbage without headers")
    assert r.returncode == 65
    assert state(inst, a, t)[0] == "active"
    assert inst.sql("SELECT count(*) FROM acks")[0][0] == 0
    refused = [x for x in inst.audit() if x[2] == "mail-refused"]
    assert len(refused) == 5
