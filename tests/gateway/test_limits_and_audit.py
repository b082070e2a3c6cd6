"""Per-key limits and the audit log."""

import json
import stat

from quoteflow.access.keys import KeyStore
from quoteflow.gateway.audit import AuditLog
from quoteflow.gateway.limits import ConnectionLimits, MessageRate


def test_message_rate_allows_bursts_then_the_average_rate():
    now = [0.0]
    rate = MessageRate(100.0, burst=10, clock=lambda: now[0])
    assert sum(rate.take() for _ in range(50)) == 10
    now[0] = 1.0  # a second later: the bucket is full again, never above the burst
    assert sum(rate.take() for _ in range(50)) == 10
    now[0] = 1.05
    assert sum(rate.take() for _ in range(50)) == 5


def test_connection_limits_count_per_key():
    limits = ConnectionLimits()
    assert limits.acquire("a", 2) and limits.acquire("a", 2) and not limits.acquire("a", 2)
    assert limits.acquire("b", 2)
    limits.release("a")
    assert limits.open("a") == 1 and limits.acquire("a", 2)


def test_audit_log_names_keys_but_never_holds_them(tmp_path):
    key, text = KeyStore(tmp_path / "keys.db").create("acme", channels=["alerts"],
                                                      instruments=["*"])  # fmt: skip
    log = AuditLog(tmp_path / "audit.jsonl", clock=lambda: 1.5)
    log.record("connect", key_id=key.key_id, key_name=key.name, remote="127.0.0.1:5000")
    log.record("refuse", remote="127.0.0.1:5001", reason="unknown key")
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert lines[0] == {"ts": 1.5, "event": "connect", "key_id": key.key_id, "key_name": "acme",
                        "remote": "127.0.0.1:5000"}  # fmt: skip
    assert lines[1]["reason"] == "unknown key" and lines[1]["key_id"] is None
    assert text not in (tmp_path / "audit.jsonl").read_text()
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600
