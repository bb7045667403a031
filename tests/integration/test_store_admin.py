"""`tocsin store backup` and `tocsin store prune`, and the modes of the files
tocsin makes.

A backup taken while serve sends a broadcast is a consistent store: put in
place of the store, `audit verify` checks it against the checkpoint copied
beside it and `status` shows the same alert.  A backup never replaces a
file.  A prune blanks the addresses, contact names and ack notes of old
alerts (the bytes leave the file), keeps an active alert whole, and the
audit chain still verifies.  Every file is private whatever the umask, and
`check` warns about one that is not."""
import json
import os
import signal
import stat
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BIN
from test_email import deliveries, peer_for


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def status(inst, alert):
    doc = json.loads(inst.run("status", alert, "--json", check=0).stdout)
    return doc["alerts"][0] if "alerts" in doc else doc


def store_bytes(inst):
    """The store's file and its write-ahead log, as bytes on disk."""
    data = inst.db.read_bytes()
    wal = inst.db.parent / (inst.db.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def tomorrow():
    return (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")


@pytest.fixture
def serving(inst, tmp_path, pki):
    """A broadcast under way: three teams by e-mail through a slow relay,
    serve running; yields (alert, serve process)."""
    inst.email_all_first()
    teams = inst.teams()[:3]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                               signers=("desk-1",))
    peer = peer_for(inst, tmp_path, pki, delay=0.2)
    log = open(inst.dir / "serve.log", "w")
    proc = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                             "--quiet"], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield alert, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        log.close()
        peer.stop()


def wait_for_state(inst, alert, states, why):
    """Wait up to 20 s for a delivery of alert in one of states (SQL
    literals); fails with why."""
    end = time.monotonic() + 20
    while not inst.sql("SELECT 1 FROM deliveries WHERE alert_id = ? AND "
                       f"state IN ({states})", alert):
        assert time.monotonic() < end, why
        time.sleep(0.02)


@pytest.mark.sqlite_file
def test_backup_while_serving_restores_to_the_same_alert(inst, serving,
                                                         tmp_path):
    alert, proc = serving
    wait_for_state(inst, alert, "'sending', 'sent'", "serve sent nothing")
    copy = tmp_path / "backup" / "tocsin.db"
    copy.parent.mkdir()
    p = inst.run("store", "backup", copy, check=0)
    assert str(copy) in p.stdout
    assert mode(copy) == 0o600
    assert mode(str(copy) + ".checkpoint") == 0o600
    assert not os.path.exists(str(copy) + ".tmp")
    inst.settled(alert)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    before = status(inst, alert)
    # restore: the copy and its checkpoint in place of the store
    for suffix in ("", "-wal", "-shm", ".checkpoint"):
        f = inst.db.parent / (inst.db.name + suffix)
        if f.exists():
            f.unlink()
    os.rename(copy, inst.db)
    os.rename(str(copy) + ".checkpoint", str(inst.db) + ".checkpoint")
    v = inst.run("audit", "verify", check=0)
    assert "checkpoint" in v.stdout
    after = status(inst, alert)
    assert after["id"] == alert == before["id"]
    assert [t["team"] for t in after["teams"]] == \
        [t["team"] for t in before["teams"]]
    assert sum(len(t["deliveries"]) for t in after["teams"]) == \
        sum(len(t["deliveries"]) for t in before["teams"])
    assert alert in inst.run("status", alert, check=0).stdout


def test_backup_refuses_an_existing_file_and_leaves_it(inst, tmp_path):
    inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    target = tmp_path / "old.db"
    target.write_bytes(b"an earlier backup")
    p = inst.run("store", "backup", target, check=64)
    assert f"{target} exists" in p.stderr and "move" in p.stderr
    assert target.read_bytes() == b"an earlier backup"
    assert not os.path.exists(str(target) + ".tmp")
    # a checkpoint copy in the way is refused too, before anything is made
    other = tmp_path / "new.db"
    (tmp_path / "new.db.checkpoint").write_text("keep")
    p = inst.run("store", "backup", other, check=64)
    assert "new.db.checkpoint exists" in p.stderr
    assert not other.exists()
    assert (tmp_path / "new.db.checkpoint").read_text() == "keep"


@pytest.mark.sqlite_file
def test_prune_blanks_an_old_alert_and_keeps_an_active_one(inst, tmp_path,
                                                           pki):
    inst.email_all_first()
    teams = inst.teams()
    old = inst.submit_signed(inst.cap(addresses=" ".join(teams[:2])),
                             signers=("desk-1",))
    peer = peer_for(inst, tmp_path, pki)
    try:
        inst.serve()            # sent: rows rewritten, old copies left
    finally:
        peer.stop()
    note = "called back on +41 79 555 01 23 at home"
    for t in teams[:2]:
        inst.run("ack", old, t, "--by", "Amina O.", "--via", "phone",
                 "--note", note, check=0)
    active = inst.submit_signed(inst.cap(addresses=teams[2]),
                                signers=("desk-1",))
    addrs = {r[3] for r in deliveries(inst, old)}
    kept = {r[3] for r in deliveries(inst, active)}
    addrs -= kept
    assert addrs
    assert all(a.encode() in store_bytes(inst) for a in addrs)

    dry = inst.run("store", "prune", "--before", tomorrow(), "--dry-run",
                   check=0)
    assert f"alert {old}: would prune" in dry.stdout
    assert "dry run" in dry.stdout
    assert {d["address"] for t in status(inst, old)["teams"]
            for d in t["deliveries"]} >= addrs

    p = inst.run("store", "prune", "--before", tomorrow(), check=0)
    assert f"alert {old}: pruned" in p.stdout
    assert f"alert {active}: still active" in p.stdout
    s = status(inst, old)
    ds = [d for t in s["teams"] for d in t["deliveries"]]
    assert ds and all(d["address"] == "pruned" for d in ds)
    assert all(d["contact"] == "pruned" for d in ds)
    assert all(t["ack"]["by"] == "pruned" for t in s["teams"])
    assert {d["address"] for t in status(inst, active)["teams"]
            for d in t["deliveries"]} == kept
    raw = store_bytes(inst)
    for a in addrs:
        assert a.encode() not in raw, f"{a} still in the store file"
    assert note.encode() not in raw
    assert inst.sql("SELECT count(*) FROM acks WHERE note = ?", note) == [(0,)]
    # the audit log keeps what it recorded, and still verifies
    inst.run("audit", "verify", check=0)
    rec = inst.sql("SELECT actor, action, object FROM audit ORDER BY seq "
                   "DESC LIMIT 1")[0]
    assert rec[1:] == ("prune", "store") and rec[0].startswith("unix:")
    # nothing left to blank: the old alert is not listed again
    again = inst.run("store", "prune", "--before", tomorrow(), check=0)
    assert old not in again.stdout and active in again.stdout


def test_prune_refuses_a_bad_date(inst):
    p = inst.run("store", "prune", "--before", "yesterday", check=64)
    assert "ISO 8601" in p.stderr
    inst.run("store", "prune", check=64)


@pytest.mark.sqlite_file
@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_every_file_is_private_whatever_the_umask(inst, tmp_path, pki,
                                                  umask):
    inst.email_all_first()
    old = os.umask(umask)
    try:
        team = inst.teams()[0]
        alert = inst.submit_signed(inst.cap(addresses=team),
                                   signers=("desk-1",))
        peer = peer_for(inst, tmp_path, pki)
        try:
            inst.serve()
        finally:
            peer.stop()
        inst.run("ack", alert, team, "--by", "N", "--via", "phone", check=0)
        report = tmp_path / "report.json"
        inst.run("report", alert, "-o", report, check=0)
        copy = tmp_path / "copy.db"
        inst.run("store", "backup", copy, check=0)
    finally:
        os.umask(old)
    d = inst.db.parent
    private = [inst.db, d / "ack.key", d / (inst.db.name + ".checkpoint"),
               copy, str(copy) + ".checkpoint"]
    for suffix in ("-wal", "-shm", ".checkpoint.lock"):
        if (d / (inst.db.name + suffix)).exists():
            private.append(d / (inst.db.name + suffix))
    for f in private:
        assert mode(f) == 0o600, f"{f} is {oct(mode(f))}"
    assert mode(d) == 0o700
    assert mode(report) == 0o640          # for a group that reads reports
    p = inst.run("check", check=0)
    assert "open to its group or others" not in p.stdout


@pytest.mark.sqlite_file
def test_check_warns_about_a_store_others_can_read(inst):
    inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    os.chmod(inst.db, 0o644)
    os.chmod(inst.db.parent, 0o755)
    p = inst.run("check", check=0)
    assert f"warning: the store {inst.db} has mode 0644" in p.stdout
    assert f"chmod 600 {inst.db}" in p.stdout
    assert f"the store's folder {inst.db.parent} has mode 0755" in p.stdout
    assert f"chmod 700 {inst.db.parent}" in p.stdout


def test_status_names_the_node_that_holds_deliveries(inst, serving):
    """While serve sends, status says which node (host, process, worker)
    holds which deliveries, and which holds the turn at the ack poll."""
    import socket
    alert, proc = serving
    wait_for_state(inst, alert, "'sending'", "serve claimed nothing")
    owner = f"tocsin/{socket.gethostname()}/{proc.pid}/"
    text = inst.run("status", check=0).stdout
    assert "held by serve nodes:" in text
    line = [x for x in text.splitlines() if owner in x and "sends" in x]
    assert line and "pgp-email deliver" in line[0], text
    doc = json.loads(inst.run("status", "--json", check=0).stdout)
    held = [h for h in doc["holders"] if "channel" in h]
    assert held and all(h["owner"].startswith(owner) for h in held)
    assert sum(h["deliveries"] for h in held) >= 1
    turns = [h for h in doc["holders"] if h.get("turn") == "ack-poll"]
    assert [h["owner"] for h in turns] == [f"{owner}poll"]


def test_a_serve_that_stops_cleanly_gives_its_poll_turn_back(inst):
    """The turn at the ack poll (one node at a time reads the drop hosts'
    ack files) is given back when serve stops on SIGTERM or ends with
    --until-idle, so that the next serve, a restart or another node, reads
    the ack files at once and not 30 s later.  A serve killed with -9
    keeps it until its time runs out, as before: nothing can give it
    back."""
    import socket
    from test_escalation import serve_bg

    def turns():
        doc = json.loads(inst.run("status", "--json", check=0).stdout)
        return [h["owner"] for h in doc["holders"]
                if h.get("turn") == "ack-poll"]

    def held_by(proc):
        owner = f"tocsin/{socket.gethostname()}/{proc.pid}/poll"
        end = time.monotonic() + 30
        while turns() != [owner]:
            assert time.monotonic() < end, turns()
            assert proc.poll() is None
            time.sleep(0.1)

    proc = serve_bg(inst, "turn-term")
    held_by(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert turns() == []
    r = inst.serve()
    assert r.returncode == 0, r.stderr
    assert turns() == []
    # the next serve takes it at once; killed, it cannot give it back
    proc = serve_bg(inst, "turn-kill")
    held_by(proc)
    proc.kill()
    proc.wait(timeout=60)
    assert turns() == [f"tocsin/{socket.gethostname()}/{proc.pid}/poll"]
