"""``interval segment``: a tiny model on a small synthetic CT series, outputs checked voxel by voxel."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest
from safetensors.torch import save_file

from interval.cli import main as cli_main
from interval.cli import segment as segment_cli
from interval.io.dicom.load import load_dicom
from interval.io.image_files import read_image
from interval.io.segmentation import load_segmentation, place_on_grid
from interval.io.synthetic.dicom_writer import SeriesTags, make_uid, write_ct_series
from interval.io.synthetic.grid import Grid
from tests.cli._segment_net import band_weights

LABELS = [{"value": 1, "name": "soft", "color": [200, 120, 60]},
          {"value": 2, "name": "bone", "color": [240, 230, 200]}]


def _model_json(name: str, entry: str, **over) -> dict:
    data = {
        "format": 1, "name": name, "version": "2.1.0", "task": "segmentation",
        "description": "test bands", "modality": ["CT"], "labels": LABELS,
        "target_spacing": None, "orientation": None, "patch_size": [4, 16, 16],
        "normalization": {"scheme": "none"},
        "network": {"type": "plugin", "entry": entry, "params": {},
                    "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": 3},
        "inference": {"overlap": 0.25, "batch_size": 2, "mirror_tta": False,
                      "blend": "gaussian"},
    }
    data.update(over)
    return data


NET_SOURCE = Path(__file__).with_name("_segment_net.py")


def _write_package(folder: Path, name: str, entry: str, **over) -> Path:
    """A model package: model.json naming ``entry`` and the band weights."""
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps(_model_json(name, entry, **over)))
    save_file(band_weights(), str(folder / "weights.safetensors"))
    return folder


def _write_model(plugin: Path, name: str = "bands", builder: str = "build_bands",
                 **over) -> Path:
    """A plugin folder ``plugin`` declaring one model package ``models/<name>`` whose
    network is ``builder`` of the plugin's own copy of _segment_net.py (a model.json may
    only name code its plugin brings); returns the package folder.

    The module name is unique, so that a network imported by ``--in-process`` never
    stands for another test's.  Run it with ``*_plugins(model)`` (``--plugins-dir``).
    """
    module = f"segment_net_{uuid.uuid4().hex[:12]}"
    model = _write_package(plugin / "models" / name, name, f"{module}:{builder}", **over)
    shutil.copyfile(NET_SOURCE, plugin / f"{module}.py")
    _write_manifest(plugin, f"org.test.{name}", f"models/{name}")
    return model


def _write_manifest(plugin: Path, plugin_id: str, *models: str, **over) -> None:
    (plugin / "interval-plugin.json").write_text(json.dumps({
        "id": plugin_id, "name": f"Plugin {plugin_id}", "version": "1.0.0",
        "interval_api": ">=1.0,<2", "contributes": {"segmentation_models": list(models)},
        **over,
    }))


def _plugins(model: Path) -> list[str]:
    """``--plugins-dir`` for the plugin holding ``model`` (written by _write_model)."""
    return ["--plugins-dir", str(model.parents[1])]


def _marker_module(marker: Path) -> str:
    """A network module that leaves ``marker`` (+ ".import") when imported / built."""
    return (f"open({str(marker) + '.import'!r}, 'w').close()\n"
            "from torch import nn\n\n"
            "def build(**params):\n"
            f"    open({str(marker)!r}, 'w').close()\n"
            "    return nn.Conv3d(1, 3, kernel_size=1)\n")


@pytest.fixture(scope="module")
def ct(tmp_path_factory):
    """A 6 x 20 x 24 CT series whose HU fall in the three bands; its expected labels."""
    folder = tmp_path_factory.mktemp("ct") / "dicom"
    grid = Grid.centred((6, 20, 24), (0.9, 0.8, 2.0), (0.0, 10.0, -30.0))
    rng = np.random.default_rng(3)
    hu = rng.choice(np.array([-500, 0, 50, 150, 300, 450, 700, 1200], np.int16), grid.shape)
    tags = SeriesTags(
        patient_name="SEG^CLI", patient_id="C1", patient_birth_date=date(1980, 2, 3),
        patient_sex="F", study_instance_uid=make_uid("cli", "st"), study_date=date(2025, 1, 2),
        study_time="090000", study_id="1", study_description="cli", accession_number="X",
        series_instance_uid=make_uid("cli", "se"), series_number=4, series_description="ax",
        frame_of_reference_uid=make_uid("cli", "for"),
    )
    files = write_ct_series(hu, grid, folder, tags)
    expected = np.select([hu > 500, hu > 100], [2, 1], 0).astype(np.uint8)
    return folder, files, expected


def _main(argv: list[str]) -> int:
    """cli.main.main with `segment` registered (the hook in main.py may not list it yet)."""
    original = cli_main.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "segment" not in sub.choices:
            segment_cli.add_parser(sub, [cli_main._common_options()])
        return parser

    cli_main.build_parser = build
    try:
        return cli_main.main(argv)
    finally:
        cli_main.build_parser = original


def test_segment_writes_nifti_labels_json_and_dicom_seg(ct, tmp_path, capsys):
    folder, files, expected = ct
    model = _write_model(tmp_path / "bands")
    out, seg = tmp_path / "out" / "seg.nii.gz", tmp_path / "out" / "seg.dcm"
    out.parent.mkdir()
    code = _main(["segment", str(folder), "--model", str(model), "-o", str(out),
                  "--dicom-seg", str(seg), "--device", "cpu", *_plugins(model)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.parent.iterdir()) == ["seg.dcm", "seg.labels.json",
                                                            "seg.nii.gz"]
    source = load_dicom(folder)
    nifti = read_image(out, as_labels=True)
    assert nifti.same_grid(source)
    np.testing.assert_array_equal(nifti.array, expected)
    names = json.loads((out.parent / "seg.labels.json").read_text())
    assert [(d["value"], d["name"]) for d in names["labels"]] == [(1, "soft"), (2, "bone")]

    dicom_seg = load_segmentation(seg)
    np.testing.assert_array_equal(place_on_grid(dicom_seg, source).array, expected)
    assert [i.name for i in dicom_seg.labels] == ["soft", "bone"]
    ds = pydicom.dcmread(seg, stop_before_pixels=True)
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == source.metadata.series_instance_uid
    algo = ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algo.AlgorithmName, algo.AlgorithmVersion) == ("bands", "2.1.0")

    text = captured.out
    assert "Model bands 2.1.0 from org.test.bands" in text and "on cpu" in text
    n_bone = int((expected == 2).sum())
    assert "bone" in text and f" {n_bone} voxels" in text
    for stage in ("read", "network", "stitch", "resample back", "model process", "write",
                  "total"):
        assert f"  {stage} " in text, stage
    assert "Traceback" not in captured.err


def test_in_process_and_nifti_input_give_the_same_labels(ct, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the plugin's folder is appended
    folder, _files, expected = ct
    model = _write_model(tmp_path / "bands")
    volume_file = tmp_path / "ct.nii.gz"
    assert _main(["convert", str(folder), "-o", str(volume_file)]) == 0
    out = tmp_path / "labels.nrrd"
    code = _main(["segment", str(volume_file), "--model", str(model), "-o", str(out),
                  "--in-process", "--overlap", "0.5", "--no-tta", *_plugins(model)])
    assert code == 0, capsys.readouterr().err
    np.testing.assert_array_equal(read_image(out, as_labels=True).array, expected)


def test_model_found_by_name_in_a_plugin_folder(ct, tmp_path, capsys):
    folder, _files, expected = ct
    plugin = tmp_path / "plugins" / "bands_plugin"
    code_dir = plugin / "bands_code"
    code_dir.mkdir(parents=True)
    (code_dir / "__init__.py").write_text("")
    (code_dir / "net.py").write_text(
        "from torch import nn\n\n"
        "def build(**params):\n"
        "    return nn.Conv3d(1, 3, kernel_size=1)\n"
    )
    _write_package(plugin / "models" / "bands", "plugin-bands", "bands_code.net:build")
    weights = {k.replace("conv.", ""): v for k, v in band_weights().items()}  # a bare Conv3d
    save_file(weights, str(plugin / "models" / "bands" / "weights.safetensors"))
    (plugin / "interval-plugin.json").write_text(json.dumps({
        "id": "org.test.bands", "name": "Bands", "version": "1.0.0",
        "interval_api": ">=1.0,<2", "contributes": {"segmentation_models": ["models/bands"]},
        "python": {"path": ".", "module": "bands_code"},
    }))
    out = tmp_path / "seg.nii"
    code = _main(["segment", str(folder), "--model", "plugin-bands", "-o", str(out),
                  "--plugins-dir", str(tmp_path / "plugins")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "from org.test.bands" in captured.out
    np.testing.assert_array_equal(read_image(out, as_labels=True).array, expected)


@pytest.mark.parametrize(("entry", "params"), [("evil_net:build", {}),
                                               ("os:system", {"command": "touch {marker}"})])
def test_a_bare_package_naming_code_is_refused_before_anything_runs(ct, tmp_path, capsys,
                                                                    entry, params):
    """A model package on its own is data: its model.json may not name Python code, not
    even a module in its own folder, let alone ``os:system`` (issue 9, item 1)."""
    folder, _files, _expected = ct
    marker = tmp_path / "ran"
    params = {k: v.format(marker=marker) for k, v in params.items()}
    package = _write_package(tmp_path / "bare", "bare", entry)
    spec = json.loads((package / "model.json").read_text())
    spec["network"]["params"] = params
    (package / "model.json").write_text(json.dumps(spec))
    (package / "evil_net.py").write_text(_marker_module(marker))
    out = tmp_path / "seg.nii.gz"
    assert _main(["segment", str(folder), "--model", str(package), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"the model package {package.resolve()} names Python code" in err
    assert "but is not part of a plugin" in err and "Traceback" not in err
    assert not marker.exists() and not Path(f"{marker}.import").exists()
    assert not out.exists() and not (tmp_path / "seg.labels.json").exists()


def test_a_package_of_a_plugin_runs_its_code_only_when_the_plugin_is_loaded(
        ct, tmp_path, capsys, monkeypatch):
    folder, _files, expected = ct
    plugins = tmp_path / "plugins"
    model = _write_model(plugins / "bands_plugin")
    marker = tmp_path / "imported"
    module = next((plugins / "bands_plugin").glob("segment_net_*.py"))
    module.write_text(module.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    out = tmp_path / "seg.nii.gz"
    argv = ["segment", str(folder), "--model", str(model), "-o", str(out)]
    # the plugin is not among the plugins found: its code does not run
    assert _main(argv) == 1
    err = capsys.readouterr().err
    assert f"the plugin folder {plugins / 'bands_plugin'} is not among the plugins" in err
    assert f"pass --plugins-dir {plugins / 'bands_plugin'}" in err
    assert not marker.exists() and not out.exists()
    # found by discovery (here INTERVAL_PLUGIN_PATH; --plugins-dir in the tests above)
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(plugins))
    assert _main(argv) == 0, capsys.readouterr().err
    assert "Model bands 2.1.0 from org.test.bands" in capsys.readouterr().out
    assert marker.exists()  # imported in the model's process, from the plugin's folder
    np.testing.assert_array_equal(read_image(out, as_labels=True).array, expected)


def test_a_package_of_a_refused_plugin_or_not_declared_is_refused(ct, tmp_path, capsys):
    folder, _files, _expected = ct
    refused = _write_model(tmp_path / "refused_plugin", name="refused")
    _write_manifest(tmp_path / "refused_plugin", "org.test.refused", "models/refused",
                    interval_api=">=7")
    out = tmp_path / "seg.nii.gz"
    assert _main(["segment", str(folder), "--model", str(refused), "-o", str(out),
                  *_plugins(refused)]) == 1
    err = capsys.readouterr().err
    assert f"the plugin in {tmp_path / 'refused_plugin'} was refused: " in err
    assert "requires Interval API >=7" in err
    undeclared = _write_model(tmp_path / "quiet_plugin", name="quiet")
    _write_manifest(tmp_path / "quiet_plugin", "org.test.quiet")  # declares no model
    assert _main(["segment", str(folder), "--model", str(undeclared), "-o", str(out),
                  *_plugins(undeclared)]) == 1
    err = capsys.readouterr().err
    assert "the plugin org.test.quiet" in err and "does not declare this folder" in err
    assert not out.exists()


def test_find_model_gives_code_only_to_a_loaded_plugins_package(tmp_path):
    """What runs where, without running it: the code folder a model gets."""
    def find(path: Path, *plugins_dir: Path) -> segment_cli._Model:
        return segment_cli.find_model(argparse.Namespace(
            model=str(path), plugins_dir=[str(d) for d in plugins_dir]))

    loaded = _write_model(tmp_path / "loaded")
    model = find(loaded, tmp_path / "loaded")
    assert (model.plugin_id, model.code_path) == ("org.test.bands", (tmp_path / "loaded"))
    assert model.spec.code_path == tmp_path / "loaded"
    by_name = segment_cli.find_model(argparse.Namespace(
        model="org.test.bands:bands", plugins_dir=[str(tmp_path / "loaded")]))
    assert by_name.spec.code_path == by_name.code_path == tmp_path / "loaded"
    # a TorchScript package needs no code: it runs on its own, in or out of a plugin
    (tmp_path / "unloaded").mkdir()
    _write_manifest(tmp_path / "unloaded", "org.test.unloaded", "models/ts")
    for where in (tmp_path / "alone", tmp_path / "unloaded" / "models" / "ts"):
        package = _write_package(where, "ts", "unused:build",
                                 network={"type": "torchscript", "file": "model.pt"})
        (package / "model.pt").write_bytes(b"checked when the model loads")
        model = find(package)
        assert (model.plugin_id, model.code_path, model.spec.code_path) == ("", None, None)


def test_crashing_model_is_a_clear_error(ct, tmp_path, capsys):
    folder, _files, _expected = ct
    model = _write_model(tmp_path / "crash", name="crash", builder="build_crash")
    save_file({}, str(model / "weights.safetensors"))  # the crashing network has no weights
    out = tmp_path / "seg.nii.gz"
    code = _main(["segment", str(folder), "--model", str(model), "-o", str(out),
                  *_plugins(model)])
    err = capsys.readouterr().err
    assert code == 1
    assert "stopped unexpectedly (signal 11, segmentation fault)" in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "seg.labels.json").exists()


def test_refusals_before_any_work(ct, tmp_path, capsys):
    folder, files, _expected = ct
    model = _write_model(tmp_path / "bands")
    # never over an input file
    assert _main(["segment", str(folder), "--model", str(model), "-o", str(files[0]),
                  "--dicom-seg", str(tmp_path / "x.dcm")]) == 1
    err = capsys.readouterr().err
    assert "cannot tell the output format" in err
    victim = tmp_path / "in.nii.gz"
    victim.write_bytes(b"not really")
    assert _main(["segment", str(victim), "--model", str(model), "-o", str(victim)]) == 1
    assert "input file" in capsys.readouterr().err
    assert victim.read_bytes() == b"not really"
    # unknown model name, bad device, model expecting another modality
    assert _main(["segment", str(folder), "--model", "no-such-model", "-o",
                  str(tmp_path / "a.nii.gz")]) == 1
    assert "no segmentation model called 'no-such-model'" in capsys.readouterr().err
    assert _main(["segment", str(folder), "--model", str(model), "-o",
                  str(tmp_path / "a.nii.gz"), "--device", "gpu7"]) == 1
    assert "unknown device" in capsys.readouterr().err
    mr = _write_model(tmp_path / "mr", name="mr-only", modality=["MR"])
    assert _main(["segment", str(folder), "--model", str(mr), "-o",
                  str(tmp_path / "a.nii.gz"), *_plugins(mr)]) == 1
    assert "made for MR images; this series is CT" in capsys.readouterr().err
    assert not (tmp_path / "a.nii.gz").exists()
    # an existing output needs --force; a DICOM SEG needs DICOM input
    (tmp_path / "old.nii.gz").write_bytes(b"keep")
    assert _main(["segment", str(folder), "--model", str(model), "-o",
                  str(tmp_path / "old.nii.gz")]) == 1
    assert "already exists; add --force" in capsys.readouterr().err
    assert (tmp_path / "old.nii.gz").read_bytes() == b"keep"
    assert _main(["segment", str(victim), "--model", str(model), "-o",
                  str(tmp_path / "b.nii.gz"), "--dicom-seg", str(tmp_path / "b.dcm")]) == 1
    assert "--dicom-seg needs DICOM input" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_ctrl_c_cancels_and_stops_the_model(ct, tmp_path):
    import os
    import signal
    import subprocess
    import time

    folder, _files, _expected = ct
    marker = tmp_path / "forward-started"
    model = _write_model(tmp_path / "hang", name="hang", builder="build_hang")
    spec = json.loads((model / "model.json").read_text())
    spec["network"]["params"] = {"marker": str(marker)}
    (model / "model.json").write_text(json.dumps(spec))
    save_file({}, str(model / "weights.safetensors"))
    out = tmp_path / "seg.nii.gz"
    script = ("import sys\nfrom tests.cli.test_segment import _main\n"
              f"sys.exit(_main(['segment', {str(folder)!r}, '--model', {str(model)!r}, "
              f"'-o', {str(out)!r}, '--plugins-dir', {str(model.parents[1])!r}]))\n")
    repo = Path(__file__).resolve().parents[2]
    err_file = tmp_path / "stderr.txt"
    with open(err_file, "w") as err_fh:
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=repo, stderr=err_fh,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():  # the network is running in the model's process
            assert proc.poll() is None, err_file.read_text()
            assert time.monotonic() < deadline, "the model never started"
            time.sleep(0.05)
        children = _model_processes(proc.pid)
        assert children, "the model runs in a child process"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole group
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err_file.read_text()
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    assert not out.exists()
    for pid in children:  # stopped and reaped by the command, not left behind
        assert _state(pid) in ("gone", "Z"), pid


def _model_processes(pid: int) -> list[int]:
    """Child processes of ``pid`` started by multiprocessing's spawn (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_text()
        except OSError:
            continue
        if int(fields[1]) == pid and "spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
