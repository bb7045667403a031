"""/metrics and /healthz of a running serve, scraped and parsed as a
Prometheus server would: the figures match what the peers received and
what the store holds; a provider that fails shows as errors before the
fail-over; both answer this host alone, never an outside address or a
request through the proxy; /healthz says 503 when the store takes no
write."""
import http.client
import re
import signal
import socket
import threading
import time

from test_escalation import serve_bg
from test_sms import first_provider_fails, provider, sms_rows

SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}; every sample of a family
    announced by # HELP and # TYPE."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample: {line!r}"
        name = m.group(1)
        fam = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or fam in typed, f"untyped: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(name, labels)] = float(m.group(3))
    return out


def get(port, path, source="127.0.0.1", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                   source_address=(source, 0))
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def staged_get(port, path, source, go):
    """GET path from source with the request held back: connected and
    sent but for the blank line that ends it, which goes once go() has
    returned (a barrier's wait), so that requests of many threads reach
    the listener together however slowly the threads started.  Returns
    (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30,
                                  source_address=(source, 0)) as so:
        so.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Connection: close\r\n".encode())
        go()
        so.sendall(b"\r\n")
        data = b""
        while chunk := so.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode()


def wait_healthy(port, timeout=20):
    end = time.monotonic() + timeout
    while True:
        try:
            st, _, body = get(port, "/healthz")
            if st == 200:
                return body
        except OSError:
            pass
        assert time.monotonic() < end, "serve never became healthy"
        time.sleep(0.1)


def test_a_scrape_matches_what_the_peers_got(inst, tmp_path, pki):
    with provider(tmp_path, pki, "a") as a, provider(tmp_path, pki, "b") as b:
        # the first provider for every number answers 500: each message
        # is taken by the second after the first's retries
        alert = first_provider_fails(inst, a, b)
        proc = serve_bg(inst, "scrape")
        try:
            assert wait_healthy(inst.port) == "ok\n"
            end = time.monotonic() + 60
            while any(r[3] != "sent" for r in sms_rows(inst, alert)):
                assert time.monotonic() < end
                time.sleep(0.1)
            st, ctype, body = get(inst.port, "/metrics")
            got_a = len(a.requests())
            got_b = len([r for r in b.requests() if r["status"] == 201])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert st == 200 and ctype.startswith("text/plain; version=0.0.4")
    m = parse(body)
    n = len(sms_rows(inst, alert))
    assert got_b == n and got_a >= n
    lab = frozenset
    assert m[("tocsin_deliveries", lab({("channel", "sms"),
                                        ("state", "sent")}))] == n
    assert m[("tocsin_queue_due", lab({("channel", "sms")}))] == 0
    assert m[("tocsin_alerts_active", lab())] == 1
    # this process's results: every message sent by twilio-main ...
    assert m[("tocsin_send_results_total", lab({
        ("channel", "sms"), ("provider", "twilio-main"),
        ("result", "sent")}))] == n
    # ... each provider's answers as the peers saw them
    assert m[("tocsin_provider_requests_total", lab({
        ("channel", "sms"), ("provider", "ke-gateway"),
        ("outcome", "error")}))] == got_a
    assert m[("tocsin_provider_requests_total", lab({
        ("channel", "sms"), ("provider", "twilio-main"),
        ("outcome", "ok")}))] == n
    assert m[("tocsin_provider_latency_seconds_count", lab({
        ("channel", "sms"), ("provider", "twilio-main")}))] == n
    last = m[("tocsin_provider_last_sent_timestamp_seconds", lab({
        ("channel", "sms"), ("provider", "twilio-main")}))]
    assert abs(last - time.time()) < 120
    assert m[("tocsin_scheduler_last_round_age_seconds", lab())] < 2


def test_only_this_host_and_never_through_the_proxy(inst):
    inst.set_keys("gateway", trusted_proxy="127.0.0.3")
    proc = serve_bg(inst, "proxy")
    try:
        wait_healthy(inst.port)
        # another address (the host's own, but not loopback's first) ...
        for path in ("/metrics", "/healthz"):
            st, _, body = get(inst.port, path, source="127.0.0.3")
            assert st == 403 and "tocsin_" not in body
            # ... and one that says it is local through a header
            st, _, body = get(inst.port, path, source="127.0.0.3",
                              headers={"X-Forwarded-For": "127.0.0.1"})
            assert st == 403 and "tocsin_" not in body
        # a POST acknowledges nothing and shows nothing
        c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
        c.request("POST", "/metrics", body="x")
        assert c.getresponse().status == 405
        c.close()

        # the store held by another writer: /healthz says so, in time
        with inst.write_locked():
            t0 = time.monotonic()
            st, _, body = get(inst.port, "/healthz")
            took = time.monotonic() - t0
        assert st == 503 and "the store takes no write" in body
        assert took < 15
        assert wait_healthy(inst.port) == "ok\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_waiting_health_probe_holds_up_no_ack_page(inst):
    """/healthz waits up to 2 s for a busy store's write lock, and a scrape
    reads the whole store: both are answered off the listener's thread, so
    an ack link opened meanwhile is shown at once, not after the probe.
    (Before, the listener did the probe itself and every ack, SMS reply and
    provider report waited behind it.)"""
    t = inst.teams()[0]
    alert = inst.submit_signed(inst.cap(addresses=t))
    proc = serve_bg(inst, "monitor")
    try:
        wait_healthy(inst.port)
        got = {}

        def probe():
            got["health"] = get(inst.port, "/healthz")
            got["health_at"] = time.monotonic()

        with inst.write_locked():
            th = threading.Thread(target=probe)
            t0 = time.monotonic()
            th.start()
            time.sleep(0.3)     # the probe now waits for the lock
            st, _, page = get(inst.port, f"/ack/{inst.ack_token(alert, t)}")
            page_at = time.monotonic()
            th.join(timeout=30)
        assert st == 200 and t in page, page
        assert got["health"][0] == 503, got
        assert "the store takes no write" in got["health"][2]
        # the page came while the probe still waited (it waits 2 s)
        assert page_at - t0 < 1.2 < got["health_at"] - t0, \
            (page_at - t0, got["health_at"] - t0)
        # and both ends are healthy again, the team still unacked
        assert wait_healthy(inst.port) == "ok\n"
        assert inst.sql("SELECT state FROM team_states WHERE alert_id = ?",
                        alert) == [("active",)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_health_probes_waiting_together_share_one_and_stop_cleanly(inst):
    """Sixty health checks while the store is busy: those that wait
    together share one probe (so they are answered in a few probes' time,
    not sixty), past 32 waiting the rest get 503 at once, and a serve
    stopped while one waits answers it and exits 0."""
    proc = serve_bg(inst, "probes")
    try:
        wait_healthy(inst.port)
        got = []
        # the sixty connect and send all but their last line first, then
        # end their requests together: not as fast as threads happen to
        # start on a loaded machine (then fewer than 33 may ever wait
        # together, and none is refused)
        ready = threading.Barrier(60)

        def probe(i):
            go = (lambda: ready.wait(timeout=30)) if i < 60 else \
                (lambda: None)
            try:
                got.append(staged_get(inst.port, "/healthz",
                                      f"127.0.0.{10 + i}", go))
            except (OSError, threading.BrokenBarrierError) as e:
                got.append((None, str(e)))

        with inst.write_locked():
            t0 = time.monotonic()
            ths = [threading.Thread(target=probe, args=(i,))
                   for i in range(60)]
            for th in ths:
                th.start()
            for th in ths:
                th.join(timeout=30)
            took = time.monotonic() - t0
            busy = [b for s, b in got if s == 503 and "takes no write" in b]
            full = [b for s, b in got if s == 503 and "too many" in b]
            assert len(got) == 60 and len(busy) + len(full) == 60, got
            # 32 wait while one is probed; more only when they come
            # after a probe ended (the threads do not start at once)
            assert len(busy) >= 32 and len(full) >= 1, (len(busy), got)
            # a few probes of 2 s each, not 33 or more one after another
            assert took < 20, took
            # one more waits; the serve is stopped meanwhile
            th = threading.Thread(target=probe, args=(80,))
            got.clear()
            th.start()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            th.join(timeout=30)
        assert len(got) == 1 and got[0][0] == 503, got
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def test_the_workers_end_signal_sent_from_outside_stops_nothing(inst):
    """serve's last worker tells the main thread it ended with SIGRTMIN
    (so that serve ends then, not at its next look).  The same signal sent
    by anyone else only makes serve look: it keeps serving, sends what is
    queued, and stops on SIGTERM as before."""
    t = inst.teams()[0]
    proc = serve_bg(inst, "rtmin")
    try:
        wait_healthy(inst.port)
        for _ in range(5):
            proc.send_signal(signal.SIGRTMIN)
            time.sleep(0.05)
        alert = inst.submit_signed(inst.cap(addresses=t))
        for _ in range(5):
            proc.send_signal(signal.SIGRTMIN)
            time.sleep(0.05)
        assert proc.poll() is None, "serve ended on SIGRTMIN"
        assert wait_healthy(inst.port) == "ok\n"
        # what was queued after the signals is still tried (no relay
        # listens here: each e-mail fails and waits for its retry)
        end = time.monotonic() + 30
        while inst.sql("SELECT count(*) FROM deliveries WHERE alert_id = ? "
                       "AND attempts = 0", alert) != [(0,)]:
            assert time.monotonic() < end, inst.sql(
                "SELECT channel, state, last_error FROM deliveries "
                "WHERE alert_id = ?", alert)
            time.sleep(0.1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def test_the_example_alerting_rules_name_what_a_scrape_has(inst):
    """examples/tocsin-alerts.yml: well-formed rules whose tocsin_ metrics
    are all in a real scrape (a renamed metric would silence a rule)."""
    import yaml
    from conftest import SRC
    doc = yaml.safe_load((SRC / "examples" / "tocsin-alerts.yml").read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {
        "TocsinDown", "TocsinDeliveriesDead", "TocsinChannelSilent"}
    proc = serve_bg(inst, "rules")
    try:
        wait_healthy(inst.port)
        _, _, body = get(inst.port, "/metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    families = {line.split()[2] for line in body.splitlines()
                if line.startswith("# TYPE ")}
    for r in rules:
        for name in re.findall(r"\btocsin_[a-z_]+", r["expr"]):
            assert name in families, (r["alert"], name)
