"""The desk board at /desk, served by `serve`'s listener: an alert to five
teams, where two acked (`tocsin ack`), one was escalated, one ran out of
its short ladder and one is still at its first step, shows them in the
order unacked, escalated, unreached, acked, with who acked how and how
strongly and every contact attribute of the repository, escaped.  The
attacker's side: no credentials, a wrong token, a removed operator, a POST,
the 11th failure of a minute (429 even with the right token), markup and
bidi overrides in the repository, no ack code or link token on the page,
a token file open to others refused by `check`, no /desk without the
setting; and the page in headless Chromium at desktop and phone width."""
import base64
import http.client
import os
import re
import struct
import subprocess
import time
import zlib

import pytest

from conftest import BIN
from test_escalation import states
from test_sms import wait_port

EVIL_NAME = "Eve <script>alert(1)</script> \u202eevil\u202c"
EVIL_TELECOM = "\"><img src=x onerror=alert(2)> radio \u2066HF\u2069"
EVIL_BY = "<b>Mallory</b> \u202etxt.exe"


def esc(s):
    """As base_esc_html writes the five specials."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def token_for(name):
    r = subprocess.run([str(BIN), "desk-token", name], capture_output=True,
                       text=True, check=True)
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    token = lines[1]
    line = lines[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert line.startswith(name + " ") and token not in line
    return token, line


def write_tokens(inst, lines, mode=0o600):
    path = inst.dir / "desk.tokens"
    path.write_text("".join(x + "\n" for x in lines))
    os.chmod(path, mode)
    return path


def get(inst, path, user=None, token=None, method="GET", xff=None,
        body=None):
    c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=20)
    h = {}
    if user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(
            f"{user}:{token}".encode()).decode()
    if xff is not None:
        h["X-Forwarded-For"] = xff
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()),
           r.read().decode("utf-8", "replace"))
    c.close()
    return out


def serving(inst):
    log = open(inst.dir / "serve.log", "w")
    p = subprocess.Popen([str(BIN), "-c", str(inst.conf), "serve"],
                         stdout=log, stderr=subprocess.STDOUT)
    wait_port(inst.port)
    for _ in range(100):
        try:
            get(inst, "/healthz")
            break
        except OSError:
            time.sleep(0.05)
    return p


def stop(p):
    p.terminate()
    p.wait(timeout=60)


def contacts_of(inst, team):
    """The contacts of a team as teams.conf says, each a dict of its
    simple string settings."""
    text = (inst.dir / "teams.conf").read_text()
    m = re.search(r'\{ id = "' + team + r'";(.*?)\n  \}', text, re.S)
    assert m
    out = []
    for block in re.split(r"\n      \{ name = ", m.group(1))[1:]:
        c = {"name": block.split('"')[1]}
        for k, v in re.findall(r'(\w+) = "([^"]*)";', block):
            c[k] = v
        c["messengers"] = re.findall(
            r'service = "([^"]*)"; id = "([^"]*)"', block)
        c["languages"] = re.findall(r'"([a-z]{2,3}(?:-[A-Z]{2})?)"',
                                    (re.search(r"languages = \[([^\]]*)\]",
                                               block) or [None, ""])[1])
        out.append(c)
    return out


def set_team(inst, team, **kw):
    """Change settings of team (in teams.conf): policy, the first
    contact's name and other_telecom."""
    text = (inst.dir / "teams.conf").read_text()
    start = text.index(f'{{ id = "{team}";')
    end = text.index("\n  }", start)
    block = text[start:end]
    if "policy" in kw:
        block = re.sub(r'policy = "[^"]*";', f'policy = "{kw["policy"]}";',
                       block)
    if "name" in kw:
        block = re.sub(r'(contacts = \(\n      \{ name = )"[^"]*"',
                       lambda m: m.group(1) + '"' + kw["name"] + '"',
                       block, count=1)
    if "other_telecom" in kw:
        block = re.sub(r'(contacts = \(\n      \{ name = "[^"]*";)',
                       lambda m: m.group(1) + ' other_telecom = "'
                       + kw["other_telecom"].replace('"', '\\"') + '";',
                       block, count=1)
        # the contact may have had one already: keep only the new one
        first, rest = block.split("other_telecom", 1)
        rest = re.sub(r'\n        other_telecom = "[^"]*";', "", rest,
                      count=1)
        block = first + "other_telecom" + rest
    (inst.dir / "teams.conf").write_text(text[:start] + block + text[end:])


def fast_policy(inst):
    text = inst.conf.read_text()
    text = text.replace("policies = {\n", 'policies = {\n  deskfast = {\n'
                        '    on_failure = "wait";\n    steps = (\n'
                        '      { after = "0s"; notify = [ "primary:pgp-email"'
                        ' ]; },\n      { after = "2s"; notify = [ '
                        '"primary:pgp-email" ]; }\n    );\n'
                        '    unreached_after = "2s";\n  };\n', 1)
    inst.conf.write_text(text)


@pytest.fixture
def board(inst):
    """An alert to five teams: U at its first step, E escalated by an
    operator, R unreached at the end of a 2 s ladder, A1 and A2 acked; a
    desk token file of alice and bob; serve running."""
    teams = inst.teams()[:5]
    u, e, r, a1, a2 = teams
    fast_policy(inst)
    set_team(inst, r, policy="deskfast")
    set_team(inst, u, name=EVIL_NAME, other_telecom=EVIL_TELECOM)
    alice, la = token_for("alice")
    bob, lb = token_for("bob")
    path = write_tokens(inst, ["# desk operators", la, lb])
    inst.set_keys("gateway", desk_tokens=str(path),
                  trusted_proxy="127.0.0.1")
    inst.run("check", check=0)
    # the team order of the alert is not the board's
    alert = inst.submit_signed(inst.cap(addresses=" ".join(
        [a1, r, u, a2, e])))
    inst.run("escalate", alert, e, check=0)
    inst.run("ack", alert, a1, "--by", "Duty officer Ann", "--via",
             "phone", check=0)
    inst.run("ack", alert, a2, "--by", EVIL_BY, "--via", "fax", check=0)
    p = serving(inst)
    try:
        end = time.monotonic() + 20
        while states(inst, alert)[r][1] != "unreached":
            assert time.monotonic() < end, states(inst, alert)
            time.sleep(0.2)
        yield {"alert": alert, "u": u, "e": e, "r": r, "a1": a1, "a2": a2,
               "teams": teams, "alice": alice, "bob": bob, "path": path,
               "lines": (la, lb), "proc": p}
    finally:
        stop(p)


def test_board_groups_teams_and_shows_acks_and_contacts(inst, board):
    b = board
    st, hdr, page = get(inst, f"/desk/{b['alert']}", "alice", b["alice"],
                        xff="10.0.0.1")
    assert st == 200, page
    assert hdr["cache-control"] == "no-store"
    assert "default-src 'none'" in hdr["content-security-policy"]
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "<script" not in page.lower()
    # the teams in the board's order, each under its group's heading
    pos = {k: page.index(f"<h3>{b[k]} ") for k in ("u", "e", "r", "a1",
                                                     "a2")}
    assert pos["u"] < pos["e"] < pos["r"] < min(pos["a1"], pos["a2"])
    heads = [page.index(f'<h2 id="{g}">') for g in ("unacked", "escalated",
                                                   "unreached", "acked")]
    assert heads == sorted(heads)
    assert heads[0] < pos["u"] < heads[1] < pos["e"] < heads[2] < pos["r"] \
        < heads[3] < pos["a1"]
    sec = {k: page[pos[k]:page.index("</section>", pos[k])]
           for k in pos}
    assert "unacked, step 1" in sec["u"]
    assert "escalated, step 2" in sec["e"] and "moved on: operator" in sec["e"]
    assert "unreached" in sec["r"]
    # each step's start: R had two, E two, U one
    assert len(re.findall(r"step \d began [^<]* ago", sec["r"])) == 2
    assert len(re.findall(r"step \d began [^<]* ago", sec["e"])) == 2
    assert len(re.findall(r"step \d began [^<]* ago", sec["u"])) == 1
    assert "next step in" in sec["u"]
    # who, how, strength
    assert ("Acked by <b>Duty officer Ann</b> via <b>operator:phone</b>, "
            "<b>unsigned</b>") in sec["a1"]
    assert "via <b>operator:fax</b>, <b>unsigned</b>" in sec["a2"]
    assert "Acked by" not in sec["u"] + sec["e"] + sec["r"]
    # every attribute of every contact of R, as the repository has it
    for c in contacts_of(inst, b["r"]):
        for k in ("name", "role", "email", "pgp", "phone", "mobile",
                  "emergency_phone", "fax", "other_telecom", "timezone",
                  "country"):
            if k in c:
                assert esc(c[k]) in sec["r"], (k, c[k])
        for svc, ident in c["messengers"]:
            assert f"{esc(svc)}: {esc(ident)}" in sec["r"]
        assert c["languages"] and ", ".join(c["languages"]) in sec["r"]
        for k in ("phone", "mobile", "emergency_phone", "fax"):
            if k in c:
                assert f'<a href="tel:{c[k]}">' in sec["r"]
    for k in ("Phone", "Emergency phone", "Fax", "Messenger",
              "Other telecommunication", "Languages", "Time zone"):
        assert f"<dt>{k}</dt>" in page
    # the index: the alert with its counts by state
    st, _, index = get(inst, "/desk", "alice", b["alice"], xff="10.0.0.1")
    assert st == 200
    row = index[index.index(f'href="desk/{b["alert"]}"'):]
    row = row[:row.index("</tr>")]
    assert re.findall(r"<td>(\d+)</td>", row) == ["1", "1", "1", "2"]
    # a read by the right operator is no failure: nothing refused
    log = (inst.dir / "serve.log").read_text()
    assert "desk: refused" not in log


def test_board_escapes_and_leaks_no_code_or_token(inst, board):
    b = board
    st, _, page = get(inst, f"/desk/{b['alert']}", "bob", b["bob"],
                      xff="10.0.0.2")
    assert st == 200
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in page
    for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert ch not in page
    for t in b["teams"]:
        assert inst.ack_code(b["alert"], t) not in page
        assert inst.ack_token(b["alert"], t) not in page
    assert "/ack/" not in page
    # nor the operators' tokens or their hashes
    for secret in (b["alice"], b["bob"], b["lines"][0].split()[1],
                   b["lines"][1].split()[1]):
        assert secret not in page


def test_board_refuses_strangers(inst, board):
    b = board
    url = f"/desk/{b['alert']}"
    st, hdr, body = get(inst, url, xff="10.0.1.1")
    assert st == 401 and hdr["www-authenticate"].startswith("Basic realm=")
    assert "Duty officer" not in body
    st, hdr, _ = get(inst, url, "alice", b["bob"], xff="10.0.1.1")
    assert st == 401 and "www-authenticate" in hdr
    st, _, _ = get(inst, url, "alice", "0" * 64, xff="10.0.1.1")
    assert st == 401
    st, _, _ = get(inst, url, "nobody", b["alice"], xff="10.0.1.1")
    assert st == 401
    for m in ("POST", "PUT", "DELETE"):
        st, hdr, _ = get(inst, url, "alice", b["alice"], method=m,
                         xff="10.0.1.1", body="x=1")
        assert st == 405 and "GET" in hdr["allow"], m
    # bob removed from the file: refused at once, alice still in
    st, _, _ = get(inst, url, "bob", b["bob"], xff="10.0.1.2")
    assert st == 200
    write_tokens(inst, [b["lines"][0]])
    st, _, _ = get(inst, url, "bob", b["bob"], xff="10.0.1.2")
    assert st == 401
    st, _, page = get(inst, url, "alice", b["alice"], xff="10.0.1.2")
    assert st == 200 and "Duty officer Ann" in page
    # failures logged and audited, the name typed never in the log
    log = (inst.dir / "serve.log").read_text()
    assert log.count("desk: refused 10.0.1.1: a wrong name or token") == 3
    assert "desk: refused 10.0.1.2: a wrong name or token" in log
    assert b["alice"] not in log and b["bob"] not in log
    refused = [a for a in inst.audit() if a[2] == "desk-refused"]
    assert [a[3] for a in refused].count("10.0.1.1") == 3
    assert inst.run("audit", "verify", check=0)


def test_eleventh_failure_in_a_minute_is_429_even_with_the_right_token(
        inst, board):
    b = board
    url = f"/desk/{b['alert']}"
    for i in range(10):
        st, _, _ = get(inst, url, "alice", "%064x" % i, xff="10.0.2.9")
        assert st == 401, i
    st, hdr, body = get(inst, url, "alice", b["alice"], xff="10.0.2.9")
    assert st == 429 and "Duty officer" not in body
    assert int(hdr["retry-after"]) > 0
    # another address behind the same proxy is not punished
    st, _, _ = get(inst, url, "alice", b["alice"], xff="10.0.2.10")
    assert st == 200
    log = (inst.dir / "serve.log").read_text()
    assert log.count("failed sign-ins from one address") == 1


def test_no_desk_without_the_setting(inst):
    p = serving(inst)
    try:
        st, _, _ = get(inst, "/desk")
        assert st == 404
        st, _, _ = get(inst, "/desk/x", "alice", "a" * 64)
        assert st == 404
    finally:
        stop(p)


def test_check_refuses_an_open_or_malformed_token_file(inst):
    _, line = token_for("carol")
    path = write_tokens(inst, [line], mode=0o644)
    inst.set_keys("gateway", desk_tokens=str(path))
    r = inst.run("check")
    assert r.returncode == 78, r.stdout + r.stderr
    out = r.stdout + r.stderr
    n = next(i for i, x in enumerate(inst.conf.read_text().splitlines(), 1)
             if "desk_tokens" in x)
    assert re.search(rf"tocsin\.conf:{n}:.*desk_tokens file {path} has mode "
                     r"0644", out), out
    os.chmod(path, 0o600)
    r = inst.run("check")
    assert "desk_tokens" not in r.stdout + r.stderr
    write_tokens(inst, [line, "dave not-a-hash"])
    r = inst.run("check")
    assert r.returncode == 78
    assert f"{path}:2: not \"NAME SHA256HEX\"" in r.stdout + r.stderr


# ---- headless Chromium ----

def png_pixels(path):
    """Width, height and rows of (r, g, b) of an 8-bit RGB(A) PNG, read
    with the standard library alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB",
                                                               chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else
                                      b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def shoot(inst, url, user, token, width, height, png):
    from report_browser import _driver
    d = _driver()
    try:
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {
            "Authorization": "Basic " + base64.b64encode(
                f"{user}:{token}".encode()).decode(),
            "X-Forwarded-For": "10.0.3.1"}})
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": width < 600})
        d.get(url)
        geo = d.execute_script(
            "const e = document.documentElement;"
            " const r = Array.from(document.querySelectorAll("
            "'.team, .card, dd, h1, p'), x => x.getBoundingClientRect().right);"
            " return {sw: e.scrollWidth, iw: window.innerWidth,"
            " sh: e.scrollHeight, right: Math.max(...r),"
            " teams: document.querySelectorAll('.team').length,"
            " cards: document.querySelectorAll('.card').length,"
            " title: document.title};")
        full = min(geo["sh"], 4000)
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": full, "deviceScaleFactor": 1,
            "mobile": width < 600})
        d.save_screenshot(str(png))
        logs = [e for e in d.get_log("browser")
                if e["level"] in ("SEVERE", "WARNING")]
    finally:
        d.quit()
    return geo, logs


@pytest.mark.parametrize("width", [1280, 390])
def test_board_renders_at_desktop_and_phone_width(inst, board, width,
                                                  tmp_path):
    b = board
    png = tmp_path / f"desk-{width}.png"
    geo, logs = shoot(inst, f"http://127.0.0.1:{inst.port}/desk/"
                      f"{b['alert']}", "alice", b["alice"], width, 800, png)
    keep = os.environ.get("TOCSIN_DESK_PNG_DIR")
    if keep:
        (__import__("shutil")).copy(png, keep)
    assert geo["title"] == b["alert"], geo
    assert geo["teams"] == 5 and geo["cards"] >= 5, geo
    # no horizontal scrolling: nothing wider than the viewport
    assert geo["iw"] == width, geo
    assert geo["sw"] <= geo["iw"], geo
    assert geo["right"] <= geo["iw"] + 0.5, geo
    assert logs == [], logs
    w, h, rows = png_pixels(png)
    assert w == width and h > 800
    dark = sum(1 for r in rows for p in r if sum(p) < 200)
    white = sum(1 for r in rows for p in r if sum(p) > 720)
    total = w * h
    # text on white: a blank or all-black picture fails
    assert 0.01 < dark / total < 0.5, dark / total
    assert white / total > 0.4, white / total
    # text reaches both halves of the page at the desktop's width (the
    # cards sit side by side), and the phone's right edge is not cut off
    # mid-word: its last column is background
    if width == 1280:
        right = sum(1 for r in rows for p in r[w // 2:] if sum(p) < 200)
        assert right > 0.1 * dark, (right, dark)
    else:
        edge = [r[-1] for r in rows]
        assert sum(1 for p in edge if sum(p) < 200) < 0.02 * h
