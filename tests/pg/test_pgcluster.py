"""Tests of pgcluster.py, the throwaway PostgreSQL clusters of the tests:
start, databases, a synchronous standby that takes over after a crash of
its primary, the passfile's mode and the `run` command.

    /usr/bin/python3 -m pytest -q tests/pg/test_pgcluster.py
"""
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

import pgcluster

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "pgcluster.py"


@pytest.fixture
def base():
    # Short and under /tmp: the socket's path has a length limit, and
    # pytest's tmp_path sits under a 0700 directory the server user
    # cannot enter when the tests run as root.
    d = tempfile.mkdtemp(prefix="tpg-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _passfile_of(conninfo):
    return dict(kv.split("=", 1) for kv in conninfo.split())["passfile"]


def test_cluster_starts_and_serves_a_database(base):
    with pgcluster.Cluster(base) as c:
        c.init().start()
        assert c.running()
        assert c.port != 5432
        c.createdb("alerts")
        c.sql("alerts", "CREATE TABLE t (id int PRIMARY KEY, body text)")
        c.sql("alerts", "INSERT INTO t VALUES (%s, %s)", (1, "é"))
        assert c.sql("alerts", "SELECT body FROM t") == [("é",)]
        # Both connection forms reach it, over TCP with the passfile.
        conn = psycopg2.connect(c.uri("alerts"))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT inet_server_addr()::text, current_user, "
                            "current_database(), pg_encoding_to_char(encoding)"
                            " FROM pg_database WHERE datname = 'alerts'")
                assert cur.fetchone() == ("127.0.0.1/32", "tocsin_admin",
                                          "alerts", "UTF8")
        finally:
            conn.close()
        c.dropdb("alerts")
        assert c.sql("postgres", "SELECT count(*) FROM pg_database "
                     "WHERE datname = 'alerts'") == [(0,)]
        c.stop()
        assert not c.running()
    assert not os.path.exists(c.dir)
    assert not os.path.exists(c.passfile)


def test_passfile_is_the_callers_and_0600(base):
    with pgcluster.Cluster(base) as c:
        c.init()
        st = os.stat(c.passfile)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
        line = Path(c.passfile).read_text()
        assert line.startswith(f"127.0.0.1:{c.port}:*:tocsin_admin:")
        assert f"passfile={c.passfile}" in c.conninfo()


def test_password_is_required_over_tcp(base):
    with pgcluster.Cluster(base) as c:
        c.init().start()
        wrong = os.path.join(base, "wrong.pgpass")
        with open(os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(f"127.0.0.1:{c.port}:*:tocsin_admin:wrong\n")
        with pytest.raises(psycopg2.OperationalError,
                           match="password authentication failed"):
            psycopg2.connect(c.conninfo().replace(c.passfile, wrong))


def test_sync_standby_reads_then_takes_over(base):
    with pgcluster.Cluster(base) as primary, \
            pgcluster.Cluster(base, "standby") as standby:
        primary.init().start()
        primary.createdb("alerts")
        standby.make_standby(primary, synchronous=True)
        assert primary.sql("postgres", "SELECT application_name, sync_state "
                           "FROM pg_stat_replication") == [("standby", "sync")]
        assert standby.sql("postgres", "SELECT pg_is_in_recovery()") == \
            [(True,)]

        primary.sql("alerts", "CREATE TABLE t (id int PRIMARY KEY)")
        primary.sql("alerts", "INSERT INTO t VALUES (1)")
        # synchronous_commit = on waits for the standby's flush, not for
        # its replay: the row shows up there a moment later.
        pgcluster.wait_until(lambda: standby.sql(
            "alerts", "SELECT to_regclass('t') IS NOT NULL AND "
            "EXISTS (SELECT FROM t WHERE id = 1)") == [(True,)], 10,
            "the row on the standby")
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            standby.sql("alerts", "INSERT INTO t VALUES (2)")

        primary.kill9()
        assert not primary.running()
        standby.promote()
        assert standby.sql("postgres", "SELECT pg_is_in_recovery()") == \
            [(False,)]
        standby.sql("alerts", "INSERT INTO t VALUES (2)")
        assert standby.sql("alerts", "SELECT id FROM t ORDER BY id") == \
            [(1,), (2,)]


def test_run_passes_conninfo_and_exit_code():
    check = ("import os, psycopg2; "
             "c = psycopg2.connect(os.environ['TOCSIN_TEST_PG']); "
             "cur = c.cursor(); cur.execute('SELECT current_database()'); "
             "print(cur.fetchone()[0])")
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "run", "--", "sh", "-c",
         'printf "%s\\n" "$TOCSIN_TEST_PG"; "$0" -c "$1" || exit 9; exit 3',
         sys.executable, check],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, p.stderr
    assert p.stderr == ""
    conninfo, db = p.stdout.splitlines()
    assert conninfo.startswith("host=127.0.0.1 port=")
    assert "user=tocsin_admin dbname=postgres" in conninfo
    assert db == "postgres"
    # Its cluster and directory are gone.
    assert not os.path.exists(os.path.dirname(_passfile_of(conninfo)))


def test_run_cleans_up_on_sigterm(base):
    ready = os.path.join(base, "conninfo")
    runner = subprocess.Popen(
        [sys.executable, str(SCRIPT), "run", "--", "sh", "-c",
         'printf "%s" "$TOCSIN_TEST_PG" > "$0.tmp"; mv "$0.tmp" "$0"; '
         'exec sleep 60', ready],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pgcluster.wait_until(lambda: os.path.exists(ready), 30,
                             "the command under run to start")
        conninfo = Path(ready).read_text()
        clusterdir = os.path.dirname(_passfile_of(conninfo))
        pidfile = os.path.join(clusterdir, "primary", "data", "postmaster.pid")
        pid = int(Path(pidfile).read_text().split()[0])
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert runner.returncode == 128 + signal.SIGTERM
    assert err == ""
    assert not os.path.exists(clusterdir)
    assert not pgcluster._pid_alive(pid)


def test_start_moves_off_a_port_taken_meanwhile(base, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = [taken.getsockname()[1]]
    real = pgcluster._free_port
    monkeypatch.setattr(pgcluster, "_free_port",
                        lambda: ports.pop() if ports else real())
    try:
        with pgcluster.Cluster(base) as c:
            c.init()
            assert c.port == taken.getsockname()[1]
            c.start()
            assert c.port != taken.getsockname()[1]
            assert c.sql("postgres", "SELECT inet_server_port()") == \
                [(c.port,)]
            assert f":{c.port}:" in Path(c.passfile).read_text()
    finally:
        taken.close()
