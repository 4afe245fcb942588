"""``interval forecast CSV``: both table layouts, the horizon, JSON and CSV output, and bad
tables refused with a sentence and exit code 2 (stand-in analyzer of the host tests)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from interval.cli.main import main
from tests.conftest import SHARED_DATA
from tests.longitudinal._forecast_plugin import (
    ANALYZER,
    expected_linear,
    write_fake_forecast_plugin,
)

SHARED_CSV = SHARED_DATA / "tumor_growth" / "lesion_measurements.csv"


@pytest.fixture()
def plugin(tmp_path):
    return ["--plugins-dir", str(write_fake_forecast_plugin(tmp_path / "plugin"))]


def _slice(tmp_path: Path, n_lines: int = 40) -> Path:
    if not SHARED_CSV.is_file():
        pytest.fail(f"shared test data missing: {SHARED_CSV}")
    lines = SHARED_CSV.read_text(encoding="utf-8").splitlines()[:n_lines]
    path = tmp_path / "slice.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _histories(path: Path) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["Pt_hashID"], []).append(
                (float(row["T_days"]), float(row["Lesion_diam"])))
    return {k: sorted(v) for k, v in out.items()}


def test_shared_format_json(tmp_path, plugin, capsys):
    path = _slice(tmp_path)
    code = main([*plugin, "forecast", str(path), "--json", "--horizon", "60",
                 "--analyzer", ANALYZER])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["layout"] == "shared" and data["model_estimate"] is True
    assert "horizon_days', 60.0" in data["summary"]
    hist = _histories(path)
    nets = {f["lesion_id"]: f for f in data["forecasts"] if f["default"]}
    assert set(nets) == set(hist)
    for lid, pts in hist.items():
        days, diams = [p[0] for p in pts], [p[1] for p in pts]
        f = nets[lid]
        assert f["last_day"] == days[-1] and f["target_day"] == days[-1] + 60
        assert f["median_mm"] == pytest.approx(expected_linear(days, diams, days[-1] + 60))


def test_table_and_csv_output(tmp_path, plugin, capsys):
    path = _slice(tmp_path, 25)
    out_csv = tmp_path / "out.csv"
    code = main([*plugin, "forecast", str(path), "-o", str(out_csv), "--analyzer", ANALYZER])
    text = capsys.readouterr().out
    assert code == 0
    hist = _histories(path)
    for lid in hist:
        assert lid in text
    assert "Recurrent network (GRU) *" in text and "model estimates" in text
    assert "Not validated for paediatric" in text
    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["lesion_id"] for r in rows} == set(hist)
    assert all(r["model_estimate"] == "yes" for r in rows)
    # default horizon: each lesion's own median interval
    for r in rows:
        days = sorted(d for d, _ in hist[r["lesion_id"]])
        gaps = sorted(b - a for a, b in zip(days, days[1:], strict=False))
        median = (gaps[(len(gaps) - 1) // 2] + gaps[len(gaps) // 2]) / 2
        assert float(r["target_day"]) == pytest.approx(days[-1] + median)


def test_lesions_csv_layout(tmp_path, plugin, capsys):
    path = tmp_path / "lesions.csv"
    path.write_text(
        "lesion_id,name,organ,lymph_node,role,timepoint,days,status,volume_ml,"
        "recist_diameter_mm\n"
        "L1,L1 liver,liver,no,target,0,0,present,2.0,10\n"
        "L1,L1 liver,liver,no,target,1,50,present,3.0,12\n"
        "L1,L1 liver,liver,no,target,2,100,present,4.0,16\n"
        "L2,L2,lymph node,yes,excluded,0,0,present,1.0,9\n"
        "L3,L3 lung,lung,no,new,0,0,absent,,\n"
        "L3,L3 lung,lung,no,new,1,50,new,0.5,6\n", encoding="utf-8")
    code = main([*plugin, "forecast", str(path), "--json", "--horizon", "10",
                 "--analyzer", ANALYZER])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["layout"] == "lesions.csv"
    nets = {f["lesion_id"]: f for f in data["forecasts"] if f["default"]}
    assert set(nets) == {"L1", "L3"}  # the excluded lesion is left out
    assert nets["L1"]["median_mm"] == pytest.approx(16 + (16 - 12) / 50 * 10)
    assert nets["L3"]["status"] == "refused"  # one measured visit


@pytest.mark.parametrize(("content", "words"), [
    (b"", "empty"),
    (b"a,b,c\n1,2,3\n", "matches no known layout"),
    (b"Pt_hashID,T_days,Lesion_diam\nP1,zero,10\n", "line 2: the day 'zero' is not a number"),
    (b"Pt_hashID,T_days,Lesion_diam\nP1,0,10\nP1,5,-3\n", "line 3: the diameter '-3' is negative"),
    (b"Pt_hashID,T_days,Lesion_diam\nP1,0,nan\n", "not a usable number"),
    (b"Pt_hashID,T_days,Lesion_diam\nP1,0,\n", "no measurement"),
    (b"Pt_hashID,T_days,Lesion_diam\n,0,4\n", "line 2: the lesion id is empty"),
    (b"Pt_hashID,T_days,Lesion_diam\nP\xe91,0,4\n", "not UTF-8"),
    (b"Pt_hashID,T_days,Lesion_diam\nP1,0,4\x00\n", "NUL"),
])
def test_bad_tables_exit_2_with_a_sentence(tmp_path, plugin, capsys, content, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code = main([*plugin, "forecast", str(path), "--analyzer", ANALYZER])
    err = capsys.readouterr().err
    assert code == 2
    assert words in err and "Traceback" not in err and err.startswith("interval: error: ")


def test_missing_file_and_bad_horizon(tmp_path, plugin, capsys):
    assert main([*plugin, "forecast", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    path = _slice(tmp_path, 5)
    for bad in ("-5", "0", "abc", "1e9"):
        assert main(["forecast", str(path), "--horizon", bad]) == 2
        assert "--horizon" in capsys.readouterr().err


def test_no_forecasting_plugin_is_exit_1(tmp_path, capsys):
    path = _slice(tmp_path, 5)
    code = main(["forecast", str(path), "--analyzer", "org.nobody:growth-forecast"])
    err = capsys.readouterr().err
    assert code == 1 and "no growth forecast" in err and "interval plugins" in err


def test_writing_over_the_input_is_refused(tmp_path, plugin, capsys):
    path = _slice(tmp_path, 10)
    before = path.read_bytes()
    assert main([*plugin, "forecast", str(path), "-o", str(path), "--analyzer", ANALYZER]) == 1
    assert "the output file is the input table" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_the_bundled_growth_forecast_plugin_end_to_end(tmp_path, capsys):
    """The real plugin (plugins/growth_forecast) on a slice of the shared trial data."""
    path = _slice(tmp_path, 60)
    code = main(["forecast", str(path), "--json", "--horizon", "56"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    assert "org.interval.growth-forecast" in data["analyzer"]
    assert "paediatric" in data["summary"] and "not validated" in data["summary"].lower()
    hist = _histories(path)
    by_lesion: dict[str, list[dict]] = {}
    for f in data["forecasts"]:
        by_lesion.setdefault(f["lesion_id"], []).append(f)
    assert set(by_lesion) == set(hist)
    for lid, rows in by_lesion.items():
        assert [r["default"] for r in rows].count(True) == 1
        net = next(r for r in rows if r["default"])
        assert net["kind"] == "network" and rows[0] is net
        assert "carry_forward" in {r["method"] for r in rows}
        assert net["target_day"] == max(d for d, _ in hist[lid]) + 56
        if net["status"] != "refused":
            assert net["lower_mm"] <= net["median_mm"] <= net["upper_mm"]


def test_track_and_demo_take_horizon_and_no_forecast():
    import argparse

    from interval.cli.demo import options_from_args
    from interval.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["demo", "--horizon", "42", "--no-forecast"])
    options = options_from_args(args)
    assert options["forecast"] is False and options["horizon_days"] == 42.0
    assert "forecast" not in options_from_args(argparse.Namespace())
    args = parser.parse_args(["track", "a", "-o", "out", "--horizon", "30"])
    assert args.horizon == 30.0 and args.no_forecast is False
