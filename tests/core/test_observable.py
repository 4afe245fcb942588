"""Signals: delivery, weak bound methods, blocking, batching, error isolation."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import pytest

from interval.core.observable import Signal, SignalGroup, signal


@dataclass(frozen=True)
class Moved:
    position: float


@dataclass(frozen=True)
class Keyed:
    key: str
    value: int

    @property
    def coalesce_key(self) -> object:
        return self.key


class Recorder:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_event(self, event: object) -> None:
        self.seen.append(event)


def test_connect_emit_disconnect() -> None:
    sig: Signal[Moved] = Signal("moved")
    seen: list[Moved] = []
    assert sig.connect(seen.append) is not None
    sig.emit(Moved(1.0))
    sig.disconnect(seen.append)
    sig.emit(Moved(2.0))
    assert seen == [Moved(1.0)]
    sig.disconnect(seen.append)  # unknown callback: no error


def test_connecting_twice_calls_once() -> None:
    sig: Signal[Moved] = Signal()
    rec = Recorder()
    sig.connect(rec.on_event)
    sig.connect(rec.on_event)
    sig.emit(Moved(1.0))
    assert rec.seen == [Moved(1.0)]
    assert len(sig) == 1


def test_bound_methods_are_weak_functions_are_strong() -> None:
    sig: Signal[Moved] = Signal()
    rec = Recorder()
    calls: list[Moved] = []
    sig.connect(rec.on_event)
    sig.connect(lambda e: calls.append(e))
    del rec
    gc.collect()
    sig.emit(Moved(3.0))
    assert calls == [Moved(3.0)]  # the lambda survived collection
    assert len(sig) == 1  # the dead method was pruned


def test_bound_method_disconnect_by_new_bound_object() -> None:
    sig: Signal[Moved] = Signal()
    rec = Recorder()
    sig.connect(rec.on_event)
    assert rec.on_event in sig
    sig.disconnect(rec.on_event)  # a fresh bound-method object, equal but not identical
    sig.emit(Moved(1.0))
    assert rec.seen == []


def test_not_callable_is_refused() -> None:
    with pytest.raises(TypeError):
        Signal().connect(42)  # type: ignore[arg-type]


def test_blocked_drops_events() -> None:
    sig: Signal[Moved] = Signal()
    seen: list[Moved] = []
    sig.connect(seen.append)
    with sig.blocked():
        sig.emit(Moved(1.0))
    sig.emit(Moved(2.0))
    assert seen == [Moved(2.0)]


class Events(SignalGroup):
    moved: Signal[Moved] = signal()
    keyed: Signal[Keyed] = signal()


def test_group_instances_have_their_own_signals_in_declaration_order() -> None:
    a, b = Events(), Events()
    assert a.moved is not b.moved
    assert list(a.signals) == ["moved", "keyed"]
    seen: list[Moved] = []
    a.moved.connect(seen.append)
    b.moved.emit(Moved(1.0))
    assert seen == []


def test_batch_coalesces_to_latest_per_key_and_waits_for_outermost() -> None:
    ev = Events()
    moved: list[Moved] = []
    keyed: list[Keyed] = []
    ev.moved.connect(moved.append)
    ev.keyed.connect(keyed.append)
    with ev.batch():
        ev.moved.emit(Moved(1.0))
        ev.keyed.emit(Keyed("a", 1))
        ev.keyed.emit(Keyed("b", 1))
        with ev.batch():
            ev.moved.emit(Moved(2.0))
            ev.keyed.emit(Keyed("a", 2))
        assert moved == [] and keyed == []  # inner exit delivers nothing
        ev.moved.emit(Moved(3.0))
    assert moved == [Moved(3.0)]
    assert keyed == [Keyed("a", 2), Keyed("b", 1)]


def test_group_blocked() -> None:
    ev = Events()
    seen: list[Moved] = []
    ev.moved.connect(seen.append)
    with ev.blocked():
        ev.moved.emit(Moved(1.0))
    assert seen == []


def test_failing_observer_does_not_starve_the_others() -> None:
    sig: Signal[Moved] = Signal()
    seen: list[Moved] = []

    def boom(_: Moved) -> None:
        raise RuntimeError("observer bug")

    sig.connect(boom)
    sig.connect(seen.append)
    with pytest.raises(RuntimeError, match="observer bug"):
        sig.emit(Moved(1.0))
    assert seen == [Moved(1.0)]


def test_disconnect_during_emission_is_safe() -> None:
    sig: Signal[Moved] = Signal()
    seen: list[str] = []

    def first(_: Moved) -> None:
        seen.append("first")
        sig.disconnect(second)

    def second(_: Moved) -> None:
        seen.append("second")

    sig.connect(first)
    sig.connect(second)
    sig.emit(Moved(1.0))  # snapshot: second still called this time
    sig.emit(Moved(2.0))
    assert seen == ["first", "second", "first"]
