"""The enrichment's outputs on a fixed session, record for record.

The session and how it was made: tests/fixtures/enrich_golden/README.md.

``quoteflow enrich`` runs as a user runs it, over quotes, trades, corrections and
cancels, with three settings; every record it prints is compared, per topic and
instrument in order, with digests captured before the engine was rewritten.
Run ``python -m tests.enrich.test_golden_outputs`` to rewrite them (only for a
change meant to change the outputs).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "enrich_golden"
EXPECTED = HERE / "expected.json"
QUOTEFLOW = str(Path(sys.executable).with_name("quoteflow"))
INPUTS = ("quotes", "trades", "corrections", "cancels")
TOPICS = "quotes.enriched,trades.enriched,bars,alerts,dead_letters"
SETTINGS = {
    "tumbling_trade": "",
    "hopping_mid_levels": """
[enrich]
period = "2m"
every = "1m"
price = "mid"
threshold_pct = 0.5

[enrich.alerts]
levels = {SYN01 = [259.0, 260.0], SYN02 = [308.0, 309.5]}
""",
    "sessions": """
[enrich]
period = "1d"
indicators = "sma:2,sma:3,rsi:2"

[enrich.alerts]
sma_cross = [2, 3]
rsi_period = 2
""",
}


def enrich_digests(settings: str, scratch: Path) -> dict[str, dict[str, list]]:
    """Run ``quoteflow enrich`` over the fixed session; return {topic: {key: [count, sha256]}}."""
    config = scratch / "quoteflow.toml"
    config.write_text(settings)
    replays = [arg for name in INPUTS for arg in ("--replay", str(HERE / f"{name}.parquet"))]
    closes = str(HERE / "closes.csv")
    command = [QUOTEFLOW, "--config", str(config), "enrich", *replays,
               "--previous-closes", closes, "--fast", "--topics", TOPICS]  # fmt: skip
    env = {name: value for name, value in os.environ.items() if not name.startswith("QUOTEFLOW_")}
    done = subprocess.run(command, capture_output=True, check=True, cwd=scratch, env=env)
    hashes: dict[str, dict[str, hashlib._Hash]] = defaultdict(dict)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in done.stdout.splitlines():
        record = json.loads(line)
        topic, key = record["type"], record.get("instrument") or record["provider"]
        hashes[topic].setdefault(key, hashlib.sha256()).update(line + b"\n")
        counts[topic][key] += 1
    return {
        topic: {key: [counts[topic][key], hashes[topic][key].hexdigest()] for key in sorted(keyed)}
        for topic, keyed in sorted(hashes.items())
    }


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_enrich_prints_the_captured_records_for_the_fixed_session(name, tmp_path):
    expected = json.loads(EXPECTED.read_text())[name]
    assert enrich_digests(SETTINGS[name], tmp_path) == expected


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        captured = {name: enrich_digests(text, Path(scratch)) for name, text in SETTINGS.items()}
    EXPECTED.write_text(json.dumps(captured, indent=1, sort_keys=True) + "\n")
    for name, topics in captured.items():
        print(name, {topic: sum(c for c, _ in keyed.values()) for topic, keyed in topics.items()})
