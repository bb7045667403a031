"""A test peer run as a child process: started, waited for through the
ready file it writes (its port, written by rename), and stopped.

The child's stdout and stderr go to files, never to pipes: an unread pipe
fills up and stalls the peer.  Subclasses set ready, logfile and
stdout_file and give command().
"""
import signal
import subprocess
import time


class PeerProcess:
    what = "peer"          # for messages

    proc = None
    port = None

    def command(self):
        raise NotImplementedError

    def start(self, timeout=10):
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A ready file left by an earlier peer here would name the wrong
        # port.
        self.ready.unlink(missing_ok=True)
        with open(self.stdout_file, "ab") as out, \
                open(self.logfile, "ab") as err:
            self.proc = subprocess.Popen(self.command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while True:
            if self.ready.exists():
                self.port = int(self.ready.read_text())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited "
                                   f"{self.proc.returncode} before listening:"
                                   f"\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.what} not listening after "
                                   f"{timeout} s:\n{self.log()}")
            time.sleep(0.02)

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        """The peer's stderr so far."""
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def throwaway_tls(d, name):
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost
    in folder d (EC keys: made in milliseconds, unlike RSA).  Returns the
    paths {"ca", "cert", "key"}."""
    def ossl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True,
                       capture_output=True)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", f"/CN={name} test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=localhost")
    (d / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
         "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext",
         "-out", "server.pem")
    return {"ca": d / "ca.pem", "cert": d / "server.pem",
            "key": d / "server.key"}
