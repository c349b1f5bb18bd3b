"""Real worker processes for tests and benchmarks: started, waited for, killed, stopped.

A worker is `python -m utsyn worker` in a session of its own (so a SIGKILL takes
its whole process group, as a lost machine would), logging JSON lines to a file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from utsyn.lab.process import wait_for
from utsyn.store.db import make_engine, session_factory
from utsyn.store.models import ScanRun, TargetScan


@dataclass
class WorkerProcess:
    name: str
    env: Mapping[str, str]
    log_path: Path
    concurrency: int = 4
    queues: str = "urgent,periodic"
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, ready_within: float = 30.0) -> WorkerProcess:
        self._log = self.log_path.open("ab")
        command = [
            *(sys.executable, "-m", "utsyn", "worker"),
            f"--queues={self.queues}",
            f"--concurrency={self.concurrency}",
            f"--name={self.name}@utsyn-test",
        ]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_until(lambda: "ready" in self.log_text() or not self.alive(), ready_within):
            raise TimeoutError(f"worker {self.name} not ready in {ready_within} s")
        if not self.alive():
            raise RuntimeError(f"worker {self.name} exited:\n{self.log_text()[-3000:]}")
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Signal the worker's whole process group (SIGKILL: a machine lost mid-task)."""
        if self.process is not None and self.alive():
            os.killpg(self.process.pid, signum)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Celery's warm shutdown (SIGTERM) first; SIGKILL when it takes over 10 s."""
        if self.process is not None and self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    return wait_for(condition, timeout, interval)


@dataclass(frozen=True)
class RunState:
    status: str
    targets: int
    rated: int


def run_state(url: str, run_id: int) -> RunState:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return _state(session, run_id)
    finally:
        engine.dispose()


def _state(session: Session, run_id: int) -> RunState:
    run = session.get_one(ScanRun, run_id)
    targets = session.scalar(
        select(func.count()).select_from(TargetScan).where(TargetScan.run_id == run_id)
    )
    return RunState(run.status, int(targets or 0), len(run.stats.get("rated", [])))


def wait_for_run(url: str, run_id: int, timeout: float) -> RunState:
    """Poll until the run is done (or the time is up); returns its last state.

    A poll that loses its connection (a test dropping them) counts as "not done yet".
    """
    deadline = time.monotonic() + timeout
    state = RunState("unknown", 0, 0)
    while time.monotonic() < deadline:
        try:
            state = run_state(url, run_id)
        except OperationalError:
            continue
        if state.status == "done":
            break
        time.sleep(0.3)
    return state
