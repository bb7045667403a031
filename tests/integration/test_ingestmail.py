"""tocsin ingest-mail: a reply PGP-signed by a contact's pinned key is a
signed ack (PGP/MIME with CRLF or LF line ends, or clearsigned text) when
its signed text names the alert (id or the team's code), it was signed
after the alert was accepted, and its signature never acked before; an
unsigned reply (or a signed one that fails those rules) from a contact's
address with the team's code is an unsigned one, counted or not by
policy, under limits on wrong codes; anything else acks nothing.
Signed with real gpg and the contacts' keys of the test PKI."""
import json
import re
import subprocess
import time
from datetime import datetime, timezone

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


def contacts_of(inst, team):
    """[(name, email, fingerprint)] of every contact of the team."""
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    out = []
    for c in block.split("{ name = ")[1:]:
        out.append((c.split('"')[1],
                    re.search(r'email = "([^"]+)"', c).group(1),
                    re.search(r'pgp = "([0-9A-F]{40})"', c).group(1)))
    return out


def gpg_sign(inst, home_key, fpr, data, mode, at=None):
    """Sign with real gpg; at: a past time (epoch seconds) to date the
    signature, as a contact's clock or an old mail would have it."""
    home = inst.pki["dir"] / inst.pki[home_key]
    extra = []
    if at is not None:
        extra = ["--faked-system-time", datetime.fromtimestamp(
            at, timezone.utc).strftime("%Y%m%dT%H%M%S!"),
            "--ignore-time-conflict"]
    r = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes",
                        "--quiet", "--pinentry-mode", "loopback",
                        "--passphrase", "", "--local-user", fpr, "--armor",
                        *extra, mode], input=data, capture_output=True,
                       check=True)
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
    from conftest import BIN
    return subprocess.run([str(BIN), "-c", str(inst.conf),
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
        part = (b"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
                f"We have alert {a}; on it now.\r\n".encode())
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


# --- what a signed ack must prove ------------------------------------------

def acks(inst, alert, team):
    return inst.sql("SELECT by_whom, via, strength FROM acks WHERE "
                    "alert_id = ? AND team = ? ORDER BY id", alert, team)


def ladder(inst, alert, team):
    """The team's state as `tocsin status --json` shows it, and how many of
    its deliveries still wait to go (an ack cancels them)."""
    j = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    teams = j["teams"] if "teams" in j else j[0]["teams"]
    st = next(t for t in teams if t["team"] == team)["state"]
    return st, inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? "
                        "AND team = ? AND state = 'pending'", alert, team)[0][0]


def refusals(inst, action="mail-refused"):
    return [x for x in inst.audit() if x[2] == action]


def test_an_old_signed_mail_under_a_new_alert_acks_nothing(inst, alert):
    """A contact's old signed mail with no code and no alert id, re-sent
    with its References rewritten to a new alert's message: not an ack,
    and with unsigned_acks = false neither."""
    _, teams = alert
    t = teams[0]
    name, email, fpr = contact(inst, t)
    part = b"Content-Type: text/plain\r\n\r\nLunch on Friday?\r\n"
    sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
    for strict in (False, True):
        if strict:
            text = inst.conf.read_text()
            inst.conf.write_text(re.sub(
                r"(\n    steps = \()", r"\n    unsigned_acks = false;\g<1>",
                text))
        b = inst.submit_signed(inst.cap(addresses=t))
        ref = f"<tocsin.{b}.{t}.0@alerts.example>"
        msg = pgp_mime(email, ref, part, sig).replace(
            b"Subject:", f"References: {ref}\r\nSubject:".encode())
        r = ingest(inst, msg)
        assert r.returncode == 65, r.stdout + r.stderr
        assert b"names neither the id nor the code" in r.stderr
        assert acks(inst, b, t) == []
        assert ladder(inst, b, t) == ("active", 2)
    assert len(refusals(inst)) == 2
    assert all(x[3] == email for x in refusals(inst))


def test_a_signed_ack_acks_once(inst, alert):
    a, teams = alert
    t = teams[1]
    name, email, fpr = contact(inst, t)
    part = (b"Content-Type: text/plain\r\n\r\n" +
            f"Alert {a} received, on it.\r\n".encode())
    sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
    msg = pgp_mime(email, f"<tocsin.{a}.{t}.0@alerts.example>", part, sig)
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr
    assert ladder(inst, a, t) == ("acked", 0)
    assert acks(inst, a, t) == [(name, "mail", "signed")]
    # the same bytes again, and the same signature armoured anew
    again = sig.replace(b"-----\n\n", b"-----\nComment: again\n\n", 1)
    assert again != sig
    for m in (msg, pgp_mime(email, "<x@y>", part, again)):
        r = ingest(inst, m)
        assert r.returncode == 77, r.stdout + r.stderr
        assert b"already acknowledged alert " + a.encode() in r.stderr
    assert acks(inst, a, t) == [(name, "mail", "signed")]
    assert len(refusals(inst)) == 2
    assert inst.sql("SELECT count(*) FROM ack_signatures") == [(1,)]


def test_a_busy_store_keeps_nothing_and_the_retry_acks_once(inst, alert):
    """The store held by another writer past the busy timeout: 75 (the MTA
    tries again later), no ack, no signature kept, no try at a code
    counted; the retry of the same signed mail acks once."""
    a, teams = alert
    t = teams[4]
    name, email, fpr = contact(inst, t)
    body = gpg_sign(inst, "contacts_home", fpr, f"Alert {a}: on it.\n"
                    .encode(), "--clearsign")
    msg = f"From: {email}\n\n".encode() + body
    with inst.write_locked():   # both at once: each waits out the busy timeout
        from conftest import BIN
        ps = [subprocess.Popen([str(BIN), "-c", str(inst.conf),
                                "ingest-mail"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(2)]
        outs = [p.communicate(m, timeout=60) for p, m in
                zip(ps, (msg, mail(email, "00000001")))]
    assert [p.returncode for p in ps] == [75, 75], outs
    assert acks(inst, a, t) == []
    assert inst.sql("SELECT count(*) FROM ack_signatures") == [(0,)]
    assert inst.sql("SELECT count(*) FROM ack_guesses") == [(0,)]
    r = ingest(inst, msg)
    assert r.returncode == 0, r.stderr
    assert ingest(inst, msg).returncode == 77
    assert acks(inst, a, t) == [(name, "mail", "signed")]
    assert ladder(inst, a, t) == ("acked", 0)


def key_created(inst, fpr):
    r = subprocess.run(["gpg", "--homedir", str(inst.pki["dir"] /
                        inst.pki["contacts_home"]), "--with-colons",
                        "--list-keys", fpr], capture_output=True, text=True,
                       check=True)
    return int(next(x for x in r.stdout.splitlines()
                    if x.startswith("pub:")).split(":")[5])


def test_a_signature_older_than_the_alert_acks_nothing(inst, alert):
    """Signed (by the signature's own date, after the key was made) before
    the alert was accepted, though it names the alert: not a signed ack."""
    _, teams = alert
    t = teams[2]
    name, email, fpr = contact(inst, t)
    while time.time() < key_created(inst, fpr) + 3:
        time.sleep(0.2)
    a = inst.submit_signed(inst.cap(addresses=t))
    received = inst.sql("SELECT received FROM alerts WHERE id = ?", a)[0][0]
    body = gpg_sign(inst, "contacts_home", fpr,
                    f"Alert {a}: on it. ACK {inst.ack_code(a, t)}\n"
                    .encode(), "--clearsign", at=received - 1)
    r = ingest(inst, b"From: nobody@elsewhere.example\n\n" + body)
    assert r.returncode == 65, r.stdout + r.stderr
    assert b"older than alert " + a.encode() in r.stderr
    assert acks(inst, a, t) == [] and ladder(inst, a, t)[0] == "active"
    # the same text signed now is an ack
    body = gpg_sign(inst, "contacts_home", fpr,
                    f"Alert {a}: on it.\n".encode(), "--clearsign")
    r = ingest(inst, b"From: nobody@elsewhere.example\n\n" + body)
    assert r.returncode == 0, r.stderr
    assert acks(inst, a, t) == [(name, "mail", "signed")]


def test_a_signed_mail_naming_another_team_or_alert(inst, alert):
    a, teams = alert
    t, u = teams[3], teams[4]
    name, email, fpr = contact(inst, t)
    b = inst.submit_signed(inst.cap(addresses=u))    # t is not in it
    ref = f"<tocsin.{a}.{t}.0@alerts.example>"
    for words in (f"ACK {inst.ack_code(a, u)}",      # another team's code
                  f"ACK {inst.ack_code(b, u)}",
                  f"Alert {b} seen",                 # another alert
                  f"Alert {a}x seen",                # not its id
                  f"Alert x{a} seen"):
        part = f"Content-Type: text/plain\r\n\r\n{words}\r\n".encode()
        sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
        r = ingest(inst, pgp_mime(email, ref, part, sig))
        assert r.returncode == 65, (words, r.stdout + r.stderr)
    assert inst.sql("SELECT count(*) FROM acks") == [(0,)]
    assert ladder(inst, a, t) == ("active", 2)
    assert ladder(inst, b, u)[0] == "active"


def test_a_signature_of_no_contact_is_at_most_unsigned(inst, alert):
    """Signed by a key no contact has pinned (an issuer's), from a
    contact's address with the code: an unsigned ack, which a policy of
    unsigned_acks = false keeps as a record while the ladder goes on."""
    a, teams = alert
    t = teams[5]
    name, email, _ = contact(inst, t)
    text = inst.conf.read_text()
    inst.conf.write_text(re.sub(r"(\n    steps = \()",
                                r"\n    unsigned_acks = false;\g<1>", text))
    part = (b"Content-Type: text/plain\r\n\r\n" +
            f"Alert {a}, ACK {inst.ack_code(a, t)}\r\n".encode())
    sig = gpg_sign(inst, "signers_home", inst.pki["issuers"]["desk-1"], part,
                   "--detach-sign")
    r = ingest(inst, pgp_mime(email, "<x@y>", part, sig))
    assert r.returncode == 0, r.stderr
    assert b"unsigned ack" in r.stdout and b"recorded only" in r.stdout
    assert b"no contact's pinned key" in r.stdout
    assert acks(inst, a, t) == [(name, "mail", "unsigned")]
    assert ladder(inst, a, t) == ("active", 2)


# --- guessing codes by mail -------------------------------------------------

def wrong_codes(inst, alert, team, n):
    right = inst.ack_code(alert, team)
    return [c for c in ("%08d" % (i * 7919) for i in range(1, n + 2))
            if c != right][:n]


def mail(email, code):
    return f"From: {email}\nSubject: Re: alert\n\nACK {code}\n".encode()


def team_with(inst, n):
    return next(t for t in inst.teams() if len(contacts_of(inst, t)) >= n)


def test_wrong_codes_from_one_sender_are_throttled(inst):
    t = team_with(inst, 2)
    (n1, e1, _), (n2, e2, _) = contacts_of(inst, t)[:2]
    a = inst.submit_signed(inst.cap(addresses=t))
    for c in wrong_codes(inst, a, t, 11):
        assert ingest(inst, mail(e1, c)).returncode != 0
    r = ingest(inst, mail(e1, inst.ack_code(a, t)))
    assert r.returncode == 77 and b"too many wrong codes" in r.stderr
    assert acks(inst, a, t) == [] and ladder(inst, a, t)[0] == "active"
    throttled = refusals(inst, "mail-throttled")
    assert len(throttled) == 2 and {x[3] for x in throttled} == {e1}
    assert len(refusals(inst)) == 10
    # another contact of the team is not held up by it
    r = ingest(inst, mail(e2, inst.ack_code(a, t)))
    assert r.returncode == 0, r.stderr
    assert acks(inst, a, t) == [(n2, "mail", "unsigned")]
    assert ladder(inst, a, t)[0] == "acked"


def test_wrong_codes_for_one_alert_are_bounded_whoever_sends(inst):
    t = team_with(inst, 3)
    (_, e1, _), (_, e2, _), (n3, e3, _) = contacts_of(inst, t)[:3]
    a = inst.submit_signed(inst.cap(addresses=t))
    codes = wrong_codes(inst, a, t, 20)
    for i, c in enumerate(codes):           # 10 each: no sender's limit
        r = ingest(inst, mail(e1 if i < 10 else e2, c))
        assert r.returncode == 65, r.stderr
    r = ingest(inst, mail(e3, inst.ack_code(a, t)))
    assert r.returncode == 77 and b"too many wrong codes" in r.stderr
    assert acks(inst, a, t) == [] and ladder(inst, a, t)[0] == "active"
    assert [x[3] for x in refusals(inst, "mail-throttled")] == [e3]
    # the bound is per alert: a later alert's code is taken
    b = inst.submit_signed(inst.cap(addresses=t))
    r = ingest(inst, mail(e3, inst.ack_code(b, t)))
    assert r.returncode == 0, r.stderr
    assert acks(inst, b, t) == [(n3, "mail", "unsigned")]
    # and a signed ack of the throttled alert still is one
    _, _, f3 = contacts_of(inst, t)[2]
    body = gpg_sign(inst, "contacts_home", f3, f"Alert {a}\n".encode(),
                    "--clearsign")
    r = ingest(inst, f"From: {e3}\n\n".encode() + body)
    assert r.returncode == 0, r.stderr
    assert ladder(inst, a, t)[0] == "acked"


# --- what GMime reads (mailack.c) --------------------------------------------

def test_a_signed_multipart_reply_with_a_base64_text(inst, alert):
    """The signed entity is a multipart/mixed whose text is base64, and the
    boundaries carry padding (RFC 2046 allows it): a signed ack, with CRLF
    and LF line ends, because the signed bytes are cut as they came and
    the text is decoded.  The alert's id outside the signed entity (in the
    preamble) is no part of the signed text: no ack."""
    import base64
    a, teams = alert
    for team, lf in ((teams[0], False), (teams[1], True)):
        name, email, fpr = contact(inst, team)
        text = base64.encodebytes(f"Alert {a}: on it.\r\n".encode())
        part = (b'Content-Type: multipart/mixed; boundary="in"\r\n\r\n'
                b"--in \t\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" +
                text.replace(b"\n", b"\r\n") + b"--in--\r\n")
        sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
        msg = pgp_mime(email, f"<tocsin.{a}.{team}.0@alerts.example>", part,
                       sig).replace(b"\r\n--=_reply_b0undary\r\n",
                                    b"\r\n--=_reply_b0undary  \r\n")
        if lf:
            msg = msg.replace(b"\r\n", b"\n")
        r = ingest(inst, msg)
        assert r.returncode == 0, r.stderr.decode()
        assert b"signed ack" in r.stdout
        assert ladder(inst, a, team) == ("acked", 0)
        assert acks(inst, a, team) == [(name, "mail", "signed")]
    # the id in the preamble, the signed text about lunch
    t = teams[2]
    name, email, fpr = contact(inst, t)
    part = b"Content-Type: text/plain\r\n\r\nLunch on Friday?\r\n"
    sig = gpg_sign(inst, "contacts_home", fpr, part, "--detach-sign")
    msg = pgp_mime(email, "<x@y>", part, sig).replace(
        b"\r\n\r\n--=_reply_b0undary", f"\r\n\r\nAlert {a}\r\n"
        "--=_reply_b0undary".encode(), 1)
    assert f"Alert {a}".encode() in msg
    r = ingest(inst, msg)
    assert r.returncode == 65, r.stdout + r.stderr
    assert b"names neither the id nor the code" in r.stderr
    assert acks(inst, a, t) == [] and ladder(inst, a, t) == ("active", 2)


def test_a_clearsigned_latin1_reply_in_quoted_printable(inst, alert):
    """Clearsigned in ISO-8859-1 and sent quoted-printable: the signature
    covers the Latin-1 bytes, so it is checked over those (transfer
    encoding undone, charset kept): a signed ack.  One byte changed in
    the quoted-printable text: refused, no ack."""
    import quopri
    a, teams = alert
    t = teams[3]
    name, email, fpr = contact(inst, t)
    body = gpg_sign(inst, "contacts_home", fpr,
                    f"Gr\xfc\xdfe, alert {a} is seen.\n".encode("latin-1"),
                    "--clearsign")
    assert b"\xfc" in body
    head = (f"From: {email}\nSubject: ack\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=iso-8859-1\n"
            "Content-Transfer-Encoding: quoted-printable\n\n").encode()
    qp = quopri.encodestring(body)
    assert b"=FC" in qp
    r = ingest(inst, head + qp.replace(b"=FC", b"=FD"))
    assert r.returncode == 77 and b"does not verify" in r.stderr
    assert acks(inst, a, t) == []
    r = ingest(inst, head + qp)
    assert r.returncode == 0, r.stderr.decode()
    assert acks(inst, a, t) == [(name, "mail", "signed")]
    assert ladder(inst, a, t) == ("acked", 0)


def test_a_forged_from_with_the_right_code_acks_nothing(inst, alert):
    """The right code, from a From that decodes to a line break and another
    header, or that names the contact and someone else: refused before any
    code is tried; no ack, no wrong code counted, the refusal audited."""
    a, teams = alert
    t = teams[4]
    name, email, _ = contact(inst, t)
    code = inst.ack_code(a, t)
    for frm in (f"=?utf-8?q?{name.replace(' ', '_')}=0D=0ABcc=3A_x=40y?= "
                f"<{email}>", f"{email}, eve@elsewhere.example",
                f"{name} <{email}>, <eve@elsewhere.example>"):
        r = ingest(inst, f"From: {frm}\nSubject: Re\n\nACK {code}\n"
                   .encode())
        assert r.returncode == 65, (frm, r.stdout + r.stderr)
        assert b"From" in r.stderr
    assert acks(inst, a, t) == [] and ladder(inst, a, t) == ("active", 2)
    assert inst.sql("SELECT count(*) FROM ack_guesses") == [(0,)]
    assert len(refusals(inst)) == 3
    # the same reply from the contact's plain address is an ack
    r = ingest(inst, f"From: {name} <{email}>\n\nACK {code}\n".encode())
    assert r.returncode == 0, r.stderr.decode()
    assert acks(inst, a, t) == [(name, "mail", "unsigned")]
