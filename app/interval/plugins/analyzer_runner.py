"""Run a plugin's longitudinal analyzer and check what it returns, never trusting it.

An analyzer is plugin code running inside Interval's process (see the trust model in
``plugins/README.md``): :func:`run_analyzer` calls it, gives it ``options`` only when its
``analyze`` declares a parameter named ``options`` (plugin API 1.1; a 1.0 analyzer keeps
working), and turns anything that goes wrong into :class:`AnalyzerRefused` with a sentence
for the reader: an exception (even ``SystemExit``), a result that is not a
:class:`~interval.plugins.api.LongitudinalResult`, table rows that are not plain JSON
values (dicts with text keys; text, numbers, booleans, None, lists and dicts of them),
numbers that are not finite, summary or warnings that are not text, or sizes beyond the
limits below.  What it returns is a fresh copy made of plain built-in values, so the
analyzer cannot change it afterwards and no object of the plugin's classes leaves here.

Only :class:`~interval.core.errors.Cancelled` (the user's cancel) and ``KeyboardInterrupt``
pass through.  A hang or a crash of the whole process cannot be caught in-process.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from interval.core.errors import Cancelled
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume
from interval.plugins.api import LongitudinalResult, PluginError, Timepoint

log = logging.getLogger(__name__)

MAX_ROWS = 20_000  # table rows
MAX_KEYS = 64  # keys of one row (or of a dict inside it)
MAX_ITEMS = 256  # items of a list inside a row
MAX_DEPTH = 4  # nesting of lists and dicts inside a row
MAX_TEXT = 4_000  # characters of one text value or key
MAX_SUMMARY = 20_000  # characters of the summary
MAX_WARNINGS = 500
MAX_WARNING_TEXT = 2_000


class AnalyzerRefused(PluginError):
    """The analyzer failed or returned something Interval cannot use; the message says why."""


def accepts_options(analyzer: object) -> bool:
    """Whether ``analyzer.analyze`` declares a keyword parameter ``options`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(analyzer.analyze).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    named = params.get("options")
    if named is not None:
        return named.kind in (inspect.Parameter.KEYWORD_ONLY,
                              inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def run_analyzer(
    analyzer: object,
    timepoints: Sequence[Timepoint],
    *,
    name: str = "the analyzer",
    options: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> LongitudinalResult:
    """Call ``analyzer.analyze`` and return a checked, plain copy of its result.

    ``name`` names the analyzer in messages (e.g. its qualified id). Raises
    :class:`AnalyzerRefused` for every failure of the analyzer, :class:`Cancelled` when
    the user cancelled.
    """
    analyze = getattr(analyzer, "analyze", None)
    if not callable(analyze):
        raise AnalyzerRefused(f"{name} has no analyze() method")
    kwargs: dict[str, Any] = {"progress": progress, "cancel": cancel}
    if options is not None and accepts_options(analyzer):
        kwargs["options"] = dict(options)
    try:
        result = analyze(tuple(timepoints), **kwargs)
    except (Cancelled, KeyboardInterrupt):
        raise
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise AnalyzerRefused(f"{name} failed: {_exception_text(exc)}") from None
        log.info("longitudinal analyzer needs torch, which is not installed")  # viewer-only
        raise AnalyzerRefused(  # the viewer-only edition: a sentence, not an import error
            f"{name} needs PyTorch, and this edition of Interval has no model runtime "
            "(it can open results made elsewhere)"
        ) from None
    except BaseException as exc:  # noqa: BLE001 - plugin code: anything may come out
        detail = _exception_text(exc)
        log.warning("longitudinal analyzer failed: %s", type(exc).__name__)
        raise AnalyzerRefused(f"{name} failed: {detail}") from None
    return checked_result(result, name=name, n_timepoints=len(timepoints))


def checked_result(result: object, *, name: str = "the analyzer",
                   n_timepoints: int | None = None) -> LongitudinalResult:
    """A plain copy of ``result`` when it is a valid :class:`LongitudinalResult`, else
    :class:`AnalyzerRefused` naming the first problem."""
    if not isinstance(result, LongitudinalResult):
        raise AnalyzerRefused(f"{name} returned {_kind(result)} instead of a "
                              "LongitudinalResult")
    try:
        summary = _text(result.summary, MAX_SUMMARY, "its summary")
        warnings = _warnings(result.warnings)
        table = _table(result.table)
        label_maps = _label_maps(result.label_maps, n_timepoints)
    except _Bad as bad:
        raise AnalyzerRefused(f"{name} returned an unusable result: {bad}") from None
    return LongitudinalResult(summary=summary, table=table, label_maps=label_maps,
                              warnings=warnings)


# --- checks ---------------------------------------------------------------------------------


class _Bad(Exception):
    """One problem of a result (internal)."""


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _exception_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = ""
    text = " ".join(text.split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{what} is {_kind(value)}, not text")
    if len(value) > limit:
        raise _Bad(f"{what} is longer than {limit} characters")
    return str.__str__(value)  # a plain str, whatever subclass came in


def _warnings(value: object) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _Bad(f"its warnings are {_kind(value)}, not a list of text")
    if len(value) > MAX_WARNINGS:
        raise _Bad(f"it gave more than {MAX_WARNINGS} warnings")
    return [_text(w, MAX_WARNING_TEXT, f"warning {i + 1}") for i, w in enumerate(value)]


def _table(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        raise _Bad(f"its table is {_kind(value)}, not a list of rows")
    if len(value) > MAX_ROWS:
        raise _Bad(f"its table has more than {MAX_ROWS} rows")
    out = []
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise _Bad(f"table row {i + 1} is {_kind(row)}, not a dict")
        out.append(_plain(row, f"table row {i + 1}", 0))
    return out


def _plain(value: object, where: str, depth: int) -> Any:  # noqa: PLR0911 - one per type
    """``value`` rebuilt from built-in types only, or :class:`_Bad`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        if abs(value) > 2**63:
            raise _Bad(f"{where} holds an integer too large")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Bad(f"{where} holds a number that is not finite ({float(value)!r})")
        return float(value)
    if isinstance(value, str):
        return _text(value, MAX_TEXT, f"a text in {where}")
    if depth >= MAX_DEPTH:
        raise _Bad(f"{where} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > MAX_KEYS:
            raise _Bad(f"{where} has more than {MAX_KEYS} keys")
        out = {}
        for key, item in dict.items(value):
            if not isinstance(key, str):
                raise _Bad(f"{where} has a key that is {_kind(key)}, not text")
            k = _text(key, MAX_TEXT, f"a key in {where}")
            out[k] = _plain(item, f"{where}, {k[:40]!r}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            raise _Bad(f"{where} holds a list of more than {MAX_ITEMS} items")
        return [_plain(item, where, depth + 1) for item in value]
    raise _Bad(f"{where} holds {_kind(value)}, which is not a plain JSON value")


def _label_maps(value: object, n_timepoints: int | None) -> list[Volume | None]:
    if not isinstance(value, list | tuple):
        raise _Bad(f"its label maps are {_kind(value)}, not a list")
    if n_timepoints is not None and len(value) > n_timepoints:
        raise _Bad(f"it gave {len(value)} label maps for {n_timepoints} timepoint(s)")
    for i, item in enumerate(value):
        if item is not None and not isinstance(item, Volume):
            raise _Bad(f"label map {i + 1} is {_kind(item)}, not a Volume")
    return list(value)
