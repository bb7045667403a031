"""The README's first command and the sample alerts it ships."""
import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import SRC, BIN, cap_time

# the teams of examples/broadcast.sh's --fax-first and --drop-teams
FAX_TEAMS = "aq fk gs io ki nu pn sh tk tv".split()
DROP_TEAMS = "er td cf ss so".split()


@pytest.mark.parametrize("name,teams", [("sample-extreme.xml", None),
                                        ("sample-public.xml", None),
                                        ("sample-exercise.xml", "subset")])
def test_sample_alerts_accepted(inst, name, teams):
    doc = (SRC / "tests" / "data" / "alerts" / name).read_text()
    doc = re.sub(r"<sent>[^<]*</sent>",
                 f"<sent>{cap_time(datetime.now(timezone.utc))}</sent>", doc)
    doc = re.sub(r"<identifier>[^<]*</identifier>",
                 f"<identifier>S-{name}-{os.getpid()}</identifier>", doc)
    a = inst.write(name, doc)
    p = inst.run("submit", a, "--sig", inst.gpg_sign(a, "desk-1"), "--sig",
                 inst.gpg_sign(a, "desk-2"), check=0)
    alert_id = p.stdout.strip()
    n = inst.sql("SELECT count(*) FROM team_states WHERE alert_id=?", alert_id)[0][0]
    if teams is None:
        assert n == len(inst.teams())
    else:
        assert 0 < n < len(inst.teams())


def test_main_job_runs_end_to_end():
    if os.geteuid() != 0:
        pytest.fail("the main job installs packages: run the suite as root")
    d = Path(tempfile.mkdtemp(prefix="tmj-", dir="/tmp"))
    try:
        env = dict(os.environ, TOCSIN_DEMO_DIR=str(d))
        p = subprocess.run(["sh", str(SRC / "examples" / "broadcast.sh")],
                           capture_output=True, text=True, timeout=600, env=env,
                           cwd=str(SRC))
        assert p.returncode == 0, p.stdout + p.stderr
        m = re.search(r"^(\d+) teams; deliveries: (\d+) pending, (\d+) "
                      r"sending, (\d+) sent, (\d+) failed, (\d+) dead", p.stdout,
                      re.M)
        assert m, p.stdout
        teams, pending, sending, sent, failed, dead = map(int, m.groups())
        assert teams >= 240
        # every team's e-mail went out, and an SMS, or for the ten island
        # teams of the fax_first policy a fax, or for the five teams of the
        # offline policy an SSH drop
        assert sent == 2 * teams and sending == failed == dead == 0
        assert pending == 0
        assert "ok: " in p.stdout and "audit log intact" in p.stdout
        r = re.search(r"received (\d+) encrypted messages", p.stdout)
        assert r and int(r.group(1)) == teams
        assert len(list((d / "mail").glob("*.eml"))) == teams + 10
        assert re.search(r"^and 10 faxes ", p.stdout, re.M), p.stdout
        assert "pgp-email: %d sent" % teams in p.stderr
        assert "fax: 10 sent" in p.stderr
        assert "sshdrop: %d sent" % len(DROP_TEAMS) in p.stderr
        a = re.search(r"SMS provider accepted (\d+) messages", p.stdout)
        assert a and int(a.group(1)) == teams - len(FAX_TEAMS) - len(DROP_TEAMS)
        # one drop (step 0) for each offline team, each with a SHA-256
        # manifest that verifies
        r = re.search(r"^the SSH drop host received (\d+) drops in (/\S+)$",
                      p.stdout, re.M)
        assert r, p.stdout
        assert int(r.group(1)) == len(DROP_TEAMS)
        root = Path(r.group(2))
        assert sorted(x.name for x in root.iterdir()) == sorted(DROP_TEAMS)
        for t in DROP_TEAMS:
            manifests = list((root / t).glob("*.sha256"))
            assert len(manifests) == 1, (t, manifests)
            c = subprocess.run(["sha256sum", "-c", "--strict",
                                manifests[0].name], cwd=str(root / t),
                               capture_output=True, text=True)
            assert c.returncode == 0, c.stdout + c.stderr
            assert c.stdout.count(": OK\n") == 4, c.stdout
    finally:
        for h in ("gnupg", "signers", "contacts"):
            subprocess.run(["gpgconf", "--homedir", str(d / "pki" / h), "--kill",
                            "all"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
