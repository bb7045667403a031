"""The ack link of every message, against serve's real listener: GET shows
the alert and a button and acknowledges nothing (mail scanners fetch
links), POST acknowledges, the store finds a token only by its hash, and
guessing tokens is rate-limited and logged."""
import hashlib
import http.client
import re
import signal
import subprocess
import time
import urllib.parse

import pytest

from conftest import BIN, tr




def request(inst, method, path, body=None, forwarded=None, host="127.0.0.1",
            port=None):
    """(status, headers, text) of one request to serve's listener, at
    inst.port of host unless port is given."""
    c = http.client.HTTPConnection(host, port or inst.port, timeout=10)
    headers = {}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    if body is not None:
        body = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    out = (r.status, dict(r.getheaders()), r.read().decode())
    c.close()
    return out


def serving(inst, probe):
    """A fixture's body: yields a function that starts serve in the
    background (output to serve.log) and returns once probe() (a request
    to its listener) stops raising OSError; serve is stopped after."""
    log = open(inst.dir / "serve.log", "w")
    proc = None

    def start():
        nonlocal proc
        proc = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve",
                                 "--quiet"], stdout=log,
                                stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                probe()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("serve's listener did not come up")
    yield start
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    log.close()


@pytest.fixture
def served(inst):
    """serve in the background (its listener answers the links); nothing
    is sent, as the test's teams have no reachable relay: only the
    listener matters here."""
    yield from serving(inst, lambda: request(inst, "GET", "/ack/x"))


def team_state(inst, alert, team):
    return inst.sql("SELECT state, ack_by, ack_via, ack_strength FROM "
                    "team_states WHERE alert_id = ? AND team = ?",
                    alert, team)[0]


def test_get_shows_post_acknowledges(inst, served):
    teams = inst.teams()[:2]
    headline = 'Registry <script>alert("x")</script> & EPP outage'
    alert = inst.submit_signed(inst.cap(
        addresses=" ".join(teams),
        infos=[("en-US", headline, "Details.", "Act.")]))
    served()
    tok = inst.ack_token(alert, teams[0])
    # the store holds the hash, never the token
    hashes = [r[0] for r in inst.sql("SELECT token_hash FROM team_states "
                                     "WHERE alert_id = ?", alert)]
    assert hashlib.sha256(tok.encode()).hexdigest() in hashes
    assert tok not in inst.store_text()

    for _ in range(3):          # a scanner fetching the link, repeatedly
        st, hdr, page = request(inst, "GET", f"/ack/{tok}")
        assert st == 200
    assert hdr["Cache-Control"] == "no-store"
    assert hdr["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in page
    assert "Registry &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; " \
           "&amp; EPP outage" in page
    assert re.search(r'<form method="post" action="">', page)
    assert f"Acknowledge for team {teams[0]}" in page
    assert team_state(inst, alert, teams[0])[0] == "active"
    assert inst.sql("SELECT count(*) FROM acks")[0][0] == 0

    st, _, page = request(inst, "POST", f"/ack/{tok}",
                          {"name": "Amina O."})
    assert st == 200 and "Acknowledged</b> by <bdi>Amina O.</bdi> (<bdi>link</bdi>)" in page
    assert team_state(inst, alert, teams[0]) == ("acked", "Amina O.",
                                                 "link", "unsigned")
    # the other team's ladder goes on
    assert team_state(inst, alert, teams[1])[0] == "active"
    # a repeat is kept as a record and changes nothing
    st, _, page = request(inst, "POST", f"/ack/{tok}", {"name": "Bob"})
    assert st == 200 and "by <bdi>Amina O.</bdi>" in page
    assert inst.sql("SELECT count(*) FROM acks")[0][0] == 2
    assert team_state(inst, alert, teams[0])[1] == "Amina O."
    # and a GET afterwards says so, with no button
    st, _, page = request(inst, "GET", f"/ack/{tok}")
    assert "Acknowledged</b>" in page and "<form" not in page
    acts = [a for a in inst.audit() if a[2] == "ack"]
    assert len(acts) == 2 and acts[0][1] == "ack link"


def test_a_token_of_another_alert_or_team_acks_only_its_own(inst, served):
    teams = inst.teams()[:2]
    a1 = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    a2 = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
    served()
    st, _, _ = request(inst, "POST", f"/ack/{inst.ack_token(a2, teams[1])}",
                       {"name": "N"})
    assert st == 200
    got = inst.sql("SELECT alert_id, team, state FROM team_states ORDER BY "
                   "alert_id, team")
    assert [(a, t) for a, t, s in got if s == "acked"] == [(a2, teams[1])]
    assert {s for a, t, s in got if (a, t) != (a2, teams[1])} == {"active"}


def test_guessing_is_rate_limited_and_logged(inst, served):
    teams = inst.teams()[:1]
    alert = inst.submit_signed(inst.cap(addresses=teams[0]))
    served()
    codes = []
    for i in range(14):
        st, _, _ = request(inst, "GET", f"/ack/{i:032x}")
        codes.append(st)
    assert codes[:9] == [404] * 9           # the first is the fixture's
    assert codes[-3:] == [429] * 3
    # even the right token waits out the minute from that address
    st, _, _ = request(inst, "POST", f"/ack/{inst.ack_token(alert, teams[0])}",
                       {"name": "x"})
    assert st == 429
    assert team_state(inst, alert, teams[0])[0] == "active"
    log = (inst.dir / "serve.log").read_text()
    assert "unknown link from 127.0.0.1" in log
    assert "too many requests or guessed tokens" in log
    assert log.count("too many requests") == 1     # once per window


def request_lines(inst, path, forwarded_lines):
    """GET path with one X-Forwarded-For header line per element of
    forwarded_lines, in that order, as a proxy that appends a line of its
    own sends them."""
    c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
    c.putrequest("GET", path)
    for line in forwarded_lines:
        c.putheader("X-Forwarded-For", line)
    c.endheaders()
    r = c.getresponse()
    out = (r.status, r.read().decode())
    c.close()
    return out


def test_behind_a_trusted_proxy_its_own_line_counts(inst, served):
    """A proxy that adds its own X-Forwarded-For line leaves the client's
    forged line first: the last address of the last line is the one
    counted, so rotating forged addresses do not escape the limit."""
    inst.set_keys("gateway", trusted_proxy="127.0.0.1")
    alert = inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    served()
    codes = []
    for i in range(30):
        st, _ = request_lines(inst, f"/ack/{i:032x}",
                              [f"10.9.{i}.1, 10.8.{i}.2", "192.0.2.70"])
        codes.append(st)
    # ten misses, then refused for the rest of the minute
    assert codes[:10] == [404] * 10 and set(codes[10:]) == {429}, codes
    tok = inst.ack_token(alert, inst.teams()[0])
    st, _ = request_lines(inst, f"/ack/{tok}", ["10.9.99.1", "192.0.2.70"])
    assert st == 429
    assert inst.sql("SELECT state FROM team_states WHERE alert_id = ?",
                    alert)[0][0] == "active"
    # another client behind the same proxy is not held back, even when it
    # claims in a first line to be the guesser
    st, _ = request_lines(inst, f"/ack/{tok}", ["192.0.2.70", "192.0.2.71"])
    assert st == 200
    # a last element that is not an address: the proxy's own address
    # counts, never the client's line before it
    for i in range(12):
        st, _ = request_lines(inst, f"/ack/{i:032x}",
                              [f"10.7.{i}.1", "unknown"])
    assert st == 429
    log = (inst.dir / "serve.log").read_text()
    assert "from 192.0.2.70" in log and "from 10." not in log
    assert "unknown link from 127.0.0.1" in log


def test_behind_a_trusted_proxy_each_client_counts_alone(inst, served):
    inst.set_keys("gateway", trusted_proxy="127.0.0.1")
    alert = inst.submit_signed(inst.cap(addresses=inst.teams()[0]))
    served()
    # a guesser behind the proxy (the last address the proxy added)
    for i in range(12):
        st, _, _ = request(inst, "GET", f"/ack/{i:032x}",
                           forwarded=f"10.0.0.{i}, 192.0.2.7")
    assert st == 429
    # another client behind the same proxy is not held back
    tok = inst.ack_token(alert, inst.teams()[0])
    st, _, _ = request(inst, "GET", f"/ack/{tok}", forwarded="192.0.2.8")
    assert st == 200
    log = (inst.dir / "serve.log").read_text()
    assert "from 192.0.2.7" in log and "from 10.0.0." not in log
    # a proxy that is not trusted: its forwarded addresses are ignored
    inst.set_keys("gateway", trusted_proxy="192.0.2.99")
    assert inst.run("check").returncode == 0
    inst.set_keys("gateway", trusted_proxy="not-an-address")
    r = inst.run("check")
    assert r.returncode != 0 and "trusted_proxy" in r.stdout + r.stderr


def first_zone(inst, team):
    """The time zone of team's first contact that has one, as the
    repository gives it."""
    text = (inst.dir / "teams.conf").read_text()
    start = text.index(f'{{ id = "{team}";')
    return re.search(r'timezone = "([^"]+)";', text[start:]).group(1)


def test_the_page_in_a_browser_shows_local_and_utc_times(inst, served):
    """What a person sees: the alert's sent time in UTC and in their own
    zone, named; after the ack, its time the same way; never an ISO
    string."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo
    from report_browser import _driver, submit_and_read

    team = inst.teams()[0]
    zone = first_zone(inst, team)
    # within the replay window; whole minutes as the page shows them
    sent = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    alert = inst.submit_signed(inst.cap(addresses=team, sent=sent))
    served()
    tok = inst.ack_token(alert, team)
    local = sent.astimezone(ZoneInfo(zone))
    want_local = local.strftime("%Y-%m-%d %H:%M")
    d = _driver()
    try:
        d.get(f"http://127.0.0.1:{inst.port}/ack/{tok}")
        text = d.find_element("tag name", "body").text
        assert f"sent {sent:%Y-%m-%d %H:%M} UTC" in text, text
        assert f"(your time, {zone}: {want_local} " in text, text
        assert f"{sent:%Y-%m-%dT%H:%M}" not in text and "-00:00" not in text
        d.find_element("name", "name").send_keys("Amina O.")
        text = submit_and_read(d, d.find_element("tag name", "button"))
        at = inst.sql("SELECT ack_at FROM team_states WHERE alert_id = ? "
                      "AND team = ?", alert, team)[0][0]
        at_utc = datetime.fromtimestamp(at, timezone.utc)
        at_local = at_utc.astimezone(ZoneInfo(zone))
        # seconds are shown when they are not zero
        fmt = "%Y-%m-%d %H:%M" + (":%S" if at_utc.second else "")
        assert f"at {at_utc.strftime(fmt)} UTC (your time, {zone}: " \
            f"{at_local.strftime(fmt)} " in text, text
    finally:
        d.quit()
    assert team_state(inst, alert, team)[0] == "acked"


def test_the_page_in_the_team_s_language(inst, served):
    """A French team's page in a browser: every word of the gateway's in
    French (the band, the sentence with the UTC and local times, the
    label, the button, the thanks with the ack's time), none in English;
    an Arabic team's page runs right to left; a team whose language has
    no catalog (sw) reads English."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo
    from report_browser import _driver, submit_and_read

    fr, ar, sw = inst.teams()[:3]
    inst.set_contact_langs(fr, ["fr"])
    inst.set_contact_langs(ar, ["ar", "en"])
    inst.set_contact_langs(sw, ["sw"])
    inst.languages()
    zone = first_zone(inst, fr)
    sent = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    alert = inst.submit_signed(inst.cap(addresses=f"{fr} {ar} {sw}",
                                        sent=sent, status="Exercise"))
    served()
    local = sent.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    d = _driver()
    try:
        d.get(f"http://127.0.0.1:{inst.port}/ack/{inst.ack_token(alert, fr)}")
        assert d.find_element("tag name", "html").get_attribute("lang") == \
            "fr"
        text = d.find_element("tag name", "body").text
        assert tr("fr", "EXERCISE \u2013 NO REAL INCIDENT") in text, text
        assert f"envoyée {sent:%Y-%m-%d %H:%M} UTC (votre heure, {zone} : " \
            f"{local} " in text, text
        assert "Votre équipe n'a pas encore accusé réception." in text, text
        assert "Votre nom" in text
        button = d.find_element("tag name", "button")
        assert button.text == f"Accuser réception pour l'équipe {fr}"
        for english in ("EXERCISE", "sent ", "your time", "Your name",
                        "Acknowledge for team", "has not acknowledged"):
            assert english not in text, (english, text)
        d.find_element("name", "name").send_keys("Amina O.")
        text = submit_and_read(d, button)
        at = inst.sql("SELECT ack_at FROM team_states WHERE alert_id = ? "
                      "AND team = ?", alert, fr)[0][0]
        at_utc = datetime.fromtimestamp(at, timezone.utc)
        fmt = "%Y-%m-%d %H:%M" + (":%S" if at_utc.second else "")
        assert f"Accusé par Amina O. (link) à {at_utc.strftime(fmt)} UTC " \
            "(votre heure, " in text, text
        assert "Merci." in text and "Thank you" not in text
        # Arabic: right to left, its own words
        d.get(f"http://127.0.0.1:{inst.port}/ack/{inst.ack_token(alert, ar)}")
        html = d.find_element("tag name", "html")
        assert html.get_attribute("lang") == "ar"
        assert html.get_attribute("dir") == "rtl"
        text = d.find_element("tag name", "body").text
        assert f"تأكيد الاستلام عن الفريق {ar}" in text, text
        assert "Acknowledge" not in text
        # the alert id, the team and the times keep their left-to-right
        # order inside the Arabic sentence (isolated), where unisolated
        # the id read backwards around its hyphen and dates day first
        isolated = [e.text for e in d.find_elements("tag name", "bdi")]
        assert alert in isolated and ar in isolated, isolated
        assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC", x)
                   for x in isolated), isolated
        # no catalog: English
        d.get(f"http://127.0.0.1:{inst.port}/ack/{inst.ack_token(alert, sw)}")
        assert d.find_element("tag name", "html").get_attribute("lang") == \
            "en"
        text = d.find_element("tag name", "body").text
        assert f"Acknowledge for team {sw}" in text
        assert "EXERCISE" in text
    finally:
        d.quit()
    assert [team_state(inst, alert, t)[0] for t in (fr, ar, sw)] == \
        ["acked", "active", "active"]
