"""Fax by e-mail end to end: tocsin serve against the real SMTP peer (aiosmtpd
with STARTTLS from the test PKI); the PDF it carries is read back with
poppler's pdftotext, pdfinfo and pdftoppm."""
import email
import re
import shutil
import subprocess
from email import policy
from pathlib import Path

import pytest

from conftest import BIN, tr
from test_email import peer_for

# Where a page is kept for a human to look at: the build folder of the
# binary under test (build/ or build-asan/), never the source tree.
ARTEFACTS = BIN.parent.parent / "test-artefacts"


def val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int) else f'"{v}"'


def configure(inst, fax=None, detail="summary", step0='[ "primary:fax" ]'):
    """providers.fax as given (the repository's own when None), step 0 of
    every policy as step0, and fax_detail on every policy."""
    text = inst.conf.read_text()
    if fax is not None:
        body = " ".join(f"{k} = {val(v)};" for k, v in fax.items())
        text, n = re.subn(r"\n  fax = \{.*?\n  \};", "\n  fax = { " + body +
                          " };", text, flags=re.S)
        assert n == 1
    if step0 is not None:
        text, n = re.subn(r'notify = \[ "primary:pgp-email", '
                          r'"primary:(sms|fax)" \]', f"notify = {step0}", text)
        assert n >= 2
    text = re.sub(r'\n    fax_detail = "[a-z]+";', "", text)
    if detail is not None:
        text = re.sub(r"(\n    \);\n)(  \};)",
                      rf'\g<1>    fax_detail = "{detail}";\n\g<2>', text)
    inst.conf.write_text(text)


def primaries(inst):
    """team id -> (primary contact's name, fax number, languages)."""
    out = {}
    text = (inst.dir / "teams.conf").read_text()
    for block in re.split(r"\n  \{ id = ", text)[1:]:
        tid = block.split('"')[1]
        c = re.search(r'\{ name = "([^"]+)";(?:(?!\n      \{).)*?primary = true;'
                      r'(?:(?!\n      \}).)*', block, re.S)
        assert c, block
        fax = re.search(r'fax = "(\+\d+)";', c.group(0))
        langs = re.search(r"languages = \[ ([^]]*) \];", c.group(0))
        out[tid] = (c.group(1), fax.group(1) if fax else None,
                    re.findall(r'"([^"]+)"', langs.group(1)) if langs else [])
    return out




def pdf_of(raw):
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    pdfs = [p for p in msg.iter_attachments()
            if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1
    return msg, pdfs[0].get_filename(), pdfs[0].get_content()


def pdftext(tmp_path, data, name="fax.pdf"):
    f = tmp_path / name
    f.write_bytes(data)
    r = subprocess.run(["pdftotext", "-enc", "UTF-8", str(f), "-"],
                       capture_output=True, check=True)
    # one space for any run of white space: lines wrap where the page does
    return " ".join(r.stdout.decode().split())


def pdfpages(tmp_path, data, name="fax.pdf"):
    f = tmp_path / name
    f.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(f)], capture_output=True,
                          check=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1)), info


def fax_rows(inst, alert):
    return inst.sql("SELECT team, contact, address, state, attempts, "
                    "last_error, provider_ref FROM deliveries WHERE "
                    "alert_id = ? AND channel = 'fax' ORDER BY team", alert)


def send(inst, tmp_path, pki, teams, infos=None, status="Actual",
         severity="Severe", peer_kw=None):
    peer = peer_for(inst, tmp_path, pki, **(peer_kw or {}))
    try:
        doc = inst.cap(addresses=" ".join(teams), infos=infos, status=status,
                       severity=severity)
        alert = inst.submit_signed(doc)
        p = inst.serve()
        msgs = peer.messages()
    finally:
        peer.stop()
    return alert, p, msgs


# --- addresses -------------------------------------------------------------

@pytest.mark.parametrize("fax,expect", [
    ({"format": "rfc3192", "domain": "fax.example.net"},
     lambda n: f"FAX={n}@fax.example.net"),
    ({"format": "template", "address": "{number}@fax.provider.example"},
     lambda n: f"{n[1:]}@fax.provider.example"),
    ({"format": "template", "address": "fax-{number}@efax.example",
      "number": "e164"},
     lambda n: f"fax-{n}@efax.example"),
], ids=["rfc3192", "template-digits", "template-e164"])
def test_each_fax_reaches_the_exact_gateway_address(inst, tmp_path, pki, fax,
                                                    expect):
    configure(inst, fax=fax)
    prim = primaries(inst)
    teams = inst.teams()[:4]
    alert, p, msgs = send(inst, tmp_path, pki, teams)
    assert p.returncode == 0, p.stderr
    rows = fax_rows(inst, alert)
    assert [r[0] for r in rows] == sorted(teams)
    assert all(r[3] == "sent" for r in rows), rows
    want = sorted(expect(prim[t][1]) for t in teams)
    got = sorted(a for m in msgs for a in m["rcpt_tos"])
    assert got == want
    assert all(len(m["rcpt_tos"]) == 1 and m["tls"] for m in msgs)
    for m in msgs:
        msg, name, data = pdf_of(m["raw"])
        assert data.startswith(b"%PDF-")
        assert re.fullmatch(r"alert-[A-Za-z0-9_-]+\.pdf", name)
        assert msg["To"] == m["rcpt_tos"][0]
        # the one text part names ids only: no alert text travels in it
        body = next(msg.iter_parts()).get_content()
        assert alert in body and "Headline" not in body


# --- the page ---------------------------------------------------------------

LANGS = {
    "en": ("en-US", "Registry EPP credentials phished at several registrars",
           "Several registrars lost EPP passwords on Tuesday.",
           "Rotate every EPP password now.",
           ["Registry EPP credentials phished"]),
    "ru": ("ru-RU", "Похищены пароли EPP у нескольких регистраторов",
           "Несколько регистраторов потеряли пароли EPP во вторник.",
           "Смените все пароли EPP немедленно.",
           ["Похищены пароли EPP у нескольких регистраторов"]),
    # pdftotext gives Arabic back in its own order and splits some letter
    # pairs: the words checked are ones it returns whole
    "ar": ("ar", "تحذير عاجل من سرقة كلمات مرور",
           "فقد عدد من المسجلين كلمات المرور يوم الثلاثاء.",
           "غيروا كلمات المرور فورا.",
           ["تحذير", "عاجل", "سرقة"]),
}


@pytest.mark.parametrize("lang", ["en", "ru", "ar"])
def test_the_pdf_says_the_headline_and_the_teams_code(inst, tmp_path, pki,
                                                       lang):
    tag, headline, desc, instr, words = LANGS[lang]
    configure(inst, detail="full")
    inst.set_keys("gateway", ack_phone="+41 22 555 0199")
    teams = inst.teams()[:3]
    alert, p, msgs = send(inst, tmp_path, pki, teams,
                          infos=[(tag, headline, desc, instr)])
    assert p.returncode == 0, p.stderr
    assert len(msgs) == 3
    prim = primaries(inst)
    by_addr = {f"FAX={prim[t][1]}@fax.example": t for t in teams}
    codes = set()
    for m in msgs:
        team = by_addr[m["rcpt_tos"][0]]
        _, _, data = pdf_of(m["raw"])
        text = pdftext(tmp_path, data)
        for w in words:
            assert w in text, (w, text)
        code = inst.ack_code(alert, team)
        codes.add(code)
        assert f"ACK {code}" in text
        assert f"{code[:4]} {code[4:]}" in text      # the big, spaced one
        assert "ACTUAL ALERT" in text
        # the duty desk, grouped for reading, never as one run of digits
        assert "Call the duty desk at +41 22 555 0100" in text, text
        assert "+41225550100" not in text
        assert alert in text
        if prim[team][0].isascii():      # Arabic names come back reordered
            assert prim[team][0] in text
        if lang == "en":
            assert "Rotate every EPP password now." in text
            assert "Several registrars lost EPP passwords" in text
        pages, info = pdfpages(tmp_path, data)
        assert pages == 2 or pages == 1
        assert "595.276 x 841.89" in info            # A4, as configured
        if lang == "ar" and team == teams[0]:
            keep_page(tmp_path, data, "fax-arabic")
    assert len(codes) == 3                           # each team its own


def test_the_fax_page_in_the_team_s_language(inst, tmp_path, pki):
    """A French team's fax reads French: the band, the ack box (the code,
    the duty desk, the SMS reply with ACK kept, the link), the labels, the
    summary note and the page footer; none of the English words.  A team
    whose language has no catalog (sw) gets the English page."""
    configure(inst, detail="summary")
    inst.set_keys("gateway", ack_phone="+41 22 555 0199")
    fr, sw = inst.teams()[:2]
    inst.set_contact_langs(fr, ["fr", "en"])
    inst.set_contact_langs(sw, ["sw"])
    inst.languages()
    alert, p, msgs = send(inst, tmp_path, pki, [fr, sw])
    assert p.returncode == 0, p.stderr
    prim = primaries(inst)
    by_addr = {f"FAX={prim[t][1]}@fax.example": t for t in (fr, sw)}
    texts = {}
    for m in msgs:
        _, _, data = pdf_of(m["raw"])
        texts[by_addr[m["rcpt_tos"][0]]] = pdftext(tmp_path, data)
    assert set(texts) == {fr, sw}
    for team, lang in ((fr, "fr"), (sw, "en")):
        text = texts[team]
        code = inst.ack_code(alert, team)
        for want in (tr(lang, "ACTUAL ALERT"), tr(lang, "TO ACKNOWLEDGE"),
                     tr(lang, "Call the duty desk at {phone} and give this "
                        "code.", phone="+41 22 555 0100"),
                     tr(lang, "Or send \"ACK {code}\" by SMS to {phone}.",
                        code=code, phone="+41 22 555 0199"),
                     tr(lang, "Or open this address and press the button:"),
                     tr(lang, "Page {page} of {pages}", page="1", pages="1"),
                     tr(lang, "Alert id"), tr(lang, "Severity"),
                     "Compromise of registry EPP credentials"):
            assert want in text, (team, want, text)
        assert " ".join(tr(lang, "This fax is a summary. The full alert went "
                           "to your team by encrypted e-mail. For details, "
                           "call the duty desk at {phone}.",
                           phone="+41 22 555 0100").split()) in text, text
    for english in ("ACTUAL ALERT", "TO ACKNOWLEDGE", "Call the duty desk",
                    "Page 1 of", "This fax is a summary", "Issued by"):
        assert english not in texts[fr], (english, texts[fr])
        assert english in texts[sw], english


def keep_page(tmp_path, data, stem):
    """Page 1 as PNG in the build folder for a human to look at, and a
    check that it is not blank."""
    f = tmp_path / f"{stem}.pdf"
    f.write_bytes(data)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "100", "-png", "-f", "1", "-l", "1",
                    "-singlefile", str(f), str(ARTEFACTS / stem)], check=True)
    png = ARTEFACTS / f"{stem}.png"
    assert png.stat().st_size > 5000
    # the same page in grey levels, to count ink below the band
    subprocess.run(["pdftoppm", "-r", "50", "-gray", "-f", "1", "-l", "1",
                    "-singlefile", str(f), str(tmp_path / stem)], check=True)
    w, h, px = read_pgm(tmp_path / f"{stem}.pgm")
    band = px[: h // 8 * w]
    rest = px[h // 8 * w:]
    assert sum(1 for b in band if b < 128) > len(band) // 10   # the band
    dark = sum(1 for b in rest if b < 128)
    assert dark > len(rest) // 100, f"page {png} is nearly blank: {dark} dark"


def read_pgm(path):
    data = path.read_bytes()
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert m
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + w * h]


def test_summary_leaves_the_description_out(inst, tmp_path, pki):
    configure(inst, detail="summary")
    teams = inst.teams()[:2]
    alert, p, msgs = send(inst, tmp_path, pki, teams, infos=[(
        "en-US", "Summary headline 5531", "DESCRIPTION-SECRET-8812 the "
        "registrar's customer list leaked", "INSTRUCTION-SECRET-2290 call")])
    assert p.returncode == 0, p.stderr
    assert len(msgs) == 2
    for m in msgs:
        assert b"SECRET" not in m["raw"]
        text = pdftext(tmp_path, pdf_of(m["raw"])[2])
        assert "Summary headline 5531" in text
        assert "DESCRIPTION-SECRET" not in text
        assert "INSTRUCTION-SECRET" not in text
        assert "summary" in text


@pytest.mark.parametrize("cover,pages,paper,repeat,want", [
    (False, 2, "A4", 1, 1),
    (True, 2, "A4", 1, 2),
    (False, 2, "Letter", 400, 2),
    (True, 3, "A4", 400, 4),
], ids=["one-page", "cover", "letter-long-cut", "cover-long-cut"])
def test_page_count_is_as_configured(inst, tmp_path, pki, cover, pages, paper,
                                     repeat, want):
    configure(inst, detail="full", fax={
        "format": "rfc3192", "domain": "fax.example", "cover": cover,
        "pages": pages, "paper": paper})
    desc = "The attack goes on and every registry should watch. " * repeat
    alert, p, msgs = send(inst, tmp_path, pki, inst.teams()[:1],
                          infos=[("en-US", "Page count 7781", desc, "Watch.")])
    assert p.returncode == 0, p.stderr
    assert len(msgs) == 1
    data = pdf_of(msgs[0]["raw"])[2]
    n, info = pdfpages(tmp_path, data)
    assert n == want
    assert ("612 x 792" if paper == "Letter" else "595.276 x 841.89") in info
    text = pdftext(tmp_path, data)
    assert f"Page {want} of {want}" in text
    if cover:
        assert f"{want}, this cover included" in text
    assert ("not printed" in text) == (repeat > 1)


def test_exercise_is_marked_on_every_page(inst, tmp_path, pki):
    configure(inst, detail="full", fax={
        "format": "rfc3192", "domain": "fax.example", "cover": True,
        "pages": 2})
    alert, p, msgs = send(inst, tmp_path, pki, inst.teams()[:1],
                          status="Exercise")
    assert p.returncode == 0, p.stderr
    msg, _, data = pdf_of(msgs[0]["raw"])
    assert msg["Subject"].startswith("[EXERCISE] ")
    n, _ = pdfpages(tmp_path, data)
    assert n == 2
    for page in range(1, n + 1):
        f = tmp_path / "ex.pdf"
        f.write_bytes(data)
        t = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page),
                            str(f), "-"], capture_output=True, text=True,
                           check=True).stdout
        assert "EXERCISE" in t and "ACTUAL" not in t


def test_a_refused_number_is_dead_with_the_gateways_reason(inst, tmp_path,
                                                          pki):
    configure(inst)
    prim = primaries(inst)
    teams = inst.teams()[:3]
    bad = prim[teams[1]][1]
    alert, p, msgs = send(inst, tmp_path, pki, teams, peer_kw={
        "reject": [re.escape(f"FAX={bad}@")]})
    rows = {r[0]: r for r in fax_rows(inst, alert)}
    assert rows[teams[1]][3] == "dead"
    assert rows[teams[1]][4] == 1
    assert "550" in rows[teams[1]][5] and "RCPT" in rows[teams[1]][5]
    assert rows[teams[0]][3] == rows[teams[2]][3] == "sent"
    assert len(msgs) == 2


# --- check -------------------------------------------------------------------

def test_check_wants_fax_allowed_and_warns_about_full(inst):
    configure(inst, detail=None)
    r = inst.run("check")
    assert r.returncode != 0
    assert "fax_detail" in r.stdout + r.stderr
    configure(inst, detail="full", step0=None)
    r = inst.run("check")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert re.search(r"warning: .*full", out), out


def test_check_finds_bad_fax_numbers(inst):
    configure(inst)
    teams = (inst.dir / "teams.conf").read_text()
    first = primaries(inst)[inst.teams()[0]][1]
    # a number no fax machine has: too short for E.164
    teams = teams.replace(f'fax = "{first}";', 'fax = "+12";', 1)
    (inst.dir / "teams.conf").write_text(teams)
    r = inst.run("check")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert re.search(r"teams\.conf:\d+: error: .*\+12", out), out
