"""Start and stop tests/peers/gsm_modem.py from a test, read what it
recorded, and drive it through its control socket.

    with GsmModem(tmp_path, pin="1234") as modem:
        ... point tocsin at modem.device ...
        modem.set_faults([{"match": "^\\+254", "action": "cms_error",
                           "code": 38, "count": 1}])
        modem.inbound("+254700000001", "ACK 12345678")
        sms = modem.events("sms")

The peer's stdout and stderr go to files in workdir (<name>.out and
<name>.log), never to pipes.  Its device is a symlink <name>.tty in
workdir, to the pty's slave.
"""
import json
import socket
import subprocess
import time
from pathlib import Path

from peerproc import PeerProcess

SRC = Path(__file__).resolve().parents[2]
PEER = SRC / "tests" / "peers" / "gsm_modem.py"
PYTHON = "/usr/bin/python3"


class GsmModem(PeerProcess):
    what = "gsm_modem"

    def __init__(self, workdir, pin=None, registration=None, faults=(),
                 name="gsm_modem", extra=()):
        """pin: the SIM asks it (--pin); registration: --registration;
        faults: rule dicts given with --fault; extra: more arguments."""
        self.workdir = Path(workdir)
        self.pin = pin
        self.registration = registration
        self.faults = list(faults)
        self.extra = list(extra)
        self.name = name
        self.ready = self.workdir / f"{name}.ready"
        self.logfile = self.workdir / f"{name}.log"
        self.stdout_file = self.workdir / f"{name}.out"
        self.events_file = self.workdir / f"{name}.jsonl"
        self.link = self.workdir / f"{name}.tty"
        self.info = None

    def command(self):
        cmd = [PYTHON, str(PEER), "--link", str(self.link), "--ready-file",
               str(self.ready), "--log", str(self.events_file)]
        if self.pin is not None:
            cmd += ["--pin", self.pin]
        if self.registration is not None:
            cmd += ["--registration", str(self.registration)]
        for f in self.faults:
            cmd += ["--fault", json.dumps(f)]
        return cmd + self.extra

    def start(self, timeout=10):
        # PeerProcess.start reads a port from the ready file; this one is
        # JSON.  Wait for it the same way, then read it.
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready.unlink(missing_ok=True)
        with open(self.stdout_file, "ab") as out, \
                open(self.logfile, "ab") as err:
            self.proc = subprocess.Popen(self.command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"gsm_modem exited {self.proc.returncode}"
                                   f" before serving:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gsm_modem not serving after {timeout} "
                                   f"s:\n{self.log()}")
            time.sleep(0.02)
        self.info = json.loads(self.ready.read_text())
        return self

    @property
    def device(self):
        return self.info["device"]

    def events(self, kind=None):
        """The recorded events, oldest first (parsed JSON lines), only those
        of kind when given.  A line still being written is left out."""
        try:
            text = self.events_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        evs = [json.loads(line) for line in text.split("\n")[:-1] if line]
        return [e for e in evs if kind is None or e["event"] == kind]

    def wait_events(self, kind, count, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(kind)
            if len(evs) >= count or time.monotonic() > deadline:
                return evs
            time.sleep(0.02)

    def control(self, cmd=None, check=True):
        """Send one command on the control socket; its answer.  check:
        raise when the peer refused it."""
        cmd = {"get": True} if cmd is None else cmd
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.info["control"])
            s.sendall(json.dumps(cmd).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        ans = json.loads(buf)
        if check and not ans.get("ok"):
            raise RuntimeError(f"gsm_modem control refused {cmd}: {ans}")
        return ans

    def set_faults(self, rules):
        return self.control({"reset": True, "rules": list(rules)})

    def add_faults(self, rules):
        return self.control({"add": list(rules)})

    def set_state(self, **state):
        return self.control({"state": state})

    def inbound(self, frm, text, dcs=None):
        """Store an inbound SMS; the indexes it took."""
        msg = {"from": frm, "text": text}
        if dcs is not None:
            msg["dcs"] = dcs
        return self.control({"inbound": msg})["inbound"]
