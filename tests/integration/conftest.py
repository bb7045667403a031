"""Integration-test harness: the real tocsin binary, real gpg and openssl.

Session fixtures build a throwaway PKI (certs/mkpki.sh) and a generated
repository (examples/gen-repo.py) once; each test gets its own copy of the
configuration with its own store, so tests never see each other's alerts.
"""
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import sqlite3
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

SRC = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "tests" / "pg"))
import pgcluster  # noqa: E402
BIN = Path(os.environ.get("TOCSIN_BIN", SRC / "build" / "gateway" / "tocsin"))
# The catalogs the build compiled from po/ (LANG/LC_MESSAGES/tocsin.mo):
# an instance that calls languages() reads them.  Every other instance
# has none (the gateway's texts in English, as its assertions were
# written), whatever may be installed on the host.
LOCALE_DIR = Path(os.environ.get("TOCSIN_LOCALE_BUILD",
                               BIN.parents[1] / "po")).resolve()
os.environ["TOCSIN_LOCALEDIR"] = "/nonexistent/tocsin-no-catalogs"
VOICES = {"en": "en-US", "fr": "fr-FR", "es": "es-ES", "pt": "pt-BR",
          "ru": "ru-RU", "zh": "zh-CN", "ar": "arb"}


def po_entries(lang):
    """{msgid: msgstr} of po/LANG.po (the source the catalogs are built
    from), fuzzy entries included with their flag: {msgid: (msgstr,
    fuzzy)}."""
    out, cur, fuzzy = {}, None, False
    key = val = None

    def unq(s):
        return json.loads(s)

    def flush():
        if key is not None:
            out[key] = (val, fuzzy)

    for line in (SRC / "po" / f"{lang}.po").read_text().splitlines() + [""]:
        if line.startswith("#,"):
            fuzzy = "fuzzy" in line
        elif line.startswith("msgid "):
            key, cur = unq(line[6:]), "id"
        elif line.startswith("msgstr "):
            val, cur = unq(line[7:]), "str"
        elif line.startswith('"') and cur == "id":
            key += unq(line)
        elif line.startswith('"') and cur == "str":
            val += unq(line)
        elif not line.strip():
            flush()
            key = val = cur = None
            fuzzy = False
    return out


def tr(lang, msgid, **values):
    """msgid in lang as the catalogs give it, placeholders filled."""
    text = msgid if lang == "en" else po_entries(lang)[msgid][0]
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text
TEAMS = int(os.environ.get("TOCSIN_TEST_TEAMS", "80"))
# TOCSIN_TEST_STORE=pg: every instance's store is a PostgreSQL database of
# its own, on one server the session starts (tests/pg/pgcluster.py)
ON_PG = os.environ.get("TOCSIN_TEST_STORE", "sqlite") == "pg"
PG = {}


@pytest.fixture(scope="session", autouse=True)
def pg_server():
    """The PostgreSQL server of the session when ON_PG, else None."""
    if not ON_PG:
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="tpg-", dir="/tmp"))
    c = pgcluster.Cluster(base, "primary").init().start()
    PG["server"] = c
    yield c
    PG.clear()
    c.cleanup()
    shutil.rmtree(base, ignore_errors=True)


def pytest_configure(config):
    if not BIN.exists():
        raise pytest.UsageError(f"tocsin binary not found at {BIN}; build first "
                                "or set TOCSIN_BIN")
    config.addinivalue_line(
        "markers", "sqlite_file: a test of the SQLite store's file itself "
        "(its modes, its disk, its lock, `store backup`, how SQLite's "
        "statements walk it); not collected "
        "when TOCSIN_TEST_STORE=pg, since a PostgreSQL store has no such "
        "file, and run on SQLite in every pass")
    config.addinivalue_line(
        "markers", "timing: a test that bounds wall-clock time, given to "
        "the files of TIMING_FILES; tests/run.sh runs these in one process "
        "after the others")


# Files whose tests bound wall-clock time (a step within a second of its
# deadline, a store held busy for so many seconds, a node killed at a
# moment): tests/run.sh runs them alone, after the others have run in
# parallel workers, so that another test's load does not move their clock.
TIMING_FILES = {"test_faults.py", "test_escalation.py", "test_ack_all.py",
                "test_ackreply.py", "test_ha.py"}


def pytest_collection_modifyitems(config, items):
    """Files of TIMING_FILES get the marker timing.  On PostgreSQL, the
    tests of SQLite's file are deselected (pytest reports how many),
    neither run nor counted: they run in the SQLite passes."""
    for i in items:
        if i.path.name in TIMING_FILES:
            i.add_marker(pytest.mark.timing)
    if not ON_PG:
        return
    gone = [i for i in items if i.get_closest_marker("sqlite_file")]
    if gone:
        items[:] = [i for i in items if not i.get_closest_marker("sqlite_file")]
        config.hook.pytest_deselected(items=gone)


@pytest.fixture(scope="session")
def workdir():
    # Short path: gpg-agent's socket path has a length limit.
    d = Path(tempfile.mkdtemp(prefix="tcs-", dir="/tmp"))
    yield d
    subprocess.run(["gpgconf", "--homedir", str(d / "pki" / "gnupg"), "--kill",
                    "all"], capture_output=True)
    subprocess.run(["gpgconf", "--homedir", str(d / "pki" / "signers"), "--kill",
                    "all"], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pki(workdir):
    d = workdir / "pki"
    subprocess.run(["sh", str(SRC / "certs" / "mkpki.sh"), str(d)], check=True,
                   capture_output=True)
    info = json.loads((d / "pki.json").read_text())
    info["dir"] = d
    return info


@pytest.fixture(scope="session")
def verify_home(workdir, pki):
    """A GnuPG home holding only the gateway's public key: what a recipient
    checks the gateway's signatures with."""
    home = workdir / "gwpub"
    home.mkdir(mode=0o700)
    r = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet",
                        "--import", str(pki["dir"] / "gateway.asc")],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    yield home
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                   capture_output=True)


@pytest.fixture(scope="session")
def repo_template(workdir, pki):
    out = workdir / "repo"
    subprocess.run(["/usr/bin/python3", str(SRC / "examples" / "gen-repo.py"),
                    "--pki", str(pki["dir"]), "--out", str(out),
                    "--teams", str(TEAMS), "--seed", "7"],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def repo200(workdir, pki, repo_template):
    """A second repository of 200 teams, for fan-out and rate tests."""
    out = workdir / "repo200"
    subprocess.run(["/usr/bin/python3", str(SRC / "examples" / "gen-repo.py"),
                    "--pki", str(pki["dir"]), "--out", str(out), "--teams",
                    "200", "--seed", "5"], check=True, capture_output=True)
    return out


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


class Instance:
    """One configuration with its own store, and helpers to drive it."""

    def __init__(self, path, pki):
        self.dir = path
        self.conf = path / "tocsin.conf"
        self.pki = pki
        self.db = path / "state" / "tocsin.db"
        self.pg = None
        if ON_PG:
            self.use_pg(PG["server"])
        self.seq = 0
        # serve listens (receipts, later acks): a port of its own
        self.port = free_port()
        self.set_keys("gateway", listen=f"127.0.0.1:{self.port}",
                      public_url=f"http://127.0.0.1:{self.port}/")
        # TOCSIN_TEST_PGP_ENGINE=gpgme runs a suite on the other engine
        if os.environ.get("TOCSIN_TEST_PGP_ENGINE"):
            self.set_keys("gateway",
                          pgp_engine=os.environ["TOCSIN_TEST_PGP_ENGINE"])

    def run(self, *args, check=None, timeout=120, env=None):
        p = subprocess.run([str(BIN), "-c", str(self.conf), *map(str, args)],
                           capture_output=True, text=True, timeout=timeout,
                           env=env)
        if check is not None:
            assert p.returncode == check, (
                f"tocsin {' '.join(map(str, args))} exited {p.returncode}, "
                f"expected {check}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def teams(self):
        """Team ids of the repository, in file order."""
        ids = []
        for line in (self.dir / "teams.conf").read_text().splitlines():
            s = line.strip()
            if s.startswith("id = ") or s.startswith("{ id = "):
                ids.append(s.split('"')[1])
        return ids

    def use_pg(self, server, dbname=None):
        """The store a PostgreSQL database of server (made here, dropped
        by drop_pg), with the ack secret the nodes share."""
        self.pg = (server, dbname or "i_" + secrets.token_hex(6))
        server.create_store_db(self.pg[1])
        key = self.db.parent / "ack.key"
        key.parent.mkdir(mode=0o700, exist_ok=True)
        key.write_bytes(secrets.token_bytes(32))
        key.chmod(0o600)
        self.set_keys("gateway", store=server.conninfo(self.pg[1]),
                      ack_secret=str(key))

    def drop_pg(self):
        if self.pg is not None:
            self.pg[0].dropdb(self.pg[1])
            self.pg = None

    def empty_store(self):
        """The store emptied, as if no command had run: the file and its
        log removed, or the database dropped and made again."""
        if self.pg is not None:
            self.pg[0].dropdb(self.pg[1])
            self.pg[0].create_store_db(self.pg[1])
            return
        self.db.unlink()
        for f in self.db.parent.glob(self.db.name + "-*"):
            f.unlink()

    def conf_store(self):
        """What gateway.store says: the database's conninfo, or the
        file."""
        return (self.pg[0].conninfo(self.pg[1]) if self.pg is not None
                else str(self.db))

    def switch_store(self, target, pg=None):
        """The instance's store is now target (its config already says
        so): a PostgreSQL database pg = (server, name), or a file."""
        if pg is None:
            self.pg, self.db = None, Path(target)
        else:
            self.pg = pg

    @contextlib.contextmanager
    def connect(self):
        """A connection of the test's own to the store, for statements
        with ? marks (c.execute(sql, params) -> cursor), committed as
        they run (PostgreSQL) or on the way out (SQLite)."""
        if self.pg is None:
            with sqlite3.connect(self.db) as c:
                yield c
            return
        conn = self.pg[0].connect(self.pg[1])
        conn.set_client_encoding("UTF8")

        class Conn:
            def execute(self, query, params=()):
                cur = conn.cursor()
                cur.execute(query.replace("?", "%s"), tuple(params) or None)
                return cur
        try:
            yield Conn()
        finally:
            conn.close()

    @contextlib.contextmanager
    def write_locked(self):
        """The store's write lock held by a connection of the test's own,
        as another writer holds it: SQLite's exclusive lock, or the
        PostgreSQL advisory lock every write transaction of the store
        takes first."""
        if self.pg is None:
            db = sqlite3.connect(self.db, timeout=10, isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                db.execute("ROLLBACK")
                db.close()
            return
        conn = self.pg[0].connect(self.pg[1])
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN; SELECT pg_advisory_xact_lock(1953457011)")
            yield
        finally:
            conn.close()

    def store_text(self):
        """Everything the store holds, as text: the file and its log, or
        a dump of the database's rows."""
        if self.pg is None:
            wal = self.db.parent / (self.db.name + "-wal")
            data = self.db.read_bytes() + (wal.read_bytes() if wal.exists()
                                           else b"")
            return data.decode("latin-1")
        return subprocess.run(
            ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "-d",
             self.pg[0].conninfo(self.pg[1])], capture_output=True,
            check=True).stdout.decode("latin-1")

    def checkpoint(self):
        """The audit checkpoint: beside the store file, or beside the ack
        secret for a PostgreSQL store."""
        if self.pg is not None:
            return self.db.parent / "audit.checkpoint"
        return self.db.parent / (self.db.name + ".checkpoint")

    def has_store(self):
        """Whether a tocsin command made the store yet (its tables)."""
        if self.pg is not None:
            return self.sql("SELECT to_regclass('alerts') IS NOT NULL"
                            )[0][0]
        return self.db.exists()

    def sql(self, query, *params):
        if self.pg is not None:
            conn = self.pg[0].connect(self.pg[1])
            # the store's bytes are UTF-8 text (a SQL_ASCII database
            # passes them as they are)
            conn.set_client_encoding("UTF8")
            try:
                with conn.cursor() as cur:
                    cur.execute(query.replace("?", "%s"), params or None)
                    rows = ([tuple(r) for r in cur.fetchall()]
                            if cur.description else [])
                # a test's UPDATE (a fault made by hand) stays made
                conn.commit()
                return rows
            finally:
                conn.close()
        with sqlite3.connect(self.db) as c:
            return c.execute(query, params).fetchall()

    def counts(self):
        if not self.has_store():
            return {"alerts": 0, "team_states": 0, "deliveries": 0,
                    "signatures": 0}
        return {t: self.sql(f"SELECT count(*) FROM {t}")[0][0]
                for t in ("alerts", "team_states", "deliveries", "signatures")}

    def audit(self):
        if not self.has_store():
            return []
        return self.sql("SELECT seq, actor, action, object, details FROM audit "
                        "ORDER BY seq")

    # --- acknowledgement codes and link tokens ----------------------------
    def ack_mac(self, label, alert, team):
        """HMAC-SHA256 of (label, alert, team), length-prefixed, keyed with
        the instance's ack secret: derived here as ack.c does, so that a
        code for another team or alert would not match."""
        secret = (self.db.parent / "ack.key").read_bytes()
        msg = b""
        for f in (label.encode(), alert.encode(), team.encode()):
            msg += bytes([len(f)]) + f
        return hmac.new(secret, msg, hashlib.sha256).digest()

    def ack_code(self, alert, team):
        mac = self.ack_mac("tocsin ack code", alert, team)
        return "%08d" % (int.from_bytes(mac[:8], "big") % 100000000)

    def ack_token(self, alert, team):
        return self.ack_mac("tocsin ack token", alert, team)[:16].hex()

    # --- configuration edits for one test ---------------------------------
    def languages(self):
        """The gateway's own texts in each contact's language, from the
        build's catalogs (gateway.locale_dir)."""
        assert (LOCALE_DIR / "fr" / "LC_MESSAGES" / "tocsin.mo").is_file(), \
            f"no catalogs in {LOCALE_DIR}: build first (ninja -C build)"
        self.set_keys("gateway", locale_dir=str(LOCALE_DIR))

    def set_contact_langs(self, team, langs):
        """Every contact of team reads langs (first preferred)."""
        text = (self.dir / "teams.conf").read_text()
        m = re.search(r'^  \{ id = "%s";.*?^  \}' % re.escape(team), text,
                      re.M | re.S)
        assert m, team
        block = re.sub(r"languages = \[[^\]]*\];", "languages = [ %s ];" %
                       ", ".join(f'"{x}"' for x in langs), m.group(0))
        (self.dir / "teams.conf").write_text(text[:m.start()] + block +
                                            text[m.end():])

    def set_keys(self, section, **kw):
        """Set keys of a top-level section (gateway) or of providers.smtp
        (section="smtp") in this instance's tocsin.conf."""
        text = self.conf.read_text()
        m = re.search(r"^(\s*)" + section + r" = \{\n(.*?)^\1\};", text,
                      re.M | re.S)
        assert m, f"no {section} section in {self.conf}"
        body = m.group(2)
        for k, v in kw.items():
            val = (f'"{v}"' if isinstance(v, str) else
                   ("true" if v is True else "false" if v is False else str(v)))
            body, n = re.subn(r"^(\s*)" + k + r" = [^;]*;", rf"\g<1>{k} = {val};",
                              body, flags=re.M)
            if n == 0:
                body += f"{m.group(1)}  {k} = {val};\n"
        self.conf.write_text(text[:m.start(2)] + body + text[m.end(2):])

    def on_failure(self, value):
        """Every policy's on_failure set to value ("next" or "wait")."""
        text = re.sub(r'\n    on_failure = "[^"]*";', "",
                      self.conf.read_text())
        text, n = re.subn(r"\n    steps = \(",
                          f'\n    on_failure = "{value}";\n    steps = (',
                          text)
        assert n >= 1
        self.conf.write_text(text)

    def email_all_first(self):
        """Step 0 of every policy: every contact of the team by e-mail, and
        nothing else, so that one message has several recipients."""
        text = self.conf.read_text()
        text, n = re.subn(r'notify = \[ "primary:pgp-email", "primary:sms" \]',
                          'notify = [ "all:pgp-email" ]', text)
        assert n >= 1
        self.conf.write_text(text)

    def settled(self, alert, timeout=15):
        """Wait until every delivery of alert that is due has an outcome
        (none sending, none pending or failed and due), so that what the
        store planned is all the peers will get until the next deadline;
        the alert's deliveries, by state."""
        end = time.monotonic() + timeout
        while True:
            busy = self.sql(
                "SELECT count(*) FROM deliveries WHERE alert_id = ? AND "
                "(state = 'sending' OR (state IN ('pending', 'failed') AND "
                "next_attempt <= ?))", alert, int(time.time()))[0][0]
            if busy == 0:
                break
            assert time.monotonic() < end, f"{busy} deliveries still due"
            time.sleep(0.05)
        return dict(self.sql("SELECT state, count(*) FROM deliveries WHERE "
                             "alert_id = ? GROUP BY state", alert))

    def planned(self, alert):
        """What `tocsin status --json` says the store planned for each
        team of alert: team -> (step, state, deadline or None)."""
        r = self.run("status", alert, "--json", check=0)
        doc = json.loads(r.stdout)
        a = doc["alerts"][0] if "alerts" in doc else doc
        return {t["team"]: (t["step"], t["state"], t["deadline"])
                for t in a["teams"]}

    def serve(self, *args, check=0, timeout=600):
        return self.run("serve", "--until-idle", *args, check=check,
                        timeout=timeout)

    def submit_signed(self, doc, name="alert.xml", signers=("desk-1", "desk-2")):
        a = self.write(name, doc)
        sigs = []
        for s in signers:
            sigs += ["--sig", self.gpg_sign(a, s)]
        return self.run("submit", a, *sigs, check=0).stdout.strip()

    # --- alerts and signatures ------------------------------------------
    def cap(self, **kw):
        self.seq += 1
        kw.setdefault("identifier", f"TEST-{os.getpid()}-{self.seq}-{time.time_ns()}")
        return make_cap(**kw)

    def write(self, name, data):
        p = self.dir / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return p

    def gpg_sign(self, path, signer="desk-1", mode="detach", faked=None):
        """Sign with an issuer key from the signers' home."""
        home = self.pki["dir"] / self.pki["signers_home"]
        fpr = self.pki["issuers"][signer]
        ext = {"detach": ".asc", "clear": ".clear.asc", "inline": ".gpg"}[mode]
        out = Path(str(path) + f".{signer}{ext}")
        cmd = ["gpg", "--homedir", str(home), "--batch", "--yes", "--quiet",
               "--pinentry-mode", "loopback", "--passphrase", "",
               "--local-user", fpr, "--output", str(out)]
        if faked:
            cmd += ["--faked-system-time", faked]
        cmd += {"detach": ["--armor", "--detach-sign"],
                "clear": ["--clearsign"],
                "inline": ["--sign"]}[mode]
        subprocess.run(cmd + [str(path)], check=True, capture_output=True)
        return out

    def cms_sign(self, path, cert="cms_issuer", key="cms_issuer_key"):
        out = Path(str(path) + f".{cert}.p7s")
        d = self.pki["dir"]
        subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", str(path),
                        "-signer", str(d / self.pki[cert]), "-inkey",
                        str(d / self.pki[key]), "-outform", "PEM", "-out",
                        str(out)], check=True, capture_output=True)
        return out


@contextlib.contextmanager
def instance_of(template, pki, prefix="i-"):
    """An Instance of the made repository template (its tocsin.conf and
    teams.conf copied) in a folder of its own beside it, removed after."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=str(template.parent)))
    for f in ("tocsin.conf", "teams.conf"):
        shutil.copy(template / f, d / f)
    i = None
    try:
        i = Instance(d, pki)
        # The tests were written for ladders that keep each step's time;
        # those of a step that failed on every channel (the default
        # "next") say so with inst.on_failure("next").
        i.on_failure("wait")
        yield i
    finally:
        if i is not None:
            i.drop_pg()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def inst(tmp_path_factory, repo_template, pki):
    with instance_of(repo_template, pki) as i:
        yield i


def cap_time(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def make_cap(identifier, sender="desk@dns-cert.example", sent=None,
             status="Actual", msg_type="Alert", scope="Private",
             addresses="all", severity="Severe", infos=None, extra="",
             references=None):
    if sent is None:
        sent = datetime.now(timezone.utc)
    if isinstance(sent, datetime):
        sent = cap_time(sent)
    if infos is None:
        infos = [("en-US", "Compromise of registry EPP credentials",
                  "Credentials of several registrars were phished.",
                  "Rotate EPP passwords and review recent DS changes.")]
    info_xml = ""
    for lang, headline, desc, instr in infos:
        info_xml += f"""
  <info>
    <language>{lang}</language>
    <category>Security</category>
    <event>DNS security incident</event>
    <urgency>Immediate</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <senderName>DNS security coordination centre</senderName>
    <headline>{escape(headline)}</headline>
    <description>{escape(desc)}</description>
    <instruction>{escape(instr)}</instruction>
    <area><areaDesc>Global DNS</areaDesc></area>
  </info>"""
    addr = f"\n  <addresses>{addresses}</addresses>" if addresses else ""
    refs = ""
    if msg_type in ("Update", "Cancel"):
        refs = (f"\n  <references>"
                f"{references or f'{sender},EARLIER-1,{sent}'}</references>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>{scope}</scope>{addr}{refs}{extra}{info_xml}
</alert>
"""
