#!/usr/bin/python3
"""bench_submit: time `tocsin submit` of a signed Extreme alert to every team
of the generated repository (about 250 teams), with wall time and peak RSS
per run, against a baseline measured in the same run: `gpg --verify` of the
same two signatures, which is the floor any submit must pay.

usage: bench/bench_submit.py [--runs N] [--teams N] [--bin PATH]
Target (DESIGN.md): under 1 s per submit, the signature check included.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRC / "tests" / "integration"))
from conftest import make_cap  # noqa: E402


def timed(cmd):
    """Run cmd; return (wall seconds, peak RSS KiB, exit code)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({code}): {err}")
    return wall, ru.ru_maxrss, code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--teams", type=int, default=0, help="0: all")
    ap.add_argument("--bin", default=str(SRC / "build" / "gateway" / "tocsin"))
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tbs-", dir="/tmp"))
    try:
        pki = work / "pki"
        subprocess.run(["sh", str(SRC / "certs" / "mkpki.sh"), str(pki)],
                       check=True, capture_output=True)
        info = json.loads((pki / "pki.json").read_text())
        gen = ["/usr/bin/python3", str(SRC / "examples" / "gen-repo.py"),
               "--pki", str(pki), "--out", str(work / "repo")]
        if a.teams:
            gen += ["--teams", str(a.teams)]
        subprocess.run(gen, check=True, capture_output=True)
        conf = work / "repo" / "tocsin.conf"
        signers = pki / "signers"

        alerts = []
        for i in range(a.runs + 1):
            f = work / f"a{i}.xml"
            f.write_text(make_cap(identifier=f"BENCH-{os.getpid()}-{i}",
                                  severity="Extreme"))
            sigs = []
            for who in ("desk-1", "desk-2"):
                s = Path(f"{f}.{who}.asc")
                subprocess.run(["gpg", "--homedir", str(signers), "--batch",
                                "--yes", "--quiet", "--armor", "--local-user",
                                info["issuers"][who], "--output", str(s),
                                "--detach-sign", str(f)], check=True)
                sigs.append(s)
            alerts.append((f, sigs))

        gnupg = pki / "gnupg"
        sub, base = [], []
        for i, (f, sigs) in enumerate(alerts):
            cmd = [a.bin, "-c", str(conf), "submit", str(f)]
            for s in sigs:
                cmd += ["--sig", str(s)]
            w, rss, _ = timed(cmd)
            bw = 0.0
            for s in sigs:
                bw += timed(["gpg", "--homedir", str(gnupg), "--batch",
                             "--quiet", "--verify", str(s), str(f)])[0]
            if i == 0:
                continue        # warm-up: first run creates the store
            sub.append((w, rss))
            base.append(bw)
        teams = subprocess.run([a.bin, "-c", str(conf), "status", "--json"],
                               capture_output=True, text=True, check=True)
        nteams = json.loads(teams.stdout)["alerts"][0]["teams"]
        walls = [w for w, _ in sub]
        ratios = [w / b for (w, _), b in zip(sub, base)]
        print(f"submit of a signed Extreme alert (2 issuer signatures) to "
              f"{nteams} teams, {a.runs} runs after one warm-up")
        print(f"  submit wall      min {min(walls):.3f} s  median "
              f"{statistics.median(walls):.3f} s  max {max(walls):.3f} s")
        print(f"  submit peak RSS  max {max(r for _, r in sub) / 1024:.1f} MiB")
        print(f"  baseline: gpg --verify of the same 2 signatures, median "
              f"{statistics.median(base):.3f} s")
        print(f"  ratio submit / baseline  median {statistics.median(ratios):.2f}")
        print(f"  target: under 1 s -> "
              f"{'met' if statistics.median(walls) < 1 else 'NOT met'}")
    finally:
        for h in ("gnupg", "signers", "contacts"):
            subprocess.run(["gpgconf", "--homedir", str(work / "pki" / h),
                            "--kill", "all"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
