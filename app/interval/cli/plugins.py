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
            "List the plugins Interval finds - pip-installed (entry point 'interval.plugins'), "
            "in the user plugin folder, in INTERVAL_PLUGIN_PATH, in --plugins-dir folders and "
            "the built-in ones - with their contributions, and every refused plugin with the "
            "reason. Plugin code is not run. Exit code 0 even when some plugins are refused."
        ),
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run_plugins)


def run_plugins(args: argparse.Namespace) -> int:
    """Print the registry as text or JSON; always 0 (refusals are reported, not errors)."""
    from interval.plugins.discovery import (
        ENV_VAR,
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
        "built_in": [str(d) for d in first_party_plugin_dirs()],
    }
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(data, verbose=bool(getattr(args, "verbose", False))))
    return 0


def render_text(data: dict[str, Any], *, verbose: bool = False) -> str:
    """The human-readable listing of :func:`run_plugins`."""
    lines: list[str] = [f"Interval plugin API {data['api_version']}"]
    plugins = data["plugins"]
    lines.append(f"Loaded plugins: {len(plugins)}")
    for p in plugins:
        lines.append(f"  {p['id']} {p['version']}  {p['name']}")
        lines.append(f"    source: {p['source']} ({p['location']})")
        if verbose:
            lines.append(f"    folder: {p['path']}")
            lines.append(f"    requires API: {p['interval_api']}")
        for m in p["segmentation_models"]:
            mods = ", ".join(m["modality"]) or "any modality"
            labels = ", ".join(f"{lab['value']} {lab['name']}" for lab in m["labels"])
            lines.append(f"    segmentation model: {m['id']} ({mods}; labels: {labels})")
        for a in p["longitudinal_analyzers"]:
            lines.append(f"    longitudinal analyzer: {a['id']} ({a['name']})")
        if not p["segmentation_models"] and not p["longitudinal_analyzers"]:
            lines.append("    (contributes nothing)")
    refused = data["refused"]
    lines.append(f"Refused plugins: {len(refused)}")
    for r in refused:
        version = f" {r['version']}" if r.get("version") else ""
        lines.append(f"  {r['name']}{version}")
        lines.append(f"    source: {r['source']} ({r['location']})")
        if r.get("manifest"):
            lines.append(f"    manifest: {r['manifest']}")
        lines.append(f"    reason: {r['reason']}")
    if "search_path" in data:
        lines.append(f"User plugin folder: {data['search_path']['user_folder']}")
    if verbose and "search_path" in data:
        sp = data["search_path"]
        lines.append("Searched: entry points 'interval.plugins'; user folder "
                     f"{sp['user_folder']}; " + "; ".join(
                         f"{k} {', '.join(v) or '(none)'}" for k, v in sp.items()
                         if k != "user_folder"))
    return "\n".join(lines) + "\n"
