"""One real server process: started from generated configuration, stopped by its PID.

A daemon may fork (nginx, named, sshd, Postfix's master) or stay in the foreground; either
way its PID is read from its pid file, it counts as up once every address it must serve
accepts a connection, and it counts as down once its PID is gone and those addresses no
longer accept. Nothing is left listening: a stop that cannot make it so raises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from utsyn.errors import LabError
from utsyn.lab.process import alive, wait_for

START_TIMEOUT = 15.0  # seconds for a daemon to listen on every address
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL
LOG_TAIL = 2000  # characters of a daemon's log shown when it fails to start


@dataclass
class Daemon:
    name: str  # what `utsyn lab status` shows: "nginx", "postfix", ...
    argv: list[str]
    pidfile: Path
    log: Path  # where its stderr (and whatever else it logs) goes
    listens: list[tuple[str, int]] = field(default_factory=list)  # (ip, TCP port)
    env: dict[str, str] = field(default_factory=dict)
    foreground: bool = False  # runs in the foreground: the PID is the child's own
    # More than listening, where a TCP accept is not enough (a name server that listens
    # before its zones are loaded and signed): true once the daemon serves.
    ready: Callable[[], bool] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            child = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, **self.env},
                start_new_session=True,  # a Ctrl-C to `utsyn lab up` is ours to relay
            )
        if self.foreground:
            self.pidfile.write_text(f"{child.pid}\n", encoding="ascii")
        else:
            code = child.wait(timeout=START_TIMEOUT)
            if code != 0:
                raise LabError(
                    "%(name)s did not start (exit %(code)s): %(log)s",
                    name=self.name,
                    code=code,
                    log=self._tail(),
                )
        if not _until(lambda: self.pid() is not None and all(map(_accepts, self.listens))):
            self.stop()
            raise LabError(
                "%(name)s did not listen on %(listens)s: %(log)s",
                name=self.name,
                listens=self.listens,
                log=self._tail(),
            )
        if self.ready is not None and not _until(self.ready):
            self.stop()
            raise LabError(
                "%(name)s listens but does not serve: %(log)s", name=self.name, log=self._tail()
            )

    def pid(self) -> int | None:
        """The running daemon's PID, or None when its pid file names no live process."""
        try:
            pid = int(self.pidfile.read_text(encoding="ascii").split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            if not _until(lambda: not alive(pid), STOP_TIMEOUT):
                _signal(pid, signal.SIGKILL)
                _until(lambda: not alive(pid), STOP_TIMEOUT)
        still = [a for a in self.listens if _accepts(a)]
        if still:
            raise LabError(
                "%(name)s stopped, but %(still)s still accept connections",
                name=self.name,
                still=still,
            )

    def _tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL:].strip()
        except OSError:
            return "(no log)"


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _accepts(address: tuple[str, int]) -> bool:
    ip, port = address
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((ip, port)) == 0


def _until(condition: Callable[[], bool], timeout: float = START_TIMEOUT) -> bool:
    return wait_for(condition, timeout)
