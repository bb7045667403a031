"""Bounds under hostile input and faults: a compression bomb signed by an
issuer is refused before memory grows (submit, ingest-mail); serve on a
fresh store folder makes the store and the ack key, mode 0600; a provider
that accepted a request after the gateway's timeout sends the SMS once (the
idempotency key), also across a kill -9; a store that cannot grow is
logged once per kind of error, then counted.  The relay that requires
AUTH is in test_email.py."""
import json
import re
import os
import stat
import subprocess
import sys

import pytest

from conftest import BIN

EX_DATAERR = 65
RSS_LIMIT_KB = 64 * 1024
BOMB_BYTES = 300 * 1000 * 1000

# Run a command in a fresh interpreter and print the peak RSS of its
# process tree (the command, and gpg under it) in KiB: this process's own
# earlier children (gpg, the PKI script) must not count.
MEASURE = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[2:], stdin=open(sys.argv[1], "rb"),
                   capture_output=True)
sys.stdout.write(str(p.returncode) + "\\n")
sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
                 + "\\n")
sys.stdout.write(p.stderr.decode(errors="replace"))
"""


def measured(args, stdin="/dev/null"):
    """(exit code, peak RSS in KiB, stderr) of BIN args."""
    r = subprocess.run(["/usr/bin/python3", "-c", MEASURE, str(stdin),
                        str(BIN), *map(str, args)], capture_output=True,
                       text=True, timeout=300)
    code, rss, err = r.stdout.split("\n", 2)
    return int(code), int(rss), err


def signers_home(inst):
    return inst.pki["dir"] / inst.pki["signers_home"]


def make_bomb(inst, signer="desk-1", armor=False):
    """BOMB_BYTES of zeros, bzip2 at level 9, signed by an issuer: a few
    hundred bytes that unpack to 300 MB."""
    cmd = ["gpg", "--homedir", str(signers_home(inst)), "--batch", "--quiet",
           "--pinentry-mode", "loopback", "--passphrase", "",
           "--local-user", inst.pki["issuers"][signer],
           "--compress-algo", "bzip2", "--bzip2-compress-level", "9",
           "-z", "9", "--sign"] + (["--armor"] if armor else [])
    with subprocess.Popen(["head", "-c", str(BOMB_BYTES), "/dev/zero"],
                          stdout=subprocess.PIPE) as zeros:
        r = subprocess.run(cmd, stdin=zeros.stdout, capture_output=True,
                           check=True)
    assert len(r.stdout) < 2048, len(r.stdout)
    return r.stdout


def test_bomb_submit_refused_before_memory_grows(inst):
    bomb = inst.write("bomb.gpg", make_bomb(inst))
    before = inst.counts()
    code, rss, err = measured(["-c", inst.conf, "submit", bomb])
    print(f"bomb: {bomb.stat().st_size} bytes, exit {code}, peak RSS "
          f"{rss} KiB")
    assert code == EX_DATAERR, err
    assert "more than" in err and "bytes" in err, err
    assert rss < RSS_LIMIT_KB, f"peak RSS {rss} KiB"
    assert inst.counts() == before, "the bomb changed the store"
    audit = inst.audit()
    assert audit and audit[-1][2] == "refuse"


def test_bomb_armoured_submit_refused(inst):
    bomb = inst.write("bomb.asc", make_bomb(inst, armor=True))
    before = inst.counts()
    code, rss, err = measured(["-c", inst.conf, "submit", bomb])
    assert code == EX_DATAERR, err
    assert rss < RSS_LIMIT_KB, f"peak RSS {rss} KiB"
    assert inst.counts() == before


def test_signed_alert_under_limit_still_accepted(inst):
    """The honest version beside the bomb: an inline-signed alert passes."""
    a = inst.write("a.xml", inst.cap())
    p = inst.run("submit", inst.gpg_sign(a, mode="inline"), check=0)
    assert inst.sql("SELECT count(*) FROM alerts WHERE id=?",
                    p.stdout.strip())[0][0] == 1


def contact_of(inst, team):
    """(name, email, fingerprint) of the team's primary contact."""
    from test_ingestmail import contact
    return contact(inst, team)


def test_bomb_as_signed_mail_ack_refused(inst):
    """A contact's key signs the bomb; ingest-mail gets it as the reply's
    clear-signed text and as a clear-signed ack with the bomb after it:
    no ack from the bomb, memory bounded."""
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team))
    name, email, fpr = contact_of(inst, team)
    home = inst.pki["dir"] / inst.pki["contacts_home"]
    cmd = ["gpg", "--homedir", str(home), "--batch", "--quiet",
           "--pinentry-mode", "loopback", "--passphrase", "",
           "--local-user", fpr, "--compress-algo", "bzip2",
           "--bzip2-compress-level", "9", "-z", "9", "--armor", "--sign"]
    with subprocess.Popen(["head", "-c", str(BOMB_BYTES), "/dev/zero"],
                          stdout=subprocess.PIPE) as zeros:
        bomb = subprocess.run(cmd, stdin=zeros.stdout, capture_output=True,
                              check=True).stdout
    assert len(bomb) < 2048
    code = inst.ack_code(alert, team)
    # the bomb's armour passed off as the signature of a clear-signed text
    as_sig = (b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
              b"ACK " + code.encode() + b"\n" +
              bomb.replace(b"PGP MESSAGE", b"PGP SIGNATURE"))
    # the bomb's message itself, where the clear-signed header is looked for
    bare = b"-----BEGIN PGP SIGNED MESSAGE-----\n" + bomb
    for body in (as_sig, bare):
        mail = inst.write("bomb.eml", f"From: {email}\nSubject: ack\n\n"
                          .encode() + body)
        rc, rss, err = measured(["-c", inst.conf, "ingest-mail"], mail)
        print(f"mail bomb: exit {rc}, peak RSS {rss} KiB: {err.strip()}")
        assert rc != 0, err
        assert rss < RSS_LIMIT_KB, f"peak RSS {rss} KiB"
        assert inst.sql("SELECT state FROM team_states WHERE alert_id=? AND "
                        "team=?", alert, team) == [("active",)]
        assert inst.sql("SELECT count(*) FROM acks")[0][0] == 0


# --- a fresh install -------------------------------------------------------

def run_umask(inst, *args, umask=0o022):
    return subprocess.run([str(BIN), "-c", str(inst.conf), *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(umask))


@pytest.mark.sqlite_file
def test_serve_on_a_fresh_store_folder_makes_store_and_key(inst):
    store = inst.dir / "fresh" / "var" / "tocsin.db"
    inst.set_keys("gateway", store=str(store))
    inst.db = store
    assert not store.parent.exists()
    p = run_umask(inst, "serve", "--until-idle")
    assert p.returncode == 0, p.stderr
    key = store.parent / "ack.key"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.stat().st_size == 32
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    # the store works: an alert is taken and planned, and a second serve
    # keeps the key it made (the ack links of alerts already sent hold)
    secret = key.read_bytes()
    team = inst.teams()[0]
    a = inst.submit_signed(inst.cap(addresses=team))
    assert inst.sql("SELECT count(*) FROM team_states WHERE alert_id=?",
                    a)[0][0] == 1
    assert key.read_bytes() == secret
    for f in store.parent.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f


@pytest.mark.sqlite_file
def test_fresh_install_refuses_a_key_others_can_read(inst):
    """The attacker's version: a key file left readable by others is not
    taken as the secret, and not replaced either."""
    store = inst.dir / "fresh2" / "tocsin.db"
    inst.set_keys("gateway", store=str(store))
    store.parent.mkdir()
    key = store.parent / "ack.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)
    p = run_umask(inst, "serve", "--until-idle")
    assert p.returncode == 78, p.stderr
    assert "mode 0600" in p.stderr
    assert key.read_bytes() == b"k" * 32


# --- a provider that answers after the gateway's timeout ----------------------

def generic_first(inst, url, header=True, body_key=False):
    """The generic provider (ke-gateway) serves every number, first, with a
    1 s timeout, and carries the idempotency key in a header (or in the
    body); step 0 is every contact's SMS."""
    from test_sms import configure
    configure(inst, url, step0='[ "all:sms" ]')
    text = inst.conf.read_text()
    headers = '"Authorization: Bearer {secret}"'
    if header:
        headers += ', "Idempotency-Key: {idempotency_key}"'
    body = ('{\\"to\\":\\"{to}\\",\\"text\\":\\"{text}\\"'
            + (',\\"key\\":\\"{idempotency_key}\\"' if body_key else '')
            + '}')
    text, n = re.subn(
        r'(name = "ke-gateway";.*?)prefixes = \[ "\+254" \];(.*?)'
        r'body = "[^\n]*";\n(\s*)headers = \[[^\]]*\];(.*?)timeout = "10s";',
        lambda m: (m.group(1) + 'prefixes = [ "+" ];' + m.group(2) +
                   f'body = "{body}";\n' + m.group(3) +
                   f'headers = [ {headers} ];' + m.group(4) +
                   'timeout = "1s";'), text, count=1, flags=re.S)
    assert n == 1
    inst.conf.write_text(text)


def count_faults(name, rows, provider):
    """Print and return (lost, duplicated, stuck) of the SMS rows as the
    provider saw them."""
    lost = dup = stuck = 0
    for r in rows:
        got = len(provider.messages(r[2]))
        lost += got == 0
        dup += max(0, got - 1)
        stuck += r[3] not in ("sent", "dead", "cancelled")
    print(f"fault: {name} lost={lost} duplicated={dup} stuck={stuck}")
    return lost, dup, stuck


def test_sms_accepted_after_the_timeout_is_sent_once(inst, tmp_path, pki):
    from test_sms import provider, sms_rows
    teams = inst.teams()[:2]
    with provider(tmp_path, pki, "p") as p:
        generic_first(inst, p.url)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)),
                                   signers=("desk-1",))
        rows = sms_rows(inst, alert)
        assert len(rows) >= 2
        # every first request is taken and answered 3 s late: the gateway
        # has given up after 1 s and asks again
        p.set_faults([{"endpoint": "generic", "action": "late",
                       "seconds": 3, "count": len(rows)}])
        inst.serve(timeout=120)
        rows = sms_rows(inst, alert)
        reqs = p.requests()
        assert count_faults("sms-late-answer", rows, p) == (0, 0, 0)
        keys = {}
        for r in reqs:
            keys.setdefault(r["json"]["to"], set()).add(
                r["headers"]["Idempotency-Key"])
        # the retry carried the first request's key; each number its own
        assert all(len(k) == 1 for k in keys.values())
        assert len({next(iter(k)) for k in keys.values()}) == len(keys)
        assert any(r.get("replay") for r in reqs), "no retry was made"
        for r in rows:
            assert r[3] == "sent", r
            # the reference is the message the phone got
            assert r[6] == "ke-gateway:" + p.messages(r[2])[0]["sid"]


def test_sms_key_holds_across_a_crash(inst, tmp_path, pki):
    """kill -9 while the provider holds the request: the next serve, after
    the lease, sends the same key, and the phone still has one SMS."""
    from test_sms import provider, sms_rows
    team = inst.teams()[0]
    inst.set_keys("gateway", lease="5s")
    with provider(tmp_path, pki, "p") as p:
        generic_first(inst, p.url, body_key=True)
        alert = inst.submit_signed(inst.cap(addresses=team),
                                   signers=("desk-1",))
        rows = sms_rows(inst, alert)
        p.set_faults([{"endpoint": "generic", "action": "late",
                       "seconds": 30, "count": len(rows)}])
        srv = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            p.wait_requests(len(rows), timeout=30)
        finally:
            srv.kill()
            srv.wait()
        first = {r["json"]["to"]: r["headers"]["Idempotency-Key"]
                 for r in p.requests()}
        assert len(first) == len(rows)
        inst.serve(timeout=120)
        reqs = p.requests()
        rows = sms_rows(inst, alert)
        assert count_faults("sms-kill-9", rows, p) == (0, 0, 0)
    assert len(reqs) > len(first), "nothing was asked again"
    for r in reqs:
        key = r["headers"]["Idempotency-Key"]
        assert key == first[r["json"]["to"]] == r["json"]["key"], \
            "a restart changed the idempotency key"
        assert len(key) == 32 and set(key) <= set("0123456789abcdef")
    assert all(r[3] == "sent" for r in rows)


# --- a full disk: store errors logged once per kind, then counted -------------

@pytest.mark.sqlite_file
def test_full_disk_store_errors_are_rate_limited(inst):
    """serve on a store that cannot grow (RLIMIT_FSIZE: every write past
    32 KiB fails, as on a full disk): each kind of store error is logged
    once and then counted when serve stops, not five times a second; and
    nothing queued is lost."""
    import resource
    import signal
    import time
    team = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=team), signers=("desk-1",))
    before = inst.sql("SELECT id, state FROM deliveries WHERE alert_id=? "
                      "ORDER BY id", alert)
    assert before

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (32768, 32768))

    # The write-ahead log already past the limit, and held open so that it
    # is not checkpointed away: every write of serve's fails, as on a disk
    # that filled up.
    import sqlite3
    hold = sqlite3.connect(inst.db)
    hold.execute("PRAGMA journal_mode=WAL")
    hold.execute("PRAGMA wal_autocheckpoint=0")
    hold.execute("CREATE TABLE IF NOT EXISTS test_fill (b BLOB)")
    hold.executemany("INSERT INTO test_fill VALUES (randomblob(4000))",
                     [()] * 40)
    hold.commit()
    try:
        srv = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve"],
                               preexec_fn=limited, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        time.sleep(8)
        srv.send_signal(signal.SIGTERM)
        err = srv.communicate(timeout=60)[1]
    finally:
        hold.close()
    lines = [x for x in err.splitlines() if "progress" not in x]
    store_lines = [x for x in lines if "disk" in x or "full" in x or
                   "I/O" in x or "database" in x]
    print(f"full disk: {len(store_lines)} store error lines in 8 s")
    print("\n".join(store_lines[:4]))
    assert store_lines, err
    kinds = {}
    for x in store_lines:
        k = "claim" if "claim failed" in x else "escalation" \
            if "escalation:" in x else "leases" if "leases" in x else x
        kinds.setdefault(k, []).append(x)
    for k, xs in kinds.items():
        # the first at once, and the count of the rest when serve stops
        assert len(xs) <= 2, (k, xs)
        if len(xs) == 2:
            assert re.search(r"\d+ more like this in the last \d+ s", xs[1])
    # nothing lost: every delivery is still there, none dead
    after = inst.sql("SELECT id, state FROM deliveries WHERE alert_id=? "
                     "ORDER BY id", alert)
    assert [r[0] for r in after] == [r[0] for r in before]
    assert all(r[1] in ("pending", "sending", "failed") for r in after)
