"""The SSH test peer itself (tests/integration/sshpeer.py: a real OpenSSH
sshd serving SFTP), driven with the real OpenSSH client.

These tests prove the peer before tocsin's SSH drop channel relies on it:
byte-exact uploads into the drop folder, rename semantics, refusal of a
client key it does not know, a client that refuses a host key it does not
know, the fingerprint it reports, several peers at once, restarts, port
retries and a clean stop.  They do not need the tocsin binary.

Rename, as observed with OpenSSH 9.2 (sftp client and sftp-server):
  * plain SSH2_FXP_RENAME (the protocol's rename, which sftp sends for
    "rename -l" and libssh's sftp_rename sends at SFTP version 3) refuses an
    existing target: status SSH2_FX_FAILURE ("Failure"), both files left as
    they were; onto a free name it works;
  * sftp's plain "rename" uses the posix-rename@openssh.com extension, which
    the server offers: rename(2), so it silently replaces the target.
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import sshpeer
from sshpeer import SshPeer, keygen

TIMEOUT = 30   # seconds for any one client run; the peer is local

pytestmark = pytest.mark.skipif(
    not (Path(sshpeer.SSHD).exists() and shutil.which("sftp")),
    reason="needs openssh-server and openssh-client (.ci/install-deps)")


@pytest.fixture
def make_peer(tmp_path):
    """A factory of started peers in tmp_path; every one is stopped at the
    end of the test, passed or failed."""
    peers = []

    def make(**kw):
        p = SshPeer(tmp_path, **kw)
        peers.append(p)
        return p.start()

    yield make
    for p in peers:
        p.stop()


@pytest.fixture
def peer(make_peer):
    return make_peer()


def sftp(peer, *commands, key=None, known_hosts=None, port=None):
    """Run the OpenSSH sftp client in batch mode against peer, reading the
    batch from stdin; no user or system ssh configuration, no agent.
    Returns the CompletedProcess (text)."""
    key = key if key is not None else peer.client_key
    known_hosts = (known_hosts if known_hosts is not None
                   else peer.known_hosts_file())
    cmd = ["sftp", "-F", "/dev/null", "-b", "-", "-i", str(key),
           "-o", f"UserKnownHostsFile={known_hosts}",
           "-o", "GlobalKnownHostsFile=/dev/null",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
           "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
           "-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=10",
           "-P", str(port if port is not None else peer.port),
           f"{peer.user}@{peer.host}"]
    return subprocess.run(cmd, input="".join(c + "\n" for c in commands),
                          capture_output=True, text=True, timeout=TIMEOUT)


def ok(r, peer):
    assert r.returncode == 0, (f"sftp exited {r.returncode}\nstdout:\n"
                               f"{r.stdout}\nstderr:\n{r.stderr}\n"
                               f"sshd log:\n{peer.log_text()}")
    return r


def contents(peer):
    return {f: (peer.root / f).read_bytes() for f in peer.files()}


# --- (a) uploads ---------------------------------------------------------
def test_put_lands_byte_exact(peer, tmp_path):
    assert peer.host == "127.0.0.1" and 1024 < peer.port < 65536
    assert peer.user == pwd.getpwuid(os.geteuid()).pw_name
    assert peer.start_seconds is not None and peer.start_seconds < 5
    # Every byte value, CR LF and NUL included, over several SFTP writes
    data = bytes(range(256)) * 4 + b"\r\n\x00" + os.urandom(300 * 1024)
    src = tmp_path / "alert.bin"
    src.write_bytes(data)
    ok(sftp(peer, f"put {src} alert-1.bin", "mkdir sub",
            f"put {src} sub/alert-2.bin",
            f"put {src} {peer.root}/alert-3.bin"), peer)
    assert peer.files() == ["alert-1.bin", "alert-3.bin", "sub/alert-2.bin"]
    for f in peer.files():
        assert (peer.root / f).read_bytes() == data, f
    log = peer.sftp_text()
    # sftp-server -l VERBOSE logs each open and what the close wrote
    assert f'open "{peer.root}/alert-1.bin" flags WRITE,CREATE,TRUNCATE' in log
    assert (f'close "{peer.root}/sub/alert-2.bin" bytes read 0 written '
            f'{len(data)}') in log
    assert f"Accepted publickey for {peer.user} from 127.0.0.1" in \
        peer.log_text()


def test_client_key_and_files_are_private(peer):
    assert peer.client_key.stat().st_mode & 0o777 == 0o600
    assert peer.host_key.stat().st_mode & 0o777 == 0o600
    assert peer.client_pub.read_text().startswith("ssh-ed25519 ")
    assert peer.host_pub.read_text().startswith("ssh-ed25519 ")
    assert peer.authorized_keys.read_text() == peer.client_pub.read_text()
    text = peer.config.read_text()
    assert f"ListenAddress 127.0.0.1\nPort {peer.port}\n" in text
    assert "PasswordAuthentication no" in text and "UsePAM no" in text
    # the peer reads nothing of /etc/ssh
    assert "/etc/ssh" not in text
    assert peer.root.is_dir() and peer.root.parent == peer.workdir


# --- (b) rename ----------------------------------------------------------
def test_rename_legacy_refuses_existing_target(peer):
    (peer.root / "a.tmp").write_bytes(b"new\n")
    (peer.root / "a.xml").write_bytes(b"old\n")
    # SSH2_FXP_RENAME (sftp "rename -l"): refused, nothing touched
    r = sftp(peer, "rename -l a.tmp a.xml")
    assert r.returncode == 1, r
    assert "Failure" in r.stderr, r.stderr
    assert contents(peer) == {"a.tmp": b"new\n", "a.xml": b"old\n"}
    assert (f'rename old "{peer.root}/a.tmp" new "{peer.root}/a.xml"\n'
            "sent status Failure") in peer.sftp_text()
    # onto a free name it works
    ok(sftp(peer, "rename -l a.tmp b.xml"), peer)
    assert contents(peer) == {"a.xml": b"old\n", "b.xml": b"new\n"}


def test_rename_posix_extension_replaces_target(peer):
    (peer.root / "a.tmp").write_bytes(b"new\n")
    (peer.root / "a.xml").write_bytes(b"old\n")
    # plain "rename": posix-rename@openssh.com, i.e. rename(2): replaces
    ok(sftp(peer, "rename a.tmp a.xml"), peer)
    assert contents(peer) == {"a.xml": b"new\n"}
    assert (f'posix-rename old "{peer.root}/a.tmp" new "{peer.root}/a.xml"'
            in peer.sftp_text())


def test_put_then_rename_in_one_session(peer, tmp_path):
    """How a drop is meant to go: upload under a temporary name, rename."""
    src = tmp_path / "x"
    src.write_bytes(b"<alert/>\n")
    ok(sftp(peer, f"put {src} .alert-7.xml.part",
            "rename -l .alert-7.xml.part alert-7.xml"), peer)
    assert contents(peer) == {"alert-7.xml": b"<alert/>\n"}


# --- (c) unknown client key ----------------------------------------------
def test_other_client_key_refused(peer, tmp_path):
    other = keygen(tmp_path / "intruder", "intruder")
    src = tmp_path / "x"
    src.write_bytes(b"x")
    r = sftp(peer, f"put {src} x", key=other)
    assert r.returncode == 255, r
    assert "Permission denied (publickey)" in r.stderr, r.stderr
    assert peer.files() == []
    log = peer.log_text()
    assert "Accepted publickey" not in log
    # the server saw and turned away exactly that key
    fpr = sshpeer.fingerprint_of(str(other) + ".pub")
    assert (f"Failed publickey for {peer.user} from 127.0.0.1 port "
            in log), log
    assert f"ED25519 {fpr}" in log, log
    # and the right key still gets in afterwards
    ok(sftp(peer, f"put {src} x"), peer)
    assert peer.files() == ["x"]


# --- (d) unknown or wrong host key ---------------------------------------
def test_wrong_host_key_refused_by_client(peer, tmp_path):
    src = tmp_path / "x"
    src.write_bytes(b"x")
    # a known_hosts entry for [127.0.0.1]:PORT with some other key
    fake = keygen(tmp_path / "fake_host", "fake")
    kind, blob = Path(str(fake) + ".pub").read_text().split()[:2]
    wrong = tmp_path / "known_hosts.wrong"
    wrong.write_text(f"[127.0.0.1]:{peer.port} {kind} {blob}\n")
    r = sftp(peer, f"put {src} x", known_hosts=wrong)
    assert r.returncode == 255, r
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in r.stderr, r.stderr
    assert "Host key verification failed." in r.stderr
    # the right key, but filed under another port: unknown host
    other_port = tmp_path / "known_hosts.port"
    elsewhere = peer.port + 1 if peer.port < 65535 else 1025
    other_port.write_text(peer.known_hosts_line().replace(
        f"]:{peer.port} ", f"]:{elsewhere} "))
    r = sftp(peer, f"put {src} x", known_hosts=other_port)
    assert r.returncode == 255, r
    assert "Host key verification failed." in r.stderr, r.stderr
    # no known_hosts at all
    empty = tmp_path / "known_hosts.empty"
    empty.write_text("")
    r = sftp(peer, f"put {src} x", known_hosts=empty)
    assert r.returncode == 255, r
    assert "Host key verification failed." in r.stderr, r.stderr
    assert empty.read_text() == ""       # nothing learnt
    assert peer.files() == []
    assert "Accepted publickey" not in peer.log_text()
    # the peer's own known_hosts file is accepted
    ok(sftp(peer, f"put {src} x", known_hosts=peer.known_hosts_file()), peer)
    assert peer.files() == ["x"]


def test_known_hosts_file(peer, tmp_path):
    p = peer.known_hosts_file()
    assert p == peer.workdir / "known_hosts"
    kind, blob = peer.host_pub.read_text().split()[:2]
    assert p.read_text() == f"[127.0.0.1]:{peer.port} {kind} {blob}\n"
    q = peer.known_hosts_file(tmp_path / "kh")
    assert q == tmp_path / "kh" and q.read_text() == p.read_text()
    # ssh-keygen finds the entry under the name a client looks up
    r = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{peer.port}", "-f",
                        str(p)], capture_output=True, text=True)
    assert r.returncode == 0 and blob in r.stdout


# --- (e) fingerprint -----------------------------------------------------
def test_fingerprint_matches_keyscan(peer):
    fpr = peer.fingerprint()
    assert fpr.startswith("SHA256:") and len(fpr) == len("SHA256:") + 43
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p",
                           str(peer.port), "127.0.0.1"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert scan.returncode == 0 and scan.stdout, scan.stderr
    # what the server sent is the key the peer says it has
    assert scan.stdout.split("\n")[0] + "\n" == peer.known_hosts_line()
    lf = subprocess.run(["ssh-keygen", "-lf", "-"], input=scan.stdout,
                        capture_output=True, text=True, timeout=TIMEOUT)
    assert lf.returncode == 0, lf.stderr
    # "256 SHA256:... [127.0.0.1]:PORT (ED25519)"
    bits, scanned, name, kind = lf.stdout.split()
    assert scanned == fpr
    assert (bits, name, kind) == ("256", f"[127.0.0.1]:{peer.port}",
                                  "(ED25519)")


# --- (f) several peers ---------------------------------------------------
def test_two_peers_at_once(make_peer, tmp_path):
    a, b = make_peer(), make_peer()
    assert a.proc.poll() is None and b.proc.poll() is None
    assert a.port != b.port
    assert a.workdir != b.workdir and a.root != b.root
    assert a.fingerprint() != b.fingerprint()
    src = tmp_path / "x"
    src.write_bytes(b"to a")
    ok(sftp(a, f"put {src} for-a"), a)
    src.write_bytes(b"to b")
    ok(sftp(b, f"put {src} for-b"), b)
    assert contents(a) == {"for-a": b"to a"}
    assert contents(b) == {"for-b": b"to b"}
    # each peer its own client key and host key
    r = sftp(b, f"put {src} x", key=a.client_key)
    assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr
    r = sftp(b, f"put {src} x", known_hosts=a.known_hosts_file())
    assert r.returncode == 255, r
    assert "Host key verification failed." in r.stderr, r.stderr
    assert contents(b) == {"for-b": b"to b"}


def test_peers_started_concurrently(make_peer):
    peers, errors = [None] * 4, []

    def go(i):
        try:
            peers[i] = make_peer()
        except Exception as e:          # reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len({p.port for p in peers}) == 4
    for p in peers:
        ok(sftp(p, "mkdir here"), p)
        assert (p.root / "here").is_dir()


# --- ports, restarts, stop -----------------------------------------------
def test_taken_port_picked_again(make_peer, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = [taken]
        real = sshpeer.free_port
        monkeypatch.setattr(
            sshpeer, "free_port",
            lambda host=sshpeer.HOST: picks.pop(0) if picks else real(host))
        p = make_peer()
        assert p.port != taken
        assert "Address already in use" in p.log_text()
        ok(sftp(p, "mkdir d"), p)


def test_fixed_taken_port_fails(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        p = SshPeer(tmp_path, port=taken)
        try:
            with pytest.raises(RuntimeError, match="Address already in use"):
                p.start()
        finally:
            p.stop()


def test_restart_keeps_port_and_host_key(peer, tmp_path):
    port, fpr = peer.port, peer.fingerprint()
    kh = peer.known_hosts_file(tmp_path / "kh")
    ok(sftp(peer, "mkdir kept", known_hosts=kh), peer)
    assert peer.stop() is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    peer.start()
    assert (peer.port, peer.fingerprint()) == (port, fpr)
    ok(sftp(peer, "rmdir kept", known_hosts=kh), peer)
    assert not (peer.root / "kept").exists()


def test_stop_ends_open_sessions(peer):
    # a session that stays open: sftp reading its batch from a pipe
    client = subprocess.Popen(
        ["sftp", "-F", "/dev/null", "-b", "-", "-i", str(peer.client_key),
         "-o", f"UserKnownHostsFile={peer.known_hosts_file()}",
         "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-P", str(peer.port), f"{peer.user}@127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        client.stdin.write(b"mkdir open\n")
        client.stdin.flush()
        deadline = time.monotonic() + TIMEOUT
        while not (peer.root / "open").exists():
            assert time.monotonic() < deadline, peer.log_text()
            assert client.poll() is None, peer.log_text()
            time.sleep(0.02)
        kids = sshpeer._descendants(peer.proc.pid)
        assert kids, "no session processes under sshd"
        peer.stop()
        assert peer.proc.poll() is not None
        for pid in kids:
            assert not peer._alive(pid), pid
        # the client (blocked reading its batch, not the connection) finds
        # the connection gone at its next command
        try:
            client.stdin.write(b"mkdir after\n")
            client.stdin.close()
        except BrokenPipeError:
            pass
        assert client.wait(timeout=TIMEOUT) != 0
        assert not (peer.root / "after").exists()
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        try:
            client.stdin.close()
        except OSError:
            pass


def test_internal_sftp(make_peer, tmp_path):
    p = make_peer(sftp="internal")
    assert "Subsystem sftp internal-sftp" in p.config.read_text()
    src = tmp_path / "x"
    src.write_bytes(b"internal\n")
    ok(sftp(p, f"put {src} x"), p)
    assert contents(p) == {"x": b"internal\n"}


def test_own_tmp_folder_removed_on_close():
    p = SshPeer()
    try:
        assert p.workdir.parent == Path("/tmp")
        p.start()
        ok(sftp(p, "mkdir d"), p)
        p.stop()
        assert p.workdir.is_dir()        # stop() keeps it: restartable
        p.start()
        ok(sftp(p, "rmdir d"), p)
    finally:
        p.close()
    assert not p.workdir.exists()
    with SshPeer() as q:
        assert q.proc.poll() is None
    assert q.proc.poll() is not None and not q.workdir.exists()


def _login_user():
    """A user other than root with a real login shell, for the non-root
    test; None if there is none."""
    shells = set()
    try:
        shells = {s.strip() for s in Path("/etc/shells").read_text()
                  .splitlines() if s.startswith("/")}
    except OSError:
        pass
    for pw in pwd.getpwall():
        if pw.pw_uid >= 1000 and pw.pw_uid != 65534 and \
                pw.pw_shell in shells and os.access(pw.pw_shell, os.X_OK):
            return pw
    return None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root (to become another user) and setpriv")
def test_runs_as_non_root_user():
    """Tests run by a user other than root get a peer that lets that user
    in (run here as the first ordinary user of the system)."""
    pw = _login_user()
    if pw is None:
        pytest.skip("no ordinary user with a login shell")
    # pytest's own tmp folders are 0700 root: a folder of its own in /tmp
    d = Path(tempfile.mkdtemp(prefix="sshpeer-user-", dir="/tmp"))
    try:
        os.chown(d, pw.pw_uid, pw.pw_gid)
        _as_user(pw, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _as_user(pw, d):
    script = d / "run.py"
    script.write_text(f"""
import subprocess, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from sshpeer import SshPeer
p = SshPeer({str(d)!r}).start()
try:
    r = subprocess.run(["sftp", "-F", "/dev/null", "-b", "-",
        "-i", str(p.client_key),
        "-o", "UserKnownHostsFile=" + str(p.known_hosts_file()),
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-P", str(p.port), p.user + "@127.0.0.1"],
        input="mkdir made-by-" + p.user + "\\n", capture_output=True,
        text=True, timeout=30)
    print(p.user, r.returncode, p.files(), sorted(x.name for x in
          p.root.iterdir()))
    print(r.stderr, p.log_text(), file=sys.stderr)
finally:
    p.stop()
""")
    r = subprocess.run(["setpriv", f"--reuid={pw.pw_uid}",
                        f"--regid={pw.pw_gid}", "--clear-groups", "env",
                        f"HOME={pw.pw_dir}", "/usr/bin/python3", str(script)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == \
        f"{pw.pw_name} 0 [] ['made-by-{pw.pw_name}']", r.stderr
