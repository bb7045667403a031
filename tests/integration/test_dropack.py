"""Ack files on the SSH drop host: serve looks into each team folder's
ack/ every ack_poll seconds over SFTP (a real OpenSSH sshd), takes a file
clear-signed by a contact's pinned key that names the alert, or one with
the team's code, and moves it to ack/done/; anything else is refused,
audited and moved to ack/refused/, and acks nothing.  A signature made
before the alert was accepted makes no signed ack (the file is judged by
the unsigned rules), and a signature acks once."""
import contextlib
import re
import subprocess
import time

import pytest

from conftest import BIN
from sshpeer import SshPeer
from test_ingestmail import contact, gpg_sign, key_created, ladder
from test_intake import cards, gpg  # noqa: F401 (a fixture)
from test_sshdrop import configure


@pytest.fixture
def peer(tmp_path):
    p = SshPeer(tmp_path / "sshd").start()
    yield p
    p.stop()


def state(inst, alert, team):
    return inst.sql("SELECT state, ack_by, ack_via, ack_strength FROM "
                    "team_states WHERE alert_id = ? AND team = ?",
                    alert, team)[0]


def put(peer, team, name, data):
    d = peer.root / team / "ack"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def wait_moved(peer, team, name, timeout=10):
    d = peer.root / team / "ack"
    deadline = time.time() + timeout
    while time.time() < deadline:
        for sub in ("done", "refused"):
            if (d / sub / name).exists():
                return sub
        time.sleep(0.1)
    raise AssertionError(f"{team}/ack/{name} was not moved")


@contextlib.contextmanager
def serving(inst, peer, teams):
    """serve, looking for ack files every second, once the drops of step
    0 have made the team folders."""
    text = inst.conf.read_text()
    inst.conf.write_text(text.replace('timeout = "5s"; }',
                                      'timeout = "5s"; ack_poll = 1; }'))
    log = open(inst.dir / "serve.log", "w")
    proc = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # the drops themselves make the team folders
        deadline = time.time() + 15
        while time.time() < deadline and not all(
                (peer.root / t).is_dir() for t in teams):
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def test_ack_files_signed_or_with_code_and_refusals(inst, peer):
    teams = inst.teams()[:8]
    configure(inst, peer, teams, step0='[ "team:sshdrop" ]')
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    other = inst.submit_signed(inst.cap(addresses=teams[0]))
    code = {t: inst.ack_code(alert, t) for t in teams}
    name0, _, fpr0 = contact(inst, teams[0])
    name6, _, fpr6 = contact(inst, teams[6])
    with serving(inst, peer, teams):
        files = {
            # signed by the team's contact, naming the alert: signed ack
            teams[0]: (f"alert-{alert}.{teams[0]}.txt", gpg_sign(
                inst, "contacts_home", fpr0,
                f"Received alert {alert}; on it.\n".encode(), "--clearsign")),
            # unsigned, with the code and a name: unsigned ack
            teams[1]: (f"alert-{alert}.{teams[1]}",
                       f"By: Night shift Ade\nACK {code[teams[1]]}\n"
                       .encode()),
            # the right code of another team: refused
            teams[2]: (f"alert-{alert}.{teams[2]}.txt",
                       f"ACK {code[teams[3]]}\n".encode()),
            # a name for another team than the folder's: refused
            teams[3]: (f"alert-{alert}.{teams[4]}.txt",
                       f"ACK {code[teams[4]]}\n".encode()),
            # signed by a contact of another team: refused
            teams[4]: (f"alert-{alert}.{teams[4]}.txt", gpg_sign(
                inst, "contacts_home", fpr0,
                f"Received alert {alert}.\n".encode(), "--clearsign")),
            # an old signed ack of another alert, renamed: refused
            teams[5]: (f"alert-{alert}.{teams[5]}.txt", None),
            # a signature that does not verify is not taken as unsigned
            teams[6]: (f"alert-{alert}.{teams[6]}.txt", gpg_sign(
                inst, "contacts_home", fpr6,
                f"Received alert {alert}. ACK {code[teams[6]]}\n".encode(),
                "--clearsign").replace(b"Received", b"Rexeived")),
        }
        name5, _, fpr5 = contact(inst, teams[5])
        files[teams[5]] = (files[teams[5]][0], gpg_sign(
            inst, "contacts_home", fpr5,
            f"Received alert {other}.\n".encode(), "--clearsign"))
        for t, (n, data) in files.items():
            put(peer, t, n, data)
        # a hidden name (a writer not done yet) is left alone
        put(peer, teams[7], f".alert-{alert}.{teams[7]}.tmp",
            f"ACK {code[teams[7]]}\n".encode())
        fates = {t: wait_moved(peer, t, n) for t, (n, _) in files.items()}
        time.sleep(1.5)
    assert fates == {teams[0]: "done", teams[1]: "done",
                     **{t: "refused" for t in teams[2:7]}}
    assert state(inst, alert, teams[0]) == ("acked", name0, "drop", "signed")
    assert state(inst, alert, teams[1]) == ("acked", "Night shift Ade",
                                            "drop", "unsigned")
    for t in teams[2:]:
        assert state(inst, alert, t)[0] == "active", t
    assert state(inst, other, teams[0])[0] == "active"
    assert (peer.root / teams[7] / "ack" /
            f".alert-{alert}.{teams[7]}.tmp").exists()
    refusals = [a for a in inst.audit() if a[2] == "drop-ack-refused"]
    assert len(refusals) == 5
    why = " | ".join(a[4] for a in refusals)
    for part in ("not the team's code", "is for team",
                 "pinned key of no contact", "names neither",
                 "does not verify"):
        assert part in why, (part, why)
    serve_log = (inst.dir / "serve.log").read_text()
    assert serve_log.count("refused") >= 5
    assert inst.run("audit", "verify", check=0)


# --- a signed ack file is new, and acks once --------------------------------

def policy_of(inst, team):
    block = (inst.dir / "teams.conf").read_text().split(
        f'{{ id = "{team}";')[1].split("\n  },")[0]
    return re.search(r'policy = "([^"]+)"', block).group(1)


def acks(inst, alert, team):
    return inst.sql("SELECT by_whom, via, strength FROM acks WHERE "
                    "alert_id = ? AND team = ? ORDER BY id", alert, team)


def refusals(inst):
    return [a[4] for a in inst.audit() if a[2] == "drop-ack-refused"]


def test_a_signature_older_than_the_alert_is_no_signed_ack(inst, peer):
    """Clear-signed by the team's contact and naming the alert, but made
    (by the signature's own creation time, after its key was made) before
    the alert was accepted, as a replayed file or a contact's slow clock
    would have it: not a signed ack.  Without the code it is refused; with
    it, it is an unsigned ack, which a policy with unsigned_acks = false
    records without stopping the ladder.  Signed now, it is a signed ack."""
    teams = inst.teams()
    std = [t for t in teams if policy_of(inst, t) == "standard"][:3]
    strict = [t for t in teams if policy_of(inst, t) == "solo"][0]
    four = std + [strict]
    configure(inst, peer, four)
    inst.conf.write_text(re.sub(r"(\n  solo = \{)",
                                r"\g<1>\n    unsigned_acks = false;",
                                inst.conf.read_text()))
    fprs = {t: contact(inst, t)[2] for t in four}
    for f in fprs.values():
        while time.time() < key_created(inst, f) + 3:
            time.sleep(0.2)
    alert = inst.submit_signed(inst.cap(addresses=" ".join(four)))
    received = inst.sql("SELECT received FROM alerts WHERE id = ?",
                        alert)[0][0]

    def signed(t, text, at=None):
        return (f"alert-{alert}.{t}.txt", gpg_sign(
            inst, "contacts_home", fprs[t], text.encode(), "--clearsign",
            at=at))

    code = {t: inst.ack_code(alert, t) for t in four}
    files = {
        std[0]: signed(std[0], f"Received alert {alert}; on it.\n",
                       received - 1),
        std[1]: signed(std[1], f"Alert {alert}. ACK {code[std[1]]}\n",
                       received - 1),
        strict: signed(strict, f"Alert {alert}. ACK {code[strict]}\n",
                       received - 1),
        std[2]: signed(std[2], f"Received alert {alert}; on it.\n"),
    }
    with serving(inst, peer, four):
        for t, (n, data) in files.items():
            put(peer, t, n, data)
        fates = {t: wait_moved(peer, t, n) for t, (n, _) in files.items()}
    assert fates == {std[0]: "refused", std[1]: "done", strict: "done",
                     std[2]: "done"}
    assert acks(inst, alert, std[0]) == []
    assert ladder(inst, alert, std[0])[0] == "active"
    why = refusals(inst)
    assert len(why) == 1 and "older than alert " + alert in why[0], why
    assert "no code" in why[0], why
    # the code makes it an unsigned ack, counted by the policy or not
    by1 = f"ack file {files[std[1]][0]}"
    assert state(inst, alert, std[1]) == ("acked", by1, "drop", "unsigned")
    assert acks(inst, alert, std[1]) == [(by1, "drop", "unsigned")]
    assert acks(inst, alert, strict) == [
        (f"ack file {files[strict][0]}", "drop", "unsigned")]
    assert ladder(inst, alert, strict)[0] == "active"
    name2 = contact(inst, std[2])[0]
    assert state(inst, alert, std[2]) == ("acked", name2, "drop", "signed")
    assert inst.sql("SELECT count(*) FROM ack_signatures") == [(1,)]
    assert inst.run("audit", "verify", check=0)


def test_a_signed_ack_file_acks_once(inst, peer):
    """The same signed file put back under another name, or its signature
    armoured anew, after it acked: refused ("signature already used"), one
    ack row.  A file that acked but could not be moved to ack/done/ (a
    fault of the drop host) is refused so on the next look instead of
    acking again each second.  Put back under the name of an Update of the
    alert (ids never repeat: an Update has its own), it names another
    alert and acks nothing."""
    teams = inst.teams()[:2]
    t, u = teams
    configure(inst, peer, teams)
    doc = inst.cap(addresses=" ".join(teams))
    alert = inst.submit_signed(doc)
    ref = ",".join(["desk@dns-cert.example"] + [
        next(line.split(">")[1].split("<")[0] for line in doc.splitlines()
             if f"<{k}>" in line) for k in ("identifier", "sent")])
    sig = {x: gpg_sign(inst, "contacts_home", contact(inst, x)[2],
                       f"Received alert {alert}; on it.\n".encode(),
                       "--clearsign") for x in teams}
    # u's ack/done/ cannot be made: a dangling link stands in its way
    (peer.root / u / "ack").mkdir(parents=True)
    (peer.root / u / "ack" / "done").symlink_to(peer.root / "nowhere")
    first = f"alert-{alert}.{t}.txt"
    again = f"alert-{alert}.{t}.again.txt"
    anew = f"alert-{alert}.{t}.anew.asc"
    with serving(inst, peer, teams):
        put(peer, t, first, sig[t])
        put(peer, u, f"alert-{alert}.{u}.txt", sig[u])
        assert wait_moved(peer, t, first) == "done"
        put(peer, t, again, sig[t])
        assert wait_moved(peer, t, again) == "refused"
        armoured = sig[t].replace(b"-----BEGIN PGP SIGNATURE-----\n",
                                  b"-----BEGIN PGP SIGNATURE-----\n"
                                  b"Comment: again\n", 1)
        assert armoured != sig[t]
        put(peer, t, anew, armoured)
        assert wait_moved(peer, t, anew) == "refused"
        assert wait_moved(peer, u, f"alert-{alert}.{u}.txt") == "refused"
        # an Update of the alert has an id of its own: the file put back
        # under its name acks nothing
        update = inst.submit_signed(inst.cap(
            msg_type="Update", references=ref, addresses=" ".join(teams)))
        assert update and update != alert
        put(peer, t, f"alert-{update}.{t}.txt", sig[t])
        assert wait_moved(peer, t, f"alert-{update}.{t}.txt") == "refused"
    for x in teams:
        name = contact(inst, x)[0]
        assert state(inst, alert, x) == ("acked", name, "drop", "signed")
        assert acks(inst, alert, x) == [(name, "drop", "signed")], x
        assert ladder(inst, alert, x)[0] == "acked"
    assert acks(inst, update, t) == []
    assert ladder(inst, update, t)[0] == "active"
    why = refusals(inst)
    assert len(why) == 4, why
    assert all("signature already used" in w for w in why[:3]), why
    assert "names neither" in why[3], why
    assert inst.sql("SELECT count(*) FROM ack_signatures") == [(2,)]
    assert inst.run("audit", "verify", check=0)


def pin_contact_key(inst, team, fpr):
    """The team's primary contact now has the key fpr."""
    old = contact(inst, team)[2]
    tt = (inst.dir / "teams.conf").read_text()
    head, rest = tt.split(f'{{ id = "{team}";', 1)
    block, tail = rest.split("\n  },", 1)
    assert block.count(old) == 1
    (inst.dir / "teams.conf").write_text(
        head + f'{{ id = "{team}";' + block.replace(old, fpr) + "\n  }," +
        tail)


def test_ack_file_signed_with_a_subkey(inst, peer, cards):
    teams = inst.teams()[:3]
    configure(inst, peer, teams, step0='[ "team:sshdrop" ]')
    home, primary, sub = cards.make("Ann Card <ann@card.example>")
    ohome, other, osub = cards.make("Eve Card <eve@card.example>")
    pin_contact_key(inst, teams[0], primary)
    pin_contact_key(inst, teams[1], other)
    name0 = contact(inst, teams[0])[0]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))

    def signed(h, key, text):
        return gpg(h, "--local-user", key, "--armor", "--clearsign",
                   input=text.encode())

    files = {
        # the contact's card signs with its subkey: a signed ack
        teams[0]: (f"alert-{alert}.{teams[0]}.txt",
                   signed(home, primary, f"Received alert {alert}.\n")),
        # the same card in another team's folder: that team pins another
        # key, so it is refused
        teams[1]: (f"alert-{alert}.{teams[1]}.txt",
                   signed(home, primary, f"Received alert {alert}.\n")),
        # a subkey of a key no contact of the team pins
        teams[2]: (f"alert-{alert}.{teams[2]}.txt",
                   signed(ohome, other, f"Received alert {alert}.\n")),
    }
    with serving(inst, peer, teams):
        for t, (n, data) in files.items():
            put(peer, t, n, data)
        fates = {t: wait_moved(peer, t, n) for t, (n, _) in files.items()}
    assert fates == {teams[0]: "done", teams[1]: "refused",
                     teams[2]: "refused"}
    assert state(inst, alert, teams[0]) == ("acked", name0, "drop", "signed")
    for t in teams[1:]:
        assert state(inst, alert, t)[0] == "active", t
    why = " | ".join(a[4] for a in inst.audit()
                     if a[2] == "drop-ack-refused")
    assert f"signed by {primary}, which is the pinned key of no contact of " \
        f"team {teams[1]}" in why
    assert f"signed by {other}, which is the pinned key of no contact of " \
        f"team {teams[2]}" in why
