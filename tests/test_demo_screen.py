"""The demo on an 80x24 terminal: the header stays, nothing is cut, indicators are warm."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")


def _screen_of_demo(columns: int, lines: int, seconds: float) -> list[str]:
    """Run the demo in a pseudo-terminal of that size; return its screen a second before the end.

    (When it stops, the last frame moves up a line for the closing summary.)
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}
    proc = subprocess.Popen([QUOTEFLOW, "demo", "--speed", "60", "--duration", str(seconds)],
                            stdin=follower, stdout=follower, stderr=follower, env=env,
                            close_fds=True)  # fmt: skip
    os.close(follower)
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    last: list[str] = []
    shown_at = None
    deadline = time.monotonic() + seconds + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            stream.feed(data)
            if shown_at is None and "export QUOTEFLOW_API_KEY" in "".join(screen.display):
                shown_at = time.monotonic()
            if shown_at is not None and time.monotonic() - shown_at < seconds - 1.5:
                last = list(screen.display)
    finally:
        proc.wait(timeout=60)
        os.close(leader)
    assert proc.returncode == 0
    return last


def test_the_demo_fits_80_by_24_with_its_header_and_warm_indicators():
    screen = _screen_of_demo(80, 24, seconds=8)
    text = "\n".join(screen)
    assert screen[0].startswith("quoteflow demo: SYNTHETIC")
    assert "gateway ws://" in text and "exchange http://" in text
    assert "export QUOTEFLOW_API_KEY=qf_" in text
    assert "try: quoteflow subscribe" in text and "quoteflow exchange order place" in text
    assert "recent alerts (market time, UTC)" in text
    rows = [line for line in screen if line.startswith(" SYN0")]
    assert len(rows) >= 5
    sma20, rsi14 = rows[0].split()[-2:]
    assert sma20 != "-" and rsi14 != "-"  # warm from the start: an hour of history first
    assert "…" not in text
