"""The SSH drop end to end: tocsin serve against a real OpenSSH sshd on a
high loopback port (throwaway host key, an authorized key), checked on
the drop folder itself and with real gpg and sha256 sums."""
import hashlib
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import free_port
from sshpeer import SshPeer


@pytest.fixture
def peer(tmp_path):
    p = SshPeer(tmp_path / "sshd").start()
    yield p
    p.stop()


def configure(inst, peer, teams, fingerprint=None, known_hosts=None,
              port=None, folders=None, step0='[ "team:sshdrop" ]'):
    """providers.sshdrop with one host "peer", step 0 of every policy as
    step0, and a drop for each of teams."""
    pin = (f'known_hosts = "{known_hosts}";' if known_hosts else
           f'fingerprint = "{fingerprint or peer.fingerprint()}";')
    text = inst.conf.read_text()
    text = re.sub(r"\n  sshdrop = \(.*?\n  \);", "", text, flags=re.S)
    text = text.replace("providers = {", "providers = {\n  sshdrop = (\n"
                        f'    {{ name = "peer"; host = "127.0.0.1"; '
                        f'port = {port or peer.port}; user = "{peer.user}"; '
                        f'key = "{peer.client_key}"; {pin} '
                        f'path = "{peer.root}"; timeout = "5s"; }}\n  );', 1)
    text, n = re.subn(r'notify = \[ "primary:pgp-email", "primary:(sms|fax)" \]',
                      f"notify = {step0}", text)
    assert n >= 2
    inst.conf.write_text(text)
    tt = (inst.dir / "teams.conf").read_text()
    for t in teams:
        folder = (folders or {}).get(t)
        extra = f' folder = "{folder}";' if folder else ""
        tt, n = re.subn(rf'(\{{ id = "{t}";\n(?:.*\n)*?    policy = "[^"]+";)',
                        lambda m: m.group(1) + '\n    sshdrop = { host = '
                        f'"peer";{extra} }};', tt, count=1)
        assert n == 1, t
    (inst.dir / "teams.conf").write_text(tt)


def drop_rows(inst, alert):
    return inst.sql("SELECT team, contact, address, state, attempts, "
                    "last_error, provider_ref FROM deliveries WHERE "
                    "alert_id = ? AND channel = 'sshdrop' ORDER BY team",
                    alert)


def submit(inst, teams, **kw):
    doc = inst.cap(addresses=" ".join(teams), **kw)
    a = inst.write("alert.xml", doc)
    sigs = [inst.gpg_sign(a, s) for s in ("desk-1", "desk-2")]
    alert = inst.run("submit", a, "--sig", sigs[0], "--sig", sigs[1],
                     check=0).stdout.strip()
    return alert, a.read_bytes(), [s.read_bytes() for s in sigs]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_drops_land_whole_signed_and_summed(inst, peer, verify_home,
                                            tmp_path):
    teams = inst.teams()[:4]
    configure(inst, peer, teams)
    alert, cap, sigs = submit(inst, teams)
    p = inst.serve()
    assert p.returncode == 0, p.stderr
    rows = drop_rows(inst, alert)
    assert [r[0] for r in rows] == sorted(teams)
    assert all(r[3] == "sent" and r[1] == "" for r in rows), rows
    for t in teams:
        folder = Path(peer.root) / t
        assert {r[2] for r in rows if r[0] == t} == {f"peer:{folder}"}
        names = sorted(os.listdir(folder))
        base = f"alert-{alert}"
        assert names == sorted([f"{base}.xml", f"{base}.sig1.asc",
                                f"{base}.sig2.asc", f"{base}.{t}.s0.txt.asc",
                                f"{base}.{t}.s0.sha256"]), names
        # the CAP document and the issuers' signatures, as accepted
        assert (folder / f"{base}.xml").read_bytes() == cap
        got = {(folder / f"{base}.sig{i}.asc").read_bytes() for i in (1, 2)}
        assert got == set(sigs)
        # the manifest: every other file, with its SHA-256
        man = (folder / f"{base}.{t}.s0.sha256").read_text().splitlines()
        assert len(man) == 4
        for line in man:
            h, name = line.split("  ", 1)
            assert sha((folder / name).read_bytes()) == h
        r = subprocess.run(["sha256sum", "-c", "--strict",
                            f"{base}.{t}.s0.sha256"], cwd=folder,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        # the message, clear-signed by the gateway key
        msg = folder / f"{base}.{t}.s0.txt.asc"
        r = subprocess.run(["gpg", "--homedir", str(verify_home), "--batch",
                            "--status-fd", "1", "--verify", str(msg)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "VALIDSIG" in r.stdout
        text = msg.read_text()
        assert text.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
        assert f"Alert id: {alert}" in text and f"Team: {t}" in text
    # one session served the batch: one login in sshd's log per batch,
    # not one per team
    logins = peer.log_text().count("Accepted publickey")
    assert 1 <= logins < len(teams)


def test_known_hosts_pin_and_a_folder_of_its_own(inst, peer, tmp_path):
    teams = inst.teams()[:2]
    configure(inst, peer, teams, known_hosts=peer.known_hosts_file(),
              folders={teams[0]: "drop-a"})
    alert, _, _ = submit(inst, teams)
    inst.serve()
    assert {r[3] for r in drop_rows(inst, alert)} == {"sent"}
    assert (Path(peer.root) / "drop-a" / f"alert-{alert}.xml").exists()
    assert (Path(peer.root) / teams[1] / f"alert-{alert}.xml").exists()


def test_wrong_fingerprint_writes_nothing_and_says_why(inst, peer):
    teams = inst.teams()[:2]
    other = "SHA256:" + "A" * 43
    configure(inst, peer, teams, fingerprint=other)
    alert, _, _ = submit(inst, teams)
    inst.serve()
    rows = drop_rows(inst, alert)
    assert {r[3] for r in rows} == {"dead"}, rows
    for r in rows:
        assert other in r[5] and peer.fingerprint() in r[5], r[5]
        assert "nothing was written" in r[5]
    assert list(Path(peer.root).iterdir()) == []
    assert "Accepted publickey" not in peer.log_text()


def test_unknown_host_in_known_hosts_is_refused(inst, peer, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    teams = inst.teams()[:1]
    configure(inst, peer, teams, known_hosts=empty)
    alert, _, _ = submit(inst, teams)
    inst.serve()
    (row,) = drop_rows(inst, alert)
    assert row[3] == "dead" and "never trusted on first use" in row[5]
    assert list(Path(peer.root).iterdir()) == []


def test_unreachable_host_is_retried_then_fails(inst, peer):
    teams = inst.teams()[:1]
    configure(inst, peer, teams, port=free_port())
    inst.set_keys("gateway", max_attempts=3, retry_base="1s", retry_max="2s")
    alert, _, _ = submit(inst, teams)
    t0 = time.monotonic()
    inst.serve()
    took = time.monotonic() - t0
    (row,) = drop_rows(inst, alert)
    assert row[3] == "dead" and row[4] == 3, row
    assert "cannot connect" in row[5], row[5]
    # the backoff is whole seconds from time(), so the wait between two
    # tries can be just over zero: only the tries themselves are counted
    assert took < 30
    # the team's ladder is untouched: its state goes on to the next step
    st = inst.sql("SELECT count(*) FROM team_states WHERE alert_id = ?",
                  alert)[0][0]
    assert st == 1


def test_a_reader_never_sees_a_partial_file(inst, peer):
    teams = inst.teams()[:20]
    configure(inst, peer, teams)
    # near the CAP parser's 64 KiB limit per element: a CAP file of about
    # 120 KiB, written in several pieces
    big = "The registry's EPP service is under attack; watch it. " * 1150
    alert, _, _ = submit(inst, teams, infos=[("en-US", "Large drop 4411",
                                              big, big)])
    seen = {}
    stop = threading.Event()

    def reader():
        root = Path(peer.root)
        while not stop.is_set():
            for d in list(root.iterdir()) if root.exists() else []:
                for f in list(d.iterdir()) if d.is_dir() else []:
                    if f.name.startswith(".") or f in seen:
                        continue
                    try:
                        seen[f] = f.read_bytes()
                    except FileNotFoundError:
                        pass

    th = threading.Thread(target=reader)
    th.start()
    try:
        p = inst.serve()
    finally:
        stop.set()
        th.join()
    assert p.returncode == 0, p.stderr
    assert {r[3] for r in drop_rows(inst, alert)} == {"sent"}
    assert len(seen) >= 5 * len(teams) // 2      # the reader was there
    for f, first in seen.items():
        assert first == f.read_bytes(), f"{f} was seen partly written"
    # and no temporary file is left behind
    left = [f for d in Path(peer.root).iterdir() for f in d.iterdir()
            if f.name.startswith(".")]
    assert left == []


@pytest.mark.parametrize("folder", ["../etc", "a/b", "..", ".hidden",
                                    "ke\\x00/../x"],
                         ids=["dotdot", "slash", "parent", "hidden", "nul"])
def test_check_refuses_folders_that_leave_the_drop(inst, peer, folder):
    teams = inst.teams()[:1]
    configure(inst, peer, teams, folders={teams[0]: folder})
    r = inst.run("check")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(r"teams\.conf:\d+: error: .*folder", out), out
