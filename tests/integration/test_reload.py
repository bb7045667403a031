"""serve under a supervisor: what it tells systemd on NOTIFY_SOCKET
(READY with its status, a watchdog ping each second, RELOADING, STOPPING)
and SIGHUP, which re-reads the configuration: a broken one is refused
with its file and line, logged and audited, and serve goes on; a good one
is taken after the batches in hand, in the same process.  Reloads in the
middle of a broadcast through a slow relay lose no mail and repeat none."""
import collections
import os
import signal
import socket
import subprocess
import time

from conftest import BIN
from smtppeer import SmtpPeer
from test_escalation import ladder


class Notify:
    """A datagram socket where serve's sd_notify messages arrive."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait(self, want, timeout=30):
        """Read until a message with the line `want` arrives; return it."""
        end = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                raise AssertionError(f"no {want!r} in {self.got!r}")
            self.got.append(msg)
            if want in msg.split("\n"):
                return msg

    def close(self):
        self.sock.close()


def serve_notified(inst, notify, log_name="serve.log"):
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    log = open(inst.dir / log_name, "w")
    return subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def break_config(inst):
    """A policy step naming a channel that is none: an error at its line."""
    good = inst.conf.read_text()
    bad = good.replace('notify = [ "', 'notify = [ "primary:owl", "', 1)
    assert bad != good
    inst.conf.write_text(bad)
    line = next(i + 1 for i, t in enumerate(bad.splitlines())
                if '"primary:owl"' in t)
    return good, line


def test_notify_reload_refused_then_taken(inst, tmp_path):
    notify = Notify(tmp_path / "notify")
    proc = serve_notified(inst, notify)
    try:
        ready = notify.wait("READY=1")
        assert "STATUS=serving 127.0.0.1:" in ready
        notify.wait("WATCHDOG=1")
        t0 = time.monotonic()
        notify.wait("WATCHDOG=1")
        assert time.monotonic() - t0 < 2.5     # pinged about each second

        # a broken configuration: refused, serve goes on with its own
        good, line = break_config(inst)
        proc.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        notify.wait("READY=1")
        time.sleep(0.5)
        assert proc.poll() is None
        log = (inst.dir / "serve.log").read_text()
        assert f"reload refused, the running configuration stays: " \
               f"{inst.conf}:{line}:" in log
        refused = [a for a in inst.audit() if a[2] == "reload-refused"]
        assert len(refused) == 1 and f":{line}:" in refused[0][4]
        assert refused[0][1] == "tocsin serve"

        # the same file mended, with another worker count: taken, in the
        # same process
        inst.conf.write_text(good)
        inst.set_keys("gateway", workers=3)
        pid = proc.pid
        proc.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        notify.wait("READY=1")
        assert proc.poll() is None and proc.pid == pid
        end = time.monotonic() + 10
        while (inst.dir / "serve.log").read_text().count(
                "serving: store") < 2:
            assert time.monotonic() < end
            time.sleep(0.1)
        assert ", 3 workers," in (inst.dir / "serve.log").read_text()
        assert [a[2] for a in inst.audit() if a[2].startswith("reload")] \
            == ["reload-refused", "reload"]

        proc.send_signal(signal.SIGTERM)
        notify.wait("STOPPING=1")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    inst.run("audit", "verify", check=0)


def test_reloads_during_a_broadcast_lose_and_repeat_nothing(inst, pki,
                                                            tmp_path):
    ladder(inst, [("0s", ["all:pgp-email"])], "1h")
    teams = inst.teams()[:12]
    d = pki["dir"]
    # each SMTP command takes 0.15 s: the broadcast lasts several seconds
    peer = SmtpPeer(tmp_path / "relay", cert=d / pki["server_cert"],
                    key=d / pki["server_key"], delay=0.15).start()
    inst.set_keys("smtp", port=peer.port)
    notify = Notify(tmp_path / "notify")
    try:
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        want = inst.sql("SELECT address FROM deliveries WHERE alert_id = ? "
                        "AND channel = 'pgp-email'", alert)
        want = collections.Counter(a for (a,) in want)
        proc = serve_notified(inst, notify)
        notify.wait("READY=1")
        end = time.monotonic() + 60
        while len(peer.messages()) < 2:
            assert time.monotonic() < end
            time.sleep(0.05)
        # a good reload in the middle of it, then a broken one
        proc.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        notify.wait("READY=1")
        good, _ = break_config(inst)
        proc.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        notify.wait("READY=1")
        inst.conf.write_text(good)
        end = time.monotonic() + 120
        while inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? "
                       "AND state NOT IN ('sent', 'dead')", alert)[0][0]:
            assert time.monotonic() < end, "the broadcast did not finish"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        peer.stop()
        notify.close()
    got = collections.Counter()
    for m in peer.messages():
        got.update(m["rcpt_tos"])
    # every recipient once: nothing lost, nothing repeated
    assert got == want
    assert dict(inst.sql("SELECT state, count(*) FROM deliveries WHERE "
                         "alert_id = ? GROUP BY state", alert)) == {
        "sent": sum(1 for _ in inst.sql(
            "SELECT DISTINCT id FROM deliveries WHERE alert_id = ?", alert))}
    assert [a[2] for a in inst.audit() if a[2].startswith("reload")] == [
        "reload", "reload-refused"]
