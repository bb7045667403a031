#!/usr/bin/python3
"""bench_drill: time `tocsin drill` of a tabletop scenario against every team
of a generated repository with the internationalised ccTLDs (300 teams),
with wall time and peak RSS per run, against a baseline measured in the
same run: the same scenario on 30 teams, which shows how the drill grows
with the number of teams.

usage: bench/bench_drill.py [--runs N] [--bin PATH]
Target (issue): a 300-team drill "in seconds".
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRC / "bench"))
from benchlib import die, run  # noqa: E402

SCENARIO = """drill = {
  seed = 7;
  alert = { headline = "Registry EPP outage (bench)"; severity = "Severe"; };
  teams = [ "all" ];
  start = "2026-03-02T09:30:00Z";
  length = "12h";
  answers = {
    pgp-email = { chance = 0.4; median = "10m"; p90 = "40m"; };
    sms = { chance = 0.5; median = "4m"; p90 = "15m"; };
    voice = { chance = 0.7; median = "1m"; p90 = "4m"; };
  };
  faults = (
    { channel = "pgp-email"; region = "AF"; for = "2h"; },
    { channel = "sms"; region = "AS"; from = "10m"; for = "1h"; }
  );
};
"""


def one(binary, conf, scenario):
    """(wall s, peak RSS KiB) of one drill."""
    import time
    t0 = time.monotonic()
    p = subprocess.Popen([str(binary), "-c", str(conf), "drill",
                          str(scenario), "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        die(f"drill failed: {err.strip()}")
    return wall, ru.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=str(SRC / "build" / "gateway" / "tocsin"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bdrill-") as d:
        d = Path(d)
        run(["sh", SRC / "certs" / "mkpki.sh", d / "pki"])
        sc = d / "scenario.conf"
        sc.write_text(SCENARIO)
        confs = {}
        for n in (30, 300):
            out = d / f"repo{n}"
            run(["/usr/bin/python3", SRC / "examples" / "gen-repo.py",
                 "--pki", d / "pki", "--out", out, "--teams", str(n),
                 "--idn", "--seed", "5"])
            confs[n] = out / "tocsin.conf"
        res = {}
        for n in (30, 300):
            runs = [one(a.bin, confs[n], sc) for _ in range(a.runs)]
            res[n] = (statistics.median(w for w, _ in runs),
                      max(r for _, r in runs))
            print(f"drill of {n:3d} teams: median {res[n][0]:.3f} s over "
                  f"{a.runs} runs, peak RSS {res[n][1] / 1024:.1f} MiB")
        print(f"ratio 300/30 teams: {res[300][0] / res[30][0]:.2f}x time "
              f"for 10x teams; {res[300][0] / 300 * 1000:.2f} ms a team")


if __name__ == "__main__":
    main()
