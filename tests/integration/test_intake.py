"""Signed alert intake: every refusal exits with its code and queues nothing;
good alerts signed each way are accepted and planned for every team."""
import os
import re
import signal
import subprocess
import time
from datetime import datetime, timezone, timedelta
from pathlib import Path

import pytest

from conftest import BIN, make_cap

EX_DATAERR, EX_NOPERM = 65, 77


def refused(inst, args, code, reason):
    before = inst.counts()
    audit_before = len(inst.audit())
    p = inst.run("submit", *args)
    assert p.returncode == code, p.stderr
    assert reason in p.stderr, p.stderr
    assert p.stdout == ""
    assert inst.counts() == before, "a refused alert changed the store"
    audit = inst.audit()
    assert len(audit) == audit_before + 1
    assert audit[-1][2] == "refuse"
    assert f"exit={code}" in audit[-1][4]
    return p


def accepted(inst, args):
    p = inst.run("submit", *args, check=0)
    alert_id = p.stdout.strip()
    assert alert_id and "\n" not in alert_id
    assert inst.sql("SELECT count(*) FROM alerts WHERE id=?", alert_id)[0][0] == 1
    return alert_id


# --- accepted ------------------------------------------------------------

def test_openpgp_detached_accepted_and_planned_for_all_teams(inst):
    a = inst.write("a.xml", inst.cap())
    alert_id = accepted(inst, [a, "--sig", inst.gpg_sign(a)])
    teams = inst.teams()
    assert len(teams) >= 50
    rows = inst.sql("SELECT team, step, state FROM team_states WHERE alert_id=?",
                    alert_id)
    assert sorted(r[0] for r in rows) == sorted(teams)
    assert all(r[1] == 0 and r[2] == "active" for r in rows)
    dels = inst.sql("SELECT team, channel, state FROM deliveries "
                    "WHERE alert_id=?", alert_id)
    assert {d[0] for d in dels} == set(teams), "a team got no delivery"
    assert all(d[2] == "pending" for d in dels)
    assert {"pgp-email", "sms"} <= {d[1] for d in dels}
    assert inst.audit()[-1][2] == "submit"


def test_openpgp_inline_clearsigned_accepted(inst):
    a = inst.write("a.xml", inst.cap())
    accepted(inst, [inst.gpg_sign(a, mode="clear")])


def test_openpgp_inline_binary_signed_accepted(inst):
    a = inst.write("a.xml", inst.cap())
    accepted(inst, [inst.gpg_sign(a, mode="inline")])


def test_cms_accepted(inst):
    a = inst.write("a.xml", inst.cap())
    alert_id = accepted(inst, [a, "--sig", inst.cms_sign(a)])
    assert inst.sql("SELECT issuer, kind FROM signatures WHERE alert_id=?",
                    alert_id) == [("cms-desk", "cms")]


def test_public_alert_without_addresses_goes_to_default_audience(inst):
    a = inst.write("a.xml", inst.cap(scope="Public", addresses=None))
    alert_id = accepted(inst, [a, "--sig", inst.gpg_sign(a)])
    n = inst.sql("SELECT count(*) FROM team_states WHERE alert_id=?", alert_id)
    assert n[0][0] == len(inst.teams())


def test_addressed_subset(inst):
    teams = inst.teams()
    a = inst.write("a.xml", inst.cap(addresses=f"{teams[0]} {teams[3]}"))
    alert_id = accepted(inst, [a, "--sig", inst.gpg_sign(a)])
    rows = inst.sql("SELECT team FROM team_states WHERE alert_id=?", alert_id)
    assert sorted(r[0] for r in rows) == sorted([teams[0], teams[3]])


def test_status_shows_planned_deliveries(inst):
    a = inst.write("a.xml", inst.cap())
    alert_id = accepted(inst, [a, "--sig", inst.gpg_sign(a)])
    p = inst.run("status", alert_id, check=0)
    for t in inst.teams()[:5]:
        assert f"\n{t} " in p.stdout
    assert "pgp-email" in p.stdout
    import json
    j = json.loads(inst.run("status", alert_id, "--json", check=0).stdout)
    assert j["id"] == alert_id
    assert len(j["teams"]) == len(inst.teams())
    assert all(t["deliveries"] for t in j["teams"])
    lst = inst.run("status", check=0).stdout
    assert alert_id in lst


# --- refused: signatures ---------------------------------------------------

def test_unsigned_refused(inst):
    a = inst.write("a.xml", inst.cap())
    refused(inst, [a], EX_NOPERM, "not signed")


def test_signed_by_non_issuer_refused(inst):
    a = inst.write("a.xml", inst.cap())
    refused(inst, [a, "--sig", inst.gpg_sign(a, "outsider")], EX_NOPERM,
            "not a configured issuer")


def test_tampered_after_signing_refused(inst):
    a = inst.write("a.xml", inst.cap())
    sig = inst.gpg_sign(a)
    a.write_text(a.read_text().replace("Severe", "Minor"))
    refused(inst, [a, "--sig", sig], EX_NOPERM, "bad signature")


def test_tampered_inline_refused(inst):
    a = inst.write("a.xml", inst.cap())
    signed = inst.gpg_sign(a, mode="clear")
    signed.write_text(signed.read_text().replace("phished", "phished!"))
    refused(inst, [signed], EX_NOPERM, "bad signature")


def test_expired_issuer_key_refused(inst):
    # The key expired in 2021; its signature was made while it was valid.
    a = inst.write("a.xml", inst.cap())
    sig = inst.gpg_sign(a, "expired", faked="20200601T000000")
    refused(inst, [a, "--sig", sig], EX_NOPERM, "expired")


def test_revoked_issuer_key_refused(inst):
    a = inst.write("a.xml", inst.cap())
    refused(inst, [a, "--sig", inst.gpg_sign(a, "revoked")], EX_NOPERM,
            "revoked")


def test_one_bad_signature_among_good_refused(inst):
    a = inst.write("a.xml", inst.cap())
    good = inst.gpg_sign(a, "desk-1")
    other = inst.write("other.xml", inst.cap())
    bad = inst.gpg_sign(other, "desk-2")
    refused(inst, [a, "--sig", good, "--sig", bad], EX_NOPERM, "bad signature")


def test_cms_outside_issuer_ca_refused(inst):
    a = inst.write("a.xml", inst.cap())
    sig = inst.cms_sign(a, "rogue_issuer", "rogue_issuer_key")
    refused(inst, [a, "--sig", sig], EX_NOPERM, "does not verify")


def test_garbage_signature_refused(inst):
    a = inst.write("a.xml", inst.cap())
    s = inst.write("a.sig", b"not a signature at all")
    refused(inst, [a, "--sig", s], EX_NOPERM, "neither OpenPGP nor CMS")


# --- refused: authorisation and quorum ------------------------------------

def narrow_issuer(inst, name, line):
    conf = inst.conf.read_text()
    start = conf.index(f'name = "{name}"')
    end = conf.index("}", start)
    inst.conf.write_text(conf[:end] + line + conf[end:])


def test_issuer_outside_scope_refused(inst):
    teams = inst.teams()
    conf = inst.conf.read_text()
    start = conf.index('name = "desk-2"')
    seg_end = conf.index("}", start)
    seg = conf[start:seg_end]
    import re
    seg = re.sub(r'may_address\s*=\s*\[[^\]]*\]', f'may_address = [ "{teams[0]}" ]', seg)
    inst.conf.write_text(conf[:start] + seg + conf[seg_end:])
    inst.run("check", check=0)
    a = inst.write("a.xml", inst.cap(addresses=f"{teams[0]} {teams[1]}"))
    refused(inst, [a, "--sig", inst.gpg_sign(a, "desk-2")], EX_NOPERM,
            f"may not address team '{teams[1]}'")
    # within its scope it may
    b = inst.write("b.xml", inst.cap(addresses=teams[0]))
    accepted(inst, [b, "--sig", inst.gpg_sign(b, "desk-2")])


def test_issuer_severity_not_allowed_refused(inst):
    narrow_issuer(inst, "desk-2", ' severities = [ "Minor" ]; ')
    inst.run("check", check=0)
    a = inst.write("a.xml", inst.cap(severity="Severe"))
    refused(inst, [a, "--sig", inst.gpg_sign(a, "desk-2")], EX_NOPERM,
            "severity Severe")


def test_quorum_not_met_then_met(inst):
    a = inst.write("a.xml", inst.cap(severity="Extreme"))
    refused(inst, [a, "--sig", inst.gpg_sign(a, "desk-1")], EX_NOPERM,
            "quorum not met")
    # two signatures by the same issuer are still one issuer
    refused(inst, [a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                   inst.gpg_sign(a, "desk-1")], EX_NOPERM, "quorum not met")
    alert_id = accepted(inst, [a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                               inst.gpg_sign(a, "desk-2")])
    issuers = inst.sql("SELECT issuer FROM signatures WHERE alert_id=? "
                       "ORDER BY issuer", alert_id)
    assert issuers == [("desk-1",), ("desk-2",)]


def test_quorum_met_with_openpgp_and_cms(inst):
    a = inst.write("a.xml", inst.cap(severity="Extreme"))
    accepted(inst, [a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                    inst.cms_sign(a)])


def test_quorum_rule_applies_only_to_its_audience(inst):
    teams = inst.teams()
    a = inst.write("a.xml", inst.cap(severity="Extreme", addresses=teams[0]))
    accepted(inst, [a, "--sig", inst.gpg_sign(a, "desk-1")])


def set_quorum(inst, *rules):
    """Replace the quorum section by rules (libconfig groups, as text)."""
    conf = inst.conf.read_text()
    conf, n = re.subn(r"^quorum = \(\n.*?^\);", "quorum = (\n  " +
                      ",\n  ".join(rules) + "\n);", conf, flags=re.M | re.S)
    assert n == 1
    inst.conf.write_text(conf)
    return inst.run("check", check=0).stdout


def regions(inst):
    """Team ids by region, from the generated teams.conf."""
    out, team = {}, None
    for line in (inst.dir / "teams.conf").read_text().splitlines():
        m = re.search(r'\bid = "([^"]+)"', line)
        if m:
            team = m.group(1)
        m = re.search(r'\bregion = "([^"]+)"', line)
        if m and team:
            out.setdefault(m.group(1), []).append(team)
            team = None
    return out


def test_quorum_by_size_counts_all_but_one_team(inst):
    teams = inst.teams()
    # the rule of the generated repository (audience = "all") asks for two
    # issuers only when every team is addressed: all but one slips by
    a = inst.write("a.xml", inst.cap(severity="Extreme",
                                     addresses=" ".join(teams[1:])))
    accepted(inst, [a, "--sig", inst.gpg_sign(a, "desk-1")])
    out = set_quorum(inst, '{ severities = [ "Extreme" ]; audience = "all"; '
                     'issuers = 2; }', '{ severities = [ "Extreme" ]; '
                     f'min_teams = {len(teams) - 1}; issuers = 2; }}')
    assert (f"quorum rule 2 (line {line_of(inst, 'min_teams')}): 2 issuers "
            f"for Extreme alerts to {len(teams) - 1} teams or more") in out
    b = inst.write("b.xml", inst.cap(severity="Extreme",
                                     addresses=" ".join(teams[1:])))
    p = refused(inst, [b, "--sig", inst.gpg_sign(b, "desk-1")], EX_NOPERM,
                "quorum not met")
    assert f"quorum rule 2: 2 issuers for Extreme alerts to {len(teams) - 1} " \
        "teams or more" in p.stderr
    alert_id = accepted(inst, [b, "--sig", inst.gpg_sign(b, "desk-1"),
                               "--sig", inst.gpg_sign(b, "desk-2")])
    assert len(inst.sql("SELECT team FROM team_states WHERE alert_id=?",
                        alert_id)) == len(teams) - 1
    # one team fewer than the rule's size: one issuer suffices
    c = inst.write("c.xml", inst.cap(severity="Extreme",
                                     addresses=" ".join(teams[2:])))
    accepted(inst, [c, "--sig", inst.gpg_sign(c, "desk-1")])
    # the same size at a lower severity: one issuer
    d = inst.write("d.xml", inst.cap(severity="Severe",
                                     addresses=" ".join(teams[1:])))
    accepted(inst, [d, "--sig", inst.gpg_sign(d, "desk-1")])


def line_of(inst, text):
    for n, line in enumerate(inst.conf.read_text().splitlines(), 1):
        if text in line:
            return n
    raise AssertionError(text)


def test_quorum_by_groups_any_listed_group_wholly_addressed(inst):
    by = regions(inst)
    reg = max(by, key=lambda r: len(by[r]))
    other = next(r for r in by if r != reg)
    members = by[reg]
    assert len(members) >= 3
    out = set_quorum(inst, '{ severities = [ "Severe", "Extreme" ]; groups = '
                     f'[ "region:{reg}", "region:{other}" ]; issuers = 2; }}')
    assert (f"quorum rule 1 (line {line_of(inst, 'groups =')}): 2 issuers for "
            f'Severe or Extreme alerts to every team of "region:{reg}" '
            f'({len(members)} teams) or of "region:{other}" '
            f"({len(by[other])} team") in out
    # the whole region, whichever way it is written, with one more team
    for i, addr in enumerate([f"region:{reg}", " ".join(members),
                              " ".join(members + by[other][:1])]):
        a = inst.write(f"a{i}.xml", inst.cap(severity="Severe",
                                             addresses=addr))
        refused(inst, [a, "--sig", inst.gpg_sign(a, "desk-2")], EX_NOPERM,
                "quorum not met")
    # the other listed group alone is enough to need two
    b = inst.write("b.xml", inst.cap(severity="Extreme",
                                     addresses=f"region:{other}"))
    refused(inst, [b, "--sig", inst.gpg_sign(b, "desk-2")], EX_NOPERM,
            "quorum not met")
    accepted(inst, [b, "--sig", inst.gpg_sign(b, "desk-1"), "--sig",
                    inst.gpg_sign(b, "desk-2")])
    # all but one team of the region is no whole group: one issuer
    c = inst.write("c.xml", inst.cap(severity="Severe",
                                     addresses=" ".join(members[1:])))
    accepted(inst, [c, "--sig", inst.gpg_sign(c, "desk-2")])
    # a Minor alert to the whole region: the rule's severities leave it out
    d = inst.write("d.xml", inst.cap(severity="Minor",
                                     addresses=f"region:{reg}"))
    accepted(inst, [d, "--sig", inst.gpg_sign(d, "desk-2")])


# --- keys that sign with a subkey (the usual smart-card layout) ----------

def gpg(home, *args, input=None, faked=None):
    cmd = ["gpg", "--homedir", str(home), "--batch", "--yes", "--quiet",
           "--pinentry-mode", "loopback", "--passphrase", ""]
    if faked:
        cmd += ["--faked-system-time", faked]
    r = subprocess.run(cmd + [str(a) for a in args], input=input,
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def fprs(home, key):
    out = subprocess.run(["gpg", "--homedir", str(home), "--with-colons",
                          "--list-keys", key], capture_output=True,
                         text=True).stdout
    return [l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:")]


class CardKeys:
    """Keys laid out as on a smart card: a primary that only certifies,
    with a signing and an encryption subkey, each made in a GnuPG home of
    its own; the instance gets a copy of the gateway's GnuPG home into which
    their public parts are imported."""

    def __init__(self, inst):
        import shutil
        self.inst, self.homes = inst, []
        self.gw = inst.dir / "gh"
        shutil.copytree(inst.pki["dir"] / inst.pki["gnupg_home"], self.gw,
                        ignore=shutil.ignore_patterns("S.*", "*.lock"))
        os.chmod(self.gw, 0o700)
        inst.set_keys("gateway", gnupg_home=str(self.gw))

    def make(self, uid, faked=None, expire="0"):
        """A new key: (its home, primary fingerprint, signing subkey); made
        at the faked time if given, its signing subkey expiring after
        expire."""
        home = self.inst.dir / f"k{len(self.homes)}"
        home.mkdir(mode=0o700)
        self.homes.append(home)
        # the faked clock stands still ("!"): it restarts at that time in
        # each gpg run, so a primary made in a run longer than a second
        # on a busy machine was "in the future" for its subkeys' run
        if faked is not None:
            faked += "!"
        gpg(home, "--quick-gen-key", uid, "ed25519", "cert", "0", faked=faked)
        primary = fprs(home, uid)[0]
        gpg(home, "--quick-add-key", primary, "ed25519", "sign", expire,
            faked=faked)
        gpg(home, "--quick-add-key", primary, "cv25519", "encr", "0",
            faked=faked)
        self.publish(home, primary)
        return home, primary, fprs(home, primary)[1]

    def add_signing(self, home, primary):
        gpg(home, "--quick-add-key", primary, "ed25519", "sign", "0")
        self.publish(home, primary)
        return fprs(home, primary)[-1]

    def revoke(self, home, primary, sub):
        gpg(home, "--command-fd", "0", "--edit-key", primary,
            input=f"key {sub}\nrevkey\ny\n0\n\ny\nsave\n".encode())
        self.publish(home, primary)

    def publish(self, home, primary):
        gpg(self.gw, "--import", input=gpg(home, "--export", primary))

    def sign(self, home, key, path, mode="--detach-sign", faked=None):
        out = Path(f"{path}.{key[:8]}.asc")
        gpg(home, "--local-user", key, "--armor", "--output", out, mode, path,
            faked=faked)
        return out

    def close(self):
        for h in self.homes + [self.gw]:
            subprocess.run(["gpgconf", "--homedir", str(h), "--kill", "all"],
                           capture_output=True)


@pytest.fixture
def cards(inst):
    c = CardKeys(inst)
    yield c
    c.close()


def add_issuer(inst, name, fpr):
    conf = inst.conf.read_text()
    conf = conf.replace("issuers = (\n", "issuers = (\n  { name = "
                        f'"{name}"; openpgp = "{fpr}"; may_address = '
                        '[ "all" ]; },\n', 1)
    inst.conf.write_text(conf)


def test_issuer_key_signing_with_a_subkey(inst, cards):
    home, primary, sub = cards.make("Card Desk <card@desk.example>")
    ohome, other, osub = cards.make("Other Desk <other@desk.example>")
    assert primary != sub
    add_issuer(inst, "card-desk", primary)
    inst.run("check", check=0)
    # gpg signs with the signing subkey; the primary is the pinned key
    a = inst.write("a.xml", inst.cap())
    alert_id = accepted(inst, [a, "--sig", cards.sign(home, primary, a)])
    assert inst.sql("SELECT issuer, signer FROM signatures WHERE "
                    "alert_id=?", alert_id) == [("card-desk", primary)]
    rows = inst.sql("SELECT count(*) FROM team_states WHERE alert_id=?",
                    alert_id)
    assert rows[0][0] == len(inst.teams())
    b = inst.write("b.xml", inst.cap())
    accepted(inst, [cards.sign(home, primary, b, "--clearsign")])
    # the subkey of a key that is no issuer's, though in the key ring
    c = inst.write("c.xml", inst.cap())
    refused(inst, [c, "--sig", cards.sign(ohome, other, c)], EX_NOPERM,
            f"signed by key {other} (with its subkey {osub}), which is "
            "not a configured issuer")
    # a subkey added to another key's home cannot stand for the issuer: a
    # signing subkey of the pinned primary, or nothing
    d = inst.write("d.xml", inst.cap())
    refused(inst, [d, "--sig", cards.sign(ohome, osub + "!", d)], EX_NOPERM,
            "not a configured issuer")
    # a revoked signing subkey: its signatures no longer count
    s2 = cards.add_signing(home, primary)
    e = inst.write("e.xml", inst.cap())
    sig = cards.sign(home, s2 + "!", e)
    accepted(inst, [e, "--sig", sig])
    f = inst.write("f.xml", inst.cap())
    sig = cards.sign(home, s2 + "!", f)
    cards.revoke(home, primary, s2)
    refused(inst, [f, "--sig", sig], EX_NOPERM, "revoked")
    # an expired one: a key of 2020 whose signing subkey expired in 2021,
    # used while it was valid
    xhome, xprimary, xsub = cards.make("Old Card <old@desk.example>",
                                       faked="20200101T000000", expire="1y")
    add_issuer(inst, "old-card", xprimary)
    g = inst.write("g.xml", inst.cap())
    refused(inst, [g, "--sig", cards.sign(xhome, xprimary, g,
                                          faked="20200601T000000")],
            EX_NOPERM, "expired")
    # the first subkey still signs for the issuer
    h = inst.write("h.xml", inst.cap())
    accepted(inst, [h, "--sig", cards.sign(home, sub + "!", h)])


def test_issuer_pinned_to_another_key_refuses_the_subkey(inst, cards):
    home, primary, sub = cards.make("Card Desk <card@desk.example>")
    ohome, other, osub = cards.make("Other Desk <other@desk.example>")
    # the configuration pins some other key: the card's signature is refused
    add_issuer(inst, "card-desk", other)
    inst.run("check", check=0)
    a = inst.write("a.xml", inst.cap())
    refused(inst, [a, "--sig", cards.sign(home, primary, a)], EX_NOPERM,
            f"signed by key {primary} (with its subkey {sub})")
    # and a pin of the subkey's own fingerprint is no pin of the key:
    # check says so, and submit refuses
    conf = inst.conf.read_text().replace(other, sub)
    inst.conf.write_text(conf)
    p = inst.run("check")
    assert p.returncode == 78 and f"no key with fingerprint {sub}" in p.stdout
    refused(inst, [a, "--sig", cards.sign(home, primary, a)], EX_NOPERM,
            "not a configured issuer")


# --- refused: replay ------------------------------------------------------

def test_replayed_identifier_refused(inst):
    a = inst.write("a.xml", inst.cap(identifier="REPLAY-1"))
    sig = inst.gpg_sign(a)
    first = accepted(inst, [a, "--sig", sig])
    p = refused(inst, [a, "--sig", sig], EX_NOPERM, "already accepted")
    assert first in p.stderr


def test_sent_outside_window_refused(inst):
    old = datetime.now(timezone.utc) - timedelta(hours=25)
    a = inst.write("a.xml", inst.cap(sent=old))
    refused(inst, [a, "--sig", inst.gpg_sign(a)], EX_NOPERM, "replay window")
    future = datetime.now(timezone.utc) + timedelta(hours=25)
    b = inst.write("b.xml", inst.cap(sent=future))
    refused(inst, [b, "--sig", inst.gpg_sign(b)], EX_NOPERM, "replay window")


# --- refused: malformed ---------------------------------------------------

def test_malformed_cap_refused(inst):
    doc = inst.cap().replace("<msgType>Alert</msgType>", "<msgType>Shout</msgType>")
    a = inst.write("a.xml", doc)
    refused(inst, [a, "--sig", inst.gpg_sign(a)], EX_DATAERR, "msgType")
    b = inst.write("b.xml", inst.cap().replace("</alert>", ""))
    refused(inst, [b, "--sig", inst.gpg_sign(b)], EX_DATAERR, "")


def test_unknown_address_refused(inst):
    a = inst.write("a.xml", inst.cap(addresses="atlantis"))
    refused(inst, [a, "--sig", inst.gpg_sign(a)], EX_DATAERR, "atlantis")


def test_external_entity_refused(inst):
    doc = inst.cap().replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    doc = doc.replace("Credentials of", "&xxe; Credentials of")
    a = inst.write("a.xml", doc)
    p = refused(inst, [a, "--sig", inst.gpg_sign(a)], EX_DATAERR, "DOCTYPE")
    assert "root:" not in p.stderr


def test_doctype_refused(inst):
    doc = inst.cap().replace('<?xml version="1.0" encoding="UTF-8"?>',
                             '<?xml version="1.0"?>\n<!DOCTYPE alert>')
    a = inst.write("a.xml", doc)
    refused(inst, [a, "--sig", inst.gpg_sign(a)], EX_DATAERR, "DOCTYPE")


def test_oversize_refused(inst):
    big = "x" * 300000
    a = inst.write("a.xml", inst.cap(infos=[("en", "Big", big, "none")]))
    refused(inst, [a, "--sig", inst.gpg_sign(a)], EX_DATAERR, "limit")


def test_missing_file(inst):
    p = inst.run("submit", inst.dir / "nope.xml")
    assert p.returncode == 66


# --- atomicity --------------------------------------------------------------

def test_kill_during_submit_leaves_all_or_nothing(inst):
    """SIGKILL at spread-out moments of submit: each alert is whole or absent."""
    nteams = len(inst.teams())
    # how long one submit takes here, to spread the kills over it
    a = inst.write("warm.xml", inst.cap())
    t0 = time.monotonic()
    accepted(inst, [a, "--sig", inst.gpg_sign(a)])
    dur = time.monotonic() - t0
    per_alert = inst.sql("SELECT count(*) FROM deliveries")[0][0]
    killed = 0
    for i in range(16):
        a = inst.write(f"k{i}.xml", inst.cap())
        sig = inst.gpg_sign(a)
        p = subprocess.Popen([str(BIN), "-c", str(inst.conf), "submit", str(a),
                              "--sig", str(sig)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(dur * (0.3 + 0.7 * i / 15))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.communicate()
    assert killed > 0, "no submit was ever killed: the test proved nothing"
    for (alert_id,) in inst.sql("SELECT id FROM alerts"):
        ts = inst.sql("SELECT count(*) FROM team_states WHERE alert_id=?", alert_id)
        ds = inst.sql("SELECT count(*) FROM deliveries WHERE alert_id=?", alert_id)
        assert ts[0][0] == nteams and ds[0][0] == per_alert, alert_id
    inst.run("audit", "verify", check=0)
