"""serve's log: one line per event with its UTC time and level on stderr,
--log-level dropping what is below it, a start-up line naming version,
store, listener, workers and channels; under systemd (stderr is the
journal's stream) each line goes to the journal with its priority and
the alert, team, delivery and channel as fields; no library chatter."""
import os
import re
import socket
import subprocess
import tempfile
from pathlib import Path

from conftest import BIN
from smtppeer import SmtpPeer
from test_escalation import ladder

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z tocsin serve: "
                  r"(err|warning|notice|info|debug): ")


def dead_broadcast(inst, pki, tmp_path, nteams=2):
    """An alert to nteams whose mail the relay refuses for good."""
    ladder(inst, [("0s", ["primary:pgp-email"])], "1h")
    inst.set_keys("gateway", max_attempts=1)
    d = pki["dir"]
    peer = SmtpPeer(tmp_path / "relay", cert=d / pki["server_cert"],
                    key=d / pki["server_key"], reject=(".*",)).start()
    inst.set_keys("smtp", port=peer.port)
    alert = inst.submit_signed(inst.cap(addresses=" ".join(
        inst.teams()[:nteams])))
    return alert, peer


def test_lines_have_time_and_level_and_the_level_filters(inst, pki,
                                                         tmp_path):
    alert, peer = dead_broadcast(inst, pki, tmp_path)
    try:
        r = inst.serve()
        lines = [x for x in r.stderr.splitlines() if "progress" not in x
                 and not x.startswith("tocsin serve: ")]
        for x in lines:
            assert LINE.match(x), x
        start = [x for x in lines if " serving: " in x]
        assert len(start) == 1 and ": notice: tocsin 0." in start[0]
        assert f"store {inst.conf_store()}" in start[0]
        assert f"listening on 127.0.0.1:{inst.port}" in start[0]
        assert "channels pgp-email sms voice fax sshdrop" in start[0]
        dead = [x for x in lines if ") is dead: " in x]
        assert len(dead) == 2 and all(": warning: " in x for x in dead)

        # the same run at --log-level warning: the dead, not the start
        inst.run("retry", alert, check=0)
        r = inst.run("serve", "--until-idle", "--log-level", "warning",
                     check=0)
        assert " serving: " not in r.stderr
        assert len([x for x in r.stderr.splitlines()
                    if ") is dead: " in x]) == 2
        r = inst.run("serve", "--log-level", "loud", check=64)
        assert "--log-level is one of" in r.stderr
    finally:
        peer.stop()


def test_under_systemd_lines_go_to_the_journal_with_fields(inst, pki,
                                                           tmp_path):
    """journald is stood in for by a socket of the test's own, bound in a
    mount namespace of serve's own over /run/systemd/journal; serve's
    stderr is a file whose device and inode JOURNAL_STREAM names."""
    alert, peer = dead_broadcast(inst, pki, tmp_path)
    jdir = Path(tempfile.mkdtemp(prefix="journal-"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(jdir / "socket"))
    sock.settimeout(0.2)
    made = not os.path.isdir("/run/systemd/journal")
    os.makedirs("/run/systemd/journal", exist_ok=True)
    err_path = tmp_path / "stderr"
    try:
        with open(err_path, "w") as err:
            st = os.fstat(err.fileno())
            env = dict(os.environ,
                       JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
            p = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "sh",
                 "-c", 'mount --bind "$1" /run/systemd/journal && shift '
                 '&& exec "$@"', "sh", str(jdir), str(BIN), "-c",
                 str(inst.conf), "serve", "--until-idle", "--quiet"],
                stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=120)
        assert p.returncode == 0, err_path.read_text()
        got = []
        while True:
            try:
                got.append(sock.recv(65536).decode())
            except socket.timeout:
                break
    finally:
        peer.stop()
        sock.close()
        for f in jdir.iterdir():
            f.unlink()
        jdir.rmdir()
        if made:
            os.rmdir("/run/systemd/journal")
    entries = [dict(line.split("=", 1) for line in g.splitlines()
                    if "=" in line) for g in got]
    dead = [e for e in entries if ") is dead: " in e.get("MESSAGE", "")]
    assert len(dead) == 2
    ids = {i for (i,) in inst.sql("SELECT id FROM deliveries WHERE "
                                  "alert_id = ?", alert)}
    for e in dead:
        assert e["PRIORITY"] == "4" and e["SYSLOG_IDENTIFIER"] == "tocsin"
        assert e["TOCSIN_ALERT"] == alert and e["TOCSIN_CHANNEL"] == \
            "pgp-email"
        assert int(e["TOCSIN_DELIVERY"]) in ids
        assert e["TOCSIN_TEAM"] in inst.teams()[:2]
        assert e["MESSAGE"].startswith("tocsin serve: delivery ")
    start = [e for e in entries if " serving: " in e.get("MESSAGE", "")]
    assert len(start) == 1 and start[0]["PRIORITY"] == "5"
    # what went to the journal is not also on stderr
    assert ") is dead: " not in err_path.read_text()


def test_no_library_chatter_when_the_port_is_taken(inst):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    inst.set_keys("gateway", listen=f"127.0.0.1:{s.getsockname()[1]}")
    try:
        r = inst.run("serve", "--until-idle")
    finally:
        s.close()
    assert r.returncode != 0
    assert "the address is in use or not this host's" in r.stderr
    assert "Failed to" not in r.stderr and "bind" not in r.stderr.lower()
