"""benchlib: what the bench programs share: running a command, stopping a
child, timing one child with its own peak memory, the options and the
clean-up of the programs that time `tocsin serve` in a work folder."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def die(msg):
    sys.exit(f"{Path(sys.argv[0]).stem}: {msg}")


def run(cmd, **kw):
    """Run cmd, exit with its stderr when it fails; return CompletedProcess."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, **kw)
    if p.returncode != 0:
        err = p.stderr if isinstance(p.stderr, str) else \
            p.stderr.decode(errors="replace")
        die(f"{' '.join(map(str, cmd))} failed ({p.returncode}): "
            f"{err.strip()[-2000:]}")
    return p


def stop(p, grace=5):
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def timed(cmd, errfile, timeout, stdout=subprocess.DEVNULL, sample=False):
    """Run cmd; return (wall s, ru_maxrss KiB, own VmHWM KiB sampled from
    /proc (0 unless sample), exit code, killed?).  os.wait4 gives this
    child's own rusage, not that of earlier children of this script; its
    CPU seconds (user + system, children included) are left in timed.cpu."""
    err = open(errfile, "wb")
    killed = threading.Event()
    hwm = [0]
    t0 = time.monotonic()
    p = subprocess.Popen([str(c) for c in cmd], stdout=stdout, stderr=err)
    err.close()
    done = threading.Event()

    def sampler():
        path = f"/proc/{p.pid}/status"
        while not done.is_set():
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm[0] = max(hwm[0], int(line.split()[1]))
                            break
            except (OSError, ValueError):
                pass
            done.wait(0.01)

    def expire():
        killed.set()
        try:
            os.kill(p.pid, signal.SIGTERM)
            if not done.wait(5):
                os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    th = threading.Thread(target=sampler, daemon=True)
    if sample:
        th.start()
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:
        # Ctrl-C (or SIGTERM made one) while waiting: leave no child.
        done.set()
        timer.cancel()
        p.kill()
        p.wait()
        raise
    wall = time.monotonic() - t0
    done.set()
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    if sample:
        th.join()
    timed.cpu = ru.ru_utime + ru.ru_stime
    return wall, ru.ru_maxrss, hwm[0], p.returncode, killed.is_set()


def serve_options(ap, src):
    """--keep, --bin and --serve-timeout, for a program that times
    `tocsin serve` in a work folder; src is the source tree."""
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (printed at the end)")
    ap.add_argument("--bin", default=str(src / "build" / "gateway" / "tocsin"))
    ap.add_argument("--serve-timeout", type=float, default=600,
                    help="stop `tocsin serve` after this many seconds")


def end_work(work, pki, keep):
    """Stop the gpg-agents of the test PKI's GnuPG homes, then remove the
    work folder, or with keep say where it is."""
    for h in ("gnupg", "signers", "contacts"):
        subprocess.run(["gpgconf", "--homedir", str(pki / h), "--kill",
                        "all"], capture_output=True)
    if keep:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
