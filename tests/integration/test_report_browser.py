"""The HTML after-action report in a real browser: an alert to 24 teams
served through the real SMTP peer, two operator acks (one signed by a
hostile name), then `tocsin report ALERT --format html -o FILE` opened in
headless Chromium (report_browser.py): no console message (a CSP
violation, a resource it tried to load, a script), one grid cell per team
of the alert with its outcome, the SVG timeline; the page is kept as
test-artefacts/report.png for a human to look at."""
import re

from conftest import BIN
from report_browser import render
from test_email import peer_for

# Where a page is kept for a human to look at: the build folder of the
# binary under test (build/ or build-asan/), never the source tree.
ARTEFACTS = BIN.parent.parent / "test-artefacts"
HOSTILE = "<script>alert(1)</script> \"&'"
OUTCOMES = {"acked", "acked-escalated", "unreached", "pending", "cancelled"}


def test_report_html_renders_in_chromium(inst, tmp_path, pki):
    inst.email_all_first()
    peer = peer_for(inst, tmp_path, pki)
    teams = inst.teams()[:24]
    try:
        doc = inst.cap(addresses=" ".join(teams), infos=[
            ("en-US", "Registry EPP credentials " + HOSTILE,
             "Several registrars lost EPP passwords.",
             "Rotate EPP passwords.")])
        alert = inst.submit_signed(doc)
        inst.serve()
    finally:
        peer.stop()
    inst.run("ack", alert, teams[0], "--by", HOSTILE, "--via", "phone",
             check=0)
    inst.run("ack", alert, teams[1], "--by", "Duty officer Ann", "--via",
             "phone", check=0)
    page = tmp_path / "report.html"
    inst.run("report", alert, "--format", "html", "-o", page, check=0)
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"<script", html, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    n = inst.sql("SELECT count(*) FROM team_states WHERE alert_id = ?",
                 alert)[0][0]
    assert n == len(teams)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTEFACTS / "report.png"
    got = render(page, png)
    assert got["console"] == [], got["console"]
    assert got["cells"] == n
    assert set(got["outcomes"]) <= OUTCOMES
    assert got["outcomes"].count("acked") == 2
    assert "pending" in got["outcomes"]
    assert got["svg"] >= 1
    assert png.stat().st_size > 20000, f"{png} is nearly empty"
