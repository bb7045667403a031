#!/usr/bin/python3
"""bench_pgpfloor: the in-process OpenPGP floor of a PGP e-mail broadcast.

On the repository and PKI bench_dispatch.py makes (certs/mkpki.sh,
examples/gen-repo.py, same seed and sizes), runs build/bench/pgp_floor:
per team exactly the OpenPGP operations of the PGP e-mail driver (every
contact's key checked usable, a detached signature of the body by the
gateway key, then one encryption of the signed entity to all the team's
keys; or with --pgp-mime combined one sign-and-encrypt), with 2 threads
each on a context of its own, in one process, nothing else.  Two engines:
  certs  the gateway's own engine API (certs_*, librnp in process): the
         floor the dispatcher's target names ("the same OpenPGP operations
         done in-process alone");
  rnp    librnp called directly, keys read by librnp's own loaders (the
         whole pubring.kbx into every thread's ffi), to show what the
         engine's keybox reader saves or costs.
Every run's first team is checked: the ciphertext has one public-key
packet per key of the team, and the signature (nested) verifies with gpg.
It prints medians of --runs interleaved runs; it never asserts timings.

pgp_floor(...) returns the figures of one floor run, for bench_dispatch.

usage: bench/bench_pgpfloor.py [--teams 300] [--contacts-per-team 5]
                               [--seed 11] [--threads 2] [--runs 3]
                               [--pgp-mime nested|combined|both]
                               [--engine certs|rnp|both] [--keep]
"""
import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import die, end_work, run  # noqa: E402
from bench_dispatch import PY, SRC, make_alert, parse_teams  # noqa: E402

FLOOR_BIN = SRC / "build" / "bench" / "pgp_floor"


def make_pki_repo(work, nteams, contacts_per_team, seed):
    """The PKI and repository of bench_dispatch.py: (info, teams, home,
    gateway fingerprint, pki folder).  teams as parse_teams gives them."""
    pki = work / "pki"
    run(["sh", SRC / "certs" / "mkpki.sh", pki])
    info = json.loads((pki / "pki.json").read_text())
    run([PY, SRC / "examples" / "gen-repo.py", "--pki", pki,
         "--out", work / "repo", "--teams", nteams,
         "--contacts-per-team", contacts_per_team,
         "--seed", seed, "--smtp-port", 25], text=True)
    teams = parse_teams((work / "repo" / "teams.conf").read_text())
    return info, teams, pki / info["gnupg_home"], info["gateway"], pki


def b64_lines(data):
    s = base64.b64encode(data).decode()
    return "".join(s[i:i + 76] + "\r\n" for i in range(0, len(s), 76))


def make_body(work, pki, info):
    """The inner entity the driver signs (channels/pgp_email.c pe_inner):
    multipart/mixed, the rendered text then the CAP document and its two
    issuer signatures, each base64.  The CAP document and signatures are
    real (bench_dispatch's make_alert); the text is the alert's own
    headline, description and instruction, about what render makes."""
    alert, sigs = make_alert(work, pki, info)
    cap = alert.read_bytes()
    fields = re.findall(rb"<(headline|description|instruction|areaDesc)>"
                        rb"([^<]*)<", cap)
    text = ("EXTREME ALERT\n\n" + "\n\n".join(
        v.decode(errors="replace").strip() for _, v in fields) +
        "\n\nAcknowledge: https://alerts.example/ack/"
        "0123456789abcdef0123456789abcdef\n").encode()
    b1 = "=-tocsin-b1-3f2a9c0d1e7b4a65"
    out = (f"Content-Type: multipart/mixed;\r\n boundary=\"{b1}\"\r\n\r\n"
           f"--{b1}\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: base64\r\nContent-Disposition: "
           f"inline\r\n\r\n" + b64_lines(text))
    for name, ctype, data in [("alert.xml", "application/cap+xml", cap)] + [
            (s.name, "application/pgp-signature", s.read_bytes())
            for s in sigs]:
        out += (f"--{b1}\r\nContent-Type: {ctype};\r\n name=\"{name}\"\r\n"
                f"Content-Transfer-Encoding: base64\r\nContent-Disposition: "
                f"attachment;\r\n filename=\"{name}\"\r\n\r\n" +
                b64_lines(data))
    out += f"--{b1}--"
    body = work / "body.mime"
    body.write_bytes(out.encode())
    return body


def export_secret(work, home, fpr):
    """The gateway's secret key as gpg exports it, for the rnp engine when
    librnp cannot read GnuPG's key files (untimed, as the engine's own
    export is not: see bench/README.md)."""
    out = work / "gateway-secret.gpg"
    p = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                        "--pinentry-mode", "loopback", "--passphrase", "",
                        "--export-secret-keys", fpr], capture_output=True)
    if p.returncode != 0 or not p.stdout:
        die(f"gpg --export-secret-keys {fpr}: "
            f"{p.stderr.decode(errors='replace').strip()[-500:]}")
    out.write_bytes(p.stdout)
    return out


def check_sample(sample, home, nkeys, nested):
    """The first team's output: one public-key packet per key, and (nested)
    a signature that gpg verifies over the signed body.  '' when good."""
    p = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                        "--list-packets", str(sample / "team0.asc")],
                       capture_output=True, text=True)
    npk = len(re.findall(r"^:pubkey enc packet:", p.stdout, re.M))
    if npk != nkeys:
        return (f"the first team's message has {npk} public-key packets, "
                f"not {nkeys}")
    if nested:
        body = sample / "team0.body"
        v = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                            "--verify", str(sample / "team0.sig"),
                            str(body)], capture_output=True, text=True)
        if v.returncode != 0 or "Good signature" not in v.stderr:
            return f"the first team's signature does not verify: {v.stderr}"
    return ""


def pgp_floor(home, gateway_fpr, teams, body, work, threads=2,
              mode="nested", engine="certs", seckey=None, binary=FLOOR_BIN):
    """One run of the floor program: teams as parse_teams gives them
    [(id, [(email, fpr), ...])], body the path of the entity to sign.
    Returns its figures (floats and ints by name: wall_s, cpu_s, load_s,
    ops_s, per_team_ms, team_ms_median, team_ms_p99, maxrss_kib, ...),
    plus 'checked' (the first team's output verified).  Exits on failure."""
    work = Path(work)
    lst = work / "floor-teams.txt"
    lst.write_text("".join(f"{tid} {' '.join(f for _, f in cs)}\n"
                           for tid, cs in teams))
    sample = work / f"floor-sample-{engine}-{mode}"
    sample.mkdir(exist_ok=True)
    for f in sample.iterdir():
        f.unlink()
    cmd = [binary, "--home", Path(home).resolve(), "--signer", gateway_fpr,
           "--teams", lst, "--body", body, "--threads", threads,
           "--mode", mode, "--engine", engine, "--sample", sample]
    if seckey is not None:
        cmd += ["--seckey", seckey]
    t0 = time.monotonic()
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    outer = time.monotonic() - t0
    if p.returncode != 0:
        die(f"pgp_floor ({engine}, {mode}) failed ({p.returncode}): "
            f"{p.stderr.strip()[-2000:]}")
    fig = {}
    for k, v in re.findall(r"(\w+)=(\S+)", p.stdout):
        try:
            fig[k] = int(v)
        except ValueError:
            try:
                fig[k] = float(v)
            except ValueError:
                fig[k] = v
    if fig.get("teams") != len(teams):
        die(f"pgp_floor did {fig.get('teams')} teams, not {len(teams)}")
    fig["process_s"] = outer
    fig["note"] = p.stderr.strip()
    if mode == "nested":
        (sample / "team0.body").write_bytes(Path(body).read_bytes())
    why = check_sample(sample, home, len(teams[0][1]), mode == "nested")
    if why:
        die(f"pgp_floor ({engine}, {mode}): {why}")
    fig["checked"] = True
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teams", type=int, default=300)
    ap.add_argument("--contacts-per-team", type=int, default=5,
                    help="gen-repo: exactly N contacts a team (5 makes the "
                    "target's 1,500 at 300 teams; 0: gen-repo's 1 to 4)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pgp-mime", choices=("nested", "combined", "both"),
                    default="nested",
                    help="the driver's PGP/MIME form; both: the two, "
                    "interleaved in one run")
    ap.add_argument("--engine", choices=("certs", "rnp", "both"),
                    default="both")
    ap.add_argument("--bin", default=str(FLOOR_BIN))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        die(f"{a.bin} is missing: run `ninja -C build` first")
    engines = ["certs", "rnp"] if a.engine == "both" else [a.engine]
    modes = (["nested", "combined"] if a.pgp_mime == "both" else
             [a.pgp_mime])
    configs = [(e, m) for m in modes for e in engines]

    work = Path(tempfile.mkdtemp(prefix="tbf-", dir="/tmp"))
    pki = work / "pki"
    try:
        t = time.monotonic()
        info, teams, home, gw, pki = make_pki_repo(
            work, a.teams, a.contacts_per_team, a.seed)
        body = make_body(work, pki, info)
        seckey = export_secret(work, home, gw) if "rnp" in engines else None
        setup_s = time.monotonic() - t
        nkeys = sum(len(c) for _, c in teams)
        # the gateway home's gpg-agent, warm as on a running gateway (the
        # engine exports the secret key through it when librnp cannot read
        # GnuPG's files)
        run(["gpg", "--homedir", home, "--batch", "--quiet", "--armor",
             "--local-user", gw, "--detach-sign"], input=b"warm-up\n")
        res = {c: [] for c in configs}
        for i in range(a.runs):
            for e, m in configs:
                f = pgp_floor(home, gw, teams, body, work, a.threads,
                              m, e, seckey if e == "rnp" else None, a.bin)
                res[(e, m)].append(f)
                print(f"  run {i + 1} {e:5s} {m:8s} wall {f['wall_s']:.3f} s "
                      f"(load {f['load_s'] + f['thread_load_s']:.3f} s), "
                      f"CPU {f['cpu_s']:.3f} s, {f['per_team_ms']:.2f} ms "
                      f"per team, peak RSS {f['maxrss_kib'] / 1024:.1f} "
                      f"MiB", flush=True)
        with open("/proc/loadavg") as fl:
            load = " ".join(fl.read().split()[:3])
        print(f"bench_pgpfloor: {len(teams)} teams, {nkeys} contacts' keys, "
              f"pgp_mime {'/'.join(modes)}, {a.threads} threads, body "
              f"{body.stat().st_size} bytes, {os.cpu_count()} CPUs, load "
              f"average {load}; setup {setup_s:.0f} s (untimed)")
        for e, m in configs:
            rs = res[(e, m)]

            def med(k):
                return statistics.median(r[k] for r in rs)

            what = ("gateway engine (certs_*)" if e == "certs" else
                    "librnp directly, librnp's loaders")
            print(f"  {e:5s} {m}, {what}: median of {len(rs)}")
            line = (f"        wall {med('wall_s'):.3f} s = load "
                    f"{med('load_s'):.3f} s + operations "
                    f"{med('ops_s'):.3f} s")
            if e == "rnp":
                line += (f" (each thread loads the keyring itself: "
                         f"{med('thread_load_s'):.3f} s of the operations)")
            print(line)
            print(f"        CPU {med('cpu_s'):.3f} s (user {med('user_s'):.3f}"
                  f", system {med('sys_s'):.3f}; child processes "
                  f"{med('children_cpu_s'):.3f})")
            print(f"        per team {med('per_team_ms'):.2f} ms of wall; "
                  f"one team's operations median "
                  f"{med('team_ms_median'):.2f} ms, p99 "
                  f"{med('team_ms_p99'):.2f} ms, max "
                  f"{med('team_ms_max'):.2f} ms")
            print(f"        peak RSS {med('maxrss_kib') / 1024:.1f} MiB "
                  f"(getrusage); ciphertext {med('out_bytes') / 1024:.0f} "
                  f"KiB in all; first team's output checked")
            if rs[0]["note"]:
                print(f"        {rs[0]['note']}")
        for m in modes:
            if len(engines) != 2:
                break

            def mm(e, k):
                return statistics.median(r[k] for r in res[(e, m)])

            print(f"  {m}: rnp / certs: wall "
                  f"{mm('rnp', 'wall_s') / mm('certs', 'wall_s'):.2f}x, CPU "
                  f"{mm('rnp', 'cpu_s') / mm('certs', 'cpu_s'):.2f}x, peak "
                  f"RSS {mm('rnp', 'maxrss_kib') / mm('certs', 'maxrss_kib'):.2f}x")
        return 0
    finally:
        end_work(work, pki, a.keep)


if __name__ == "__main__":
    raise SystemExit(main())
