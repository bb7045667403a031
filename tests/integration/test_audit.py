"""The audit log is hash-chained: `audit verify` passes on an untouched store
and fails, naming the first bad record, after one row is edited."""
import sqlite3


def submit_two(inst):
    for _ in range(2):
        a = inst.write("a.xml", inst.cap())
        inst.run("submit", a, "--sig", inst.gpg_sign(a), check=0)
    a = inst.write("u.xml", inst.cap())
    inst.run("submit", a)           # unsigned: a refusal is audited too


def test_audit_verify_passes_untouched(inst):
    submit_two(inst)
    p = inst.run("audit", "verify", check=0)
    assert "3 records" in p.stdout


def test_audit_verify_fails_after_edit(inst):
    submit_two(inst)
    with sqlite3.connect(inst.db) as c:
        c.execute("UPDATE audit SET details = details || ' (edited)' WHERE seq = 2")
    p = inst.run("audit", "verify")
    assert p.returncode == 65
    assert "record 2" in p.stderr


def test_audit_verify_fails_after_delete(inst):
    submit_two(inst)
    with sqlite3.connect(inst.db) as c:
        c.execute("DELETE FROM audit WHERE seq = 2")
    p = inst.run("audit", "verify")
    assert p.returncode == 65
    assert "record" in p.stderr
