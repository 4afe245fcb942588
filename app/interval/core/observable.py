"""A tiny observer mechanism: typed signals, weak bound methods, batched emission.

A :class:`Signal` carries one event type (usually a frozen dataclass).  Observers
connect a callable taking the event.  Bound methods are held through weak
references, so a view that is garbage-collected simply stops observing; plain
functions and lambdas are held strongly until disconnected.

:class:`SignalGroup` owns several signals and can batch them: inside
``with group.batch():`` events are queued and, on leaving the outermost batch,
each signal emits once per distinct ``coalesce_key`` of its events (the latest
event wins), in the order the keys first appeared.  An event without a
``coalesce_key`` attribute coalesces per signal.

An observer that raises does not stop the others: every observer is called,
then the first exception is re-raised.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any, Generic, TypeVar

E = TypeVar("E")
Callback = Callable[[E], object]

_NO_KEY = object()


def _ref(callback: Callable[..., object]) -> Callable[[], Callable[..., object] | None]:
    """A zero-argument callable returning ``callback`` (or None once it is collected)."""
    if isinstance(callback, MethodType):
        return weakref.WeakMethod(callback)
    return lambda: callback


class Signal(Generic[E]):
    """One kind of event with its observers."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._slots: list[Callable[[], Any]] = []  # zero-argument refs, never the method itself
        self._blocked = 0
        self._batch = 0
        self._queue: dict[object, E] = {}

    # --- observers -------------------------------------------------------------
    def connect(self, callback: Callback[E]) -> Callback[E]:
        """Call ``callback(event)`` on each emission; returns ``callback`` (usable as decorator)."""
        if not callable(callback):
            raise TypeError(f"cannot connect {callback!r}: not callable")
        if callback not in self:
            self._slots.append(_ref(callback))
        return callback

    def disconnect(self, callback: Callback[E]) -> None:
        """Stop calling ``callback``; disconnecting an unknown callback is a no-op."""
        self._slots = [s for s in self._slots if not self._same(s, callback)]

    def disconnect_all(self) -> None:
        self._slots = []

    def __contains__(self, callback: object) -> bool:
        return any(self._same(s, callback) for s in self._slots)

    def __len__(self) -> int:
        self._prune()
        return len(self._slots)

    @staticmethod
    def _same(ref: Callable[[], Any], callback: object) -> bool:
        live = ref()
        return live is not None and live == callback

    def _prune(self) -> None:
        self._slots = [ref for ref in self._slots if ref() is not None]

    # --- emission --------------------------------------------------------------
    def emit(self, event: E) -> None:
        """Send ``event`` to every observer (queued while batched, dropped while blocked)."""
        if self._blocked:
            return
        if self._batch:
            key = getattr(event, "coalesce_key", _NO_KEY)
            self._queue[key] = event  # keeps the first position, the latest value
            return
        self._deliver(event)

    def _deliver(self, event: E) -> None:
        self._prune()
        error: BaseException | None = None
        for ref in list(self._slots):
            callback = ref()
            if callback is None:
                continue
            try:
                callback(event)
            except Exception as exc:  # every observer runs; the first error surfaces
                error = error or exc
        if error is not None:
            raise error

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Drop every emission inside the block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def _begin(self) -> None:
        self._batch += 1

    def _end(self) -> list[E]:
        self._batch -= 1
        if self._batch:
            return []
        pending, self._queue = list(self._queue.values()), {}
        return pending

    def __repr__(self) -> str:
        return f"<Signal {self.name} observers={len(self)}>"


class SignalGroup:
    """A set of named signals that can be batched together.

    Subclasses declare signals as class attributes holding :class:`Signal`
    *types* via :func:`signal`; each instance gets its own signals.
    """

    def __init__(self) -> None:
        self._signals: dict[str, Signal[Any]] = {}
        for klass in reversed(type(self).__mro__):  # declaration order, base classes first
            for name, value in vars(klass).items():
                if isinstance(value, _SignalSpec) and name not in self._signals:
                    sig: Signal[Any] = Signal(name)
                    self._signals[name] = sig
                    setattr(self, name, sig)

    @property
    def signals(self) -> dict[str, Signal[Any]]:
        return dict(self._signals)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Queue and coalesce emissions of every signal until the outermost block ends."""
        for sig in self._signals.values():
            sig._begin()
        try:
            yield
        finally:
            pending = [(sig, sig._end()) for sig in self._signals.values()]
            error: BaseException | None = None
            for sig, events in pending:
                for event in events:
                    try:
                        sig._deliver(event)
                    except Exception as exc:
                        error = error or exc
            if error is not None:
                raise error

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Drop emissions of every signal inside the block."""
        for sig in self._signals.values():
            sig._blocked += 1
        try:
            yield
        finally:
            for sig in self._signals.values():
                sig._blocked -= 1


class _SignalSpec:
    """Class-level placeholder replaced by a per-instance :class:`Signal`."""


def signal() -> Any:
    """Declare a signal on a :class:`SignalGroup` subclass: ``changed: Signal[Ev] = signal()``."""
    return _SignalSpec()
