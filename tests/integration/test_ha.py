"""Several serve nodes on one PostgreSQL store, and a failover of that
store, held against the real peers: what each peer received against what
the store says, always on PostgreSQL whatever TOCSIN_TEST_STORE says.

The module starts clusters of its own (tests/pg/pgcluster.py) in a
/tmp/tpg-* folder, removed after; each test makes its own store database.
A second node is a second copy of the instance's configuration in a
folder of its own: the same store conninfo, the same ack secret bytes in
a 0600 file of its own (its audit checkpoint sits beside it), another
listen port and public_url, and a serve of its own.

Who delivered what: the store clears lease_owner once a result is
recorded, and serve logs no line per delivery sent, so the test puts an
AFTER UPDATE trigger of its own on the test database's deliveries table
(ha_track below): it writes each claim (a row becoming 'sending' with
its lease owner "tocsin/HOST/PID/WORKER") and each end of a lease (the
row leaving 'sending': sent, failed, or taken back to pending) with the
owner that held it, into a table ha_log that tocsin never reads.  It only
observes: the trigger changes no row of tocsin's and runs inside tocsin's
own transaction, so a log line exists exactly when tocsin's change was
committed.

Faults: kill -9 of one of two nodes during a broadcast to 249 teams (with
a ladder of seconds for some teams); the primary of a synchronous pair
stopped and the standby promoted during a broadcast; 100 acks arriving at
two nodes at once.  The table printed at the end says for each fault how
many deliveries were lost (the store says sent, the peer has nothing),
duplicated (copies the peers received beyond the first) and how many
escalation steps or first acks happened twice.

The SSH drop is counted from the drop host's sftp-server log: each
copy of a drop is a temporary file written whole (its close) before the
rename into place, so a drop sent twice shows two closes of the step's
manifest even though the file in place is the first.
"""
import collections
import contextlib
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import Instance, free_port, instance_of, pgcluster
from sshpeer import SshPeer
from smsprovider import post_status_callback
from test_ackreply import primary
from test_email import peer_for
from test_escalation import ladder
from test_faults import mail_copies, rows, serve_bg, stuck, wait_for
from test_sms import ACCOUNT, TOKEN, configure as sms_configure, provider
from test_sshdrop import configure as drop_configure

TABLE = []
WORKERS = 2
SMTP_BATCH = 10
SMS_PARALLEL = 4
KE_PARALLEL = 2
LEASE = 10


@pytest.fixture(scope="module", autouse=True)
def ha_table(request):
    yield
    lines = ["", "HA matrix                                                lost  "
             "duplicated  fired twice  note"]
    for fault, lost, dup, twice, note in TABLE:
        lines.append(f"{fault:<56} {lost:>4}  {dup:>10}  {twice:>11}  "
                     f"{note}")
    cm = request.config.pluginmanager.getplugin("capturemanager")
    with cm.global_and_fixture_disabled():
        print("\n".join(lines), flush=True)


def record(fault, lost, dup, twice, note=""):
    TABLE.append((fault, lost, dup, twice, note))


@pytest.fixture(scope="module")
def pgbase():
    base = Path(tempfile.mkdtemp(prefix="tpg-", dir="/tmp"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(pgbase):
    """The module's own PostgreSQL server (tests 1 and 3)."""
    c = pgcluster.Cluster(pgbase, "ha").init().start()
    yield c
    c.cleanup()


@pytest.fixture(scope="module")
def repo249(workdir, pki, repo_template):
    """A repository of 249 teams, made as conftest's repo200 is."""
    out = workdir / "repo249"
    subprocess.run(["/usr/bin/python3", str(Path(__file__).resolve()
                                            .parents[2] / "examples" /
                                            "gen-repo.py"),
                    "--pki", str(pki["dir"]), "--out", str(out), "--teams",
                    "249", "--seed", "11"], check=True, capture_output=True)
    return out


@contextlib.contextmanager
def on_pg(template, pki, server):
    """An instance of template whose store is a new database of server
    (not the session's, if the session made one)."""
    with instance_of(template, pki, "ha-") as i:
        i.drop_pg()
        i.use_pg(server)
        yield i


def node_of(inst, name):
    """A second node of inst: its configuration copied into inst's folder
    (removed with it), the ack secret's bytes in a 0600 file of its own,
    a listen port and public_url of its own; the same store."""
    d = inst.dir / name
    (d / "state").mkdir(parents=True, mode=0o700)
    for f in ("tocsin.conf", "teams.conf"):
        shutil.copy(inst.dir / f, d / f)
    n = object.__new__(Instance)
    n.dir, n.conf, n.pki = d, d / "tocsin.conf", inst.pki
    n.db, n.pg, n.seq = d / "state" / "tocsin.db", inst.pg, 0
    key = n.db.parent / "ack.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write((inst.db.parent / "ack.key").read_bytes())
    n.port = free_port()
    n.set_keys("gateway", listen=f"127.0.0.1:{n.port}",
               public_url=f"http://127.0.0.1:{n.port}/", ack_secret=str(key))
    return n


TRACK = """
CREATE TABLE ha_log (n BIGSERIAL PRIMARY KEY, delivery BIGINT NOT NULL,
  owner TEXT, what TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE FUNCTION ha_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'sending' AND (OLD.state <> 'sending' OR
      OLD.lease_owner IS DISTINCT FROM NEW.lease_owner) THEN
    INSERT INTO ha_log (delivery, owner, what, at) VALUES (NEW.id,
      NEW.lease_owner, 'claim', extract(epoch FROM clock_timestamp()));
  ELSIF OLD.state = 'sending' AND NEW.state <> 'sending' THEN
    INSERT INTO ha_log (delivery, owner, what, at) VALUES (NEW.id,
      OLD.lease_owner, NEW.state, extract(epoch FROM clock_timestamp()));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ha_track AFTER UPDATE ON deliveries FOR EACH ROW
  EXECUTE FUNCTION ha_track();
"""


def track(inst):
    """The observer trigger (see the module's comment); the store's schema
    must exist (made by the first submit)."""
    inst.sql(TRACK)


def owner_pid(owner):
    m = re.fullmatch(r"tocsin/[^/]+/(\d+)/\d+", owner or "")
    return int(m.group(1)) if m else None


def sms_copies(p):
    """(number, ack code) -> requests that reached the provider: one whose
    client was gone before the answer (a node killed) counts too, as a
    real provider may well send it.  Not by the whole text: it carries
    the ack link of the node that sent it (its public_url)."""
    seen = collections.Counter()
    for r in p.requests():
        f = r.get("form") or r.get("json") or {}
        to = f.get("To", f.get("to"))
        if to:
            m = re.search(r"reply ACK (\d+)", f.get("Body", f.get("text")) or
                          "")
            seen[(to, m.group(1) if m else None)] += 1
    return seen


def tally(inst, alerts, mail, sms):
    """lost, duplicated (mail, SMS) of the alerts' rows against the
    peers."""
    mc, sc = mail_copies(mail), sms_copies(sms)
    by_rcpt = collections.Counter()
    for (_, rcpt), n in mc.items():
        by_rcpt[rcpt] += n
    by_number = collections.Counter()
    for (to, _), n in sc.items():
        by_number[to] += n
    lost = 0
    for a in alerts:
        for r in rows(inst, a):
            if r[5] != "sent":
                continue
            if r[3] not in ("pgp-email", "sms"):
                continue            # drops: drop_copies
            got = by_rcpt[r[4].lower()] if r[3] == "pgp-email" else \
                by_number[r[4]]
            lost += got == 0
    dmail = sum(n - 1 for n in mc.values() if n > 1)
    dsms = sum(n - 1 for n in sc.values() if n > 1)
    return lost, dmail, dsms


def drop_copies(peer, alert):
    """(team, step) -> whole copies of the step's drop the host got: the
    closes of its manifest's temporary file in the sftp-server's log."""
    seen = collections.Counter()
    for m in re.finditer(r'close "[^"]*/([^/"]+)/\.alert-' + re.escape(alert)
                         + r'\.\1\.s(\d+)\.sha256\.[0-9a-f]+\.tmp" bytes '
                         r'read 0 written [1-9]', peer.sftp_text()):
        seen[(m.group(1), int(m.group(2)))] += 1
    return seen


def fast_sms(inst, url):
    """SMS through the test provider at url, parallel SMS_PARALLEL on
    twilio-main and KE_PARALLEL on the national gateway."""
    sms_configure(inst, url, step0='[ "primary:pgp-email", "primary:sms" ]',
                  parallel=SMS_PARALLEL)
    text = inst.conf.read_text()
    text, n = re.subn(r'(id_field = "message_id"; rate = \d+;) parallel = '
                      r'\d+;', rf"\g<1> parallel = {KE_PARALLEL};", text)
    assert n == 1
    inst.conf.write_text(text)


def escalations(inst, alert):
    """(team, action, step change) -> audit records of the alert."""
    out = collections.Counter()
    for _, _, action, obj, details in inst.audit():
        if obj != alert or action not in ("escalate", "unreached"):
            continue
        m = re.search(r"team=(\S+) step=(\S+)", details)
        out[(m.group(1), action, m.group(2))] += 1
    return out


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=60)


def serving_log(node, tag):
    return (node.dir / f"serve-{tag}.log").read_text()


def wait_serving(node, tag, timeout=20):
    assert wait_for(lambda: "serving" in serving_log(node, tag), timeout,
                    0.05), serving_log(node, tag)


# --- 1. two nodes, kill -9 of one mid-broadcast ------------------------------

def add_policy(inst, name, steps, unreached_after, teams):
    """A policy of its own for teams: steps [(after, [targets])]."""
    body = ",\n".join(f'      {{ after = "{a}"; notify = [ '
                      + ", ".join(f'"{t}"' for t in ts) + " ]; }"
                      for a, ts in steps)
    text = inst.conf.read_text()
    assert "policies = {\n" in text
    inst.conf.write_text(text.replace(
        "policies = {\n", f"policies = {{\n  {name} = {{\n    steps = (\n"
        f'{body}\n    );\n    unreached_after = "{unreached_after}";\n'
        "  };\n", 1))
    tt = (inst.dir / "teams.conf").read_text()
    for t in teams:
        tt, n = re.subn(rf'(\{{ id = "{t}";\n(?:.*\n)*?    policy = )"[^"]+";',
                        rf'\g<1>"{name}";', tt, count=1)
        assert n == 1, t
    (inst.dir / "teams.conf").write_text(tt)


def short_ladder(inst, teams, drops):
    """Every policy: e-mail and SMS at once, then nothing for 30 min; the
    policy "short" of teams: the same at once, e-mail again 4 s later,
    unreached 3 s after that; the policy "drops" of drops: e-mail, SMS
    and the SSH drop at once."""
    now = ["primary:pgp-email", "primary:sms"]
    ladder(inst, [("0s", now), ("30m", ["primary:pgp-email"])], "60m")
    add_policy(inst, "short", [("0s", now), ("4s", ["primary:pgp-email"])],
               "3s", teams)
    add_policy(inst, "drops", [("0s", now + ["team:sshdrop"]),
                               ("30m", ["primary:pgp-email"])], "60m", drops)


def test_two_nodes_kill_9_of_one_mid_broadcast(repo249, pki, pg, tmp_path):
    seed = int(os.environ.get("TOCSIN_HA_SEED", time.time_ns() % 1000003))
    rng = random.Random(seed)
    with on_pg(repo249, pki, pg) as inst, \
            provider(tmp_path, pki, "sms") as sms:
        mail = peer_for(inst, tmp_path / "smtp", pki, delay=0.02)
        ssh = SshPeer(tmp_path / "sshd").start()
        try:
            fast_sms(inst, sms.url)
            # each SMS answered after 0.1 s, so that some are in flight
            sms.set_faults([{"action": "delay", "seconds": 0.1,
                             "count": -1, "endpoint": "messages"}])
            teams = inst.teams()
            short = rng.sample(teams, 12)
            drops = rng.sample([t for t in teams if t not in short], 12)
            drop_configure(inst, ssh, drops,
                           step0='[ "primary:pgp-email", "primary:sms" ]')
            short_ladder(inst, short, drops)
            inst.set_keys("gateway", workers=WORKERS, lease=f"{LEASE}s")
            inst.set_keys("smtp", batch=SMTP_BATCH)
            assert inst.run("check").returncode == 0
            b = node_of(inst, "node-b")
            alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                       signers=("desk-1",))
            track(inst)
            pa = serve_bg(inst, "a")
            pb = serve_bg(b, "b")
            try:
                t_first = wait_for(lambda: (len(mail.messages()) +
                                            len(sms.messages()) > 0 and
                                            time.monotonic()), 30, 0.02)
                assert t_first
                delay = rng.uniform(0.5, 2.5)
                time.sleep(max(0.0, t_first + delay - time.monotonic()))
                at_kill = len(mail.messages()) + len(sms.messages())
                stop(pa, signal.SIGKILL)
                t_kill = time.time()
                print(f"\nkill -9: seed {seed}, node a (pid {pa.pid}) "
                      f"killed {delay:.2f} s after the first delivery, "
                      f"{at_kill} at the peers then")
                every = lambda: (all(r[5] == "sent" for r in rows(inst, alert))
                                 and {s for (s,) in inst.sql(
                                     "SELECT state FROM team_states WHERE "
                                     "alert_id = ? AND team IN (%s)" %
                                     ",".join("?" * len(short)), alert,
                                     *short)} == {"unreached"})
                done = wait_for(every, 90, 0.2)
                t_done = time.time()
                assert done, [r for r in rows(inst, alert) if r[5] != "sent"]
                assert pb.poll() is None, serving_log(b, "b")
            finally:
                stop(pb)
                stop(pa, signal.SIGKILL)
            log = inst.sql("SELECT delivery, owner, what, at FROM ha_log "
                           "ORDER BY n")
            all_rows = rows(inst, alert)
            lost, dmail, dsms = tally(inst, [alert], mail, sms)
            esc = escalations(inst, alert)
            st = stuck(inst, alert)
            r = inst.run("audit", "verify", "--no-checkpoint")
            waits = sum(serving_log(n, t).count("cannot record")
                        for n, t in ((inst, "a"), (b, "b")))
            dc = drop_copies(ssh, alert)
        finally:
            mail.stop()
            ssh.stop()
    # who recorded each send, and what the killed node held at the kill
    sent_by = collections.Counter(owner_pid(o) for _, o, w, _ in log
                                  if w == "sent")
    held = {d for d, o, w, _ in log if w == "claim" and
            owner_pid(o) == pa.pid}
    recorded_a = {d for d, o, w, _ in log if w != "claim" and
                  owner_pid(o) == pa.pid and w == "sent"}
    in_flight = held - recorded_a
    taken_back = {d for d, o, w, _ in log if owner_pid(o) == pa.pid and
                  w in ("failed", "dead", "cancelled")}
    by_channel = collections.Counter(r[3] for r in all_rows
                                     if r[0] in in_flight)
    # the bound from the configuration: each of the killed node's workers
    # holds one batch at a time; an e-mail batch is smtp.batch rows, an
    # SMS batch has at most the providers' parallel requests in flight
    # plus those answered within the last group commit (as test_faults)
    mail_bound = WORKERS * SMTP_BATCH
    sms_bound = WORKERS * (SMS_PARALLEL + KE_PARALLEL + 2)
    drop_bound = WORKERS * 20           # sshdrop.c's batch
    drop_rows = [x for x in all_rows if x[3] == "sshdrop"]
    dlost = sum(1 for x in drop_rows if x[5] == "sent" and
                dc[(x[1], x[2])] == 0)
    ddup = sum(n - 1 for n in dc.values() if n > 1)
    twice = sum(n - 1 for n in esc.values() if n > 1)
    short_steps = collections.Counter(
        (r[1], r[2]) for r in all_rows if r[1] in short and r[3] ==
        "pgp-email")
    record(f"kill -9 of 1 of 2 nodes, {len(teams)} teams e-mail+SMS"
           f"+{len(drops)} drops", lost + dlost, dmail + dsms + ddup, twice,
           f"seed {seed}, kill at +{delay:.2f} s; sent by node a "
           f"{sent_by[pa.pid]}, node b {sent_by[pb.pid]}; a held "
           f"{len(in_flight)} unrecorded ({dict(by_channel)}), "
           f"{len(taken_back)} taken back; dup mail {dmail} <= "
           f"{mail_bound}, SMS {dsms} <= {sms_bound}, drops {ddup} <= "
           f"{drop_bound}; done "
           f"{t_done - t_kill:.1f} s after the kill; {waits} 'cannot "
           "record yet' warnings")
    assert r.returncode == 0 and "verified" in (r.stdout + r.stderr).lower(), \
        r.stdout + r.stderr
    assert [x for x in all_rows if x[5] != "sent"] == []
    assert st == []
    assert lost == 0 and dlost == 0, (lost, dlost, dc)
    assert sorted(x[1] for x in drop_rows) == sorted(drops), drop_rows
    # both nodes recorded deliveries, and nobody else did
    assert sent_by[pa.pid] > 0 and sent_by[pb.pid] > 0, sent_by
    assert set(sent_by) == {pa.pid, pb.pid}, sent_by
    # each row recorded sent once
    assert collections.Counter(d for d, _, w, _ in log if w == "sent") == \
        collections.Counter(r[0] for r in all_rows)
    # duplicates only of what node a held unrecorded, within the bound
    assert dmail + dsms + ddup <= len(in_flight), (dmail, dsms, ddup,
                                                   in_flight)
    assert dmail <= mail_bound and dsms <= sms_bound and \
        ddup <= drop_bound, (dmail, dsms, ddup)
    # the short ladder: step 1 once, unreached once, for each of its teams
    for t in short:
        assert esc[(t, "escalate", "0->1")] == 1, (t, esc)
        assert sum(n for (tt, a, _), n in esc.items()
                   if tt == t and a == "unreached") == 1, (t, esc)
        assert short_steps[(t, 1)] == 1, (t, short_steps)
    assert twice == 0, esc
    assert {tt for (tt, _, _) in esc} == set(short), esc


# --- 2. failover of the store: a synchronous standby promoted ----------------

class Pair:
    """The conninfo of a primary and its standby, for libpq to find the one
    that takes writes (and for the test's own queries), with a passfile of
    both ports: .pgpass lines are host:port specific."""

    def __init__(self, base, primary, standby):
        self.passfile = base / "pair.pgpass"
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)
        with os.fdopen(fd, "w") as f:
            for c in (primary, standby):
                f.write(f"127.0.0.1:{c.port}:*:{pgcluster.ADMIN}:"
                        f"{c.password}\n")
        self.ports = f"{primary.port},{standby.port}"

    def conninfo(self, dbname):
        return (f"host=127.0.0.1,127.0.0.1 port={self.ports} "
                f"user={pgcluster.ADMIN} dbname={dbname} "
                f"passfile={self.passfile} connect_timeout=5 "
                "target_session_attrs=read-write")

    def connect(self, dbname):
        import psycopg2
        conn = psycopg2.connect(self.conninfo(dbname))
        conn.autocommit = True
        return conn

    def dropdb(self, name):
        pass                    # the clusters go with the test


def submitter(inst, teams, stop_at, out):
    """Alerts submitted one after the other, each for one team, until
    stop_at is set: out gets (start, end, exit code, alert id)."""
    i = 0
    while not stop_at.is_set():
        t = teams[i % len(teams)]
        doc = inst.cap(addresses=t)
        a = inst.write(f"sub-{i}.xml", doc)
        sig = inst.gpg_sign(a, "desk-1")
        t0 = time.time()
        p = inst.run("submit", a, "--sig", sig, timeout=60)
        out.append((t0, time.time(), p.returncode, p.stdout.strip()))
        i += 1


def sent_count(inst):
    try:
        return inst.sql("SELECT count(*) FROM deliveries WHERE state = "
                        "'sent'")[0][0]
    except Exception:               # the store is away: no answer
        return None


def test_failover_to_a_synchronous_standby(repo_template, pki, pgbase,
                                           tmp_path):
    seed = int(os.environ.get("TOCSIN_HA_SEED", time.time_ns() % 1000003))
    rng = random.Random(seed + 2)
    p = pgcluster.Cluster(pgbase, "fo_p").init().start()
    s = None
    try:
        s = pgcluster.Cluster(pgbase, "fo_s").make_standby(p,
                                                           synchronous=True)
        pair = Pair(pgbase, p, s)
        with on_pg(repo_template, pki, p) as inst, \
                provider(tmp_path, pki, "sms") as sms:
            db = inst.pg[1]
            inst.set_keys("gateway", store=pair.conninfo(db))
            inst.pg = (pair, db)
            mail = peer_for(inst, tmp_path / "smtp", pki, delay=0.03)
            try:
                fast_sms(inst, sms.url)
                sms.set_faults([{"action": "delay", "seconds": 0.15,
                                 "count": -1, "endpoint": "messages"}])
                ladder(inst, [("0s", ["primary:pgp-email", "primary:sms"]),
                              ("30m", ["primary:pgp-email"])], "60m")
                inst.set_keys("gateway", workers=WORKERS, lease=f"{LEASE}s")
                inst.set_keys("smtp", batch=SMTP_BATCH)
                # libpq and store_pg_check take the multi-host conninfo
                r = inst.run("check")
                assert r.returncode == 0, r.stdout + r.stderr
                teams = inst.teams()
                alert = inst.submit_signed(inst.cap(
                    addresses=" ".join(teams)), signers=("desk-1",))
                assert re.fullmatch(r"\d{8}-[0-9a-f]+", alert), alert
                acked = teams[:4]
                for t in acked:
                    r = inst.run("ack", alert, t, "--by", "Duty officer",
                                 "--via", "phone")
                    assert "acknowledged" in r.stdout, r.stdout + r.stderr
                proc = serve_bg(inst, "fo")
                restarted = False
                subs, halt = [], threading.Event()
                th = threading.Thread(target=submitter,
                                      args=(inst, teams[40:], halt, subs))
                samples = []
                try:
                    wait_serving(inst, "fo")
                    th.start()
                    assert wait_for(lambda: len(mail.messages()) +
                                    len(sms.messages()) >= 5, 30, 0.02)
                    # a submit accepted before the stop, however slow the
                    # machine: the "before" case must be there to judge
                    assert wait_for(lambda: any(x[2] == 0 for x in subs),
                                    30, 0.02), subs
                    time.sleep(rng.uniform(0.2, 1.5))
                    at_stop = sent_count(inst)
                    t_stop = time.time()
                    p.stop("immediate")
                    # the operator (or a failover manager) notices
                    time.sleep(1.0)
                    t_promote = time.time()
                    s.promote()
                    t_promoted = time.time()
                    end = time.monotonic() + 90
                    while time.monotonic() < end:
                        n = sent_count(inst)
                        samples.append((time.time(), n))
                        if n is not None and not [
                                r for r in rows(inst, alert)
                                if r[5] in ("pending", "failed", "sending")]:
                            break
                        if proc.poll() is not None and not restarted:
                            restarted = True
                            proc = serve_bg(inst, "fo2")
                        time.sleep(0.1)
                    t_done = time.time()
                finally:
                    halt.set()
                    if th.is_alive():
                        th.join(timeout=90)
                    stop(proc)
                log = serving_log(inst, "fo")
                all_rows = rows(inst, alert)
                lost, dmail, dsms = tally(inst, [alert], mail, sms)
                st = stuck(inst, alert)
                have = {a for (a,) in inst.sql("SELECT id FROM alerts")}
                acks = inst.sql("SELECT team, by_whom, via FROM acks WHERE "
                                "alert_id = ?", alert)
                tstates = dict(inst.sql("SELECT team, state FROM "
                                        "team_states WHERE alert_id = ?",
                                        alert))
                in_recovery = inst.sql("SELECT pg_is_in_recovery()")[0][0]
                vr = inst.run("audit", "verify", "--no-checkpoint")
            finally:
                mail.stop()
    finally:
        for c in (s, p):
            if c is not None:
                c.cleanup()
    before = [x for x in subs if x[2] == 0 and x[1] < t_stop]
    during = [x for x in subs if x[0] < t_promoted and x[1] > t_stop]
    after = [x for x in subs if x[2] == 0 and x[0] > t_promoted]
    # every submit that said accepted, before, across or after the stop
    missing = [x for x in subs if x[2] == 0 and x[3] not in have]
    # the stall: from the stop until the store recorded a send again
    moved = [t for t, n in samples if n is not None and at_stop is not None
             and n > at_stop and t > t_stop]
    stall = (moved[0] - t_stop) if moved else float("inf")
    bound = WORKERS * SMTP_BATCH
    record(f"primary stopped, sync standby promoted ({len(teams)} teams)",
           lost + len(missing), dmail + dsms, 0,
           f"serve {'restarted' if restarted else 'kept going'}; delivery "
           f"stalled {stall:.1f} s (promote at +{t_promote - t_stop:.1f} "
           f"s, took {t_promoted - t_promote:.1f} s); {len(before)} submits "
           f"before, {len(during)} across, {len(after)} after, "
           f"{len(missing)} missing; done {t_done - t_stop:.1f} s after "
           f"the stop")
    print(f"\nfailover: seed {seed}; {len(subs)} submits "
          f"{[x[2] for x in subs]}; serve log:\n" +
          "\n".join(x for x in log.splitlines() if "store" in x.lower() or
                    "record" in x)[:3000])
    assert in_recovery is False
    assert before, subs
    assert missing == [], missing
    assert lost == 0 and st == [], (lost, st)
    # every row sent, but those of the teams acked before serve started
    # (cancelled with the reason)
    assert [x for x in all_rows if x[5] != "sent" and not (
        x[1] in acked and x[5] == "cancelled")] == []
    assert dmail + dsms <= bound, (dmail, dsms)
    # the acks recorded before the stop are there
    assert sorted(a[0] for a in acks) == sorted(acked), acks
    assert {tstates[t] for t in acked} == {"acked"}
    assert not restarted, "serve did not survive the failover:\n" + log
    assert stall < 30, samples
    assert vr.returncode == 0, vr.stdout + vr.stderr


# --- 3. acks arriving at two nodes at once -----------------------------------

def post_link(node, token, name):
    c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    body = urllib.parse.urlencode({"name": name})
    c.request("POST", f"/ack/{token}", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    out = (r.status, r.read().decode())
    c.close()
    return out


def post_reply(node, frm, body):
    url = f"http://127.0.0.1:{node.port}/twilio/sms/twilio-main"
    return post_status_callback(url, TOKEN, {
        "MessageSid": "SM" + os.urandom(16).hex(), "AccountSid": ACCOUNT,
        "From": frm, "To": "+15555550100", "Body": body})


def answering(node, timeout=20):
    """Once the node's listener answers HTTP (GET / is no token guess)."""
    def up():
        try:
            c = http.client.HTTPConnection("127.0.0.1", node.port,
                                           timeout=5)
            c.request("GET", "/")
            c.getresponse().read()
            c.close()
            return True
        except OSError:
            return False
    assert wait_for(up, timeout, 0.05), f"node on {node.port} is not up"


def test_acks_at_two_nodes_at_once_recorded_once(repo_template, pki, pg,
                                                 tmp_path):
    with on_pg(repo_template, pki, pg) as inst:
        # nothing needs to reach anybody: the relay is down and the mail
        # waits to retry; what matters is the ladders and the acks
        inst.set_keys("smtp", port=free_port())
        # every client of the test is 127.0.0.1: room for all at once
        inst.set_keys("gateway", retry_base="30s", workers=1,
                      listen_max_connections=256,
                      listen_max_per_address=128)
        ladder(inst, [("0s", ["primary:pgp-email"]),
                      ("10s", ["all:pgp-email"])], "60s")
        b = node_of(inst, "node-b")
        teams = inst.teams()
        by_link, by_sms, control = teams[:50], teams[50:55], teams[55:60]
        alert = inst.submit_signed(inst.cap(addresses=" ".join(
            by_link + by_sms + control)), signers=("desk-1",))
        accepted = inst.sql("SELECT received FROM alerts WHERE id = ?",
                            alert)[0][0]
        pa, pb = serve_bg(inst, "a"), serve_bg(b, "b")
        results = []
        try:
            answering(inst)
            answering(b)
            # one thread per ack, all let go at once
            calls = []
            for t in by_link:
                tok = inst.ack_token(alert, t)
                calls += [(t, lambda n=inst, k=tok, t=t: post_link(
                              n, k, f"Ann of {t} at a")),
                          (t, lambda n=b, k=tok, t=t: post_link(
                              n, k, f"Bob of {t} at b"))]
            for t in by_sms:
                code = inst.ack_code(alert, t)
                _, mob = primary(inst, t)
                calls += [(t, lambda n=n, m=mob, c=code: post_reply(
                              n, m, f"ACK {c}")) for n in (inst, b)]
            gate = threading.Barrier(len(calls))

            def run(t, f):
                gate.wait()
                results.append((t, f()))
            ths = [threading.Thread(target=run, args=c) for c in calls]
            t0 = time.time()
            for th in ths:
                th.start()
            for th in ths:
                th.join(timeout=60)
            took = time.time() - t0
            assert time.time() < accepted + 10, "the acks came after step 1"
            # past step 1's time, until the control teams moved on and
            # what they planned is queued
            assert wait_for(lambda: {s for (s,) in inst.sql(
                "SELECT step FROM team_states WHERE alert_id = ? AND team "
                "IN (%s)" % ",".join("?" * len(control)), alert,
                *control)} == {1}, 20, 0.1)
            time.sleep(max(0.0, accepted + 12 - time.time()))
        finally:
            stop(pa)
            stop(pb)
        acks = inst.sql("SELECT team, by_whom, via FROM acks WHERE "
                        "alert_id = ?", alert)
        st = {r[0]: r[1:] for r in inst.sql(
            "SELECT team, state, step, ack_by, ack_via FROM team_states "
            "WHERE alert_id = ?", alert)}
        steps = collections.Counter(
            (r[1], r[2]) for r in rows(inst, alert))
        audit_acks = collections.Counter()
        for _, _, action, obj, details in inst.audit():
            if obj == alert and action == "ack":
                t = re.search(r"team=(\S+)", details).group(1)
                audit_acks[(t, details.endswith(" repeat"))] += 1
        v = inst.run("audit", "verify", "--no-checkpoint")
        vb = b.run("audit", "verify", "--no-checkpoint")
    acked = by_link + by_sms
    statuses = collections.Counter(
        r[0] if isinstance(r, tuple) else r for _, r in results)
    firsts = sum(audit_acks[(t, False)] for t in acked)
    twice = sum(max(0, audit_acks[(t, False)] - 1) for t in acked)
    later = sum(n for (t, s), n in steps.items() if t in acked and s > 0)
    record(f"{len(results)} acks at 2 nodes at once ({len(acked)} teams)",
           0, 0, twice,
           f"{firsts} first acks, {sum(audit_acks[(t, True)] for t in acked)}"
           f" repeats; answers {dict(statuses)} in {took:.1f} s; "
           f"{later} later-step deliveries of acked teams")
    assert len(results) == len(calls) == 2 * len(acked)
    assert set(statuses) == {200}, results
    # each ack recorded: one first per team, the other a repeat
    assert collections.Counter(a[0] for a in acks) == \
        collections.Counter({t: 2 for t in acked}), acks
    for t in acked:
        assert audit_acks[(t, False)] == 1, (t, audit_acks)
        assert audit_acks[(t, True)] == 1, (t, audit_acks)
        state, step, by, via = st[t]
        assert (state, step) == ("acked", 0), (t, st[t])
    for t in by_link:
        assert st[t][2] in (f"Ann of {t} at a", f"Bob of {t} at b")
        assert st[t][3] == "link"
    assert {st[t][3] for t in by_sms} == {"sms"}
    # the ladders stopped: nothing of step 1 for an acked team, while the
    # control teams went on to it
    assert later == 0, steps
    assert all(steps[(t, 1)] > 0 for t in control), steps
    assert {st[t][:2] for t in control} == {("active", 1)}
    for r in (v, vb):
        assert r.returncode == 0, r.stdout + r.stderr
