"""PGP e-mail end to end: tocsin serve against the real SMTP peer (aiosmtpd
with STARTTLS from the test PKI), real gpg on both sides."""
import collections
import email
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from email import policy
from pathlib import Path

import pytest

from conftest import tr, BIN, SRC, Instance
from smtppeer import SmtpPeer

OUTER_HEADERS = {"date", "from", "to", "subject", "message-id", "mime-version",
                 "auto-submitted", "content-type"}


# --- helpers ---------------------------------------------------------------

def gpg(home, *args, data=None):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes",
                           "--status-fd", "2", *map(str, args)], input=data,
                          capture_output=True)


@pytest.fixture(scope="session")
def contact_subkeys(pki, repo_template):
    """Primary fingerprint -> key ids of its encryption subkeys."""
    out = gpg(pki["dir"] / pki["contacts_home"], "--with-colons",
              "--list-keys").stdout.decode()
    keys, cur, pending_sub = {}, None, None
    for line in out.splitlines():
        f = line.split(":")
        if f[0] == "pub":
            cur, pending_sub = None, None
        elif f[0] == "fpr" and cur is None and pending_sub is None:
            cur = f[9]
            keys[cur] = set()
        elif f[0] == "sub":
            pending_sub = (f[4], "e" in f[11])
        elif f[0] == "fpr" and pending_sub is not None:
            if pending_sub[1]:
                keys[cur].add(pending_sub[0])
            pending_sub = None
    assert keys
    return keys


def repo_keys(inst):
    """e-mail address -> pinned fingerprint, from the repository."""
    text = (inst.dir / "teams.conf").read_text()
    return dict(re.findall(r'email = "([^"]+)";\s*pgp = "([0-9A-F]{40})";', text))


def pkesk_keyids(workdir, armoured):
    """Key ids of the public-key encrypted session key packets."""
    empty = Path(tempfile.mkdtemp(prefix="e-", dir="/tmp"))
    try:
        r = subprocess.run(["gpg", "--homedir", str(empty), "--batch",
                            "--list-packets"], input=armoured,
                           capture_output=True)
        return set(re.findall(rb"pubkey enc packet: version \d+, algo \d+, "
                              rb"keyid ([0-9A-F]{16})", r.stdout)), r
    finally:
        shutil.rmtree(empty, ignore_errors=True)


def encrypted_part(raw):
    m = email.message_from_bytes(raw, policy=policy.default)
    assert m.get_content_type() == "multipart/encrypted"
    assert m.get_param("protocol") == "application/pgp-encrypted"
    parts = list(m.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "application/pgp-encrypted", "application/octet-stream"]
    assert b"Version: 1" in parts[0].get_payload(decode=True)
    return m, parts[1].get_payload(decode=True)


def split_signed(plain):
    """The exact signed bytes and the signature of a multipart/signed
    entity (RFC 3156 section 5), taken from the raw bytes, not re-encoded."""
    head, _, _ = plain.partition(b"\r\n\r\n")
    b = re.search(rb'boundary="([^"]+)"', head).group(1)
    delim = b"\r\n--" + b
    first = plain.index(b"--" + b + b"\r\n") + len(b) + 4
    end = plain.index(delim + b"\r\n", first)
    signed = plain[first:end]
    rest = plain[end + len(delim) + 2:]
    sig_entity = rest[:rest.index(delim + b"--")]
    sig = sig_entity.partition(b"\r\n\r\n")[2]
    return signed, sig


def check_inner(plain, verify_home, pki, tmp):
    """Parse the decrypted entity, check the gateway's signature over it;
    returns the parsed multipart/mixed."""
    inner = email.message_from_bytes(plain, policy=policy.default)
    assert inner.get_content_type() == "multipart/signed"
    assert inner.get_param("protocol") == "application/pgp-signature"
    assert inner.get_param("micalg") == "pgp-sha256"
    signed, sig = split_signed(plain)
    (tmp / "signed").write_bytes(signed)
    (tmp / "sig.asc").write_bytes(sig)
    r = gpg(verify_home, "--verify", tmp / "sig.asc", tmp / "signed")
    assert r.returncode == 0, r.stderr.decode()
    assert f"VALIDSIG {pki['gateway']}".encode() in r.stderr
    mixed = email.message_from_bytes(signed, policy=policy.default)
    assert mixed.get_content_type() == "multipart/mixed"
    return mixed


def peer_for(inst, tmp_path, pki, **kw):
    d = pki["dir"]
    kw.setdefault("cert", d / pki["server_cert"])
    kw.setdefault("key", d / pki["server_key"])
    peer = SmtpPeer(tmp_path, **kw).start()
    inst.set_keys("smtp", port=peer.port)
    return peer


def deliveries(inst, alert):
    return inst.sql("SELECT id, team, contact, address, state, attempts, "
                    "last_error FROM deliveries WHERE alert_id = ? AND "
                    "channel = 'pgp-email' ORDER BY id", alert)


# --- the fan-out ----------------------------------------------------------

def test_fanout_reaches_every_contact_encrypted_and_signed(
        inst, tmp_path, pki, contact_subkeys, verify_home):
    inst.email_all_first()
    peer = peer_for(inst, tmp_path, pki)
    try:
        headline = "HEADLINE-SECRET-7431 registry EPP credentials phished"
        desc = "DESCRIPTION-SECRET-9922 several registrars lost credentials"
        doc = inst.cap(severity="Severe",
                       infos=[("en-US", headline, desc, "Rotate passwords.")])
        alert = inst.submit_signed(doc)
        p = inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    assert "pgp-email:" in p.stderr and "sent" in p.stderr
    rows = deliveries(inst, alert)
    teams = {r[1] for r in rows}
    assert len(teams) >= 50
    assert [r for r in rows if r[4] != "sent"] == []
    # one message per team, every addressed contact exactly once
    assert len(msgs) == len(teams)
    got = collections.Counter(a for m in msgs for a in m["rcpt_tos"])
    assert got == collections.Counter(r[3] for r in rows)
    assert all(m["tls"] for m in msgs)
    # many messages per SMTP session: far fewer connections than messages
    assert len({m["peer"] for m in msgs}) <= len(msgs) // 10

    by_addr = {r[3]: r[1] for r in rows}
    fprs = repo_keys(inst)
    contacts_home = pki["dir"] / pki["contacts_home"]
    multi = []
    for m in msgs:
        raw = m["raw"]
        # nothing of the alert's text outside the encryption
        for secret in (b"HEADLINE-SECRET", b"DESCRIPTION-SECRET", b"registrars",
                       b"phished"):
            assert secret not in raw
        outer, enc = encrypted_part(raw)
        assert {k.lower() for k in outer.keys()} == OUTER_HEADERS
        assert outer["Subject"] == f"Alert {alert} (Severe)"
        assert outer["Message-ID"] == m["message_id"]
        team = {by_addr[a] for a in m["rcpt_tos"]}
        assert len(team) == 1, "a message mixes teams"
        # encrypted to exactly the keys of its recipients: no other key
        # (of this team or another) can open it
        want = set()
        for a in m["rcpt_tos"]:
            want |= contact_subkeys[fprs[a]]
        ids, _ = pkesk_keyids(tmp_path, enc)
        assert {i.decode() for i in ids} == want
        r = gpg(contacts_home, "--decrypt", data=enc)
        assert r.returncode == 0 and b"DECRYPTION_OKAY" in r.stderr
        mixed = check_inner(r.stdout, verify_home, pki, tmp_path)
        parts = list(mixed.iter_parts())
        types = [x.get_content_type() for x in parts]
        assert types[:2] == ["text/plain",
                             "application/common-alerting-protocol+xml"]
        assert types[2:] == ["application/pgp-signature"] * 2
        body = parts[0].get_content()
        assert headline in body and desc in body
        # what to do first: real or drill, severity, headline, how to ack
        (t,) = team
        token, code = inst.ack_token(alert, t), inst.ack_code(alert, t)
        assert body.splitlines()[:5] == [
            "ACTUAL ALERT",
            "Severity: Severe",
            f"Headline: {headline}",
            f"To acknowledge for team {t}: open http://127.0.0.1:{inst.port}"
            f"/ack/{token} and press the button, or reply with code {code}",
            "Or call the duty desk: +41 22 555 0100 and give the code"], \
            body[:600]
        # the alert gives no onset or expiry: no line says so
        assert "not given" not in body
        assert "\nOnset:" not in body and "\nExpires:" not in body
        # the rest still there, after the action: ids, issuer, witness
        for line in (f"Alert id: {alert}", "CAP sender: ", f"Team: {t}",
                     "Sender: ", "Effective: "):
            assert f"\n{line}" in body, (line, body[-800:])
        assert re.search(r"\nAudit-Head: \d+ [0-9a-f]{64}\n?$", body), \
            body[-300:]
        assert parts[1].get_payload(decode=True) == doc.encode()
        if len(m["rcpt_tos"]) > 1:
            multi.append((m, enc))
    assert multi, "no team had two contacts: the test proves less than it says"

    # each recipient opens it with its own key alone
    for m, enc in multi[:2]:
        for a in m["rcpt_tos"]:
            own = Path(tempfile.mkdtemp(prefix="k-", dir="/tmp"))
            try:
                sec = gpg(contacts_home, "--pinentry-mode", "loopback",
                          "--passphrase", "", "--armor",
                          "--export-secret-keys", fprs[a]).stdout
                assert gpg(own, "--import", data=sec).returncode == 0
                r = gpg(own, "--decrypt", data=enc)
                assert r.returncode == 0, (a, r.stderr)
            finally:
                subprocess.run(["gpgconf", "--homedir", str(own), "--kill",
                                "all"], capture_output=True)
                shutil.rmtree(own, ignore_errors=True)
    # and a contact of another team cannot
    m, enc = multi[0]
    other = next(a for a in fprs if by_addr.get(a) not in
                 {by_addr[x] for x in m["rcpt_tos"]} and a in by_addr)
    own = Path(tempfile.mkdtemp(prefix="k-", dir="/tmp"))
    try:
        sec = gpg(contacts_home, "--pinentry-mode", "loopback", "--passphrase",
                  "", "--armor", "--export-secret-keys", fprs[other]).stdout
        assert gpg(own, "--import", data=sec).returncode == 0
        assert gpg(own, "--decrypt", data=enc).returncode != 0
    finally:
        subprocess.run(["gpgconf", "--homedir", str(own), "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(own, ignore_errors=True)


def test_status_shows_delivery_states(inst, tmp_path, pki):
    inst.email_all_first()
    teams = inst.teams()[:3]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                               signers=("desk-1",))
    before = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    peer = peer_for(inst, tmp_path, pki)
    try:
        inst.serve()
    finally:
        peer.stop()
    after = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    text = inst.run("status", alert, check=0).stdout
    n = len(deliveries(inst, alert))
    assert sum(t["counts"]["pending"] for t in before["teams"]) == n
    assert sum(t["counts"]["sent"] for t in after["teams"]) == n
    states = [d["state"] for t in after["teams"] for d in t["deliveries"]]
    assert states == ["sent"] * n
    assert all(d["provider_ref"].startswith("accepted: 250")
               for t in after["teams"] for d in t["deliveries"])
    assert f"{len(teams)} teams; deliveries: 0 pending, 0 sending, {n} sent" in text


# --- crash and restart ------------------------------------------------------

def test_kill9_mid_fanout_then_restart_loses_nothing(repo200, pki, tmp_path):
    d = Path(tempfile.mkdtemp(prefix="k9-", dir=str(repo200.parent)))
    for f in ("tocsin.conf", "teams.conf"):
        shutil.copy(repo200 / f, d / f)
    inst = Instance(d, pki)
    inst.email_all_first()
    inst.set_keys("gateway", workers=2, lease="30s")
    inst.set_keys("smtp", batch=4)
    peer = peer_for(inst, tmp_path, pki)
    try:
        alert = inst.submit_signed(inst.cap(severity="Severe"))
        total_teams = len(inst.sql("SELECT DISTINCT team FROM deliveries "
                                   "WHERE alert_id = ?", alert))
        assert total_teams == 200
        proc = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                                 "--quiet"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            n = len(list(peer.out.glob("*.json"))) if peer.out.exists() else 0
            if n >= 30:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        states = dict(inst.sql("SELECT state, count(*) FROM deliveries WHERE "
                               "alert_id = ? GROUP BY state", alert))
        assert states.get("sent", 0) < sum(states.values()), \
            "the fan-out ended before the kill: nothing was tested"
        assert states.get("sending", 0) + states.get("pending", 0) > 0
        p = inst.serve(timeout=600)
        msgs = peer.messages()
    finally:
        peer.stop()
    rows = deliveries(inst, alert)
    assert [r for r in rows if r[4] != "sent"] == []
    ids = collections.defaultdict(set)
    for m in msgs:
        for a in m["rcpt_tos"]:
            ids[a].add(m["message_id"])
    for r in rows:
        assert r[3] in ids, f"{r[3]} never received its message"
        assert len(ids[r[3]]) == 1, f"{r[3]} got different messages {ids[r[3]]}"
    # a repeat, if any, is the same message: one Message-ID per team
    per_team = collections.defaultdict(set)
    addr_team = {r[3]: r[1] for r in rows}
    for m in msgs:
        per_team[addr_team[m["rcpt_tos"][0]]].add(m["message_id"])
    assert all(len(v) == 1 for v in per_team.values())
    assert len(per_team) == 200
    shutil.rmtree(d, ignore_errors=True)


# --- TLS refusals ------------------------------------------------------------

def make_cert(tmp, name, san, ca=None):
    key, crt = tmp / f"{name}.key", tmp / f"{name}.pem"
    if ca is None:
        cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
               "-days", "2", "-subj", f"/CN={name}", "-addext",
               f"subjectAltName={san}", "-keyout", key, "-out", crt]
        subprocess.run(list(map(str, cmd)), check=True, capture_output=True)
    else:
        csr = tmp / f"{name}.csr"
        subprocess.run(list(map(str, ["openssl", "req", "-new", "-newkey",
                       "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                       "-keyout", key, "-out", csr])), check=True,
                       capture_output=True)
        ext = tmp / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\n")
        subprocess.run(list(map(str, ["openssl", "x509", "-req", "-in", csr,
                       "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                       "-days", "2", "-extfile", ext, "-out", crt])),
                       check=True, capture_output=True)
    return crt, key


@pytest.mark.parametrize("case", ["no-starttls", "untrusted", "wrong-name"])
def test_tls_refusal_sends_nothing_in_clear(inst, tmp_path, pki, case):
    inst.set_keys("gateway", retry_base="1s", retry_max="1s", max_attempts=2)
    kw = {}
    if case == "no-starttls":
        kw["no_starttls"] = True
        expect = "does not offer STARTTLS"
    elif case == "untrusted":
        kw["cert"], kw["key"] = make_cert(tmp_path, "selfsigned",
                                          "IP:127.0.0.1,DNS:localhost")
        expect = "not trusted"
    else:
        d = pki["dir"]
        kw["cert"], kw["key"] = make_cert(tmp_path, "other", "DNS:other.example",
                                          ca=(d / "ca.pem", d / "ca.key"))
        expect = "127.0.0.1"
    peer = peer_for(inst, tmp_path, pki, **kw)
    try:
        teams = inst.teams()[:3]
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve(timeout=120)
        msgs = peer.messages()
        log = peer.log()
    finally:
        peer.stop()
    assert msgs == []
    assert " MAIL FROM" not in log and " RCPT " not in log
    rows = deliveries(inst, alert)
    assert rows
    for r in rows:
        assert r[4] == "dead" and r[5] == 2, r
        assert expect in r[6] and "nothing" in r[6], r[6]


# --- per-recipient results -----------------------------------------------------

def test_refused_recipient_is_dead_others_sent_and_4xx_retried(
        inst, tmp_path, pki):
    inst.email_all_first()
    inst.set_keys("gateway", retry_base="1s", retry_max="2s")
    text = (inst.dir / "teams.conf").read_text()
    # two teams with at least two contacts each
    rows0 = []
    teams = inst.teams()
    fprs = repo_keys(inst)
    # find addresses per team from the plan of a dry submit
    alert0 = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                signers=("desk-1",), name="plan.xml")
    rows0 = deliveries(inst, alert0)
    per_team = collections.defaultdict(list)
    for r in rows0:
        per_team[r[1]].append(r[3])
    multi = [t for t, a in per_team.items() if len(a) >= 2]
    assert len(multi) >= 2
    refused_team, deferred_team = multi[0], multi[1]
    refused = per_team[refused_team][0]
    deferred = per_team[deferred_team][0]
    inst.empty_store()
    peer = peer_for(inst, tmp_path, pki, reject=[re.escape(refused) + "$"],
                    tempfail=[(re.escape(deferred) + "$", 1)])
    try:
        alert = inst.submit_signed(
            inst.cap(addresses=f"{refused_team} {deferred_team}"),
            signers=("desk-1",))
        inst.serve(timeout=120)
        msgs = peer.messages()
    finally:
        peer.stop()
    rows = {r[3]: r for r in deliveries(inst, alert)}
    assert rows[refused][4] == "dead"
    assert "550" in rows[refused][6] and "mailbox unavailable" in rows[refused][6]
    for a in per_team[refused_team][1:]:
        assert rows[a][4] == "sent"
    assert rows[deferred][4] == "sent" and rows[deferred][5] == 2
    for a in per_team[deferred_team][1:]:
        assert rows[a][4] == "sent" and rows[a][5] == 1
    got = collections.Counter(a for m in msgs for a in m["rcpt_tos"])
    assert got[refused] == 0 and got[deferred] == 1
    # the retry to the deferred contact is the same message
    mids = {m["message_id"] for m in msgs if deferred in m["rcpt_tos"]} | \
        {m["message_id"] for m in msgs
         if set(m["rcpt_tos"]) & set(per_team[deferred_team][1:])}
    assert len(mids) == 1


# --- hostile alert text -------------------------------------------------------

def test_hostile_text_renders_as_valid_mime(inst, tmp_path, pki, verify_home):
    inst.email_all_first()
    peer = peer_for(inst, tmp_path, pki)
    scripts = ("Ærøskøbing ŽĎŤ", "Тревога: компрометация", "تحذير أمني عاجل",
               "警报：注册局凭证泄露", "緊急警報")
    long_word = "W" * 5000
    headline = "Injected XCRLFX Bcc: evil@attacker.example XCRLFX Subject: owned"
    desc = ("first line\nSubject: injected\nFrom: mallory@attacker.example\n\n"
            "--=_tocsin_000000000000000000000000\nContent-Type: text/html\n\n"
            "<b>x</b>\n.\n" + long_word + "\n" + "\n".join(scripts))
    try:
        teams = inst.teams()[:2]
        doc = inst.cap(addresses=" ".join(teams),
                       infos=[("en-US", headline, desc, "Stay calm. XCRLFX To: x")])
        doc = doc.replace("XCRLFX", "&#13;&#10;")
        alert = inst.submit_signed(doc, signers=("desk-1",))
        inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    rows = deliveries(inst, alert)
    assert rows and all(r[4] == "sent" for r in rows)
    addresses = {r[3] for r in rows}
    assert len(msgs) == 2
    for m in msgs:
        raw = m["raw"]
        assert set(m["rcpt_tos"]) <= addresses
        assert b"attacker" not in raw and b"owned" not in raw
        for line in raw.split(b"\r\n"):
            assert len(line) <= 78
            assert b"\r" not in line and b"\n" not in line
        outer, enc = encrypted_part(raw)
        assert {k.lower() for k in outer.keys()} == OUTER_HEADERS
        assert len(outer.get_all("Subject")) == 1
        r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
        assert r.returncode == 0
        mixed = check_inner(r.stdout, verify_home, pki, tmp_path)
        parts = list(mixed.iter_parts())
        assert [p.get_content_type() for p in parts][:2] == [
            "text/plain", "application/common-alerting-protocol+xml"]
        assert len(parts) == 3          # text, CAP, one issuer signature
        text = parts[0]
        assert text.get_content_charset() == "utf-8"
        body = text.get_content()
        for s in scripts:
            assert s in body
        assert long_word in body
        for line in body.splitlines():
            # alert text never starts a line of its own at the margin
            assert not line.startswith(("Subject:", "From:", "Bcc:", "To:",
                                        "--=_tocsin", "Content-Type"))
        assert "evil@attacker.example" in body   # kept, as text


def test_check_refuses_a_bad_subject_template(inst):
    inst.set_keys("smtp", subject="Alert %i %q")
    p = inst.run("check", check=78)
    line = [l for l in p.stdout.splitlines() if "subject" in l]
    assert line and re.match(r".*tocsin\.conf:\d+: error: ", line[0]), p.stdout
    inst.set_keys("smtp", subject="%e[tocsin] %i %s")
    inst.run("check", check=0)


def test_combined_pgp_mime_is_signed_and_encrypted_in_one(inst, tmp_path, pki):
    """providers.smtp.pgp_mime = "combined": RFC 3156 section 6.2."""
    inst.email_all_first()
    inst.set_keys("smtp", pgp_mime="combined")
    peer = peer_for(inst, tmp_path, pki)
    try:
        teams = inst.teams()[:4]
        headline = "COMBINED-SECRET headline"
        alert = inst.submit_signed(
            inst.cap(addresses=" ".join(teams),
                     infos=[("en-US", headline, "d", "i")]),
            signers=("desk-1",))
        inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    rows = deliveries(inst, alert)
    assert rows and all(r[4] == "sent" for r in rows)
    assert len(msgs) == len(teams)
    # a recipient knows the gateway's public key: it signs inside
    assert gpg(pki["dir"] / pki["contacts_home"], "--import",
               pki["dir"] / "gateway.asc").returncode == 0
    for m in msgs:
        assert b"COMBINED-SECRET" not in m["raw"]
        outer, enc = encrypted_part(m["raw"])
        r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
        assert r.returncode == 0
        assert f"VALIDSIG {pki['gateway']}".encode() in r.stderr
        mixed = email.message_from_bytes(r.stdout, policy=policy.default)
        assert mixed.get_content_type() == "multipart/mixed"
        body = next(mixed.iter_parts()).get_content()
        assert headline in body


def test_bad_pgp_mime_is_a_configuration_error(inst):
    inst.set_keys("smtp", pgp_mime="sideways")
    p = inst.run("check", check=78)
    assert "pgp_mime" in p.stdout and "nested" in p.stdout


def test_exercise_is_marked_in_subject_and_first_line(inst, tmp_path, pki):
    inst.email_all_first()
    peer = peer_for(inst, tmp_path, pki)
    try:
        teams = inst.teams()[:2]
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams),
                                            status="Exercise"),
                                   signers=("desk-1",))
        inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    assert len(msgs) == 2
    for m in msgs:
        outer, enc = encrypted_part(m["raw"])
        assert outer["Subject"].startswith("[EXERCISE] ")
        assert alert in outer["Subject"]
        r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
        assert r.returncode == 0
        inner = email.message_from_bytes(r.stdout, policy=policy.default)
        signed = inner.get_payload()[0]
        body = next(signed.iter_parts()).get_content()
        lines = body.splitlines()
        assert "EXERCISE" in lines[0]
        assert "ACTUAL ALERT" not in body
        # then, still before any detail, the severity, headline and link
        assert lines[2].startswith("Severity: ") and \
            lines[3].startswith("Headline: ") and \
            lines[4].startswith("To acknowledge for team "), lines[:6]


def broadcast(inst, tmp_path, pki, doc, signers=("desk-1", "desk-2")):
    """doc submitted signed and sent by serve to a fresh SMTP peer: the
    alert's id and the messages the peer holds."""
    peer = peer_for(inst, tmp_path, pki)
    try:
        alert = inst.submit_signed(doc, signers=signers)
        inst.serve()
        return alert, peer.messages()
    finally:
        peer.stop()


def decrypted_body(pki, m):
    """The outer message of a stored mail and its decrypted text body, as
    a contact reads it."""
    outer, enc = encrypted_part(m["raw"])
    r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
    assert r.returncode == 0
    inner = email.message_from_bytes(r.stdout, policy=policy.default)
    return outer, next(inner.get_payload()[0].iter_parts()).get_content()


def test_email_in_the_team_s_language(inst, tmp_path, pki):
    """The decrypted e-mail of a French and of an Arabic team: the
    gateway's labels, banner and ack instructions in the team's language,
    none of the English ones; the alert's own text as the alert gives it
    and times still in UTC and local time.  A team whose language has no
    catalog (sw) reads English."""
    inst.email_all_first()
    fr, ar, sw = inst.teams()[:3]
    inst.set_contact_langs(fr, ["fr", "en"])
    inst.set_contact_langs(ar, ["ar"])
    inst.set_contact_langs(sw, ["sw"])
    inst.languages()
    alert, msgs = broadcast(inst, tmp_path, pki, inst.cap(
        addresses=f"{fr} {ar} {sw}", status="Exercise"), ("desk-1",))
    bodies = {}
    for m in msgs:
        outer, body = decrypted_body(pki, m)
        # the subject stays ASCII: its marker is not translated
        assert outer["Subject"].startswith("[EXERCISE] ")
        team = re.search(r"/ack/([0-9a-f]{32})", body).group(1)
        for t in (fr, ar, sw):
            if inst.ack_token(alert, t) == team:
                bodies.setdefault(t, body)
    assert set(bodies) == {fr, ar, sw}, list(bodies)
    for team, lang in ((fr, "fr"), (ar, "ar"), (sw, "en")):
        body = bodies[team]
        lines = body.splitlines()
        code = inst.ack_code(alert, team)
        link = f"http://127.0.0.1:{inst.port}/ack/{inst.ack_token(alert, team)}"
        assert lines[0] == tr(lang, "*** EXERCISE - EXERCISE - EXERCISE ***")
        assert lines[1] == tr(lang, "This is a drill. No real incident.")
        assert lines[2] == tr(lang, "Severity") + ": " + tr(lang, "Severe")
        assert lines[3] == tr(lang, "Headline") + \
            ": Compromise of registry EPP credentials"
        assert lines[4] == tr(
            lang, "To acknowledge for team {team}: open {link} and press "
            "the button, or reply with code {code}", team=team, link=link,
            code=code), lines[4]
        # times: UTC, then local, each labelled in the language
        sent = next(x for x in lines if x.startswith(tr(lang, "Sent") +
                                                     ": "))
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC", sent), sent
        assert tr(lang, "local {time}", time="") in sent, sent
        assert tr(lang, "Team") + ": " + team in body
        # the alert's own text, untouched
        assert "Rotate EPP passwords" in body
    for english in ("To acknowledge", "Headline:", "Severity:", "EXERCISE",
                    "Local times:", "This is a drill"):
        assert english not in bodies[fr], english
        assert english not in bodies[ar], english
        assert english in bodies[sw], english
    assert "Pour accuser réception pour l'équipe" in bodies[fr]
    assert "لتأكيد الاستلام عن الفريق" in bodies[ar]


def set_each_contact_langs(inst, team, per_contact):
    """The n-th contact of team reads per_contact[n] (first preferred)."""
    text = (inst.dir / "teams.conf").read_text()
    m = re.search(r'^  \{ id = "%s";.*?^  \}' % re.escape(team), text,
                  re.M | re.S)
    assert m, team
    langs = iter(per_contact)
    block, n = re.subn(r"languages = \[[^\]]*\];", lambda _: (
        "languages = [ %s ];" % ", ".join(f'"{x}"' for x in next(langs))),
        m.group(0), count=len(per_contact))
    assert n == len(per_contact), (team, n)
    (inst.dir / "teams.conf").write_text(text[:m.start()] + block +
                                        text[m.end():])


def test_a_team_s_e_mail_tells_each_reader_how_to_ack(inst, tmp_path, pki):
    """One e-mail to a team whose first contact reads French and second
    English: its labels are French, and the ack instructions come in French
    and then in English, each once, with the same link and code, so that
    the English reader can ack too.  A team whose contacts all read French
    gets them in French alone."""
    inst.email_all_first()
    mixed, french = inst.teams()[:2]
    set_each_contact_langs(inst, mixed, [["fr", "en"], ["en"]])
    inst.set_contact_langs(french, ["fr"])
    inst.languages()
    alert, msgs = broadcast(inst, tmp_path, pki,
                            inst.cap(addresses=f"{mixed} {french}"))
    bodies = {}
    for m in msgs:
        _, body = decrypted_body(pki, m)
        for t in (mixed, french):
            if inst.ack_token(alert, t) in body:
                bodies.setdefault(t, []).append((m["rcpt_tos"], body))
    # one message each, to every contact of the team
    assert [len(bodies.get(t, [])) for t in (mixed, french)] == [1, 1]
    rcpts, body = bodies[mixed][0]
    assert len(rcpts) >= 2, rcpts
    link = f"http://127.0.0.1:{inst.port}/ack/{inst.ack_token(alert, mixed)}"
    code = inst.ack_code(alert, mixed)
    fr_line = tr("fr", "To acknowledge for team {team}: open {link} and "
                 "press the button, or reply with code {code}", team=mixed,
                 link=link, code=code)
    en_line = ("To acknowledge for team " + mixed + ": open " + link +
               " and press the button, or reply with code " + code)
    lines = body.splitlines()
    assert lines.count(fr_line) == 1 and lines.count(en_line) == 1, lines[:8]
    assert lines.index(fr_line) < lines.index(en_line) < 8
    assert lines[2].startswith(tr("fr", "Headline") + ": ")
    _, body = bodies[french][0]
    assert "To acknowledge" not in body
    assert body.count("Pour accuser réception pour l'équipe") == 1


def test_local_relay_without_tls_only_when_marked_local(inst, tmp_path, pki):
    inst.email_all_first()
    # a relay on this host without TLS: refused unless marked local
    inst.set_keys("smtp", starttls="none")
    p = inst.run("check", check=78)
    assert "local = true" in p.stdout
    inst.set_keys("smtp", local=True)
    peer = SmtpPeer(tmp_path).start()       # no certificate: plain SMTP
    try:
        inst.set_keys("smtp", port=peer.port)
        teams = inst.teams()[:2]
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    assert len(msgs) == 2 and not any(m["tls"] for m in msgs)
    assert all(r[4] == "sent" for r in deliveries(inst, alert))


# --- a relay that requires AUTH ----------------------------------------------

AUTH_USER, AUTH_PASSWORD = "tocsin-relay", "s3cr:et-Pa55-not-in-logs"


def credentials(inst, password=AUTH_PASSWORD, mode=0o600):
    f = inst.dir / "smtp.credentials"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{AUTH_USER}:{password}\n")
    os.chmod(f, mode)
    inst.set_keys("smtp", credentials=str(f))
    return f


def no_password_anywhere(inst, texts, password=AUTH_PASSWORD):
    """The password (or its PLAIN encoding's parts) in no log, status,
    report or store text."""
    import base64
    plain = base64.b64encode(f"\0{AUTH_USER}\0{password}".encode())
    for t in texts:
        b = t.encode() if isinstance(t, str) else t
        assert password.encode() not in b
        assert plain not in b
    dump = inst.store_text().encode("latin-1")
    assert password.encode() not in dump and plain not in dump


def count_mail_faults(name, rows, msgs):
    got = collections.Counter(a for m in msgs for a in m["rcpt_tos"])
    lost = sum(1 for r in rows if got[r[3]] == 0)
    dup = sum(max(0, got[r[3]] - 1) for r in rows)
    stuck = sum(1 for r in rows if r[4] not in ("sent", "dead", "cancelled",
                                                "failed"))
    print(f"fault: {name} lost={lost} duplicated={dup} stuck={stuck}")
    return lost, dup, stuck


def served_by(inst, peer, teams):
    """An alert for teams signed by desk-1, served through the relay peer,
    which is stopped after: (alert, serve's result, the messages the relay
    took, the AUTH it was offered, its log)."""
    try:
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        res = inst.serve(timeout=120)
        return (alert, res, peer.messages(), peer.auth_attempts(),
                peer.logfile.read_text())
    finally:
        peer.stop()


def test_relay_requiring_auth_gets_it_after_starttls(inst, tmp_path, pki):
    inst.email_all_first()
    credentials(inst)
    peer = peer_for(inst, tmp_path, pki, auth=f"{AUTH_USER}:{AUTH_PASSWORD}")
    alert, res, msgs, attempts, log = served_by(inst, peer,
                                                inst.teams()[:3])
    rows = deliveries(inst, alert)
    assert count_mail_faults("smtp-auth", rows, msgs) == (0, 0, 0)
    assert all(r[4] == "sent" for r in rows)
    assert len(msgs) == 3 and all(m["tls"] for m in msgs)
    assert all(m["auth_user"] == AUTH_USER for m in msgs)
    # every AUTH came inside TLS, with the right user, and worked
    assert attempts and all(a["tls"] and a["ok"] and a["user"] == AUTH_USER
                            for a in attempts)
    status = inst.run("status", alert, check=0).stdout
    no_password_anywhere(inst, [res.stdout, res.stderr, status, log])


def test_wrong_password_fails_with_the_relays_reason(inst, tmp_path, pki):
    inst.email_all_first()
    inst.set_keys("gateway", max_attempts=2, retry_base="1s", retry_max="1s")
    wrong = "wrong-Pa55word-also-secret"
    credentials(inst, password=wrong)
    peer = peer_for(inst, tmp_path, pki, auth=f"{AUTH_USER}:{AUTH_PASSWORD}")
    alert, res, msgs, attempts, log = served_by(inst, peer,
                                                inst.teams()[:1])
    rows = deliveries(inst, alert)
    assert msgs == []
    assert rows and all(r[4] == "dead" for r in rows), rows
    for r in rows:
        assert "refused authentication as tocsin-relay" in r[6], r
        assert "535" in r[6] and "Authentication credentials invalid" in r[6]
    assert attempts and all(a["tls"] and not a["ok"] for a in attempts)
    status = inst.run("status", alert, "--json", check=0).stdout
    report = inst.run("report", alert, "--format", "json", check=0).stdout
    no_password_anywhere(inst, [res.stdout, res.stderr, status, report, log],
                         password=wrong)


def test_auth_never_in_clear_to_a_relay_without_starttls(inst, tmp_path, pki):
    """The attacker's version: a relay (or a man in the middle) that offers
    no STARTTLS gets no AUTH and no mail."""
    inst.email_all_first()
    credentials(inst)
    inst.set_keys("gateway", max_attempts=1)
    peer = peer_for(inst, tmp_path, pki, no_starttls=True,
                    auth=f"{AUTH_USER}:{AUTH_PASSWORD}")
    alert, res, msgs, attempts, _ = served_by(inst, peer, inst.teams()[:1])
    assert msgs == [] and attempts == []
    rows = deliveries(inst, alert)
    assert all(r[4] == "dead" and "STARTTLS" in r[6] for r in rows), rows
    no_password_anywhere(inst, [res.stdout, res.stderr])


def test_credentials_file_checked_at_start(inst, tmp_path, pki):
    inst.email_all_first()
    f = credentials(inst)
    f.write_text("no-colon-here\n")
    p = inst.run("serve", "--until-idle")
    assert p.returncode == 78 and "user:password" in p.stderr
    assert "no-colon-here" not in p.stderr
    # check says so too, naming the file and never its content
    p = inst.run("check")
    assert p.returncode == 78, p.stdout + p.stderr
    assert "user:password" in p.stdout + p.stderr
    assert str(f) in p.stdout + p.stderr
    assert "no-colon-here" not in p.stdout + p.stderr
    f.write_text(f"{AUTH_USER}:{AUTH_PASSWORD}\n")
    p = inst.run("check")
    assert "credentials" not in p.stdout + p.stderr
    assert AUTH_PASSWORD not in p.stdout + p.stderr


def test_local_relay_gets_auth_in_clear_only_when_marked_local(
        inst, tmp_path, pki):
    """A relay on this host marked local, without TLS: AUTH goes in clear
    over the loopback (the one place it may), and the mail is taken."""
    inst.email_all_first()
    credentials(inst)
    inst.set_keys("smtp", starttls="none", local=True)
    peer = SmtpPeer(tmp_path, auth=f"{AUTH_USER}:{AUTH_PASSWORD}",
                    auth_in_clear=True).start()
    inst.set_keys("smtp", port=peer.port)
    alert, res, msgs, attempts, _ = served_by(inst, peer, inst.teams()[:1])
    rows = deliveries(inst, alert)
    assert count_mail_faults("smtp-auth-local", rows, msgs) == (0, 0, 0)
    assert all(r[4] == "sent" for r in rows)
    assert msgs and all(not m["tls"] and m["auth_user"] == AUTH_USER
                        for m in msgs)
    assert attempts and all(a["ok"] and not a["tls"] for a in attempts)
    no_password_anywhere(inst, [res.stdout, res.stderr])
