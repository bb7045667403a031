"""`tocsin store copy`: a store moved to the other engine (a SQLite file
into PostgreSQL when a second serve node comes, or back) holds the same
alerts, teams, deliveries, acks and audit log, its chain verifies, and the
gateway carries on from it: an ack through the copy stops the ladder.

Whatever the engine of the session's stores (TOCSIN_TEST_STORE), the copy
goes to the other one; the PostgreSQL server is the session's, or one this
module starts."""
import json
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

import pgcluster
from conftest import PG
from test_email import peer_for


@pytest.fixture(scope="module")
def server():
    if PG.get("server") is not None:
        yield PG["server"]
        return
    base = Path(tempfile.mkdtemp(prefix="tpg-", dir="/tmp"))
    c = pgcluster.Cluster(base, "primary").init().start()
    yield c
    c.cleanup()
    shutil.rmtree(base, ignore_errors=True)


def status(inst, alert=None):
    args = ["status", "--json"] + ([alert] if alert else [])
    doc = json.loads(inst.run(*args, check=0).stdout)
    doc.pop("holders", None)
    return doc


def teams_doc(inst, alert):
    """Per team what status says, the times of the ladder included."""
    return {t["team"]: t for t in status(inst, alert)["teams"]}


@pytest.fixture
def broadcast(inst, tmp_path, pki):
    """Five teams by e-mail, sent, one of them acked: (alert, teams)."""
    inst.email_all_first()
    teams = inst.teams()[:5]
    alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    peer = peer_for(inst, tmp_path, pki)
    try:
        inst.serve(timeout=120)
    finally:
        peer.stop()
    inst.run("ack", alert, teams[0], "--by", "Ann", "--via", "phone",
             check=0)
    return alert, teams


def other_store(inst, server, tmp_path):
    """A new store of the other engine than inst's: (target, config
    keys that point the gateway at it, its database when PostgreSQL)."""
    key = str(inst.db.parent / "ack.key")
    if inst.pg is not None:
        path = tmp_path / "copy" / "tocsin.db"
        return str(path), {"store": str(path), "ack_secret": key}, None
    name = "c_" + secrets.token_hex(6)
    server.create_store_db(name)
    ci = server.conninfo(name)
    return ci, {"store": ci, "ack_secret": key}, (server, name)


def test_copy_holds_the_same_store_and_the_gateway_goes_on(
        inst, broadcast, server, tmp_path):
    alert, teams = broadcast
    # what a failed step leaves (why a team moved, what its policy does)
    with inst.connect() as c:
        c.execute("UPDATE team_states SET step = 1, moved_why = 'failed', "
                  "on_failure = 'wait', early_why = 'failed' WHERE alert_id "
                  "= ? AND team = ?", (alert, teams[2]))
    ladder_cols = ("SELECT team, on_failure, early_why, moved_why FROM "
                   "team_states WHERE alert_id = ? ORDER BY team")
    before_cols = inst.sql(ladder_cols, alert)
    before_list, before_teams = status(inst), teams_doc(inst, alert)
    assert before_teams[teams[2]]["why"] == "step 0 failed on every channel"
    before_rows = inst.counts()
    head = inst.audit()[-1]
    target, keys, pg = other_store(inst, server, tmp_path)
    r = inst.run("store", "copy", "--from", inst.conf_store(), "--to",
                 target, check=0)
    assert "the copy's audit chain verifies" in r.stdout
    assert "deliveries:" in r.stderr        # a line per table
    inst.set_keys("gateway", **keys)
    inst.switch_store(target, pg)
    # what the operator sees is the same, the copy's own record after
    assert status(inst) == before_list
    assert teams_doc(inst, alert) == before_teams
    assert inst.sql(ladder_cols, alert) == before_cols
    assert inst.counts() == before_rows
    audit = inst.audit()
    assert audit[len(audit) - 2] == head
    assert audit[-1][2] == "store-copy"
    inst.run("audit", "verify", "--no-checkpoint", check=0)
    # the gateway goes on from the copy: an ack stops that team's ladder
    inst.run("ack", alert, teams[1], "--by", "Bob", "--via", "phone", check=0)
    assert teams_doc(inst, alert)[teams[1]]["state"] == "acked"
    r = inst.run("store", "copy", "--from", target, "--to", target)
    assert r.returncode != 0 and "the same store" in r.stderr


def test_copy_refuses_a_store_that_holds_something(inst, broadcast, server,
                                                   tmp_path):
    target, _, _ = other_store(inst, server, tmp_path)
    inst.run("store", "copy", "--from", inst.conf_store(), "--to", target,
             check=0)
    r = inst.run("store", "copy", "--from", inst.conf_store(), "--to",
                 target)
    assert r.returncode != 0
    assert "holds alerts or audit records already" in r.stderr


def test_copy_of_a_missing_file_makes_nothing(inst, server, tmp_path):
    missing = tmp_path / "nothing.db"
    target, _, _ = other_store(inst, server, tmp_path)
    r = inst.run("store", "copy", "--from", str(missing), "--to", target)
    assert r.returncode != 0
    assert "there is no store" in r.stderr
    assert not missing.exists()


def test_copy_of_an_altered_log_fails_its_check(inst, broadcast, server,
                                                tmp_path):
    inst.sql("UPDATE audit SET details = 'nothing happened' WHERE seq = 1")
    target, _, _ = other_store(inst, server, tmp_path)
    r = inst.run("store", "copy", "--from", inst.conf_store(), "--to",
                 target)
    assert r.returncode != 0
    assert "audit record 1" in r.stderr
