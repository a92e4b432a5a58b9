"""Running the real command line on a real pseudo-terminal of a given width, as a person
would see it (colours, fitted tables), not through a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from ..conftest import REPO


def run_in_terminal(*args: str, columns: int = 80, env: dict[str, str] | None = None) -> str:
    """stdout and stderr of the command as the terminal received them (``\\r\\n`` -> ``\\n``)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", **(env or {})}
    for name in ("COLUMNS", "LINES", "NO_COLOR", "RECOVERY_LEDGER_DEBUG"):
        if env is None or name not in env:
            full_env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "recovery_ledger", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=full_env,
        cwd=REPO,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    process.wait(timeout=60)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
