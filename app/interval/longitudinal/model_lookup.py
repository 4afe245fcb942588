"""Find a plugin's segmentation model by name, with a message a user can act on."""

from __future__ import annotations

from typing import Any

from interval.core.errors import IntervalError

_HINT = ("run `interval plugins` to see the installed models and refused plugins, or choose "
         "another with --model")


def find_segmentation_model(name: str, *, modality: str | None = "CT",
                            hint: str = _HINT) -> Any:
    """The registered model ``name`` (or ``plugin_id:name``); :class:`IntervalError` with a
    hint when it is missing or not made for ``modality`` (None: do not check)."""
    from interval.plugins.registry import discover_plugins

    try:
        entry = discover_plugins().find_segmentation_model(name)
    except IntervalError as exc:
        error = IntervalError(f"the segmentation model {name!r} is not available: {exc}")
        error.hint = hint  # type: ignore[attr-defined]
        raise error from exc
    if modality is not None and not entry.accepts_modality(modality):
        error = IntervalError(
            f"the model {name!r} is made for {', '.join(entry.modalities)} images, not "
            f"{modality}"
        )
        error.hint = hint  # type: ignore[attr-defined]
        raise error
    return entry
