"""Running a plugin's longitudinal analyzer: options only for analyzers that declare them,
and every failure or malformed result of a (possibly hostile) analyzer turned into a
refusal with a sentence, never an exception of another kind."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from interval.core.errors import Cancelled
from interval.plugins.analyzer_runner import (
    MAX_DEPTH,
    MAX_ROWS,
    AnalyzerRefused,
    accepts_options,
    run_analyzer,
)
from interval.plugins.api import (
    API_VERSION,
    LesionObservation,
    LongitudinalAnalyzer,
    LongitudinalResult,
    Timepoint,
)
from interval.plugins.manifest import api_compatible

TPS = (
    Timepoint(dt.date(2024, 1, 1), None, lesions=(LesionObservation("L1", 10.0),), day=-3.0),
    Timepoint(dt.date(2024, 3, 1), None, lesions=(LesionObservation("L1", 12.5),)),
)


class Old:
    """A plugin API 1.0 analyzer: no ``options`` parameter."""

    def __init__(self):
        self.calls = []

    def analyze(self, timepoints, *, progress=None, cancel=None):
        self.calls.append(len(timepoints))
        return LongitudinalResult(summary="old", table=[{"n": len(timepoints)}])


class New:
    def __init__(self):
        self.options = "not called"

    def analyze(self, timepoints, *, progress=None, cancel=None, options=None):
        self.options = options
        return LongitudinalResult(summary="new")


class Kwargs:
    def analyze(self, timepoints, **kwargs):
        return LongitudinalResult(summary=repr(sorted(kwargs.get("options", {}).items())))


class Returns:
    def __init__(self, value):
        self.value = value

    def analyze(self, timepoints, *, progress=None, cancel=None):
        return self.value


class Raises:
    def __init__(self, exc):
        self.exc = exc

    def analyze(self, timepoints, *, progress=None, cancel=None, options=None):
        raise self.exc


def test_api_is_1_1_and_1_0_manifests_still_load():
    assert API_VERSION == "1.1"
    assert api_compatible(">=1.0,<2") and api_compatible(">=1.1,<2")
    assert not api_compatible(">=1.2,<2")
    tp = TPS[0]
    assert tp.volume is None and tp.lesions[0].diameter_mm == 10.0 and tp.day == -3.0
    assert Timepoint(dt.date(2024, 1, 1), None).lesions == () and TPS[1].day is None
    assert isinstance(New(), LongitudinalAnalyzer) and isinstance(Old(), LongitudinalAnalyzer)


def test_options_reach_only_analyzers_that_declare_them():
    old = Old()
    result = run_analyzer(old, TPS, options={"horizon_days": 30.0})
    assert old.calls == [2] and result.summary == "old" and result.table == [{"n": 2}]
    new = New()
    given = {"horizon_days": 30.0}
    run_analyzer(new, TPS, options=given)
    assert new.options == given and new.options is not given  # a copy
    assert run_analyzer(Kwargs(), TPS, options={"target_day": 9.0}).summary == \
        "[('target_day', 9.0)]"
    assert accepts_options(New()) and accepts_options(Kwargs()) and not accepts_options(Old())
    assert not accepts_options(object())


@pytest.mark.parametrize("exc", [RuntimeError("boom"), SystemExit(3), ZeroDivisionError(),
                                 MemoryError(), RecursionError("deep")])
def test_an_exception_becomes_a_refusal(exc):
    with pytest.raises(AnalyzerRefused) as info:
        run_analyzer(Raises(exc), TPS, name="the analyzer x:y")
    text = str(info.value)
    assert text.startswith("the analyzer x:y failed: " + type(exc).__name__)


def test_a_hostile_exception_message_cannot_break_the_refusal():
    class Evil(Exception):
        def __str__(self):
            raise ValueError("no text for you")

    with pytest.raises(AnalyzerRefused, match="failed: Evil$"):
        run_analyzer(Raises(Evil()), TPS)



def test_an_analyzer_needing_missing_torch_says_so_in_a_sentence():
    """The viewer-only edition has no torch: the refusal says so, not "ModuleNotFoundError"."""
    missing = ModuleNotFoundError("No module named 'torch'", name="torch")
    with pytest.raises(AnalyzerRefused) as info:
        run_analyzer(Raises(missing), TPS, name="growth forecast")
    assert str(info.value) == ("growth forecast needs PyTorch, and this edition of Interval has "
                               "no model runtime (it can open results made elsewhere)")
    other = ModuleNotFoundError("No module named 'lifelines'", name="lifelines")
    with pytest.raises(AnalyzerRefused, match="failed: ModuleNotFoundError"):
        run_analyzer(Raises(other), TPS, name="x")

def test_cancel_passes_through():
    with pytest.raises(Cancelled):
        run_analyzer(Raises(Cancelled()), TPS)


def test_no_analyze_method_is_refused():
    with pytest.raises(AnalyzerRefused, match="has no analyze"):
        run_analyzer(object(), TPS)


class Weird:
    pass


class SneakyStr(str):
    def upper(self):  # pragma: no cover - never called by Interval
        raise RuntimeError("plugin code")


@pytest.mark.parametrize(("value", "words"), [
    (None, "returned None instead of a LongitudinalResult"),
    ({"summary": "x"}, "returned a dict instead"),
    (LongitudinalResult(summary=3), "its summary is a int, not text"),
    (LongitudinalResult(warnings="a"), "warnings are a str, not a list"),
    (LongitudinalResult(warnings=["ok", 5]), "warning 2 is a int"),
    (LongitudinalResult(table={"a": 1}), "table is a dict, not a list"),
    (LongitudinalResult(table=["row"]), "table row 1 is a str, not a dict"),
    (LongitudinalResult(table=[{"a": math.nan}]), "not finite"),
    (LongitudinalResult(table=[{"a": [1.0, math.inf]}]), "not finite"),
    (LongitudinalResult(table=[{1: "x"}]), "a key that is a int"),
    (LongitudinalResult(table=[{"a": Weird()}]), "a Weird, which is not a plain JSON value"),
    (LongitudinalResult(table=[{"a": {1, 2}}]), "a set"),
    (LongitudinalResult(table=[{"a": 10**30}]), "integer too large"),
    (LongitudinalResult(table=[{"a": "x" * 5000}]), "longer than"),
    (LongitudinalResult(table=[{f"k{i}": i for i in range(100)}]), "more than 64 keys"),
    (LongitudinalResult(table=[{}] * (MAX_ROWS + 1)), f"more than {MAX_ROWS} rows"),
    (LongitudinalResult(summary="s" * 30_000), "summary is longer"),
    (LongitudinalResult(label_maps=["not a volume"]), "label map 1 is a str"),
    (LongitudinalResult(label_maps=[None, None, None]), "3 label maps for 2 timepoint"),
])
def test_malformed_results_are_refused(value, words):
    with pytest.raises(AnalyzerRefused) as info:
        run_analyzer(Returns(value), TPS, name="the analyzer a:b")
    assert str(info.value).startswith("the analyzer a:b ")
    assert words in str(info.value)


def test_nesting_is_limited():
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(AnalyzerRefused, match="nested deeper"):
        run_analyzer(Returns(LongitudinalResult(table=[{"a": deep}])), TPS)


def test_the_result_is_a_plain_copy():
    row = {"lesion": SneakyStr("L1"), "q": {"0.1": 1.0}, "v": [1, True, None, 2.5],
           "t": (1, 2)}
    original = LongitudinalResult(summary=SneakyStr("ok"), table=[row],
                                  warnings=[SneakyStr("w")])
    result = run_analyzer(Returns(original), TPS)
    assert result is not original
    assert result.table == [{"lesion": "L1", "q": {"0.1": 1.0}, "v": [1, True, None, 2.5],
                             "t": [1, 2]}]
    assert type(result.table[0]["lesion"]) is str and type(result.summary) is str
    assert type(result.warnings[0]) is str
    row["q"]["0.1"] = 99.0  # the plugin changes its own objects afterwards
    row["lesion"] = "L2"
    assert result.table[0]["q"]["0.1"] == 1.0 and result.table[0]["lesion"] == "L1"
