"""SMS through a GSM modem: tocsin serve against the modem emulator
(tests/peers/gsm_modem.py) on a pseudo-terminal, beside or instead of the
HTTP providers (tests/peers/sms_provider.py).  What is asserted is what the
emulator decoded from the PDUs it was sent (the phone's view), and the
team's ladder."""
import contextlib
import re
import subprocess
import time

from conftest import BIN
from gsmmodem import GsmModem
from test_ackreply import listening, primary, state, stopped
from test_sms import by_number, configure, provider, sms_rows

INFOS = [
    ("en-US", "Compromise of registry EPP credentials",
     "Credentials of several registrars were phished.",
     "Rotate EPP passwords and review recent DS changes."),
    ("ar", "اختراق بيانات اعتماد EPP لدى السجل",
     "تم تصيد بيانات اعتماد عدة مسجلين.",
     "غيّروا كلمات مرور EPP وراجعوا تغييرات DS الأخيرة."),
    ("zh", "注册局EPP凭据泄露",
     "多家注册商的凭据遭到网络钓鱼。",
     "请轮换EPP密码并检查最近的DS变更。"),
    ("fr", "Compromission des identifiants EPP du registre",
     "Les identifiants de plusieurs bureaux d'enregistrement ont été "
     "hameçonnés.", "Changez les mots de passe EPP."),
]


def add_modem(inst, modem, **kw):
    """Put the emulator's modem into providers.sms with settings kw
    (fallback, prefixes, rate, timeout, secret, retries...)."""
    opts = {"rate": 100, "timeout": '"5s"'}
    opts.update(kw)
    extra = " ".join(f"{k} = {v};" for k, v in opts.items())
    text = inst.conf.read_text()
    entry = (f'    {{ name = "gsm"; kind = "modem"; device = "{modem.device}"; '
             f"{extra} }},\n")
    assert "  sms = (\n" in text
    inst.conf.write_text(text.replace("  sms = (\n", "  sms = (\n" + entry, 1))


def providers_down(inst):
    """Point every HTTP provider at a port where nothing listens."""
    with provider(inst.dir, inst.pki, "gone") as p:
        url = p.url
    configure(inst, url, step0='[ "primary:sms" ]')


def masked(text):
    # the code and link differ per alert; the rest must not
    return re.sub(r"reply ACK \d{8} or open \S+", "reply ACK N LINK", text)


def test_providers_down_every_mobile_reached_through_the_modem(inst, tmp_path,
                                                               pki):
    teams = inst.teams()
    with GsmModem(tmp_path / "m") as modem:
        add_modem(inst, modem, fallback="true")
        # the same alert through the HTTP providers first: what a phone
        # gets from them
        with provider(tmp_path, pki, "p") as p:
            configure(inst, p.url, step0='[ "primary:sms" ]')
            a1 = inst.submit_signed(inst.cap(infos=INFOS))
            inst.serve(timeout=300)
            via_http = {to: masked((r.get("form") or {}).get("Body") or
                                   (r.get("json") or {}).get("text"))
                        for to, rs in by_number(p.messages()).items()
                        for r in rs}
        assert modem.events("sms") == []
        assert len(via_http) == len(sms_rows(inst, a1))
        # now every provider is down: the modem carries them all
        a2 = inst.submit_signed(inst.cap(infos=INFOS))
        t0 = time.time()
        inst.serve(timeout=300)
        took = time.time() - t0
        got = modem.events("sms")
    rows = sms_rows(inst, a2)
    assert len(rows) == len(teams) == len(via_http)
    assert [r for r in rows if r[3] != "sent"] == []
    assert {r[6].split(":")[0] for r in rows} == {"gsm"}
    # once each, to each mobile
    to = [e["to"] for e in got]
    assert sorted(to) == sorted(r[2] for r in rows)
    assert len(set(to)) == len(to)
    # the phone reads what the provider would have sent, every script
    via_modem = {e["to"]: masked(e["text"]) for e in got}
    assert via_modem == via_http
    scripts = "".join(via_modem.values())
    assert re.search("[\u0600-\u06ff]", scripts), "no Arabic text went"
    assert re.search("[\u4e00-\u9fff]", scripts), "no Chinese text went"
    # segments recorded as sent
    parts = {e["to"]: e["parts"] for e in got}
    assert all(r[7] == parts[r[2]] for r in rows)
    # the failures on the way are the providers', said in the audit of
    # attempts: the first try went to HTTP
    assert all(r[4] >= 1 for r in rows)
    arrive = sorted(e["t"] - t0 for e in got)
    print(f"\nmodem reach: {len(rows)} of {len(teams)} teams' mobiles "
          f"through the modem, {sum(parts.values())} parts; first "
          f"{arrive[0]:.2f} s, median {arrive[len(arrive) // 2]:.2f} s, "
          f"last {arrive[-1]:.2f} s after serve started (HTTP providers "
          f"refused first); serve until idle {took:.1f} s")


def test_prefix_goes_through_the_modem_first(inst, tmp_path, pki):
    teams = inst.teams()[:12]
    with GsmModem(tmp_path / "m") as modem, \
            provider(tmp_path, pki, "p") as p:
        configure(inst, p.url, step0='[ "primary:sms" ]')
        add_modem(inst, modem, prefixes='[ "+254", "+33" ]')
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        inst.serve(timeout=300)
        rows = sms_rows(inst, alert)
        http = by_number(p.messages())
        got = {e["to"] for e in modem.events("sms")}
    assert [r for r in rows if r[3] != "sent"] == []
    for r in rows:
        through_modem = r[2].startswith(("+254", "+33"))
        assert (r[2] in got) == through_modem, r
        assert (r[2] in http) == (not through_modem), r


def test_reply_through_the_modem_acks_its_own_team_only(inst, tmp_path):
    teams = inst.teams()[:3]
    with GsmModem(tmp_path / "m") as modem:
        add_modem(inst, modem, fallback="true")
        providers_down(inst)
        a = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        inst.serve(timeout=300)
        assert len(modem.events("sms")) == 3
        name0, mob0 = primary(inst, teams[0])
        _, mob1 = primary(inst, teams[1])
        c0 = inst.ack_code(a, teams[0])
        p = listening(inst)
        try:
            # another team's contact with this team's code; a stranger
            # with the right code; an alphanumeric sender: nothing
            modem.inbound(mob1, f"ACK {c0}")
            modem.inbound("+999123456789", f"ACK {c0}")
            modem.inbound("+254700000001", "ACK 12345678")
            deadline = time.monotonic() + 20
            while len(modem.events("delete")) < 3 and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(modem.events("delete")) == 3
            assert {state(inst, a, t)[0] for t in teams} == {"active"}
            # the team's own contact, the ack word in any case, the code
            # spaced
            modem.inbound(mob0, f"ack {c0[:4]} {c0[4:]}")
            while state(inst, a, teams[0])[0] != "acked" and \
                    time.monotonic() < deadline + 20:
                time.sleep(0.1)
            assert state(inst, a, teams[0]) == ("acked", name0, "sms")
            assert state(inst, a, teams[1])[0] == "active"
            # read and deleted: the SIM does not fill up
            while len(modem.events("delete")) < 4 and \
                    time.monotonic() < deadline + 20:
                time.sleep(0.1)
            assert modem.control()["store"] == []
        finally:
            err = stopped(p)
    assert "team %s acknowledged by sms" % teams[0] in err
    assert err.count("matched no alert") == 3
    # one ack in the audit chain, the contact's, for this team only
    acks = [r for r in inst.audit() if r[2] == "ack"]
    assert len(acks) == 1, acks
    assert acks[0][1] == f"contact:{teams[0]}/{name0}"
    assert acks[0][3] == a and teams[0] in acks[0][4] and "sms" in acks[0][4]


def test_modem_errors_are_clear_delivery_failures(inst, tmp_path):
    teams = inst.teams()[:6]
    with GsmModem(tmp_path / "m") as modem:
        add_modem(inst, modem, fallback="true", retries=2)
        providers_down(inst)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        nums = [r[2] for r in sms_rows(inst, alert)]
        modem.set_faults([
            # unassigned number: for good
            {"match": "^" + re.escape(nums[0]) + "$", "action": "cms_error",
             "code": 1},
            # network out of order once: tried again, sent once
            {"match": "^" + re.escape(nums[1]) + "$", "action": "cms_error",
             "code": 38, "count": 1},
            # no answer to the command, once (the network lost): nothing
            # went, the retry sends it
            {"match": "^" + re.escape(nums[2]) + "$", "action": "silent",
             "count": 1},
            # the message went but its answer was lost: the retry repeats
            # it, once, as the man page says
            {"match": "^" + re.escape(nums[4]) + "$",
             "action": "lost_answer", "count": 1},
            # the modem stays at its prompt and swallows the PDU: ESC gets
            # it back, and the retry sends the message once
            {"match": "^" + re.escape(nums[5]) + "$",
             "action": "drop_after_prompt", "count": 1},
        ])
        inst.serve(timeout=300)
        got = by_to(modem.events("sms"))
        rows = {r[2]: r for r in sms_rows(inst, alert)}
    assert rows[nums[0]][3] == "dead"
    assert "+CMS ERROR: 1 (unassigned (unallocated) number)" in \
        rows[nums[0]][5]
    assert nums[0] not in got
    assert rows[nums[1]][3] == "sent" and len(got[nums[1]]) == 1
    assert rows[nums[2]][3] == "sent" and len(got[nums[2]]) == 1
    assert rows[nums[3]][3] == "sent" and len(got[nums[3]]) == 1
    assert rows[nums[4]][3] == "sent" and len(got[nums[4]]) == 2
    assert got[nums[4]][0]["text"] == got[nums[4]][1]["text"]
    assert rows[nums[5]][3] == "sent" and len(got[nums[5]]) == 1
    # every number the modem took was reached, none more than the bound
    assert all(len(v) <= 2 for v in got.values())


def by_to(events):
    out = {}
    for e in events:
        out.setdefault(e["to"], []).append(e)
    return out


def wait_for(what, timeout=30):
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_no_network_says_why_and_sends_once_it_is_back(inst, tmp_path):
    teams = inst.teams()[:2]
    inst.set_keys("gateway", retry_base="1s", retry_max="2s")
    with GsmModem(tmp_path / "m", registration=0) as modem:
        add_modem(inst, modem, fallback="true", retries=1)
        providers_down(inst)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        p = listening(inst)
        try:
            wait_for(lambda: all("not registered on a network" in (r[5] or "")
                                 for r in sms_rows(inst, alert)))
            assert modem.events("sms") == []
            assert all(r[3] != "sent" for r in sms_rows(inst, alert))
            # the network comes back: the same deliveries go, once each
            modem.set_state(registration=1)
            wait_for(lambda: all(r[3] == "sent"
                                 for r in sms_rows(inst, alert)))
        finally:
            stopped(p)
        got = by_to(modem.events("sms"))
    assert sorted(got) == sorted(r[2] for r in sms_rows(inst, alert))
    assert all(len(v) == 1 for v in got.values())


@contextlib.contextmanager
def pin_modem(inst, tmp_path, teams, pin):
    """A modem whose SIM wants 1234, tocsin given pin: the alert to teams
    served until idle with every HTTP provider down."""
    f = tmp_path / "sim.pin"
    f.write_text(pin + "\n")
    f.chmod(0o600)
    with GsmModem(tmp_path / "m", pin="1234") as modem:
        add_modem(inst, modem, fallback="true", secret=f'"{f}"')
        providers_down(inst)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        inst.serve(timeout=300)
        yield modem, alert


def test_wrong_pin_is_sent_once_only(inst, tmp_path):
    teams = inst.teams()[:3]
    inst.set_keys("gateway", retry_base="1s", retry_max="1s", max_attempts=3)
    with pin_modem(inst, tmp_path, teams, "0000") as (modem, alert):
        tries = [e for e in modem.events("at")
                 if e["cmd"].startswith("AT+CPIN=")]
        rows = sms_rows(inst, alert)
        assert modem.control()["state"]["pin"] == "SIM PIN"
    # one wrong PIN sent for the whole run, never the three that lock it
    assert len(tries) == 1
    assert "0000" not in str(tries)
    assert [r[3] for r in rows] == ["dead"] * 3
    assert all("refused the PIN" in r[5] for r in rows)


def test_right_pin_unlocks_and_sends(inst, tmp_path):
    teams = inst.teams()[:2]
    with pin_modem(inst, tmp_path, teams, "1234") as (modem, alert):
        got = by_to(modem.events("sms"))
    assert sorted(got) == sorted(r[2] for r in sms_rows(inst, alert))


def test_check_names_what_is_wrong_with_a_modem(inst, tmp_path):
    with GsmModem(tmp_path / "m", registration=0) as modem:
        add_modem(inst, modem, fallback="true")
        r = inst.run("check", check=None)
        assert "not registered" in r.stdout + r.stderr
        conf = inst.conf.read_text()
        inst.conf.write_text(conf.replace(modem.device,
                                          str(tmp_path / "no-such-tty")))
        r = inst.run("check", check=None)
        out = r.stdout + r.stderr
        assert r.returncode != 0
        assert "does not exist" in out and "tocsin.conf:" in out
        # a PIN file that holds no PIN
        pin = tmp_path / "sim.pin"
        pin.write_text("letmein\n")
        pin.chmod(0o600)
        inst.conf.write_text(conf.replace(
            'kind = "modem";', f'kind = "modem"; secret = "{pin}";'))
        r = inst.run("check", check=None)
        assert r.returncode != 0
        assert "does not hold a SIM PIN" in r.stdout + r.stderr
        # a modem in providers.voice, or with a URL
        inst.conf.write_text(conf.replace(
            'kind = "modem";', 'kind = "modem"; url = "https://x.example";'))
        r = inst.run("check", check=None)
        assert r.returncode != 0
        assert "url is for an HTTP provider" in r.stdout + r.stderr


def test_serve_keeps_the_modem_to_itself(inst, tmp_path):
    """A second process that opens the device while serve holds it is
    told, and writes nothing into serve's dialogue."""
    with GsmModem(tmp_path / "m") as modem:
        add_modem(inst, modem, fallback="true")
        providers_down(inst)
        p = listening(inst)
        try:
            deadline = time.monotonic() + 10
            while not [e for e in modem.events("at")
                       if e["cmd"] == "AT+CMGF=0"] and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            r = subprocess.run([str(BIN), "-c", str(inst.conf), "check"],
                               capture_output=True, text=True, timeout=60)
        finally:
            stopped(p)
    assert "in use by another process" in r.stdout + r.stderr


def test_example_modem_conf_loads_and_sends(inst, tmp_path):
    """examples/modem.conf, its devices and secrets pointed at two modem
    emulators and the instance's files: check accepts it, and a Kenyan
    number goes through gsm-ke, another through gsm-fallback once the HTTP
    provider fails."""
    from conftest import SRC
    example = (SRC / "examples" / "modem.conf").read_text()
    pin = tmp_path / "sim.pin"
    pin.write_text("4321\n")
    pin.chmod(0o600)
    with GsmModem(tmp_path / "ke", pin="4321", name="ke") as ke, \
            GsmModem(tmp_path / "fb", name="fb") as fb:
        conf = inst.conf.read_text()
        token = re.search(r'secret = "([^"]*twilio\.token)"', conf).group(1)
        # the example's "+254" stands for the country of the first team
        ke_team = inst.teams()[0]
        cc = primary(inst, ke_team)[1][:4]
        other = next(t for t in inst.teams()
                     if not primary(inst, t)[1].startswith(cc))
        text = example[example.index("providers = {"):]
        for old, new in (
                ("/dev/serial/by-id/usb-Quectel_EC25-if02-port0", ke.device),
                ("/dev/serial/by-id/usb-Huawei_E3372-if00-port0", fb.device),
                ("/etc/tocsin/secrets/sim.pin", str(pin)),
                ("/etc/tocsin/secrets/twilio.token", token),
                ("https://api.twilio.com", "https://127.0.0.1:9"),
                ("relay.alerts.example.net", "127.0.0.1"),
                ('prefixes = [ "+254" ]', f'prefixes = [ "{cc}" ]')):
            assert old in text
            text = text.replace(old, new)
        start = conf.index("providers = {")
        end = conf.index("\n};\n", start) + 4
        inst.conf.write_text(conf[:start] + text + conf[end:])
        r = inst.run("check", check=None)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "modem" not in r.stdout + r.stderr
        inst.on_failure("wait")
        text = inst.conf.read_text()
        text = re.sub(r'notify = \[ "primary:pgp-email", "primary:sms" \]',
                      'notify = [ "primary:sms" ]', text)
        inst.conf.write_text(text)
        alert = inst.submit_signed(inst.cap(addresses=f"{ke_team} {other}"))
        inst.serve(timeout=300)
        rows = {r[1]: r for r in sms_rows(inst, alert)}
        assert [e["to"] for e in ke.events("sms")] == [rows[ke_team][2]]
        assert [e["to"] for e in fb.events("sms")] == [rows[other][2]]
    assert rows[ke_team][6].startswith("gsm-ke:")
    assert rows[other][6].startswith("gsm-fallback:")


def test_a_result_right_behind_the_prompt_does_not_hide_it(inst, tmp_path):
    """A network event that the modem writes right behind the "> " prompt,
    in the same read, must not make the driver miss the prompt (it would
    wait out the part's timeout and retry)."""
    teams = inst.teams()[:3]
    with GsmModem(tmp_path / "m") as modem:
        add_modem(inst, modem, fallback="true", timeout='"30s"')
        providers_down(inst)
        modem.set_state(urc_after_prompt=3)
        alert = inst.submit_signed(inst.cap(addresses=" ".join(teams)))
        t0 = time.monotonic()
        inst.serve(timeout=300)
        took = time.monotonic() - t0
        got = by_to(modem.events("sms"))
    rows = sms_rows(inst, alert)
    assert [r[3] for r in rows] == ["sent"] * 3
    assert sorted(got) == sorted(r[2] for r in rows)
    assert all(len(v) == 1 for v in got.values())
    assert took < 20, took


def test_check_reads_registration_in_its_long_form(inst, tmp_path):
    """A modem whose profile keeps AT+CREG=2 answers "+CREG: 2,1,lac,ci":
    registered, not a warning."""
    import os
    import termios
    import tty
    with GsmModem(tmp_path / "m") as modem:
        add_modem(inst, modem, fallback="true")
        fd = os.open(modem.device, os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            termios.tcflush(fd, termios.TCIFLUSH)
            os.write(fd, b"AT+CREG=2\r")
            buf = b""
            deadline = time.monotonic() + 5
            while b"OK" not in buf and time.monotonic() < deadline:
                buf += os.read(fd, 100)
        finally:
            os.close(fd)
        r = inst.run("check", check=None)
        creg = [e for e in modem.events("at") if e["cmd"] == "AT+CREG?"]
    assert creg, "check did not ask the modem"
    assert "not registered" not in r.stdout + r.stderr
    assert "gsm" not in r.stdout + r.stderr
