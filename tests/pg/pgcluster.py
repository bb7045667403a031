#!/usr/bin/python3
"""Throwaway PostgreSQL 15 clusters for tocsin's tests, started and stopped
by the tests themselves.

A cluster lives in BASE/NAME: the data directory (data/), the server log
(server.log) and the Unix socket.  It listens on 127.0.0.1 only, on a free
high port, and its superuser is tocsin_admin with a random password that
clients read from a .pgpass file (BASE/NAME.pgpass, owned by the caller).

initdb and the server refuse to run as root, and tests run as root on CI:
then the server programs run as the `postgres` system user through runuser
and the cluster's directory belongs to that user.  Otherwise they run as
the calling user.

As a command:

    /usr/bin/python3 tests/pg/pgcluster.py run -- CMD ARGS...

starts a cluster in a new directory /tmp/tpg-*, runs CMD with
TOCSIN_TEST_PG set to the conninfo of its `postgres` database, removes the
cluster again and exits with CMD's exit code.  A cluster that does not
start is a failure (exit 1, the server log's end on stderr), never a skip.
"""
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse

PG_BIN = "/usr/lib/postgresql/15/bin"
ADMIN = "tocsin_admin"
SERVER_USER_WHEN_ROOT = "postgres"
START_TRIES = 5         # a free port can be taken between choice and bind
# A Unix socket path is limited to 107 bytes; its name adds ~18.
SOCKET_DIR_MAX = 88


class ClusterError(RuntimeError):
    """A server program failed; the message carries its output and the end
    of the server log."""


def _free_port():
    # The kernel's pick among the ephemeral ports: high, and never 5432,
    # where the Debian package's own cluster may listen.
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 1024 and port != 5432:
            return port


def _kv(value):
    # A conninfo value: quoted when it holds a space, a quote or a backslash.
    value = str(value)
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _conf_str(value):
    # A string literal for postgresql.conf.
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _pid_alive(pid):
    # A zombie counts as gone: PID 1 here need not reap the postmaster
    # that pg_ctl left to it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def wait_until(pred, timeout, what):
    """Polls pred() until it is true; ClusterError naming what after
    timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout} s waiting for "
                               f"{what}")
        time.sleep(0.05)


class Cluster:
    """One PostgreSQL server.  Call init() then start(), or make_standby()
    for a streaming standby of another Cluster; cleanup() (or leaving a
    with block) stops it and removes its directory."""

    def __init__(self, base_dir, name="primary"):
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", name):
            # It names a directory and a standby in synchronous_standby_names.
            raise ValueError(f"cluster name {name!r}: use [a-z][a-z0-9_]*")
        self.base_dir = os.path.abspath(base_dir)
        self.name = name
        self.dir = os.path.join(self.base_dir, name)
        self.datadir = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = None
        self.password = None
        self._passfile = os.path.join(self.base_dir, name + ".pgpass")
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(SERVER_USER_WHEN_ROOT)
            except KeyError:
                raise ClusterError(
                    f"running as root, but there is no "
                    f"{SERVER_USER_WHEN_ROOT!r} user to run PostgreSQL as "
                    "(install postgresql-15)") from None
            self._runas = [shutil.which("runuser") or "/usr/sbin/runuser",
                           "-u", SERVER_USER_WHEN_ROOT, "--"]
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
        else:
            self._runas = []
            self._uid, self._gid = os.getuid(), os.getgid()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def __repr__(self):
        return f"<Cluster {self.name} port={self.port} dir={self.dir}>"

    # --- client side ---

    @property
    def passfile(self):
        """The .pgpass file clients give as passfile=: mode 0600, the
        caller's, next to the cluster's directory."""
        return self._passfile

    def conninfo(self, dbname="postgres"):
        return (f"host=127.0.0.1 port={self.port} user={ADMIN} "
                f"dbname={_kv(dbname)} passfile={_kv(self.passfile)} "
                "connect_timeout=15")

    def uri(self, dbname="postgres"):
        q = urllib.parse.quote
        return (f"postgresql://{ADMIN}@127.0.0.1:{self.port}/"
                f"{q(dbname, safe='')}?passfile={q(self.passfile, safe='')}")

    def connect(self, dbname="postgres"):
        """A psycopg2 connection in autocommit mode; the caller closes it."""
        import psycopg2
        conn = psycopg2.connect(self.conninfo(dbname))
        conn.autocommit = True
        return conn

    def sql(self, dbname, query, params=()):
        """Runs one statement in autocommit mode; returns its rows (an
        empty list when it returns none)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params or None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def createdb(self, name):
        from psycopg2 import sql
        self.sql("postgres", sql.SQL("CREATE DATABASE {}").format(
            sql.Identifier(name)))

    def create_store_db(self, name):
        """A database as tocsin's store needs it: SQL_ASCII (text kept
        byte for byte), C collation."""
        from psycopg2 import sql
        self.sql("postgres", sql.SQL(
            "CREATE DATABASE {} ENCODING 'SQL_ASCII' LC_COLLATE 'C' "
            "LC_CTYPE 'C' TEMPLATE template0").format(sql.Identifier(name)))

    def dropdb(self, name):
        from psycopg2 import sql
        self.sql("postgres", sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
            sql.Identifier(name)))

    # --- server side ---

    def init(self):
        """initdb: a new cluster with its configuration; not started."""
        self._make_dir()
        self.password = secrets.token_hex(16)
        pwfile = os.path.join(self.dir, "pwfile")
        self._write(pwfile, self.password + "\n")
        try:
            self._run("initdb", "-D", self.datadir, "-E", "UTF8",
                      "--locale=C", "-U", ADMIN, "--pwfile", pwfile,
                      "--auth-local=trust", "--auth-host=scram-sha-256",
                      "--no-sync")
        finally:
            os.unlink(pwfile)
        self._write(os.path.join(self.datadir, "pg_hba.conf"), self._hba())
        self.port = _free_port()
        self._set_conf(self._base_conf())
        self._write_passfile()
        return self

    def start(self, timeout=60):
        """pg_ctl -w start; returns once a client logs in over TCP.  A port
        taken meanwhile by someone else is replaced by another free one."""
        for attempt in range(START_TRIES):
            logged = self._log_size()
            try:
                self._run("pg_ctl", "-D", self.datadir, "-l", self.logfile,
                          "-w", "-t", str(timeout), "start")
                break
            except ClusterError:
                if (attempt + 1 == START_TRIES or
                        "could not bind" not in self._log_since(logged)):
                    raise
            self.port = _free_port()
            self._set_conf({"port": self.port})
            self._write_passfile()
        wait_until(self._accepts, timeout,
                   f"{self.name} to accept connections")
        return self

    def stop(self, mode="fast"):
        if mode not in ("fast", "immediate", "smart"):
            raise ValueError(f"stop mode {mode!r}")
        self._run("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")

    def kill9(self):
        """SIGKILL to the postmaster, as a crash would; its children notice
        and exit by themselves."""
        pid = self._postmaster_pid()
        if pid is None:
            raise ClusterError(f"{self.name}: no postmaster.pid")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _pid_alive(pid), 10,
                   f"postmaster {pid} to die")

    def promote(self):
        self._run("pg_ctl", "-D", self.datadir, "-w", "promote")

    def running(self):
        pid = self._postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def make_standby(self, primary, synchronous=True, timeout=30):
        """This (not yet initialised) cluster becomes a streaming standby of
        primary, started, and streaming (in sync when synchronous)."""
        self._make_dir()
        self.password = primary.password
        self.port = _free_port()
        # The walreceiver runs as the server user: its own .pgpass.
        replpass = os.path.join(self.dir, "replication.pgpass")
        self._write(replpass,
                    f"127.0.0.1:{primary.port}:*:{ADMIN}:{self.password}\n")
        upstream = (f"host=127.0.0.1 port={primary.port} user={ADMIN} "
                    f"passfile={_kv(replpass)} application_name={self.name}")
        self._run("pg_basebackup", "-D", self.datadir, "-d", upstream,
                  "-R", "-X", "stream", "-c", "fast", "--no-sync")
        # Written again rather than trusting -R's copy of the options.
        auto = os.path.join(self.datadir, "postgresql.auto.conf")
        with open(auto) as f:
            kept = [l for l in f if not l.startswith("primary_conninfo")]
        kept.append(f"primary_conninfo = {_conf_str(upstream)}\n")
        self._write(auto, "".join(kept))
        self._set_conf({"port": self.port,
                        "unix_socket_directories": _conf_str(self.dir)})
        self._write_passfile()
        if synchronous:
            # Set after the base backup, so that the standby does not
            # inherit it: once promoted it would wait for a standby of its
            # own at each commit.
            primary.sql("postgres",
                        "ALTER SYSTEM SET synchronous_standby_names = %s",
                        (self.name,))
            primary.sql("postgres", "ALTER SYSTEM SET synchronous_commit = on")
            primary.sql("postgres", "SELECT pg_reload_conf()")
        self.start(timeout)
        want = "sync" if synchronous else None

        def streaming():
            rows = primary.sql("postgres",
                               "SELECT state, sync_state FROM "
                               "pg_stat_replication "
                               "WHERE application_name = %s", (self.name,))
            return any(r[0] == "streaming" and (want is None or r[1] == want)
                       for r in rows)
        try:
            wait_until(streaming, timeout, f"{self.name} to stream from "
                  f"{primary.name}")
        except ClusterError as e:
            raise ClusterError(f"{e}\n{self.log_tail()}") from None
        return self

    def cleanup(self):
        """Stops the server (immediate), whatever is left of it, and removes
        its directory and passfile.  Safe to call twice."""
        if os.path.isdir(self.datadir) and self.running():
            try:
                self.stop("immediate")
            except ClusterError:
                pass
        self._kill_leftovers()
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink(self._passfile)
        except FileNotFoundError:
            pass

    def log_tail(self, lines=30):
        try:
            with open(self.logfile, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except FileNotFoundError:
            return f"({self.logfile} does not exist)"
        return "".join(tail)

    # --- helpers ---

    def _make_dir(self):
        if len(self.dir) > SOCKET_DIR_MAX:
            raise ClusterError(f"{self.dir}: too long for a Unix socket's "
                               "directory; use a shorter base directory")
        if self._runas:
            self._check_reachable()
        os.mkdir(self.dir, 0o700)
        os.chown(self.dir, self._uid, self._gid)

    def _check_reachable(self):
        # The server user must be able to walk down to the cluster's
        # directory.  The base directory is opened for search only (o+x,
        # no listing); its parents are left as they are.
        st = os.stat(self.base_dir)
        if not st.st_mode & stat.S_IXOTH:
            os.chmod(self.base_dir, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        d = os.path.dirname(self.base_dir)
        while True:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                raise ClusterError(f"{d}: the {SERVER_USER_WHEN_ROOT} user "
                                   f"cannot enter it to reach {self.dir}")
            if d == "/":
                return
            d = os.path.dirname(d)

    def _write(self, path, text, mode=0o600):
        # A file of the server's, as the server user would have written it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(path, self._uid, self._gid)

    def _write_passfile(self):
        # The caller's, not the server user's: libpq reads it in the
        # client and ignores it unless it is 0600.
        tmp = self._passfile + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:{ADMIN}:{self.password}\n")
        os.rename(tmp, self._passfile)

    def _hba(self):
        return ("# Written by tests/pg/pgcluster.py.\n"
                "# The socket lives in the cluster's directory (mode 0700),\n"
                "# so only the server user (and root) reaches it.\n"
                f"local\tall\t\t{ADMIN}\t\t\ttrust\n"
                f"host\tall\t\tall\t127.0.0.1/32\tscram-sha-256\n"
                f"host\tall\t\tall\t::1/128\t\tscram-sha-256\n"
                f"host\treplication\t{ADMIN}\t127.0.0.1/32\tscram-sha-256\n")

    def _base_conf(self):
        return {
            "listen_addresses": "'127.0.0.1'",
            "port": self.port,
            "unix_socket_directories": _conf_str(self.dir),
            "fsync": "off",
            "full_page_writes": "off",
            "wal_level": "replica",
            "max_wal_senders": 5,
            "hot_standby": "on",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
        }

    def _set_conf(self, settings):
        # Drops earlier lines setting the same names, then appends; the file
        # stays readable for whoever looks at a failed test's cluster.
        path = os.path.join(self.datadir, "postgresql.conf")
        with open(path) as f:
            lines = f.readlines()
        pat = re.compile(r"\s*(%s)\s*=" % "|".join(map(re.escape, settings)))
        lines = [l for l in lines if not pat.match(l)]
        lines += [f"{k} = {v}\n" for k, v in settings.items()]
        self._write(path, "".join(lines))

    def _run(self, prog, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        cmd = self._runas + [os.path.join(PG_BIN, prog), *args]
        # The cwd must be one the server user can enter.
        p = subprocess.run(cmd, cwd=self.dir, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, errors="replace")
        if p.returncode != 0:
            raise ClusterError(f"{self.name}: {prog} {' '.join(args)} exited "
                               f"{p.returncode}:\n{p.stdout}{p.stderr}"
                               f"--- {self.logfile}, last lines:\n"
                               f"{self.log_tail()}")
        return p.stdout

    def _accepts(self):
        import psycopg2
        try:
            self.sql("postgres", "SELECT 1")
        except psycopg2.OperationalError:
            if not self.running():
                raise ClusterError(f"{self.name}: the server exited:\n"
                                   f"{self.log_tail()}") from None
            return False
        return True

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline())
        except (FileNotFoundError, ValueError):
            return None

    def _log_size(self):
        try:
            return os.path.getsize(self.logfile)
        except FileNotFoundError:
            return 0

    def _log_since(self, offset):
        try:
            with open(self.logfile, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return ""

    def _kill_leftovers(self):
        # Backends of a postmaster killed by kill9() exit once they notice;
        # none may outlive the directory they work in.
        real = os.path.realpath(self.datadir)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd == real or cwd.startswith(real + "/"):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _run_command(cmd):
    """The `run` command: a cluster around one command."""
    base = tempfile.mkdtemp(prefix="tpg-", dir="/tmp")
    cluster = Cluster(base)
    child = None
    caught = []

    def on_signal(signum, frame):
        caught.append(signum)
        if child is not None and child.poll() is None:
            # A second signal does not wait for the command any longer.
            child.send_signal(signum if len(caught) == 1 else signal.SIGKILL)
        else:
            raise KeyboardInterrupt
    old = {s: signal.signal(s, on_signal)
           for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        try:
            cluster.init()
            cluster.start()
        except ClusterError as e:
            print(f"pgcluster: PostgreSQL did not start: {e}",
                  file=sys.stderr)
            return 1
        env = dict(os.environ, TOCSIN_TEST_PG=cluster.conninfo("postgres"))
        try:
            child = subprocess.Popen(cmd, env=env)
        except OSError as e:
            print(f"pgcluster: {cmd[0]}: {e.strerror}", file=sys.stderr)
            return 127
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:
                pass
        return rc if rc >= 0 else 128 - rc
    except KeyboardInterrupt:
        return 128 + (caught[0] if caught else signal.SIGINT)
    finally:
        # No signal may stop the removal half way.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        cluster.cleanup()
        shutil.rmtree(base, ignore_errors=True)
        for s, h in old.items():
            signal.signal(s, h)


def main(argv):
    usage = "usage: pgcluster.py run -- CMD [ARGS...]"
    if len(argv) < 2 or argv[1] != "run":
        print(usage, file=sys.stderr)
        return 2
    cmd = argv[2:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        print(usage, file=sys.stderr)
        return 2
    return _run_command(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
