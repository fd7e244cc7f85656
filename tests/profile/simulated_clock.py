"""A simulated `kdbench.profile.serving.Clock`: a discrete-event simulation run by real threads.

Time stands still while any of the clock's threads runs (the one that made the clock, and
every thread started through it) and jumps to the earliest deadline when all of them wait
on it: in `sleep_until` or in a wait on one of its conditions. So a stand-in model that
sleeps S on this clock takes exactly S, an issuer wakes exactly at each arrival, and what
the serving code records is the same on an idle machine and a loaded one. Threads that run
at the same simulated instant still interleave as the machine schedules them; the serving
code must not let that order change what it records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class SimulatedDeadlock(RuntimeError):
    """Every thread waits without a deadline: in real time the run would hang."""


@dataclass(eq=False)
class _Wait:
    """One blocked thread: until `deadline` (None: until notified)."""

    deadline: int | None
    woken: threading.Event = field(default_factory=threading.Event)
    notified: bool = False
    deadlocked: bool = False


class SimulatedClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self._running = 1  # the thread that made the clock
        self._waits: list[_Wait] = []

    def now_ns(self) -> int:
        with self._lock:
            return self._now

    def sleep_until(self, when_ns: int) -> None:
        with self._lock:
            if when_ns <= self._now:
                return
            wait = self._block(when_ns)
        self._await(wait)

    def sleep(self, seconds: float) -> None:
        """What a stand-in model's call costs: exactly `seconds` of simulated time."""
        self.sleep_until(self.now_ns() + round(seconds * 1e9))

    def condition(self) -> threading.Condition:
        return _SimulatedCondition(self)

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            finally:
                with self._lock:
                    self._running -= 1
                    self._advance()

        with self._lock:
            self._running += 1  # counted before it starts: time waits for it
        threading.Thread(target=run, name=name, daemon=True).start()

    # -- under self._lock ---------------------------------------------------------------------
    def _block(self, deadline: int | None) -> _Wait:
        wait = _Wait(deadline)
        self._waits.append(wait)
        self._running -= 1
        self._advance()
        return wait

    def _wake(self, wait: _Wait, notified: bool) -> None:
        self._waits.remove(wait)
        self._running += 1
        wait.notified = notified
        wait.woken.set()

    def _advance(self) -> None:
        """With every thread waiting, move to the earliest deadline and wake what is due."""
        if self._running:
            return
        deadlines = [wait.deadline for wait in self._waits if wait.deadline is not None]
        if not deadlines:
            for wait in list(self._waits):
                wait.deadlocked = True
                self._wake(wait, notified=False)
            return
        self._now = max(self._now, min(deadlines))
        for wait in [w for w in self._waits if w.deadline is not None and w.deadline <= self._now]:
            self._wake(wait, notified=False)

    # -- without it ---------------------------------------------------------------------------
    @staticmethod
    def _await(wait: _Wait) -> None:
        wait.woken.wait()
        if wait.deadlocked:
            raise SimulatedDeadlock("every thread waits on the simulated clock without a deadline")


class _SimulatedCondition(threading.Condition):
    """A condition whose waits and notifications the clock sees: a notified thread counts as
    running from the moment it is notified, so time cannot pass before it has run."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(threading.Lock())
        self._clock = clock
        self._sleepers: list[_Wait] = []  # under this condition's lock

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        with clock._lock:
            deadline = None if timeout is None else clock._now + max(0, round(timeout * 1e9))
            if deadline is not None and deadline <= clock._now:
                return False
            wait = clock._block(deadline)
        self._sleepers.append(wait)
        self.release()
        try:
            clock._await(wait)
        finally:
            self.acquire()
            self._sleepers.remove(wait)
        return wait.notified

    def notify(self, n: int = 1) -> None:
        with self._clock._lock:
            for wait in [w for w in self._sleepers if not w.woken.is_set()][:n]:
                self._clock._wake(wait, notified=True)

    def notify_all(self) -> None:
        self.notify(len(self._sleepers))
