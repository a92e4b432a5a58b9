"""Group commit: uploads that are ready to be stored at the same moment share one
transaction, so they queue once on the events table's lock and pay one commit (its WAL
flush) between them, instead of one each.

Each caller hands its upload in and waits. Whoever finds a free place among the groups in
flight (at most ``at_once``) leads: it takes what is queued, at most one upload per
installation (two of one installation in one transaction would each read the other's
acknowledgement before it moved), stores it through ``store`` and hands every waiter its
own outcome, after the commit. A leader whose own upload went into another leader's
group goes on waiting for it. No thread of its own, no timer: a group is whatever queued
while the previous one was being stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class Waiting(Generic[T, R]):
    key: str  # at most one upload per key in a group
    size: int  # events: a group is bounded by their sum
    item: T
    outcome: R | BaseException | None = field(default=None, init=False)
    done: bool = field(default=False, init=False)


class GroupCommitter(Generic[T, R]):
    def __init__(
        self,
        store: Callable[[Sequence[T]], Sequence[R | BaseException]],
        at_once: int,
        max_items: int,
        max_size: int,
    ) -> None:
        self._store = store
        self._at_once = at_once
        self._max_items = max_items
        self._max_size = max_size
        self._queue: list[Waiting[T, R]] = []
        self._leaders = 0
        self._changed = threading.Condition()

    @property
    def waiting(self) -> int:
        """Uploads queued for a group not yet taken (those being stored are not counted)."""
        return len(self._queue)

    def submit(self, waiting: Waiting[T, R]) -> R:
        """Returns the item's outcome once the group holding it is stored (or raises it)."""
        with self._changed:
            self._queue.append(waiting)
        while True:
            with self._changed:
                while not waiting.done and not (self._queue and self._leaders < self._at_once):
                    self._changed.wait()
                if waiting.done:
                    break
                group = self._take()
                self._leaders += 1
            self._lead(group)
        if isinstance(waiting.outcome, BaseException):
            raise waiting.outcome
        return waiting.outcome  # type: ignore[return-value]  # set with done, never None then

    def _take(self) -> list[Waiting[T, R]]:
        group: list[Waiting[T, R]] = []
        keys: set[str] = set()
        size = 0
        left: list[Waiting[T, R]] = []
        for waiting in self._queue:
            room = not group or size + waiting.size <= self._max_size
            if room and len(group) < self._max_items and waiting.key not in keys:
                group.append(waiting)
                keys.add(waiting.key)
                size += waiting.size
            else:
                left.append(waiting)
        self._queue = left
        return group

    def _lead(self, group: list[Waiting[T, R]]) -> None:
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._store([waiting.item for waiting in group])
        except BaseException as error:  # the transaction failed: every upload in it did
            outcomes = [error] * len(group)
        with self._changed:
            for waiting, outcome in zip(group, outcomes, strict=True):
                waiting.outcome, waiting.done = outcome, True
            self._leaders -= 1
            self._changed.notify_all()
