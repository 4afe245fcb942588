"""Longitudinal analyzers run in a model process: results come back as checked plain data,
and a crashing, exiting, hanging or lying analyzer becomes a refusal, never a crash here."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from interval.core.errors import Cancelled
from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.longitudinal.analyzer_process import run_analyzer_in_child
from interval.plugins.analyzer_runner import AnalyzerRefused
from interval.plugins.api import (
    LesionObservation,
    LongitudinalAnalyzerEntry,
    Timepoint,
)

GOOD = '''
from interval.plugins.api import LongitudinalResult

class Analyzer:
    def analyze(self, timepoints, *, progress=None, cancel=None, options=None):
        rows = []
        for tp in timepoints:
            for obs in tp.lesions:
                rows.append({"lesion": obs.lesion_id, "day": tp.day, "d": obs.diameter_mm})
        shapes = [None if tp.labels is None else list(tp.labels.array.shape) for tp in timepoints]
        names = [None if tp.labels is None else tp.labels.labels.get(1).name for tp in timepoints]
        label_maps = [None if tp.labels is None else tp.labels.with_array(tp.labels.array * 2)
                      for tp in timepoints]
        return LongitudinalResult(summary=f"options={options} shapes={shapes} names={names}",
                                  table=rows, label_maps=label_maps, warnings=["careful"])
'''

HOSTILE = {
    "exits": "import sys\nclass Analyzer:\n    def analyze(self, t, **k):\n        sys.exit(3)\n",
    "crashes": ("import os, signal\nclass Analyzer:\n    def analyze(self, t, **k):\n"
                "        os.kill(os.getpid(), signal.SIGSEGV)\n"),
    "hangs": "import time\nclass Analyzer:\n    def analyze(self, t, **k):\n        time.sleep(60)\n",
    "lies": ("class Analyzer:\n    def analyze(self, t, **k):\n"
             "        from interval.plugins.api import LongitudinalResult\n"
             "        return LongitudinalResult(table=[{'x': float('nan')}])\n"),
    "wrong_type": "class Analyzer:\n    def analyze(self, t, **k):\n        return {'table': []}\n",
    "import_exits": "import sys\nsys.exit(0)\nclass Analyzer:\n    pass\n",
}


def _entry(tmp_path: Path, source: str, name: str = "good") -> LongitudinalAnalyzerEntry:
    code = tmp_path / f"code_{name}"
    code.mkdir()
    module = f"iv_test_analyzer_{name}"
    (code / f"{module}.py").write_text(textwrap.dedent(source))
    return LongitudinalAnalyzerEntry("org.test.plugin", name, name.title(),
                                     f"{module}:Analyzer", code_path=code)


def _timepoints(with_images: bool) -> list[Timepoint]:
    tps = []
    for i, day in enumerate((0.0, 60.0)):
        labels = None
        if with_images:
            arr = np.zeros((4, 5, 6), np.uint8)
            arr[1:3, 1:3, 1:3] = 1
            labels = Volume(arr, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3),
                            labels=LabelTable.from_names({1: "lesion"}))
        tps.append(Timepoint(dt.date(2024, 1, 1) + dt.timedelta(days=int(day)), volume=None,
                             labels=labels, label=f"tp{i}", day=day,
                             lesions=(LesionObservation("L1", 10.0 + i, organ="liver"),)))
    return tps


def test_result_comes_back_checked_with_label_maps(tmp_path):
    entry = _entry(tmp_path, GOOD)
    result = run_analyzer_in_child(entry, _timepoints(True), options={"horizon_days": 30})
    assert result.table == [{"lesion": "L1", "day": 0.0, "d": 10.0},
                            {"lesion": "L1", "day": 60.0, "d": 11.0}]
    assert "options={'horizon_days': 30}" in result.summary
    assert "shapes=[[4, 5, 6], [4, 5, 6]]" in result.summary
    assert "names=['lesion', 'lesion']" in result.summary
    assert result.warnings == ["careful"]
    assert len(result.label_maps) == 2
    assert int(result.label_maps[0].array.max()) == 2
    assert result.label_maps[0].labels.get(1).name == "lesion"
    assert "iv_test_analyzer_good" not in sys.modules  # the plugin never ran in here


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_analyzers_become_refusals(tmp_path, kind):
    entry = _entry(tmp_path, HOSTILE[kind], kind)
    with pytest.raises(AnalyzerRefused) as info:
        run_analyzer_in_child(entry, _timepoints(False), timeout=8 if kind == "hangs" else 120)
    text = str(info.value)
    assert "org.test.plugin" in text
    expected = {"exits": "systemexit: 3", "crashes": "crash", "hangs": "did not finish",
                "lies": "not finite", "wrong_type": "longitudinalresult",
                "import_exits": "could not be loaded: systemexit"}[kind]
    assert expected in text.lower()
    assert text.count("org.test.plugin") == 1 or kind == "import_exits"
    assert f"iv_test_analyzer_{kind}" not in sys.modules


def test_cancel_stops_the_analyzer(tmp_path):
    entry = _entry(tmp_path, HOSTILE["hangs"], "hangs_cancel")
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run_analyzer_in_child(entry, _timepoints(False), cancel=cancel, timeout=60)
