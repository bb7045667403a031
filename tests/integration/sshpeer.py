"""A real OpenSSH sshd on 127.0.0.1, with a drop folder served over SFTP,
for tests of tocsin's SSH drop channel.

    with SshPeer(tmp_path) as peer:
        ... point tocsin at sftp://peer.user@127.0.0.1:peer.port/ with
            identity peer.client_key, known hosts peer.known_hosts_file()
            (or the pin peer.fingerprint()) ...
        assert peer.files() == ["alert-1.xml"]

Everything lives in a folder of its own (a fresh sshd-* folder inside
workdir): a throwaway ed25519 host key, a throwaway client key pair for
tocsin, authorized_keys, the drop folder (root), sshd_config, the pid file
and the logs.  Nothing in /etc/ssh is read or needed, and no system sshd
either: sshd runs in the foreground (-D) with -f our config, on a free high
port of 127.0.0.1.

Who logs in: root when the tests run as root (PermitRootLogin
prohibit-password), else the user running them (an sshd that is not root
can only let its own user in).

SFTP sessions start in the drop folder (sftp-server -d), so relative paths
land in root; absolute paths work as well.  By default the subsystem is
/usr/lib/openssh/sftp-server -e -l VERBOSE with its stderr appended to
sftp.log (sftp_text()): internal-sftp can only log to syslog, which no test
can read.  SshPeer(..., sftp="internal") serves internal-sftp instead (no
per-file log; no login shell needed).

Rename (OpenSSH 9.2's sftp-server, proved in test_ssh_peer.py): the
protocol's SSH2_FXP_RENAME (libssh's sftp_rename at SFTP version 3, sftp's
"rename -l") refuses an existing target with SSH2_FX_FAILURE and touches
nothing; the posix-rename@openssh.com extension (sftp's plain "rename") is
rename(2) and replaces the target.

Logs: sshd's own log (-E) is sshd.log (log_text()); sshd's stdout and
stderr before -E takes effect go to sshd.out.

stop() ends sshd and the sessions it forked (a restart keeps port and host
key); close() also removes a folder the peer made itself in /tmp.

Run by hand (the main job, examples/broadcast.sh, does so), from anywhere:

    /usr/bin/python3 tests/integration/sshpeer.py --dir DIR --ready-file FILE

starts a peer in a fresh sshd-* folder inside DIR, writes FILE once sshd
accepts connections (JSON, written to a temporary name and renamed: port,
user, client_key, fingerprint, root), and serves until SIGTERM or SIGINT;
then it stops sshd and exits 0.  It exits 1 if sshd cannot start or ends on
its own.  The peer's folder, with its keys, logs and drops, is kept.
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from peerproc import PeerProcess
except ImportError:         # run as a script with a sys.path without its folder
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peerproc import PeerProcess

SSHD = "/usr/sbin/sshd"           # sshd wants an absolute path (re-exec)
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
PRIVSEP_DIR = Path("/run/sshd")   # sshd refuses to start as root without it
HOST = "127.0.0.1"


def free_port(host=HOST):
    """A port of host (127.0.0.1) that was free a moment ago (as conftest
    does; sshd cannot listen on port 0)."""
    with socket.socket(socket.AF_INET6 if ":" in host else
                       socket.AF_INET) as so:
        so.bind((host, 0))
        return so.getsockname()[1]


def keygen(path, comment):
    """A throwaway ed25519 key pair at path and path.pub, no passphrase;
    the private key file is mode 0600.  Returns path."""
    path = Path(path)
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                    comment, "-f", str(path)], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)
    os.chmod(path, 0o600)
    return path


def fingerprint_of(pub):
    """"SHA256:..." of a public key file, as ssh-keygen -lf prints it."""
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


def _check_not_locked(user):
    """sshd as root with UsePAM no turns away a user whose shadow password
    starts with "!" ("account is locked"): say so now rather than as a
    refused login later.  (An sshd that is not root cannot read the shadow
    file and does not check.)"""
    if os.geteuid() != 0:
        return
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        name, _, rest = line.partition(":")
        if name == user and rest.startswith("!"):
            raise RuntimeError(
                f"sshd (UsePAM no) would refuse {user}: its password in "
                f"/etc/shadow starts with '!' (locked); unlock it for key "
                f"logins with: usermod -p '*' {user}")


def _children(pid):
    """Pids of the processes whose parent is pid (Linux /proc)."""
    kids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(p.name))
    return kids


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        for k in _children(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


class SshPeer(PeerProcess):
    what = "sshd"

    def __init__(self, workdir=None, port=None, sftp="server",
                 sftp_log_level="VERBOSE", extra_config="", host=HOST):
        """workdir: where the peer makes its folder (a fresh sshd-* folder,
        so several peers may share workdir); None: a folder in /tmp that
        close() (and leaving a with block) removes.  port: a fixed port
        (no retry); None: a free port, picked again when sshd cannot bind
        it.  sftp: "server" (the
        sftp-server program, logging to sftp.log) or "internal"
        (internal-sftp, no log of its own).  extra_config: lines appended
        to sshd_config (sshd keeps the first value of a keyword, so these
        add keywords or Match blocks; they cannot override ours).  host:
        the address sshd listens on, "::1" for IPv6."""
        if sftp not in ("server", "internal"):
            raise ValueError(f"sftp must be 'server' or 'internal': {sftp!r}")
        if sftp == "server" and not Path(SFTP_SERVER).exists():
            raise RuntimeError(f"{SFTP_SERVER} missing (Debian package "
                               f"openssh-sftp-server); or use sftp='internal'")
        self._own_tmp = workdir is None
        parent = Path(workdir) if workdir is not None else None
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(
            prefix="sshd-", dir=str(parent) if parent is not None else "/tmp"))
        d = self.workdir
        # sshd splits config lines on blanks and expands % in Subsystem and
        # AuthorizedKeysFile: keep such paths out.
        if any(c in str(d) for c in " \t\"'%#"):
            raise ValueError(f"sshd cannot take this folder: {d}")
        self.host = host        # "::1": sshd listens on IPv6
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        _check_not_locked(self.user)
        self.fixed_port = port
        self.port = port
        self.proc = None
        self.sftp = sftp
        self.sftp_log_level = sftp_log_level
        self.extra_config = extra_config
        self.root = d / "root"
        self.root.mkdir()
        self.config = d / "sshd_config"
        self.pidfile = d / "sshd.pid"
        self.logfile = d / "sshd.log"       # sshd -E
        self.stdout_file = d / "sshd.out"   # before -E applies
        self.sftp_log = d / "sftp.log"
        self.authorized_keys = d / "authorized_keys"
        self.host_key = keygen(d / "host_ed25519", "tocsin-test-host")
        self.host_pub = d / "host_ed25519.pub"
        self.client_key = keygen(d / "client_ed25519", "tocsin-test-client")
        self.client_pub = d / "client_ed25519.pub"
        self.authorized_keys.write_text(self.client_pub.read_text())
        self.start_seconds = None           # how long the last start took

    # --- configuration -----------------------------------------------------
    def _subsystem(self):
        if self.sftp == "internal":
            return f"internal-sftp -l {self.sftp_log_level} -d {self.root}"
        # sshd runs this through the user's shell, hence the redirection
        return (f"{SFTP_SERVER} -e -l {self.sftp_log_level} -d {self.root}"
                f" 2>>{self.sftp_log}")

    def _write_config(self):
        login = "prohibit-password" if self.user == "root" else "no"
        self.config.write_text(f"""\
# written by tests/integration/sshpeer.py; nothing else is read
ListenAddress {self.host}
Port {self.port}
AddressFamily {"inet6" if ":" in self.host else "inet"}
HostKey {self.host_key}
PidFile {self.pidfile}
AuthorizedKeysFile {self.authorized_keys}
AuthorizedPrincipalsFile none
AuthorizedKeysCommand none
HostbasedAuthentication no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
PermitRootLogin {login}
AllowUsers {self.user}
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
Banner none
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
PermitUserEnvironment no
LoginGraceTime 30
MaxAuthTries 6
MaxSessions 100
MaxStartups 100
LogLevel VERBOSE
Subsystem sftp {self._subsystem()}
{self.extra_config}
""")

    def command(self):
        return [SSHD, "-D", "-e", "-f", str(self.config), "-E",
                str(self.logfile)]

    # --- start and stop ----------------------------------------------------
    def start(self, timeout=10, tries=5):
        """Start sshd and wait until it answers "SSH-2.0-" on its port.  A
        picked port that turns out taken is picked again (tries times); a
        fixed port, or the port of an earlier start (a restart keeps its
        port), is not."""
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            os.chmod(PRIVSEP_DIR, 0o755)
        keep = self.port is not None
        t0 = time.monotonic()
        for attempt in range(1 if keep else tries):
            if not keep:
                self.port = free_port(self.host)
            self._write_config()
            self.pidfile.unlink(missing_ok=True)
            mark = self._size(self.logfile)
            with open(self.stdout_file, "ab") as out:
                self.proc = subprocess.Popen(self.command(),
                                             stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=out)
            if self._wait_ready(timeout):
                self.start_seconds = time.monotonic() - t0
                return self
            new = self._since(mark)
            if not keep and "Address already in use" in new:
                continue            # lost a race for the port: another one
            self._fail(f"exited {self.proc.returncode} before listening on "
                       f"{self.host}:{self.port}")
        self._fail(f"no free port after {tries} tries")

    def _wait_ready(self, timeout):
        """True once sshd has written its pid file (it does so after binding)
        and a connection gets the SSH-2.0- banner; False if sshd exited."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                return False
            if self._pid_written() and self._banner():
                return True
            if time.monotonic() > deadline:
                self.stop()
                self._fail(f"not answering on {self.host}:{self.port} after "
                           f"{timeout} s")
            time.sleep(0.01)

    def _pid_written(self):
        try:
            return int(self.pidfile.read_text().strip()) == self.proc.pid
        except (OSError, ValueError):
            return False

    def _banner(self):
        try:
            with socket.create_connection((self.host, self.port),
                                          timeout=2) as so:
                so.settimeout(2)
                got = b""
                while b"\n" not in got and len(got) < 256:
                    chunk = so.recv(256)
                    if not chunk:
                        break
                    got += chunk
                return got.startswith(b"SSH-2.0-")
        except OSError:
            return False

    def stop(self):
        """SIGTERM sshd and whatever sessions it forked (they outlive the
        listener otherwise), wait, SIGKILL after 5 s.  Returns sshd's exit
        status."""
        if self.proc is None:
            return None
        kids = _descendants(self.proc.pid) if self.proc.poll() is None else []
        rc = super().stop()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for pid in kids:
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if self._alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return rc

    def close(self):
        """stop(), and remove the peer's folder if the peer made it in /tmp
        (workdir=None); a folder in a given workdir is kept for its logs."""
        rc = self.stop()
        if self._own_tmp:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return rc

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _alive(pid):
        # Our session children are not our children: no zombies to reap,
        # but a zombie of sshd's still shows in /proc: look at its state.
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] != "Z"

    # --- what tests read ---------------------------------------------------
    def fingerprint(self):
        """The host key's "SHA256:..." as ssh-keygen -lf prints it."""
        return fingerprint_of(self.host_pub)

    def known_hosts_line(self):
        kind, blob = self.host_pub.read_text().split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}\n"

    def known_hosts_file(self, path=None):
        """Write a known_hosts for [127.0.0.1]:PORT (to path, by default
        known_hosts in the peer's folder); returns its path."""
        if self.port is None:
            raise RuntimeError("known_hosts_file() before start(): no port")
        path = Path(path) if path is not None else self.workdir / "known_hosts"
        path.write_text(self.known_hosts_line())
        return path

    def log_text(self):
        """sshd's log (-E) so far, then anything it wrote before -E took
        effect."""
        return self.log() + self._read(self.stdout_file)

    def sftp_text(self):
        """The sftp-server's log so far (sftp="server" only): one line per
        open, close (with bytes written), rename, remove..."""
        return self._read(self.sftp_log)

    def files(self):
        """Regular files under root, as sorted relative POSIX paths."""
        return sorted(p.relative_to(self.root).as_posix()
                      for p in self.root.rglob("*") if p.is_file())

    def wait_files(self, count, timeout=10):
        """Poll until root holds at least count files; return files()."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.files()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    # --- helpers -----------------------------------------------------------
    def _fail(self, why):
        raise RuntimeError(f"{self.what} {why}\n--- {self.logfile} (tail) "
                           f"---\n{self._tail()}")

    def _tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    @staticmethod
    def _read(path):
        try:
            return Path(path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @staticmethod
    def _size(path):
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def _since(self, mark):
        try:
            with open(self.logfile, "rb") as f:
                f.seek(mark)
                new = f.read().decode(errors="replace")
        except FileNotFoundError:
            new = ""
        return new + self._read(self.stdout_file)


# --- command line ------------------------------------------------------------
def write_ready(path, info):
    """info as JSON at path, by rename: a reader sees all of it or nothing."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".tmp-")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info, indent=1) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="A real OpenSSH sshd on 127.0.0.1 serving a drop folder "
        "over SFTP, with a throwaway host key and client key; runs until "
        "SIGTERM or SIGINT.")
    ap.add_argument("--dir", required=True,
                    help="folder to make the peer's sshd-* folder in")
    ap.add_argument("--ready-file", required=True,
                    help="written (JSON: port, user, client_key, fingerprint, "
                    "root) once sshd accepts connections")
    a = ap.parse_args(argv)

    # A signal only sets a flag, looked at between steps: a SIGTERM during
    # the start still ends with sshd stopped.
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    peer = None
    try:
        peer = SshPeer(Path(a.dir).resolve())
        peer.start()
        if not stopping:
            write_ready(a.ready_file, {
                "port": peer.port, "user": peer.user,
                "client_key": str(peer.client_key),
                "fingerprint": peer.fingerprint(), "root": str(peer.root)})
            print(f"sshpeer: sshd on {peer.host}:{peer.port} (pid "
                  f"{peer.proc.pid}), drops in {peer.root}", file=sys.stderr,
                  flush=True)
        while not stopping:
            if peer.proc.poll() is not None:
                print(f"sshpeer: sshd ended on its own (status "
                      f"{peer.proc.returncode}); see {peer.logfile}",
                      file=sys.stderr)
                return 1
            time.sleep(0.1)
    except (RuntimeError, ValueError, OSError,
            subprocess.CalledProcessError) as e:
        print(f"sshpeer: {e}", file=sys.stderr)
        return 1
    finally:
        if peer is not None:
            peer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
