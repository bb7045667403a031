"""`tocsin check`: the generated repository passes; a repository seeded with
one of each mistake reports every one, each with file:line, and exits 78."""
import os
import shutil
import re
from pathlib import Path
import pytest

EX_CONFIG = 78


def test_generated_repository_passes(inst):
    p = inst.run("check", check=0)
    assert ": ok:" in p.stdout
    m = re.search(r"ok: (\d+) teams, (\d+) contacts", p.stdout)
    assert m and int(m.group(1)) == len(inst.teams())
    assert int(m.group(2)) >= int(m.group(1))
    assert "error" not in p.stdout


MAIN = """\
gateway = {{
  store = "state/tocsin.db";
  gnupg_home = "{gnupg}";
  signing_key = "{gateway}";
  issuer_ca = "{issuer_ca}";
}};
issuers = (
  {{ name = "desk-1"; openpgp = "{desk1}"; may_address = [ "all" ]; }}
);
providers = {{
  smtp = {{
    host = "127.0.0.1"; port = 8587; from = "tocsin@alerts.example";
    ca = "{ca}";
    credentials = "smtp.secret";   # M:secret
  }};
}};
policies = {{
  standard = {{
    steps = (
      {{ after = "0s"; notify = [ "primary:pgp-email", "primary:sms" ]; }},
      {{ after = "15m"; notify = [ "primary:fax" ]; }}   # M:fax-notify
    );
  }};
}};
@include "seeded-teams.conf"
"""

TEAMS = """\
teams = (
  { id = "aa"; domain = "aa"; cctld_operator = "AA NIC"; region = "EU"; policy = "standard";   # M:fax-team M:dup-first
    contacts = (
      { name = "Ann Able"; role = "lead"; primary = true;   # M:fax-contact
        timezone = "Mars/Olympus_Mons";   # M:tz
        languages = [ "en" ];
        email = "ann@aa.example";
        pgp = "0000000000000000000000000000000000000000";   # M:nokey
        mobile = "+12";   # M:e164
        colour = "red";   # M:unknown
      }
    );
  },
  { id = "bb"; cctld_operator = "BB NIC"; region = "EU"; policy = "standard";   # M:missing
    contacts = (
      { name = "Bob Baker"; role = "lead"; primary = true; timezone = "Europe/Paris";
        languages = [ "fr" ]; email = "bob@bb.example";
        pgp = "{expired}";   # M:expired
        mobile = "+33 1 55 50 01 01"; fax = "+33 1 55 50 01 02";
      }
    );
  },
  { id = "aa"; domain = "aa"; cctld_operator = "AA again"; region = "EU"; policy = "standard";   # M:dup
    contacts = (
      { name = "Cy Cole"; role = "lead"; primary = true; timezone = "Europe/Paris";
        languages = [ "fr" ]; email = "cy@aa.example";
        pgp = "{desk2}"; mobile = "+33 1 55 50 01 03"; fax = "+33 1 55 50 01 04";
      }
    );
  }
);
"""


def markers(path):
    found = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        for m in re.findall(r"M:([\w-]+)", line):
            found[m] = n
    return found


def test_seeded_mistakes_each_reported_with_file_and_line(inst, pki):
    d = pki["dir"]
    main = inst.dir / "seeded.conf"
    teams = inst.dir / "seeded-teams.conf"
    main.write_text(MAIN.format(
        gnupg=d / pki["gnupg_home"], gateway=pki["gateway"],
        issuer_ca=d / pki["issuer_ca"], desk1=pki["issuers"]["desk-1"],
        ca=d / pki["ca"]))
    teams.write_text(TEAMS.replace("{expired}", pki["issuers"]["expired"])
                     .replace("{desk2}", pki["issuers"]["desk-2"]))
    secret = inst.dir / "smtp.secret"
    secret.write_text("user:password\n")
    os.chmod(secret, 0o644)

    import subprocess
    from conftest import BIN
    p = subprocess.run([str(BIN), "-c", str(main), "check"],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout
    assert p.returncode == EX_CONFIG, out + p.stderr
    mm, tm = markers(main), markers(teams)

    def reported(path, lines, *words):
        for line in out.splitlines():
            if any(line.startswith(f"{path}:{n}: error:") for n in lines) and \
                    all(w.lower() in line.lower() for w in words):
                return line
        raise AssertionError(f"no error at {path}:{lines} with {words}:\n{out}")

    reported(main, [mm["secret"]], "0600") and None
    assert "chmod" in reported(main, [mm["secret"]], "smtp.secret")
    reported(teams, [tm["tz"]], "Mars/Olympus_Mons")
    reported(teams, [tm["e164"]], "+12")
    reported(teams, [tm["unknown"]], "colour")
    reported(teams, [tm["missing"]], "domain")
    reported(teams, [tm["nokey"]], "0000000000000000000000000000000000000000")
    reported(teams, [tm["expired"]], "expired")
    reported(teams, [tm["dup"]], "aa")
    fax_lines = [tm["fax-team"], tm["fax-contact"]]
    try:
        reported(teams, fax_lines, "fax")
    except AssertionError:
        reported(main, [mm["fax-notify"]], "fax")
    errors = [l for l in out.splitlines() if ": error:" in l]
    assert len(errors) >= 9, out
    # nothing secret is echoed back
    assert "password" not in out
    last = out.strip().splitlines()[-1]
    assert re.search(r"\d+ errors", last), last


def test_missing_config_names_file(inst):
    p = inst.run("-c", inst.dir / "nope.conf", "check")
    # -c given twice: the last one wins, like most tools
    assert p.returncode in (66, 78)
    assert "nope.conf" in p.stdout + p.stderr


def test_syntax_error_names_line(inst):
    bad = inst.dir / "bad.conf"
    bad.write_text('gateway = {\n  store = "x.db"\n  workers = 2;\n};\n')
    import subprocess
    from conftest import BIN
    p = subprocess.run([str(BIN), "-c", str(bad), "check"], capture_output=True,
                       text=True)
    assert p.returncode == EX_CONFIG
    assert re.search(rf"{re.escape(str(bad))}:[23]:", p.stdout + p.stderr)


def test_a_configuration_without_a_store_is_checked_not_crashed(inst):
    """tests/data/config/bad/tocsin.conf has no gateway.store (a typo
    "stor"): check names that and its other mistakes with file and line
    and exits 78; it does not look for a store, its folder or its ack
    secret beside nothing (it stopped on a NULL path before)."""
    import subprocess
    from conftest import BIN
    conf = (Path(__file__).resolve().parents[1] / "data" / "config" /
            "bad" / "tocsin.conf")
    p = subprocess.run([str(BIN), "-c", str(conf), "check"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == EX_CONFIG, (p.returncode, p.stderr)
    assert f"{conf}:2: error: gateway: store is missing" in p.stdout
    assert f'{conf}:3: error: gateway: unknown key "stor"' in p.stdout


def quorum_lines(out):
    return [line for line in out.splitlines() if line.startswith("quorum")]


def test_quorum_rules_explained(inst):
    conf = inst.conf.read_text()
    line = next(n for n, l in enumerate(conf.splitlines(), 1)
                if 'audience = "all"; issuers = 2;' in l)
    n = len(inst.teams())
    out = inst.run("check", check=0).stdout
    assert quorum_lines(out)[0] == (
        f'quorum rule 1 (line {line}): 2 issuers for Extreme alerts to every '
        f'team of "all" ({n} teams)')
    assert "a Cancel or an Update needs the larger of its own and that of " \
        "the alert it references" in out
    # size and groups, several severities, any severity
    conf = re.sub(r"^quorum = \(\n.*?^\);", "quorum = (\n"
                  '  { severities = [ "Severe", "Extreme" ]; min_teams = 40; '
                  'issuers = 3; },\n'
                  '  { min_teams = 10; groups = [ "all" ]; issuers = 2; }\n);',
                  conf, flags=re.M | re.S)
    inst.conf.write_text(conf)
    out = inst.run("check", check=0).stdout
    assert quorum_lines(out)[:2] == [
        f"quorum rule 1 (line {line}): 3 issuers for Severe or Extreme "
        "alerts to 40 teams or more",
        f"quorum rule 2 (line {line + 1}): 2 issuers for alerts of any "
        f'severity to 10 teams or more and to every team of "all" ({n} teams)']
    # without rules, one issuer suffices and check says so
    inst.conf.write_text(re.sub(r"^quorum = \(\n.*?^\);\n", "", conf,
                                flags=re.M | re.S))
    out = inst.run("check", check=0).stdout
    assert quorum_lines(out) == ["quorum: no rule; one authorised issuer "
                                 "suffices for every alert"]


def test_bad_quorum_rules_reported_with_file_and_line(inst):
    conf = inst.conf.read_text()
    rules = [
        ('{ min_teams = 0; issuers = 2; }', "min_teams = 0 is out of range"),
        ('{ min_teams = "5"; issuers = 2; }', "min_teams must be an integer"),
        ('{ min_teams = 5000; issuers = 2; }', "out of range"),
        ('{ groups = [ ]; issuers = 2; }', "groups is empty"),
        ('{ groups = "all"; issuers = 2; }', "groups must be an array"),
        ('{ groups = [ "all", "atlantis" ]; issuers = 2; }',
         '"atlantis" names no team'),
        ('{ groups = [ "all" ]; audience = "all"; issuers = 2; }',
         "both audience and groups are given"),
        ('{ groups = [ "all" ]; }', "issuers is missing"),
    ]
    conf = re.sub(r"^quorum = \(\n.*?^\);",
                  "quorum = (\n" + ",\n".join(r for r, _ in rules) + "\n);",
                  conf, flags=re.M | re.S)
    inst.conf.write_text(conf)
    first = next(n for n, l in enumerate(conf.splitlines(), 1)
                 if "min_teams = 0;" in l)
    p = inst.run("check", check=EX_CONFIG)
    for i, (_, why) in enumerate(rules):
        hit = [l for l in p.stdout.splitlines()
               if l.startswith(f"{inst.conf}:{first + i}: error: "
                               f"quorum rule {i + 1}")]
        assert any(why in l for l in hit), (why, p.stdout)
    # a configuration with errors is not explained: its rules do not hold
    assert quorum_lines(p.stdout) == []
    # a size larger than the repository is legal but protects nothing
    conf = re.sub(r"^quorum = \(\n.*?^\);",
                  "quorum = (\n{ min_teams = 4000; issuers = 2; }\n);", conf,
                  flags=re.M | re.S)
    inst.conf.write_text(conf)
    out = inst.run("check", check=0).stdout
    assert f"{inst.conf}:{first}: warning: quorum rule 1: min_teams = 4000 " \
        f"but the repository has {len(inst.teams())} teams" in out


# --- a PostgreSQL store ------------------------------------------------------

def pg_store(inst, tmp_path, conninfo, ack_secret=True):
    """inst's configuration with gateway.store set to conninfo (a server
    that need not exist), with or without an ack secret."""
    key = tmp_path / "ack.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    inst.set_keys("gateway", store=conninfo)
    text = inst.conf.read_text()
    text = re.sub(r"^\s*ack_secret = [^;]*;\n", "", text, flags=re.M)
    inst.conf.write_text(text)
    if ack_secret:
        inst.set_keys("gateway", ack_secret=str(key))


def store_line(inst):
    for n, line in enumerate(inst.conf.read_text().splitlines(), 1):
        if re.match(r"\s*store = ", line):
            return n
    raise AssertionError("no store line")


def test_pg_store_with_a_password_is_refused_without_showing_it(inst,
                                                                tmp_path):
    pg_store(inst, tmp_path, "postgresql://tocsin:Hunter2secret@127.0.0.1:1/x")
    p = inst.run("check")
    assert p.returncode == EX_CONFIG
    out = p.stdout + p.stderr
    assert "0600" in out and "passfile" in out
    assert "Hunter2secret" not in out
    assert f"tocsin.conf:{store_line(inst)}" in out


def test_pg_store_password_file_must_be_private(inst, tmp_path):
    pw = tmp_path / "pgpass"
    pw.write_text("127.0.0.1:1:*:tocsin:Hunter2secret\n")
    pw.chmod(0o644)
    pg_store(inst, tmp_path, f"host=127.0.0.1 port=1 dbname=x passfile={pw}")
    p = inst.run("check")
    assert p.returncode == EX_CONFIG
    out = p.stdout + p.stderr
    assert "chmod 600" in out and str(pw) in out
    assert "Hunter2secret" not in out
    pw.chmod(0o600)
    # private now: what is left is a database that does not answer, a
    # warning, and the rest of the repository passes
    p = inst.run("check", check=0)
    assert "warning" in p.stdout and "PostgreSQL store" in p.stdout


def test_pg_store_needs_a_shared_ack_secret(inst, tmp_path):
    pg_store(inst, tmp_path, "host=127.0.0.1 port=1 dbname=x",
             ack_secret=False)
    p = inst.run("check")
    assert p.returncode == EX_CONFIG
    assert "gateway.ack_secret" in p.stdout + p.stderr
    assert f"tocsin.conf:{store_line(inst)}" in p.stdout + p.stderr


def test_serve_without_its_database_exits_with_the_reason(inst, tmp_path):
    """A node started while its database does not answer stops at once
    with the reason (its unit starts it again), and nothing is made."""
    pg_store(inst, tmp_path, "host=127.0.0.1 port=1 dbname=x "
             "connect_timeout=2")
    p = inst.run("serve", "--until-idle", timeout=60)
    assert p.returncode != 0
    assert "cannot connect to the PostgreSQL store" in p.stderr
    assert not (inst.dir / "x").exists()


@pytest.mark.parametrize("value,why", [
    # a line break: an SMS header trick
    ("DESK\\r\\nBcc: x", "holds a control character"),
    ("A" * 21, "1 to 20 printable ASCII"),      # over 20 characters
    ("", "is empty"),
    ("Dési", "1 to 20 printable ASCII"),        # not ASCII
])
def test_short_name_refused_with_file_and_line(inst, value, why):
    inst.set_keys("gateway", short_name=value)
    conf = inst.conf.read_text()
    line = next(n for n, l in enumerate(conf.splitlines(), 1)
                if l.strip().startswith("short_name = "))
    p = inst.run("check", check=EX_CONFIG)
    hit = [l for l in p.stdout.splitlines()
           if l.startswith(f"{inst.conf}:{line}: error: gateway: short_name")]
    assert hit and why in hit[0], p.stdout
    # never echoed raw: no line of the output starts with the injected text
    assert not any(l.startswith("Bcc:") for l in p.stdout.splitlines())


def test_short_name_accepted(inst):
    inst.set_keys("gateway", short_name="DNS-CERT desk")
    p = inst.run("check", check=0)
    assert "short_name" not in p.stdout + p.stderr


def test_a_language_without_catalog_is_named_with_its_teams(inst, tmp_path):
    """check names each language of a contact that has no catalog, with
    its teams and the remedy; a language with one is not named; a catalog
    that cannot be read is named with its reason, and its readers are then
    told they get English."""
    from conftest import LOCALE_DIR
    fr, sw1, sw2 = inst.teams()[:3]
    inst.set_contact_langs(fr, ["fr", "en"])
    inst.set_contact_langs(sw1, ["sw", "en"])
    inst.set_contact_langs(sw2, ["sw"])
    inst.languages()
    out = inst.run("check", check=0).stdout
    line = [x for x in out.splitlines() if "language sw " in x]
    assert len(line) == 1, out
    assert re.search(r"teams\.conf:\d+: warning: language sw has no catalog "
                     rf"in {re.escape(str(LOCALE_DIR))}, .* reach teams "
                     rf"{sw1}, {sw2} in English \(2 teams\); add po/sw\.po "
                     r"and rebuild", line[0]), line[0]
    assert "gateway.locale_dir" in line[0]
    assert "language fr " not in out and "language en " not in out
    # the fault's version: a French catalog that is not one
    bad = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, bad, ignore=shutil.ignore_patterns(
        "*.pot", "*.po", "meson*", "*.json"))
    (bad / "fr" / "LC_MESSAGES" / "tocsin.mo").write_bytes(b"\xde\x12\x04"
                                                          b"\x95" + b"\0" * 8)
    inst.set_keys("gateway", locale_dir=str(bad))
    out = inst.run("check", check=0).stdout
    assert re.search(r"warning: gateway: the catalog of language fr: catalog "
                     r"of 12 bytes is too short for its header in "
                     rf"{re.escape(str(bad))}/fr/LC_MESSAGES/tocsin\.mo", out), \
        out
    assert re.search(rf"language fr has no catalog .* reach teams {fr}, .* "
                     r"in English \(\d+ teams\)", out), out
    assert "language ar " not in out      # the other catalogs still count
