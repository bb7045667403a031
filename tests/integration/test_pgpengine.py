"""The two OpenPGP engines of outgoing mail (gateway.pgp_engine): librnp in
process ("rnp", the default) and gpgme ("gpgme").  What each makes must
open and verify with GnuPG 2.2 and with the rnp command line, and a contact
key that cannot be used fails that contact alone, with the reason."""
import email
import re
import shutil
import signal
import subprocess
import time
from email import policy

import pytest

from test_email import (check_inner, deliveries, encrypted_part, gpg,
                        peer_for, split_signed)

ENGINES = ("rnp", "gpgme")


def own_home(inst, pki):
    """A copy of the gateway's GnuPG home for this instance alone, so that
    keys can be added or spoilt; gateway.gnupg_home points to it."""
    home = inst.dir / "gh"
    shutil.copytree(pki["dir"] / pki["gnupg_home"], home,
                    ignore=shutil.ignore_patterns("S.*", "*.lock", "*~"))
    home.chmod(0o700)
    inst.set_keys("gateway", gnupg_home=str(home))
    return home


def kill_agent(home):
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                   capture_output=True)


def engine_used(p, engine):
    """serve names the engine it signs and encrypts with."""
    m = re.search(r"OpenPGP engine (\S+)", p.stderr)
    assert m, p.stderr[-2000:]
    assert m.group(1) == engine, p.stderr[-2000:]
    assert "go through gpgme" not in p.stderr, p.stderr[-2000:]


def rnp_cli(*args, data=None):
    return subprocess.run(["rnp", *map(str, args)], input=data,
                          capture_output=True)


def secret_keys_file(pki, fprs, path):
    """The contacts' secret keys, exported by gpg into one file for the
    rnp command line (it cannot read GnuPG 2.2's key files itself)."""
    home = pki["dir"] / pki["contacts_home"]
    r = gpg(home, "--pinentry-mode", "loopback", "--passphrase", "",
            "--export-secret-keys", *fprs)
    assert r.returncode == 0 and r.stdout, r.stderr
    path.write_bytes(r.stdout)
    return path


def team_contacts(inst):
    """team id -> [(e-mail address, fingerprint)], from teams.conf."""
    out = {}
    text = (inst.dir / "teams.conf").read_text()
    for m in re.finditer(r'^  \{ id = "([^"]+)";(.*?)(?=^  \{ id = |\Z)',
                         text, re.M | re.S):
        out[m.group(1)] = re.findall(
            r'email = "([^"]+)";\s*pgp = "([0-9A-F]{40})";', m.group(2))
    return out


@pytest.mark.parametrize("mime", ["nested", "combined"])
@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_reads_with_gpg_and_rnp(inst, tmp_path, pki,
                                            verify_home, engine, mime):
    inst.email_all_first()
    inst.set_keys("gateway", pgp_engine=engine)
    inst.set_keys("smtp", pgp_mime=mime)
    contacts = team_contacts(inst)
    teams = [t for t in inst.teams() if len(contacts.get(t, [])) >= 2][:3]
    assert len(teams) == 3
    peer = peer_for(inst, tmp_path, pki)
    try:
        headline = f"ENGINE-SECRET {engine} {mime}"
        alert = inst.submit_signed(
            inst.cap(addresses=" ".join(teams),
                     infos=[("en-US", headline, "d", "i")]),
            signers=("desk-1",))
        p = inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    engine_used(p, engine)
    rows = deliveries(inst, alert)
    assert rows and all(r[4] == "sent" for r in rows), rows
    assert len(msgs) == len(teams)
    contacts_home = pki["dir"] / pki["contacts_home"]
    # a recipient knows the gateway's public key (as test_email's
    # combined test has it)
    assert gpg(contacts_home, "--import",
               pki["dir"] / "gateway.asc").returncode == 0
    fprs = [f for t in teams for _, f in contacts[t]]
    seckeys = secret_keys_file(pki, fprs, tmp_path / "sec.gpg")
    gwpub = pki["dir"] / "gateway.asc"
    for m in msgs:
        assert b"ENGINE-SECRET" not in m["raw"]
        _, enc = encrypted_part(m["raw"])
        assert enc.startswith(b"-----BEGIN PGP MESSAGE-----")
        # GnuPG 2.2
        r = gpg(contacts_home, "--decrypt", data=enc)
        assert r.returncode == 0 and b"DECRYPTION_OKAY" in r.stderr, r.stderr
        plain = r.stdout
        if mime == "nested":
            mixed = check_inner(plain, verify_home, pki, tmp_path)
        else:
            # the signature inside the one message, by the gateway's key
            assert f"VALIDSIG {pki['gateway']}".encode() in r.stderr, \
                r.stderr
            mixed = email.message_from_bytes(plain, policy=policy.default)
        assert headline in next(mixed.iter_parts()).get_content()
        # the rnp command line, with the recipients' keys only
        (tmp_path / "enc.asc").write_bytes(enc)
        r = rnp_cli("--keyfile", seckeys, "--decrypt", tmp_path / "enc.asc",
                    "--output", "-")
        assert r.returncode == 0, r.stderr
        assert r.stdout == plain
        if mime == "nested":
            signed, sig = split_signed(plain)
            (tmp_path / "signed").write_bytes(signed)
            (tmp_path / "signed.asc").write_bytes(sig)
            r = rnp_cli("--keyfile", gwpub, "--verify", tmp_path /
                        "signed.asc", "--source", tmp_path / "signed")
        else:
            both = tmp_path / "both.gpg"
            both.write_bytes(seckeys.read_bytes() +
                             subprocess.run(["gpg", "--dearmor"],
                                            input=gwpub.read_bytes(),
                                            capture_output=True).stdout)
            r = rnp_cli("--keyfile", both, "--decrypt", tmp_path /
                        "enc.asc", "--output", "/dev/null")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert b"Good signature" in out or b"Valid signature" in out, out
        assert pki["gateway"][-16:].lower().encode() in out.lower(), out
    # and the attacker's version: a bit flipped in the signed entity fails
    if mime == "nested":
        (tmp_path / "signed").write_bytes(signed.replace(b"Content-Type",
                                                         b"Content-Typf", 1))
        r = rnp_cli("--keyfile", gwpub, "--verify", tmp_path / "signed.asc",
                    "--source", tmp_path / "signed")
        assert r.returncode != 0


def make_key(tmp, uid, *args, faked=None):
    """A key made in a home of its own: (home, fingerprint)."""
    home = tmp / ("kh-" + re.sub(r"\W", "", uid)[:8])
    home.mkdir(mode=0o700, exist_ok=True)
    cmd = ["gpg", "--homedir", str(home), "--batch", "--yes", "--quiet",
           "--pinentry-mode", "loopback", "--passphrase", ""]
    if faked:
        cmd += ["--faked-system-time", faked]
    r = subprocess.run(cmd + ["--quick-gen-key", uid, *args],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                          "--with-colons", "--list-keys", uid],
                         capture_output=True, text=True).stdout
    fpr = next(ln.split(":")[9] for ln in out.splitlines()
               if ln.startswith("fpr:"))
    return home, fpr


def spoilt_key(tmp, gh, case):
    """A contact key of the given fault, imported into the gateway's home
    gh; its fingerprint, and the reason a delivery to it must give."""
    uid = f"{case} <{case}@spoilt.example>"
    if case == "expired":
        home, fpr = make_key(tmp, uid, "future-default", "default", "1y",
                             faked="20200101T000000")
    elif case == "no-encryption":
        home, fpr = make_key(tmp, uid, "ed25519", "sign", "0")
    else:
        home, fpr = make_key(tmp, uid, "future-default", "default", "0")
    exp = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                          "--export", fpr], capture_output=True).stdout
    assert gpg(gh, "--import", data=exp).returncode == 0
    if case == "revoked":
        rev = (home / "openpgp-revocs.d" / f"{fpr}.rev").read_bytes()
        rev = rev.replace(b":-----", b"-----")
        assert gpg(gh, "--import", data=rev).returncode == 0
    if case == "disabled":
        r = subprocess.run(["gpg", "--homedir", str(gh), "--batch",
                            "--command-fd", "0", "--edit-key", fpr,
                            "disable", "save"], input=b"",
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        lst = gpg(gh, "--with-colons", "--list-keys", fpr).stdout.decode()
        pub = next(x for x in lst.splitlines() if x.startswith("pub:"))
        assert "D" in pub.split(":")[11], lst   # gpg's capability field
    kill_agent(home)
    reason = {"expired": "has expired", "revoked": "is revoked",
              "disabled": "is disabled",
              "no-encryption": "has no usable encryption subkey"}[case]
    return fpr, f"key {fpr} {reason}"


@pytest.mark.parametrize("case", ["expired", "revoked", "no-encryption",
                                  "disabled"])
@pytest.mark.parametrize("engine", ENGINES)
def test_unusable_contact_key_fails_that_contact_alone(inst, tmp_path, pki,
                                                       engine, case):
    inst.email_all_first()
    inst.set_keys("gateway", pgp_engine=engine)
    gh = own_home(inst, pki)
    try:
        fpr, reason = spoilt_key(tmp_path, gh, case)
        contacts = team_contacts(inst)
        team = next(t for t in inst.teams() if len(contacts.get(t, [])) >= 2)
        (bad_addr, old), good = contacts[team][0], contacts[team][1:]
        conf = inst.dir / "teams.conf"
        text = conf.read_text()
        text, n = re.subn(rf'(email = "{re.escape(bad_addr)}";\s*pgp = ")'
                          rf'{old}"', rf'\g<1>{fpr}"', text)
        assert n == 1
        conf.write_text(text)
        peer = peer_for(inst, tmp_path, pki)
        try:
            alert = inst.submit_signed(
                inst.cap(addresses=team, infos=[("en-US", "h", "d", "i")]),
                signers=("desk-1",))
            p = inst.serve()
            msgs = peer.messages()
        finally:
            peer.stop()
        engine_used(p, engine)
        rows = {r[3]: r for r in deliveries(inst, alert)}
        assert rows[bad_addr][4] == "dead", rows[bad_addr]
        assert "cannot encrypt to this contact" in rows[bad_addr][6]
        assert reason in rows[bad_addr][6], rows[bad_addr]
        # the others got theirs, once, encrypted to their keys alone
        assert all(rows[a][4] == "sent" for a, _ in good), rows
        assert len(msgs) == 1
        assert sorted(msgs[0]["rcpt_tos"]) == sorted(a for a, _ in good)
        _, enc = encrypted_part(msgs[0]["raw"])
        r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
        assert r.returncode == 0 and b"DECRYPTION_OKAY" in r.stderr
        assert fpr[-16:].encode() not in subprocess.run(
            ["gpg", "--homedir", str(tmp_path), "--batch", "--list-packets"],
            input=enc, capture_output=True).stdout
    finally:
        kill_agent(gh)


def test_check_names_the_engine_and_its_keys(inst, pki):
    # named, not the default: a pass may run on the other engine
    # (TOCSIN_TEST_PGP_ENGINE)
    inst.set_keys("gateway", pgp_engine="rnp")
    p = inst.run("check", check=0)
    out = p.stdout + p.stderr
    assert re.search(r"OpenPGP engine rnp: \d+ public keys", out), out
    inst.set_keys("gateway", pgp_engine="gpgme")
    p = inst.run("check", check=0)
    out = p.stdout + p.stderr
    assert re.search(r"OpenPGP engine gpgme: \d+ public keys", out), out


def test_unknown_engine_is_a_configuration_error(inst):
    inst.set_keys("gateway", pgp_engine="openssl")
    p = inst.run("check")
    assert p.returncode != 0
    assert 'pgp_engine "openssl" is not "rnp"' in p.stdout + p.stderr


def test_unreadable_keyring_falls_back_to_gpgme_and_says_so(inst, tmp_path,
                                                            pki, verify_home):
    """A home whose public keys librnp cannot read (the legacy
    pubring.gpg instead of pubring.kbx): gpgme signs and encrypts, the log
    says so once, and the mail is sent, signed and encrypted."""
    inst.email_all_first()
    inst.set_keys("gateway", pgp_engine="rnp")
    gh = own_home(inst, pki)
    try:
        exp = gpg(gh, "--export").stdout
        (gh / "pubring.kbx").unlink()
        (gh / "pubring.gpg").write_bytes(exp)
        assert gpg(gh, "--list-keys", pki["gateway"]).returncode == 0
        peer = peer_for(inst, tmp_path, pki)
        try:
            team = inst.teams()[0]
            alert = inst.submit_signed(
                inst.cap(addresses=team, infos=[("en-US", "FALLBACK-SECRET",
                                                 "d", "i")]),
                signers=("desk-1",))
            p = inst.serve()
            msgs = peer.messages()
        finally:
            peer.stop()
        assert p.stderr.count("go through gpgme") == 1, p.stderr
        assert re.search(r"OpenPGP engine gpgme", p.stderr), p.stderr
        rows = deliveries(inst, alert)
        assert rows and all(r[4] == "sent" for r in rows), rows
        assert msgs and b"FALLBACK-SECRET" not in msgs[0]["raw"]
        _, enc = encrypted_part(msgs[0]["raw"])
        r = gpg(pki["dir"] / pki["contacts_home"], "--decrypt", data=enc)
        assert r.returncode == 0 and b"DECRYPTION_OKAY" in r.stderr
        mixed = check_inner(r.stdout, verify_home, pki, tmp_path)
        assert "FALLBACK-SECRET" in next(mixed.iter_parts()).get_content()
    finally:
        kill_agent(gh)


def test_passphrase_key_fails_signing_never_prompts(inst, tmp_path, pki):
    """The gateway key protected by a passphrase: nothing is sent unsigned;
    the deliveries fail with the reason, on the default engine."""
    inst.email_all_first()
    gh = own_home(inst, pki)
    try:
        # a gateway key of its own, made with a passphrase
        r = subprocess.run(["gpg", "--homedir", str(gh), "--batch", "--yes",
                            "--quiet", "--pinentry-mode", "loopback",
                            "--passphrase", "secret-pass", "--quick-gen-key",
                            "gw3 <gw3@alerts.example>", "ed25519", "sign",
                            "0"], capture_output=True)
        assert r.returncode == 0, r.stderr
        out = gpg(gh, "--with-colons", "--list-secret-keys",
                  "gw3@alerts.example").stdout.decode()
        gw = next(x.split(":")[9] for x in out.splitlines()
                  if x.startswith("fpr:"))
        # one attempt, so that serve --until-idle ends
        inst.set_keys("gateway", signing_key=gw, max_attempts=1,
                      pgp_engine="rnp")
        kill_agent(gh)
        assert subprocess.run(
            ["gpg", "--homedir", str(gh), "--batch", "--pinentry-mode",
             "loopback", "--passphrase", "", "--local-user", gw,
             "--detach-sign"], input=b"x", capture_output=True
        ).returncode != 0, "the key signs without its passphrase"
        peer = peer_for(inst, tmp_path, pki)
        try:
            team = inst.teams()[0]
            alert = inst.submit_signed(
                inst.cap(addresses=team, infos=[("en-US", "h", "d", "i")]),
                signers=("desk-1",))
            p = inst.serve(timeout=120)
            msgs = peer.messages()
        finally:
            peer.stop()
        assert msgs == []
        rows = deliveries(inst, alert)
        assert rows and all(r[4] == "dead" for r in rows), rows
        assert all("signing with the gateway key" in (r[6] or "")
                   for r in rows), rows
        assert "signing goes through gpgme" in p.stderr, p.stderr
    finally:
        kill_agent(gh)


@pytest.mark.parametrize("engine", ENGINES)
def test_reload_takes_the_keys_imported_since(inst, tmp_path, pki, engine):
    """SIGHUP reads the keys again: a contact's new key, imported and
    pinned while serve runs, is used after the reload."""
    from test_reload import Notify, serve_notified
    inst.email_all_first()
    inst.set_keys("gateway", pgp_engine=engine)
    gh = own_home(inst, pki)
    contacts = team_contacts(inst)
    team = next(t for t in inst.teams() if contacts.get(t))
    addr, old = contacts[team][0]
    home, fpr = make_key(tmp_path, "renewed <renewed@x.example>",
                         "future-default", "default", "0")
    peer = peer_for(inst, tmp_path, pki)
    notify = Notify(tmp_path / "notify")
    proc = serve_notified(inst, notify)
    try:
        notify.wait("READY=1")
        log = (inst.dir / "serve.log").read_text()
        n0 = int(re.search(rf"OpenPGP engine {engine} \((\d+) public keys",
                           log).group(1))
        exp = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                              "--export", fpr], capture_output=True).stdout
        assert gpg(gh, "--import", data=exp).returncode == 0
        conf = inst.dir / "teams.conf"
        text, n = re.subn(rf'(email = "{re.escape(addr)}";\s*pgp = ")'
                          rf'{old}"', rf'\g<1>{fpr}"', conf.read_text())
        assert n == 1
        conf.write_text(text)
        proc.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        notify.wait("READY=1")
        end = time.monotonic() + 20
        while (inst.dir / "serve.log").read_text().count(
                "serving: store") < 2:
            assert time.monotonic() < end, \
                (inst.dir / "serve.log").read_text()[-2000:]
            time.sleep(0.1)
        log = (inst.dir / "serve.log").read_text()
        counts = re.findall(rf"OpenPGP engine {engine} \((\d+) public keys",
                            log)
        assert [int(c) for c in counts] == [n0, n0 + 1], log[-2000:]
        alert = inst.submit_signed(
            inst.cap(addresses=team, infos=[("en-US", "RENEWED-SECRET", "d",
                                             "i")]), signers=("desk-1",))
        states = inst.settled(alert, timeout=60)
        assert set(states) == {"sent"}, (states, deliveries(inst, alert))
        msgs = [m for m in peer.messages() if addr in m["rcpt_tos"]]
        assert len(msgs) == 1
        _, enc = encrypted_part(msgs[0]["raw"])
        # the new key opens it
        r = gpg(home, "--decrypt", data=enc)
        assert r.returncode == 0 and b"DECRYPTION_OKAY" in r.stderr, r.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
        peer.stop()
        kill_agent(gh)
        kill_agent(home)
