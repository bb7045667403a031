"""The audit log is hash-chained: `audit verify` passes on an untouched store
and fails, naming the first bad record, after one row is edited.  Its head
is anchored outside the store, in a checkpoint signed by the gateway key:
records removed from the end, or a chain recomputed whole, are noticed;
signed messages carry the head as a witness; `audit show` prints the log."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import BIN
from test_acklink import request
from test_sshdrop import configure as drop_configure, peer  # noqa: F401
from test_sshdrop import submit as drop_submit


def submit_two(inst):
    for _ in range(2):
        a = inst.write("a.xml", inst.cap())
        inst.run("submit", a, "--sig", inst.gpg_sign(a), check=0)
    a = inst.write("u.xml", inst.cap())
    inst.run("submit", a)           # unsigned: a refusal is audited too


def test_audit_verify_passes_untouched(inst):
    submit_two(inst)
    p = inst.run("audit", "verify", check=0)
    assert "3 records" in p.stdout


def test_audit_verify_fails_after_edit(inst):
    submit_two(inst)
    with inst.connect() as c:
        c.execute("UPDATE audit SET details = details || ' (edited)' WHERE seq = 2")
    p = inst.run("audit", "verify")
    assert p.returncode == 65
    assert "record 2" in p.stderr


def test_audit_verify_fails_after_delete(inst):
    submit_two(inst)
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = 2")
    p = inst.run("audit", "verify")
    assert p.returncode == 65
    assert "record" in p.stderr


# --- the checkpoint: the log anchored outside the store -------------------


def checkpoint(inst):
    return inst.checkpoint()


def cp_fields(inst):
    """seq and hash the checkpoint names, read from its clear text."""
    text = checkpoint(inst).read_text()
    seq = int(re.search(r"^seq: (\d+)$", text, re.M).group(1))
    h = re.search(r"^hash: ([0-9a-f]{64})$", text, re.M).group(1)
    return seq, h


def head(inst):
    return inst.sql("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")[0]


def audit_hash(seq, ts, actor, action, obj, details, prev):
    """The chain's hash as store_sqlite.c computes it: SHA-256 over the
    fields, each "LEN:" and its bytes."""
    h = hashlib.sha256()
    for v in (str(seq), str(ts), actor, action, obj, details, prev):
        b = v.encode()
        h.update(f"{len(b)}:".encode() + b)
    return h.hexdigest()


def rewrite_chain(inst, seq, details):
    """What someone with write access to the database does to hide an
    edit: change a record, then recompute every hash from it on, so that
    the chain holds again."""
    with inst.connect() as c:
        c.execute("UPDATE audit SET details = ? WHERE seq = ?", (details, seq))
        rows = c.execute("SELECT seq, ts, actor, action, object, details, "
                         "prev_hash FROM audit ORDER BY seq").fetchall()
        prev = "0" * 64
        for s, ts, actor, action, obj, det, _ in rows:
            h = audit_hash(s, ts, actor, action, obj, det, prev)
            c.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                      (prev, h, s))
            prev = h


def test_honest_run_is_intact_with_the_checkpoint_at_the_head(inst):
    submit_two(inst)
    # the refusal was the last command: its record is anchored too
    assert cp_fields(inst) == head(inst) == (3, head(inst)[1])
    assert (checkpoint(inst).stat().st_mode & 0o777) == 0o600
    p = inst.run("audit", "verify", check=0)
    assert "intact" in p.stdout and "checkpoint at 3" in p.stdout


def test_deleting_the_last_record_is_noticed(inst):
    submit_two(inst)
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = 3")
    p = inst.run("audit", "verify")
    assert p.returncode == 65, p.stdout + p.stderr
    assert "truncated" in p.stderr
    assert "names record 3, the log ends at 2" in p.stderr
    assert "intact" not in p.stdout


def test_a_consistently_rewritten_chain_is_noticed(inst):
    submit_two(inst)
    rewrite_chain(inst, 2, "identifier=nothing-to-see")
    # the chain alone holds again ...
    p = inst.run("audit", "verify", "--no-checkpoint")
    assert p.returncode == 65 and "rewritten" in p.stderr, p.stderr
    assert "record 3" in p.stderr
    # ... and without the checkpoint, the old verify would say intact
    checkpoint(inst).unlink()
    p = inst.run("audit", "verify", "--no-checkpoint", check=0)
    assert "no checkpoint" in p.stdout


def test_a_forged_checkpoint_is_refused(inst, pki):
    submit_two(inst)
    cp = checkpoint(inst)
    good = cp.read_text()
    # an edited seq: the signature no longer holds
    cp.write_text(good.replace("seq: 3", "seq: 2"))
    p = inst.run("audit", "verify")
    assert p.returncode == 77 and "not trusted" in p.stderr, p.stderr
    # a well-formed checkpoint signed by another key (an issuer's)
    seq, h = head(inst)
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = 3")
    seq, h = head(inst)
    text = inst.write("cp.txt", "tocsin audit checkpoint 1\nseq: %d\n"
                      "hash: %s\ntime: 2026-01-01T00:00:00Z\n" % (seq, h))
    cp.write_bytes(inst.gpg_sign(text, "desk-1", mode="clear").read_bytes())
    p = inst.run("audit", "verify")
    assert p.returncode == 77, p.stdout + p.stderr
    assert "not made by gateway.signing_key" in p.stderr
    # no checkpoint at all, on a log with records
    cp.unlink()
    p = inst.run("audit", "verify")
    assert p.returncode == 66 and "no checkpoint" in p.stderr
    assert inst.run("audit", "verify", "--no-checkpoint").returncode == 0


def test_a_cut_log_is_never_signed_over(inst):
    """The next command appends a new record 3 to a log cut back to 2:
    the checkpoint naming the old record 3 stays, and verify says so."""
    submit_two(inst)
    old = checkpoint(inst).read_bytes()
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = 3")
    a = inst.write("v.xml", inst.cap())
    p = inst.run("submit", a, "--sig", inst.gpg_sign(a), check=0)
    assert "kept as evidence" in p.stderr
    assert inst.sql("SELECT seq, action FROM audit WHERE object = ?",
                    p.stdout.strip()) == [(3, "submit")]
    assert checkpoint(inst).read_bytes() == old
    p = inst.run("audit", "verify")
    assert p.returncode == 65 and "rewritten: record 3" in p.stderr


def test_an_operator_ack_is_anchored_before_the_command_ends(inst):
    teams = inst.teams()[:1]
    alert = inst.submit_signed(inst.cap(addresses=teams[0]))
    env = dict(os.environ, USER="mallory", LOGNAME="mallory")
    inst.run("ack", alert, teams[0], "--by", "Desk", "--via", "phone",
             check=0, env=env)
    seq, h = head(inst)
    actor = inst.sql("SELECT actor, action FROM audit WHERE seq = ?", seq)[0]
    assert actor == ("unix:root(0)", "ack")
    assert inst.sql("SELECT actor FROM audit WHERE action = 'submit'") == \
        [("unix:root(0)",)]
    # the command's window is nil: the checkpoint names its record
    assert cp_fields(inst) == (seq, h)
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    p = inst.run("audit", "verify")
    assert p.returncode == 65 and "truncated" in p.stderr


def test_serve_anchors_a_listener_ack_within_its_bound(inst):
    teams = inst.teams()[:1]
    alert = inst.submit_signed(inst.cap(addresses=teams[0]))
    log = open(inst.dir / "serve.log", "w")
    proc = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                             "--quiet"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while True:
            try:
                request(inst, "GET", "/ack/x")
                break
            except OSError:
                assert time.time() < deadline, "no listener"
                time.sleep(0.05)
        st, _, _ = request(inst, "POST",
                           f"/ack/{inst.ack_token(alert, teams[0])}",
                           {"name": "Amina O."})
        assert st == 200
        t0 = time.monotonic()
        seq, h = head(inst)
        assert inst.sql("SELECT action FROM audit WHERE seq = ?", seq) == \
            [("ack",)]
        # serve signs the head at most every second: within that (and a
        # gpg run, on a busy machine) the record is anchored, serve still
        # running
        while cp_fields(inst) != (seq, h):
            assert time.monotonic() - t0 < 3.0, "not anchored in time"
            time.sleep(0.05)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    p = inst.run("audit", "verify")
    assert p.returncode == 65 and "truncated" in p.stderr


def test_a_signed_drop_message_carries_the_head(inst, peer, verify_home):  # noqa: F811
    teams = inst.teams()[:1]
    drop_configure(inst, peer, teams)
    alert, _, _ = drop_submit(inst, teams)
    inst.serve()
    base = f"alert-{alert}"
    msg = Path(peer.root) / teams[0] / f"{base}.{teams[0]}.s0.txt.asc"
    r = subprocess.run(["gpg", "--homedir", str(verify_home), "--batch",
                        "--status-fd", "1", "--verify", str(msg)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "VALIDSIG" in r.stdout
    m = re.search(r"^Audit-Head: (\d+) ([0-9a-f]{64})$", msg.read_text(),
                  re.M)
    assert m, msg.read_text()
    # a real record: the submit of this alert
    assert inst.sql("SELECT action, object FROM audit WHERE seq = ? AND "
                    "hash = ?", int(m.group(1)), m.group(2)) == \
        [("submit", alert)]


def test_audit_show_lists_filters_and_escapes(inst):
    submit_two(inst)
    hour_ago = int(time.time()) - 3600
    with inst.connect() as c:
        c.execute("UPDATE audit SET ts = ? WHERE seq = 1", (hour_ago,))
        c.execute("UPDATE audit SET details = details || ? WHERE seq = 3",
                  ("\x1b[2J\r\nforged line",))
    p = inst.run("audit", "show", "--json", check=0)
    rows = json.loads(p.stdout)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert [r["action"] for r in rows] == ["submit", "submit", "refuse"]
    assert rows[2]["details"].endswith("\x1b[2J\r\nforged line")
    assert all(r["actor"] == "unix:root(0)" for r in rows)
    assert rows[0]["hash"] == inst.sql("SELECT hash FROM audit WHERE seq = 1")[0][0]
    p = inst.run("audit", "show", "--since", "-30m", "--json", check=0)
    assert [r["seq"] for r in json.loads(p.stdout)] == [2, 3]
    since = datetime.fromtimestamp(hour_ago - 60, timezone.utc)
    p = inst.run("audit", "show", "--since",
                 since.strftime("%Y-%m-%dT%H:%M:%SZ"), "--json", check=0)
    assert [r["seq"] for r in json.loads(p.stdout)] == [1, 2, 3]
    future = (datetime.now(timezone.utc) + timedelta(hours=1))
    p = inst.run("audit", "show", "--since",
                 future.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "--json", check=0)
    assert json.loads(p.stdout) == []
    p = inst.run("audit", "show", check=0)
    assert len(p.stdout.splitlines()) == 3
    assert "\x1b" not in p.stdout and "\r" not in p.stdout
    assert "?[2J??forged line" in p.stdout
    assert inst.run("audit", "show", "--since", "yesterday").returncode == 64


def test_a_mailed_ack_is_the_matched_contacts_and_anchored(inst):
    from test_ingestmail import contact, gpg_sign, ingest
    inst.bin = BIN
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team))
    name, email, fpr = contact(inst, team)
    body = gpg_sign(inst, "contacts_home", fpr,
                    f"Received. ACK {inst.ack_code(alert, team)}\n".encode(),
                    "--clearsign")
    env = dict(os.environ, USER="mallory")
    r = subprocess.run([str(BIN), "-c", str(inst.conf), "ingest-mail"],
                       input=f"From: {email}\nSubject: ack\n\n".encode() +
                       body, capture_output=True, env=env)
    assert r.returncode == 0, r.stderr.decode()
    seq, h = head(inst)
    assert inst.sql("SELECT actor, action FROM audit WHERE seq = ?", seq) == \
        [(f"contact:{team}/{name}", "ack")]
    assert cp_fields(inst) == (seq, h)
    # a forged reply is refused, audited and anchored too
    r = ingest(inst, f"From: {email}\nSubject: ack\n\nACK 0000 0000\n".encode())
    assert r.returncode != 0
    assert inst.sql("SELECT action FROM audit WHERE seq = ?", seq + 1) == \
        [("mail-refused",)]
    assert cp_fields(inst)[0] == seq + 1


def test_a_command_whose_signing_fails_still_counts_and_the_next_anchors(inst):
    """The fault: the gateway key cannot sign (here: the configured key
    has no secret part in the gateway's home).  The command's work stands,
    it says its records are not anchored, and the next command that can
    sign anchors them all."""
    team = inst.teams()[0]
    good = re.search(r'signing_key\s*=\s*"([0-9A-F]{40})"',
                     inst.conf.read_text()).group(1)
    inst.set_keys("gateway", signing_key=inst.pki["issuers"]["desk-2"])
    a = inst.write("a.xml", inst.cap(addresses=team))
    p = inst.run("submit", a, "--sig", inst.gpg_sign(a), check=0)
    alert = p.stdout.strip()
    assert "not anchored" in p.stderr
    assert inst.sql("SELECT action FROM audit WHERE object = ?", alert) == \
        [("submit",)]
    assert not checkpoint(inst).exists()
    p = inst.run("audit", "verify")
    assert p.returncode == 66 and "no checkpoint" in p.stderr
    inst.set_keys("gateway", signing_key=good)
    inst.run("ack", alert, team, "--by", "Desk", "--via", "phone", check=0)
    assert cp_fields(inst) == head(inst) and head(inst)[0] == 2
    assert "checkpoint at 2" in inst.run("audit", "verify", check=0).stdout


def test_a_serve_killed_before_its_checkpoint_anchors_at_restart(inst):
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team))
    before = cp_fields(inst)
    proc = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                             "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                st, _, _ = request(inst, "POST",
                                   f"/ack/{inst.ack_token(alert, team)}",
                                   {"name": "N"})
                break
            except OSError:
                assert time.time() < deadline, "no listener"
                time.sleep(0.05)
        assert st == 200
    finally:
        proc.kill()
        proc.wait(timeout=60)
    seq, h = head(inst)
    assert inst.sql("SELECT action FROM audit WHERE seq = ?", seq) == \
        [("ack",)]
    # killed within its second: the ack may be unanchored, never lost
    assert cp_fields(inst) in (before, (seq, h))
    inst.serve("--quiet")
    assert cp_fields(inst) == (seq, h)


def test_an_old_checkpoint_put_back_is_caught_by_a_witness(inst, peer,  # noqa: F811
                                                          verify_home):
    """The attack the checkpoint alone cannot see: the log cut back to an
    older checkpoint that was kept aside and put back.  The Audit-Head line
    a recipient holds names the removed record."""
    teams = inst.teams()[:1]
    drop_configure(inst, peer, teams)
    drop_submit(inst, teams)
    kept = checkpoint(inst).read_bytes()            # names record 1
    alert, _, _ = drop_submit(inst, teams)          # record 2
    inst.serve()
    msg = Path(peer.root) / teams[0] / f"alert-{alert}.{teams[0]}.s0.txt.asc"
    line = re.search(r"^Audit-Head: .*$", msg.read_text(), re.M).group(0)
    assert line == "Audit-Head: %d %s" % head(inst)
    with inst.connect() as c:
        c.execute("DELETE FROM audit WHERE seq = 2")
    checkpoint(inst).write_bytes(kept)
    assert "checkpoint at 1" in inst.run("audit", "verify", check=0).stdout
    p = inst.run("audit", "verify", "--witness", line)
    assert p.returncode == 65, p.stdout + p.stderr
    assert "truncated: the witness names record 2, the log ends at 1" in \
        p.stderr
    # a witness of a record the log holds is held; a malformed one is
    # a usage error
    first = "%d %s" % head(inst)
    assert "1 witness held" in inst.run("audit", "verify", "--witness",
                                        first, check=0).stdout
    assert inst.run("audit", "verify", "--witness", "2 zz").returncode == 64
