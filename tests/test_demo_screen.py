"""The demo on an 80x24 terminal: the header stays, nothing is cut, indicators are warm."""

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")


def _warm_screen(screen: list[str]) -> bool:
    """Return whether the screen shows the first instrument with its SMA and RSI."""
    rows = [line for line in screen if line.startswith(" SYN00")]
    return bool(rows) and "-" not in rows[0].split()[-2:]


def _screen_of_demo(columns: int, lines: int, timeout_s: float) -> list[str]:
    """Run the demo in a pseudo-terminal of that size; return the first warm screen.

    It is taken while the demo runs (when it stops, the last frame moves up a
    line for the closing summary); the demo is then stopped with Ctrl-C.
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}
    proc = subprocess.Popen([QUOTEFLOW, "demo"], stdin=follower,
                            stdout=follower, stderr=follower, env=env, close_fds=True)  # fmt: skip
    os.close(follower)
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                stream.feed(os.read(leader, 65536))
                if _warm_screen(screen.display):
                    return list(screen.display)
        return list(screen.display)
    finally:
        proc.send_signal(signal.SIGINT)
        while proc.poll() is None:  # keep reading, so the demo can write its last lines
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    os.read(leader, 65536)
                except OSError:
                    break
        proc.wait(timeout=60)
        os.close(leader)


def test_the_demo_fits_80_by_24_with_its_header_and_warm_indicators():
    # at market speed an SMA of 20 one-minute bars would take 20 minutes to fill
    screen = _screen_of_demo(80, 24, timeout_s=90)
    text = "\n".join(screen)
    assert _warm_screen(screen), text  # warm from the start: an hour of history first
    assert screen[0].startswith("quoteflow demo: SYNTHETIC")
    assert "gateway ws://" in text and "exchange http://" in text
    assert "export QUOTEFLOW_API_KEY=qf_" in text
    assert "try: quoteflow subscribe" in text and "quoteflow exchange order place" in text
    assert "recent alerts (market time, UTC)" in text
    assert len([line for line in screen if line.startswith(" SYN0")]) >= 5
    assert "…" not in text
