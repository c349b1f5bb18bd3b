"""A daemon whose children must go with it: stopped by its PID, then its descendants.

Postfix's master runs smtpd, qmgr and the rest in its session and signals them when it
stops, but they exit a moment later; sshd's listener forks a process per connection, each
in a session of its own, which outlives the listener until its client leaves. `stop()`
makes "nothing of ours is left" true at once: the processes found under the daemon before
it was signalled are signalled too, each recognised by its PID and start time so that a
reused PID is never hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from utsyn.errors import LabError
from utsyn.lab.real.daemon import STOP_TIMEOUT, Daemon

_Process = tuple[int, str]  # PID and start time (clock ticks after boot)


@dataclass
class TreeDaemon(Daemon):
    def stop(self) -> None:
        pid = self.pid()
        family = descendants(pid) if pid is not None else []
        try:
            super().stop()
        except LabError:  # a child still holds a listening socket: it goes first
            _terminate(family)
            super().stop()  # the daemon is gone: this checks the addresses again
        else:
            _terminate(family)


def descendants(pid: int) -> list[_Process]:
    """The processes below `pid`: its children's children and its session's members."""
    table = _processes()
    family: list[_Process] = []
    parents = {pid}
    changed = True
    while changed:
        changed = False
        for child, (ppid, sid, started) in table.items():
            if child not in parents and (ppid in parents or sid == pid):
                parents.add(child)
                family.append((child, started))
                changed = True
    return family


def _terminate(family: list[_Process]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        living = [p for p in family if _running(p)]
        for pid, _ in living:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_running(p) for p in living) and time.monotonic() < deadline:
            time.sleep(0.05)


def _running(process: _Process) -> bool:
    """Still the same live process (a zombie, or a PID reused since, is not)."""
    stat = _stat(process[0])
    return stat is not None and stat[0] != "Z" and stat[4] == process[1]


def _processes() -> dict[int, tuple[int, int, str]]:
    """PID → (parent PID, session ID, start time) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[0] != "Z":
            table[int(entry.name)] = (int(stat[1]), int(stat[3]), stat[4])
    return table


def _stat(pid: int) -> tuple[str, str, str, str, str] | None:
    """State, parent PID, process group, session and start time from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ")".
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[1], fields[2], fields[3], fields[19]
