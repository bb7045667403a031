"""tocsin drill: a tabletop exercise on a simulated clock with the real
planner and escalation step and simulated channels.  300 teams (the ASCII
and internationalised ccTLDs) in seconds, the same report from the same
seed, an e-mail outage in one region that shows in the report as those
teams reached by escalation instead, and scenario errors that name the
file and line."""
import json
import re
import shutil
import subprocess

import pytest

from conftest import BIN, SRC

SCENARIO = """drill = {{
  seed = {seed};
  alert = {{ headline = "Registry EPP outage (tabletop)"; severity = "Severe"; }};
  teams = [ "all" ];
  start = "2026-03-02T09:30:00Z";
  length = "8h";
  answers = {{
    pgp-email = {{ chance = 0.5; median = "10m"; p90 = "40m"; }};
    sms = {{ chance = 0.6; median = "4m"; p90 = "15m"; }};
    voice = {{ chance = 0.8; median = "1m"; p90 = "4m"; }};
  }};
  faults = (
{faults}
  );
}};
"""


@pytest.fixture(scope="module")
def repo300(workdir, pki):
    out = workdir / "repo300"
    if not out.exists():
        subprocess.run(["/usr/bin/python3", str(SRC / "examples" /
                                                 "gen-repo.py"),
                        "--pki", str(pki["dir"]), "--out", str(out),
                        "--teams", "300", "--idn", "--seed", "11"],
                       check=True, capture_output=True)
    return out


def drill(conf, scenario, *args, check=0):
    p = subprocess.run([str(BIN), "-c", str(conf), "drill", str(scenario),
                        *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == check, p.stderr
    return p


def write(tmp_path, name, faults, seed=42):
    f = tmp_path / name
    f.write_text(SCENARIO.format(seed=seed, faults=faults))
    return f


def test_300_teams_the_same_report_twice(repo300, tmp_path):
    sc = write(tmp_path, "s.conf",
               '    { team = "br"; never_answers = true; }')
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        p = drill(repo300 / "tocsin.conf", sc, "-o", out)
        assert "300 teams" in p.stderr and "simulated" in p.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    r = json.loads(outs[0])
    assert r["drill"] is True and r["status"] == "Exercise"
    assert r["teams"] == 300 == len(r["per_team"])
    assert any(t["team"].startswith("xn--") for t in r["per_team"])
    # the team that never answers went through its whole ladder
    assert "br" in r["unreached_teams"]
    br = next(t for t in r["per_team"] if t["team"] == "br")
    assert br["escalations"] >= 2 and br["ack"] is None
    assert [e for e in r["escalations"] if e["team"] == "br"][0][
        "trigger"].startswith("no ack 900 s after step 0")
    assert r["acked"] + r["unreached"] + r["pending"] == 300
    assert r["ack"]["n"] == r["acked"]
    assert r["ack"]["median"] <= r["ack"]["p90"] <= r["ack"]["max"]
    # another seed is another drill
    other = drill(repo300 / "tocsin.conf", write(
        tmp_path, "s2.conf", '    { team = "br"; never_answers = true; }',
        seed=43), "-o", tmp_path / "o.json")
    assert other.returncode == 0
    assert (tmp_path / "o.json").read_bytes() != outs[0]
    # no message left: the drill never touched the gateway's store
    assert not (repo300 / "state" / "tocsin.db").exists()


def test_an_e_mail_outage_in_a_region_shows_as_escalation(repo300,
                                                           tmp_path):
    # step 0 by e-mail alone, so that teams whose e-mail is down are
    # reached only when their ladder moves on to the phone
    d = tmp_path / "repo"
    shutil.copytree(repo300, d, ignore=shutil.ignore_patterns("state"))
    conf = d / "tocsin.conf"
    text = conf.read_text()
    text, n = re.subn(r'\{ after = "0s";  notify = \[ "primary:pgp-email", '
                      r'"primary:sms" \]; \}',
                      '{ after = "0s";  notify = [ "primary:pgp-email" ]; }',
                      text)
    assert n == 2
    conf.write_text(text)
    sc = write(tmp_path, "outage.conf", '    { channel = "pgp-email"; '
               'region = "AF"; from = "0m"; for = "4h"; }')
    out = tmp_path / "outage.json"
    drill(conf, sc, "-o", out, "--quiet")
    r = json.loads(out.read_text())
    af = [t for t in r["per_team"] if t["region"] == "AF"]
    rest = [t for t in r["per_team"] if t["region"] != "AF"
            and t["first_channel"] is not None]
    assert len(af) > 40
    # AF: first reached by the phone at the second step, 15 minutes in,
    # after an escalation; nobody there was reached by e-mail first
    for t in af:
        if t["first_channel"] is None:
            continue
        assert t["first_channel"] in ("sms", "voice"), t
        assert t["first_delivery"] >= 900, t
        assert t["escalations"] >= 1, t
    assert sum(1 for t in af if t["first_channel"] is not None) > 40
    # everywhere else e-mail went out at once
    assert all(t["first_channel"] == "pgp-email" and
               t["first_delivery"] < 60 for t in rest)
    region = {g["key"]: g for g in r["by_region"]}
    assert region["AF"]["first_delivery"]["median"] >= 900
    assert region["EU"]["first_delivery"]["median"] < 60
    trig = [e for e in r["escalations"] if e["team"] in
            {t["team"] for t in af}]
    assert trig and all(e["trigger"].startswith("no ack") for e in trig)


def test_internet_down_in_a_region_the_modem_still_reaches_it(repo300,
                                                              tmp_path):
    """examples/drills/internet-down-af.conf on 300 teams, with and without
    a GSM modem as the SMS providers' last resort: with it every team of
    AF is reached by SMS within a few seconds per team the modem sends
    before it; without it nobody there is reached before the internet
    comes back two hours in."""
    d = tmp_path / "repo"
    shutil.copytree(repo300, d, ignore=shutil.ignore_patterns("state"))
    conf = d / "tocsin.conf"
    plain = conf.read_text()
    assert "  sms = (\n" in plain
    conf.write_text(plain.replace("  sms = (\n", '  sms = (\n    { name = '
                                  '"gsm"; kind = "modem"; device = '
                                  '"/dev/ttyUSB0"; fallback = true; rate = '
                                  '1; },\n', 1))
    sc = SRC / "examples" / "drills" / "internet-down-af.conf"
    out = tmp_path / "modem.json"
    drill(conf, sc, "-o", out, "--quiet")
    r = json.loads(out.read_text())
    af = [t for t in r["per_team"] if t["region"] == "AF"]
    assert len(af) > 40
    assert all(t["first_channel"] == "sms" for t in af)
    # one message a second through the one modem: the last of the region's
    # primaries a second per team after the first
    firsts = sorted(t["first_delivery"] for t in af)
    assert firsts[-1] <= 5 + 2 * len(af)
    assert len(set(firsts)) >= len(af) - 1
    rest = [t for t in r["per_team"] if t["region"] != "AF"]
    assert all(t["first_delivery"] <= 5 for t in rest)
    fails = {(f["channel"], f["region"]) for f in r["failures"]
             if f["reason"] == "simulated outage (internet down)"}
    assert ("pgp-email", "AF") in fails
    assert all(region == "AF" for _, region in fails)
    # the same drill without the modem
    conf.write_text(plain)
    drill(conf, sc, "-o", out, "--quiet")
    r = json.loads(out.read_text())
    af = [t for t in r["per_team"] if t["region"] == "AF"]
    assert all(t["first_delivery"] is None or t["first_delivery"] >= 7200
               for t in af)


def test_internet_down_a_drop_host_on_its_own_path_still_reaches(
        workdir, pki, tmp_path):
    """Teams ke and ng fetch alerts from a drop host: reached over the
    internet it is down with the rest in AF; marked internet = false (a
    leased line, a satellite link) the drill still delivers there at once,
    and only there."""
    key = tmp_path / "id"
    key.write_text("not a key: the drill connects to nothing\n")
    key.chmod(0o600)
    out = tmp_path / "repo"
    subprocess.run(["/usr/bin/python3", str(SRC / "examples" / "gen-repo.py"),
                    "--pki", str(pki["dir"]), "--out", str(out), "--teams",
                    "300", "--idn", "--seed", "11", "--drop-teams", "ke,ng",
                    "--drop-port", "2222", "--drop-key", str(key),
                    "--drop-fingerprint", "SHA256:" + "A" * 43,
                    "--drop-path", "/srv/drop"], check=True,
                   capture_output=True)
    conf = out / "tocsin.conf"
    sc = SRC / "examples" / "drills" / "internet-down-af.conf"
    res = tmp_path / "r.json"
    drill(conf, sc, "-o", res, "--quiet")
    r = json.loads(res.read_text())
    teams = {t["team"]: t for t in r["per_team"]}
    for tid in ("ke", "ng"):
        assert teams[tid]["first_delivery"] is None or \
            teams[tid]["first_delivery"] >= 7200, teams[tid]
    text = conf.read_text()
    assert 'path = "/srv/drop"; timeout = "10s"; }' in text
    conf.write_text(text.replace('path = "/srv/drop"; timeout = "10s"; }',
                                 'path = "/srv/drop"; timeout = "10s"; '
                                 'internet = false; }'))
    drill(conf, sc, "-o", res, "--quiet")
    r = json.loads(res.read_text())
    teams = {t["team"]: t for t in r["per_team"]}
    for tid in ("ke", "ng"):
        assert teams[tid]["first_channel"] == "sshdrop", teams[tid]
        assert teams[tid]["first_delivery"] <= 60, teams[tid]
    others = [t for t in r["per_team"] if t["region"] == "AF" and
              t["team"] not in ("ke", "ng")]
    assert others and all(t["first_delivery"] is None or
                          t["first_delivery"] >= 7200 for t in others)


def test_every_example_scenario_runs(repo300, tmp_path):
    """examples/drills/ load against a 300-team repository and show what
    each says it shows."""
    got = {}
    for sc in sorted((SRC / "examples" / "drills").glob("*.conf")):
        out = tmp_path / (sc.stem + ".json")
        drill(repo300 / "tocsin.conf", sc, "-o", out, "--quiet")
        got[sc.stem] = json.loads(out.read_text())
    assert set(got) == {"internet-down-af", "regional-email-outage",
                        "sms-provider-down", "silent-teams",
                        "team-asks-for-help"}
    for r in got.values():
        assert r["teams"] == 300 and r["drill"] is True
    silent = got["silent-teams"]
    assert {"br", "ke"} <= set(silent["unreached_teams"])
    email = got["regional-email-outage"]
    assert any(f["channel"] == "pgp-email" and f["region"] == "EU"
               for f in email["failures"])
    helped = got["team-asks-for-help"]
    assert [(q["team"], q["via"], q["at"]) for q in helped["requests"]] == \
        [("ke", "mail", 1200), ("br", "sms", 2700)]
    sms = got["sms-provider-down"]
    assert any(f["reason"] == "simulated outage" and f["channel"] == "sms"
               for f in sms["failures"]) or sms["first_delivery"]["max"] > 5


def test_scenario_errors_name_file_and_line(repo300, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text('drill = {\n  seed = 1;\n  alert = { headline = "x"; };\n'
                   '  teams = [ "all" ];\n  faults = (\n'
                   '    { channel = "pigeon"; }\n  );\n};\n')
    p = drill(repo300 / "tocsin.conf", bad, check=78)
    assert f"{bad}:6:" in p.stderr and "pigeon" in p.stderr
    bad.write_text('drill = {\n  alert = { headline = "x"; };\n'
                   '  teams = [ "zz" ];\n};\n')
    p = drill(repo300 / "tocsin.conf", bad, check=78)
    assert f"{bad}:3:" in p.stderr and "'zz'" in p.stderr
    bad.write_text('drill = {\n  alert = { headline = "x"; };\n'
                   '  teams = [ "all" ];\n  colour = "red";\n};\n')
    p = drill(repo300 / "tocsin.conf", bad, check=78)
    assert f"{bad}:4:" in p.stderr and "colour" in p.stderr


def test_the_drill_s_html_report_renders_one_cell_per_team(repo300,
                                                            tmp_path):
    from report_browser import render
    sc = write(tmp_path, "s.conf",
               '    { team = "br"; never_answers = true; }')
    html = tmp_path / "drill.html"
    drill(repo300 / "tocsin.conf", sc, "--format", "html", "-o", html,
          "--quiet")
    text = html.read_text()
    assert "DRILL" in text and "<script" not in text
    art = BIN.parent.parent / "test-artefacts"
    art.mkdir(exist_ok=True)
    got = render(html, art / "drill-report.png")
    assert got["console"] == []
    assert got["cells"] == 300
    assert "unreached" in got["outcomes"] and "acked" in got["outcomes"]
    assert (art / "drill-report.png").stat().st_size > 20000
