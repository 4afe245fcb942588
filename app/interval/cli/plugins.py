"""``interval plugins [--json]``: the plugins Interval finds, and those it refuses and why.

Exit code 0 even when plugins are refused (a refused plugin is reported, not an error of
the command); see ``--plugins-dir`` (a global option) and ``INTERVAL_PLUGIN_PATH``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``plugins`` subcommand."""
    p = subparsers.add_parser(
        "plugins",
        parents=parents,
        help="list the plugins found (models, analyzers) and those refused, with reasons",
        description=(
            "List the plugins Interval finds - in this order: the bundled first-party ones, "
            "pip-installed (entry point 'interval.plugins'), the user plugin folder, "
            "INTERVAL_PLUGIN_PATH, --plugins-dir folders - with their source, folder, version "
            "and contributions, and every refused plugin with its path and the reason. A "
            "plugin whose id is already taken (bundled plugins first) is refused. Plugin code "
            "is not run. Exit code 0 even when some plugins are refused."
        ),
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run_plugins)


def run_plugins(args: argparse.Namespace) -> int:
    """Print the registry as text or JSON; always 0 (refusals are reported, not errors)."""
    from interval.plugins.discovery import (
        ENV_VAR,
        SEARCH_ORDER,
        env_plugin_dirs,
        first_party_plugin_dirs,
        plugin_dirs_from_args,
        session_plugin_dirs,
        user_plugin_dir,
    )
    from interval.plugins.registry import discover_plugins

    extra = [d for d in plugin_dirs_from_args(args) if d not in session_plugin_dirs()]
    registry = discover_plugins(extra)
    data = registry.to_dict()
    data["search_path"] = {
        "user_folder": str(user_plugin_dir()),
        ENV_VAR: [str(d) for d in env_plugin_dirs()],
        "plugins_dir": [str(d) for d in [*session_plugin_dirs(), *extra]],
        "bundled": [str(d) for d in first_party_plugin_dirs()],
    }
    data["search_order"] = list(SEARCH_ORDER)
    if getattr(args, "json", False):
        text = json.dumps(data, indent=2, ensure_ascii=False)
        try:
            text.encode(sys.stdout.encoding or "utf-8")
        except (UnicodeEncodeError, LookupError):  # e.g. a file name that is not UTF-8
            text = json.dumps(data, indent=2, ensure_ascii=True)
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(render_text(data, verbose=bool(getattr(args, "verbose", False))))
    return 0


def render_text(data: dict[str, Any], *, verbose: bool = False) -> str:
    """The human-readable listing of :func:`run_plugins` (plugin text made printable)."""
    t = printable
    lines: list[str] = [f"Interval plugin API {data['api_version']}"]
    plugins = data["plugins"]
    lines.append(f"Loaded plugins: {len(plugins)}")
    for p in plugins:
        lines.append(f"  {p['id']} {p['version']}  {t(p['name'])}")
        lines.append(f"    source: {p['source']} ({t(p['location'])})")
        lines.append(f"    path: {t(p['path'])}")
        if verbose:
            lines.append(f"    requires API: {t(p['interval_api'])}")
        for m in p["segmentation_models"]:
            mods = ", ".join(t(x) for x in m["modality"]) or "any modality"
            labels = ", ".join(f"{lab['value']} {t(lab['name'])}" for lab in m["labels"])
            lines.append(f"    segmentation model: {t(m['id'])} ({mods}; labels: {labels})")
        for a in p["longitudinal_analyzers"]:
            lines.append(f"    longitudinal analyzer: {a['id']} ({t(a['name'])})")
        if not p["segmentation_models"] and not p["longitudinal_analyzers"]:
            lines.append("    (contributes nothing)")
    refused = data["refused"]
    lines.append(f"Refused plugins: {len(refused)}")
    for r in refused:
        version = f" {r['version']}" if r.get("version") else ""
        title = f"  {t(r['title'])}" if r.get("title") else ""
        lines.append(f"  {t(r['name'])}{version}{title}")
        lines.append(f"    source: {r['source']} ({t(r['location'])})")
        lines.append(f"    path: {t(r.get('path') or r.get('manifest') or r['location'])}")
        lines.append(f"    reason: {t(r['reason'])}")
    if "search_path" in data:
        lines.append(f"User plugin folder: {t(data['search_path']['user_folder'])}")
    if verbose and "search_path" in data:
        sp = data["search_path"]
        lines.append("Search order (the first plugin with an id wins): "
                     + ", ".join(data.get("search_order", [])))
        lines.append("Searched: entry points 'interval.plugins'; user folder "
                     f"{t(sp['user_folder'])}; " + "; ".join(
                         f"{k} {', '.join(t(x) for x in v) or '(none)'}" for k, v in sp.items()
                         if k != "user_folder"))
    return "\n".join(lines) + "\n"


def printable(text: object) -> str:
    """``text`` safe for a terminal: control characters and unpaired surrogates escaped.

    Plugin names, reasons and paths come from files anyone may write; an escape sequence
    in them must not recolour or rewrite the user's terminal.
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in value)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else (
        f"\\U{code:08x}")
