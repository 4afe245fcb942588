"""Standardized uptake value (SUV, body weight) of a PET image: the pure computation.

``SUVbw = activity concentration (Bq/mL) * body weight (g) / injected dose (Bq)``,
with the dose decayed from the injection to the time the image values are
decay-corrected to.  :func:`suv_factor` gives the number that turns the image's
rescaled values (Bq/mL) into SUVbw, or :class:`SuvUnavailable` with a reason in
plain words.  The rules follow the vendor-neutral QIBA/UPICT pseudo-code:

* ``Units`` must be ``BQML`` (``GML`` is already SUV: factor 1); ``CorrectedImage``
  must name ``ATTN`` and ``DECY``.
* ``DecayCorrection`` ``START``: the values are decay-corrected to the start of the
  acquisition, the *scan time*: SeriesDate/SeriesTime when it is not after the
  earliest AcquisitionDate/Time of the series, else the earliest acquisition (a
  series made again after the scan).  Per-frame (bed position) acquisition times
  of Siemens/Philips are later than the series time but the values are corrected
  to the series start, so the series time is the one used.  The GE private
  post-injection time and Siemens' per-frame back-computation are not used.
* ``DecayCorrection`` ``ADMIN``: already corrected to the injection: no decay.
* ``NONE`` (each frame at its own time) is refused.
* The injection time is RadiopharmaceuticalStartDateTime, else
  RadiopharmaceuticalStartTime on the series date (the scan date when absent).

Sanity checks: weight 1-500 kg, dose 0.1 MBq-100 GBq (a dose in MBq by mistake is
refused), half-life > 0, injection before the scan and at most 24 h before it.

No file access here; :mod:`interval.io.dicom.suv_load` reads the tags.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

MIN_WEIGHT_KG = 1.0
MAX_WEIGHT_KG = 500.0
MIN_DOSE_BQ = 1e5  # 0.1 MBq
MAX_DOSE_BQ = 1e11  # 100 GBq
MAX_UPTAKE = timedelta(hours=24)

SUV_TAGS = (
    "Modality",
    "Units",
    "CorrectedImage",
    "DecayCorrection",
    "PatientWeight",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "RadiopharmaceuticalInformationSequence",
)
"""The attributes :func:`suv_factor` reads (for ``dcmread(specific_tags=...)``)."""


@dataclass(frozen=True)
class SuvUnavailable:
    """Why no SUV can be computed: ``reason`` is a plain-language sentence."""

    reason: str


def decayed_dose(dose_bq: float, half_life_s: float, elapsed_s: float) -> float:
    """The activity left of ``dose_bq`` after ``elapsed_s`` seconds: ``dose * 2^(-t/T)``."""
    return dose_bq * 2.0 ** (-elapsed_s / half_life_s)


def suv_bw_factor(weight_kg: float, dose_bq: float, half_life_s: float, elapsed_s: float) -> float:
    """Bq/mL -> SUVbw: ``weight in g / dose decayed over elapsed_s`` (1 g taken as 1 mL)."""
    return weight_kg * 1000.0 / decayed_dose(dose_bq, half_life_s, elapsed_s)


def suv_factor(
    dataset_or_header: Any, acquisition_times: Iterable[str] = ()
) -> float | SuvUnavailable:
    """The factor turning rescaled PET values (Bq/mL) into SUVbw, or why there is none.

    ``dataset_or_header``: a pydicom Dataset, or a mapping of DICOM keywords to
    values (the radiopharmaceutical sequence as a list of such mappings).
    ``acquisition_times``: more AcquisitionTime (TM, on the AcquisitionDate) or
    frame DateTime (DT) values of the series' frames, to find its earliest
    acquisition; the dataset's own AcquisitionDate/Time always count.
    """
    ds = dataset_or_header
    units = _text(ds, "Units").upper()
    if units == "GML":
        return 1.0
    if units != "BQML":
        shown = f"'{units}'" if units else "not given"
        return SuvUnavailable(
            f"SUV needs values in Bq/mL (DICOM Units BQML); this series' units are {shown}."
        )
    corrected = {c.strip().upper() for c in _values(ds, "CorrectedImage")}
    missing = [c for c in ("ATTN", "DECY") if c not in corrected]
    if missing:
        what = {"ATTN": "attenuation", "DECY": "decay"}
        return SuvUnavailable(
            "SUV needs attenuation- and decay-corrected images; this series does not say it "
            f"is corrected for {' and '.join(what[m] for m in missing)} (CorrectedImage)."
        )
    decay = _text(ds, "DecayCorrection").upper()
    if decay not in ("START", "ADMIN"):
        shown = f"'{decay}'" if decay else "not given"
        return SuvUnavailable(
            "SUV needs images decay-corrected to the scan start or to the injection; this "
            f"series' decay correction is {shown}."
        )
    weight = _number(ds, "PatientWeight")
    if weight is None or weight <= 0:
        return SuvUnavailable("SUV needs the patient's weight, which this series does not give.")
    if not MIN_WEIGHT_KG <= weight <= MAX_WEIGHT_KG:
        return SuvUnavailable(
            f"SUV not computed: the patient weight given ({weight:g} kg) is not plausible."
        )
    drug = _first_item(ds, "RadiopharmaceuticalInformationSequence")
    if drug is None:
        return SuvUnavailable(
            "SUV needs the injected dose and injection time (radiopharmaceutical information), "
            "which this series does not give."
        )
    dose = _number(drug, "RadionuclideTotalDose")
    if dose is None or dose <= 0:
        return SuvUnavailable("SUV needs the injected dose, which this series does not give.")
    if not MIN_DOSE_BQ <= dose <= MAX_DOSE_BQ:
        return SuvUnavailable(
            f"SUV not computed: the injected dose given ({dose:g} Bq) is not plausible "
            "(it should be in becquerels)."
        )
    half_life = _number(drug, "RadionuclideHalfLife")
    if half_life is None or half_life <= 0:
        return SuvUnavailable(
            "SUV needs the radionuclide half-life, which this series does not give."
        )
    scan = scan_time(ds, acquisition_times)
    if scan is None:
        return SuvUnavailable("SUV needs the scan date and time, which this series does not give.")
    injected = injection_time(ds, drug, scan.date())
    if injected is None:
        return SuvUnavailable("SUV needs the injection time, which this series does not give.")
    elapsed = scan - injected
    if elapsed < timedelta(0):
        return SuvUnavailable(
            "SUV not computed: the injection time given is after the start of the scan."
        )
    if elapsed > MAX_UPTAKE:
        return SuvUnavailable(
            "SUV not computed: the injection time given is more than 24 hours before the scan."
        )
    if decay == "ADMIN":
        return suv_bw_factor(weight, dose, half_life, 0.0)
    return suv_bw_factor(weight, dose, half_life, elapsed.total_seconds())


def scan_time(ds: Any, acquisition_times: Iterable[str] = ()) -> datetime | None:
    """The time ``START`` decay correction refers to (module docstring), or None."""
    series_day = parse_da(_text(ds, "SeriesDate"))
    acq_day = parse_da(_text(ds, "AcquisitionDate")) or series_day
    series = _on(series_day, parse_tm(_text(ds, "SeriesTime")))
    acquired = [parse_dt(_text(ds, "AcquisitionDateTime"))]
    acquired.append(_on(acq_day, parse_tm(_text(ds, "AcquisitionTime"))))
    for value in acquisition_times:
        acquired.append(_date_time(str(value), acq_day))
    known = [t for t in acquired if t is not None]
    earliest = min(known) if known else None
    if series is not None and (earliest is None or series <= earliest):
        return series
    return earliest


def injection_time(ds: Any, drug: Any, scan_day: date | None) -> datetime | None:
    """RadiopharmaceuticalStartDateTime, else the StartTime on the series (or scan) date."""
    when = parse_dt(_text(drug, "RadiopharmaceuticalStartDateTime"))
    if when is not None:
        return when
    day = parse_da(_text(ds, "SeriesDate")) or scan_day
    return _on(day, parse_tm(_text(drug, "RadiopharmaceuticalStartTime")))


# --- DICOM date / time text -------------------------------------------------------------

_TM = re.compile(r"^(\d\d)(?::?(\d\d)(?::?(\d\d)(?:\.(\d{1,6}))?)?)?$")
_DT = re.compile(r"^(\d{8})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?([+-]\d{4})?$")


def parse_da(text: str) -> date | None:
    """DICOM DA ``YYYYMMDD`` (or the old ``YYYY.MM.DD``), None when absent or invalid."""
    digits = text.strip().replace(".", "").replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def parse_tm(text: str) -> timedelta | None:
    """DICOM TM ``HH[MM[SS[.ffffff]]]`` (colons allowed) as time since midnight, or None."""
    m = _TM.match(text.strip())
    if m is None:
        return None
    h, mi, s = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 60:
        return None
    micro = int((m[4] or "0").ljust(6, "0"))
    return timedelta(hours=h, minutes=mi, seconds=s, microseconds=micro)


def parse_dt(text: str) -> datetime | None:
    """DICOM DT ``YYYYMMDDHHMMSS.ffffff`` (time optional; a UTC offset is ignored, as the
    other times of the file are local), or None."""
    m = _DT.match(text.strip())
    if m is None:
        return None
    day = parse_da(m[1])
    return _on(day, parse_tm(m[2] or "00"))


def _date_time(text: str, day: date | None) -> datetime | None:
    """A TM on ``day``, or a DT (frame times of enhanced files are DT)."""
    text = text.strip()
    if len(text.split(".")[0].replace(":", "")) > 6:
        return parse_dt(text)
    return _on(day, parse_tm(text))


def _on(day: date | None, time: timedelta | None) -> datetime | None:
    if day is None or time is None:
        return None
    return datetime(day.year, day.month, day.day) + time


# --- reading values from a Dataset or a mapping ----------------------------------------


def _raw(ds: Any, keyword: str) -> Any:
    if ds is None:
        return None
    if isinstance(ds, Mapping):
        return ds.get(keyword)
    try:
        return getattr(ds, keyword, None)
    except Exception:  # noqa: BLE001 - a damaged value reads as absent
        return None


def _text(ds: Any, keyword: str) -> str:
    value = _raw(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else ""
    return str(value).strip().strip("\x00").strip()


def _values(ds: Any, keyword: str) -> list[str]:
    value = _raw(ds, keyword)
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split("\\") if v]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def _number(ds: Any, keyword: str) -> float | None:
    text = _text(ds, keyword)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _first_item(ds: Any, keyword: str) -> Any:
    seq = _raw(ds, keyword)
    try:
        return seq[0] if seq is not None and len(seq) else None
    except (TypeError, IndexError, KeyError):
        return None
