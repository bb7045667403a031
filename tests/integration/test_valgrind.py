"""The daemon's main paths under valgrind's memcheck: a signed alert
submitted, sent by e-mail, SMS and fax to the real peers, and the status
read back.  Each command must end with no memory error and nothing
definitely lost (tests/valgrind.supp names the libraries' own).  Run on the
normal build only: valgrind cannot run a sanitizer build."""
import shutil
import signal
import subprocess
import time

from conftest import BIN, SRC
from test_metrics import get
from test_email import peer_for
from test_fax import configure as fax_configure
from test_sms import configure as sms_configure, provider

SUPP = SRC / "tests" / "valgrind.supp"


def memcheck_argv(inst, log, *args):
    """tocsin under memcheck: exit 99 for any error, a leak included."""
    assert shutil.which("valgrind"), "valgrind is in .ci/install-deps"
    ldd = subprocess.run(["ldd", str(BIN)], capture_output=True, text=True)
    assert "libasan" not in ldd.stdout, \
        "valgrind cannot run a sanitizer build; tests/run.sh leaves this " \
        "file out of the sanitizer pass"
    return ["valgrind", "-q", "--child-silent-after-fork=yes",
            "--leak-check=full", "--errors-for-leak-kinds="
            "definite", "--error-exitcode=99", f"--suppressions={SUPP}",
            f"--log-file={log}", str(BIN), "-c", str(inst.conf),
            *map(str, args)]


def memcheck(inst, tmp_path, *args, timeout=600):
    log = tmp_path / f"memcheck-{args[0]}.log"
    p = subprocess.run(memcheck_argv(inst, log, *args), capture_output=True,
                       text=True, timeout=timeout)
    report = log.read_text()
    assert p.returncode == 0, f"{args[0]}: exit {p.returncode}\n{report}\n" \
        f"{p.stderr}"
    return p


def test_submit_send_and_status_are_clean(inst, tmp_path, pki):
    teams = inst.teams()[:3]
    with provider(tmp_path, pki, "p") as sms:
        sms_configure(inst, sms.url,
                      step0='[ "primary:pgp-email", "primary:sms" ]')
        fax_configure(inst, step0='[ "primary:pgp-email", "primary:sms", '
                      '"primary:fax" ]')
        peer = peer_for(inst, tmp_path, pki)
        try:
            doc = inst.cap(addresses=" ".join(teams))
            a = inst.write("alert.xml", doc)
            sigs = []
            for s in ("desk-1", "desk-2"):
                sigs += ["--sig", inst.gpg_sign(a, s)]
            alert = memcheck(inst, tmp_path, "submit", a,
                             *sigs).stdout.strip()
            memcheck(inst, tmp_path, "serve", "--until-idle")
            mails = peer.messages()
        finally:
            peer.stop()
        texts = sms.messages()
    rows = inst.sql("SELECT channel, state FROM deliveries WHERE "
                    "alert_id = ?", alert)
    chans = {c for c, _ in rows}
    assert chans >= {"pgp-email", "sms", "fax"}, rows
    assert all(s == "sent" for _, s in rows), rows
    # what the peers hold, once each
    assert len(mails) == sum(c in ("pgp-email", "fax") for c, _ in rows)
    assert len(texts) == sum(c == "sms" for c, _ in rows)
    out = memcheck(inst, tmp_path, "status", alert).stdout
    for t in teams:
        assert t in out


def test_serve_answering_health_and_metrics_is_clean(inst, tmp_path):
    """A running serve answers /healthz and /metrics (through its monitor
    thread, the connection suspended and resumed) and stops on SIGTERM,
    all under memcheck."""
    log = tmp_path / "memcheck-serve.log"
    out = open(tmp_path / "serve.out", "w")
    p = subprocess.Popen(memcheck_argv(inst, log, "serve"), stdout=out,
                         stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 120
        while True:
            try:
                if get(inst.port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert p.poll() is None, (tmp_path / "serve.out").read_text()
            assert time.monotonic() < end, "serve never became healthy"
            time.sleep(0.2)
        st, _, body = get(inst.port, "/metrics")
        assert st == 200 and "tocsin_build_info" in body
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=120)
    assert rc == 0, f"exit {rc}\n{log.read_text()}"
