"""tocsin as a system service: dist/tocsin.service passes `systemd-analyze
verify` and keeps a low exposure score in `systemd-analyze security`, and
dist/tocsin.conf.example passes `tocsin check` once its keys exist.

verify is run on a copy of the unit whose ExecStart names the binary under
test instead of /usr/bin/tocsin (the only change), with the man pages of
docs/ on MANPATH, so that the binary and the Documentation= pages are
checked as well.  .ci/package verifies the unit as the .deb installs it.
"""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import BIN, SRC

UNIT = SRC / "dist" / "tocsin.service"
EXAMPLE = SRC / "dist" / "tocsin.conf.example"
# systemd-analyze's "OK" band starts at 2.0 exposure; the unit scores 1.6
# with systemd 252.  Losing one of the larger settings (PrivateDevices,
# ProtectSystem, the system call filter...) crosses it.
EXPOSURE_MAX = 2.0


def test_unit_verifies():
    assert shutil.which("systemd-analyze"), "systemd-analyze not installed"
    with tempfile.TemporaryDirectory(prefix="tcs-unit-") as d:
        d = Path(d)
        for sec, page in (("1", "tocsin.1"), ("5", "tocsin.conf.5")):
            (d / "man" / f"man{sec}").mkdir(parents=True, exist_ok=True)
            shutil.copy(SRC / "docs" / page, d / "man" / f"man{sec}" / page)
        text = UNIT.read_text()
        text, n = re.subn(r"^ExecStart=/usr/bin/tocsin ",
                          f"ExecStart={BIN.resolve()} ", text, flags=re.M)
        assert n == 1, "ExecStart=/usr/bin/tocsin ... not found in the unit"
        (d / "tocsin.service").write_text(text)
        env = dict(os.environ, MANPATH=str(d / "man"), SYSTEMD_PAGER="cat")
        p = subprocess.run(["systemd-analyze", "verify",
                            str(d / "tocsin.service")],
                           capture_output=True, text=True, env=env,
                           timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    # unknown keys and bad values are only warnings: none may be printed
    assert "tocsin" not in out, out


def test_unit_exposure_is_low():
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        "--no-pager", str(UNIT)],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    m = re.search(r"Overall exposure level for tocsin\.service: "
                  r"([0-9.]+) (\S+)", out)
    assert m, out
    score = float(m.group(1))
    print(f"exposure {score} {m.group(2)} (at most {EXPOSURE_MAX})")
    assert score < EXPOSURE_MAX, out
    # the settings the service's safety rests on, each visibly in force
    for line in ("✓ NoNewPrivileges=", "✓ MemoryDenyWriteExecute=",
                 "✓ SystemCallArchitectures=", "✓ UMask="):
        assert line in out, f"{line} missing:\n{out}"


def test_example_configuration_checks(tmp_path):
    d = tmp_path / "example"
    subprocess.run(["sh", str(SRC / ".ci" / "example-config"), str(EXAMPLE),
                    str(d)], check=True, capture_output=True, timeout=120)
    try:
        p = subprocess.run([str(BIN), "-c", str(d / "tocsin.conf"), "check"],
                           capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(d / "gnupg"), "--kill",
                        "all"], capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok: 1 teams, 1 contacts, 1 issuers, 0 warnings" in p.stdout
    # the example as shipped names no key: check says what to write
    p = subprocess.run([str(BIN), "-c", str(EXAMPLE), "check"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 78
    assert p.stdout.count("is not a full OpenPGP fingerprint") == 3, p.stdout
