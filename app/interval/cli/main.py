"""The ``interval`` command: argument parsing, dispatch, exit codes and error messages.

Exit codes: 0 success; 1 a problem with the data or files (an
:class:`IntervalError`, shown as one message without a traceback); 2 a usage
error (bad arguments); 3 an unexpected internal error (a bug: ``--debug``
shows the traceback); 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import interval
from interval.core.errors import Cancelled, IntervalError, IrregularGeometry

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_CANCELLED = 130

log = logging.getLogger("interval.cli")


def _common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--progress", action="store_true", default=argparse.SUPPRESS,
        help="draw progress bars on stderr even when it is not a terminal",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="more detail (e.g. every skipped file)",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks and debug logging",
    )
    common.add_argument(
        "--plugins-dir", metavar="DIR", action="append", default=argparse.SUPPRESS,
        help="also load plugins from DIR (a plugin folder or a folder of plugin folders); "
        "repeatable",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands info, convert, view, demo, plugins, ...)."""
    from interval.cli import convert, info, view

    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="interval",
        parents=[common],
        description=(
            "Interval: a clinical imaging viewer with AI plugins. `view` opens the viewer; the "
            "other commands work without a display: inspect DICOM and image files, convert a "
            "series, build the demo data."
        ),
        epilog=(
            "exit codes: 0 success, 1 data or file problem, 2 usage error, "
            "3 internal error, 130 cancelled"
        ),
    )
    parser.add_argument("--version", action="version", version=f"interval {interval.__version__}")
    parser.add_argument(
        "--self-test", action="store_true",
        help="check this installation end to end on generated data (index, load, render, "
        "model, tracking, reports) and exit 0 when all is well; with --verbose, each step",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info.add_parser(sub, [common])
    convert.add_parser(sub, [common])
    view.add_parser(sub, [common])
    # --- subcommands in their own modules: each has add_parser(sub, [common]) ---------------
    # (a new one, e.g. `segment`, adds its module to this tuple, in the order of --help)
    for module_name in ("interval.cli.plugins", "interval.cli.segment"):
        importlib.import_module(module_name).add_parser(sub, [common])
    for module_name in ("interval.cli.track", "interval.cli.forecast", "interval.cli.pacs",
                        "interval.cli.batch"):
        importlib.import_module(module_name).add_parser(sub, [common])
    from interval.cli import demo as demo_cli

    demo = demo_cli.add_parser(sub, [common])
    demo.set_defaults(func=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from interval.cli.demo import options_from_args, run_demo

    def echo(message: str) -> None:
        sys.stdout.write(f"{message}\n")
        sys.stdout.flush()

    out_dir = Path(args.out) if args.out is not None else None
    code = int(run_demo(out_dir, args.seed, echo, **options_from_args(args)) or 0)
    view = getattr(args, "view", None)
    if view is None:
        view = code == 0 and _interactive_display()
    if view:
        from interval.cli.demo import default_demo_dir, open_results

        root = out_dir if out_dir is not None else default_demo_dir(args.seed)
        # the longitudinal workspace on the results (the viewer when no report was made)
        code = max(code, open_results(root))
    return code


def _run_self_test(args: argparse.Namespace) -> int:
    from interval.diagnostics import run_self_test

    def echo(line: str) -> None:
        sys.stdout.write(f"{line}\n")
        sys.stdout.flush()

    run = run_self_test(echo=echo if getattr(args, "verbose", False) else None)
    (sys.stdout if run.ok else sys.stderr).write(f"{run.summary()}\n")
    return EXIT_OK if run.ok else EXIT_DATA


def _interactive_display() -> bool:
    """Whether opening a window makes sense: a display, a person at a terminal, not CI."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        return False
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``interval`` command line; returns the exit code."""
    from interval.ai.process_group import handle_frozen_start  # frozen: spawn child, sentinel

    handle_frozen_start(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return _exit_code(exc.code)
    debug = bool(getattr(args, "debug", False))
    _configure_logging(debug)
    plugin_dirs = getattr(args, "plugins_dir", None) or []
    if plugin_dirs:  # every plugin discovery while this command runs (the viewer too)
        from interval.plugins.discovery import set_session_plugin_dirs

        set_session_plugin_dirs(plugin_dirs)
    func = getattr(args, "func", None)
    if getattr(args, "self_test", False):
        if func is not None:
            sys.stderr.write("interval: error: --self-test takes no command\n")
            return EXIT_USAGE
        func = _run_self_test
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except (KeyboardInterrupt, Cancelled):
        sys.stderr.write("\ninterval: cancelled\n")
        return EXIT_CANCELLED
    except IntervalError as exc:
        _report(exc, debug)
        return EXIT_DATA
    except BrokenPipeError:  # e.g. `interval info DIR | head`
        _silence_stdout()
        return EXIT_OK
    except MemoryError as exc:
        _report_internal("not enough memory for this operation", exc, debug)
        return EXIT_DATA
    except Exception as exc:  # noqa: BLE001 - nothing unexpected reaches the user as a traceback
        _report_internal(f"unexpected error: {type(exc).__name__}: {exc}", exc, debug)
        return EXIT_INTERNAL
    finally:
        if plugin_dirs:
            set_session_plugin_dirs([])


def _exit_code(code: Any) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    return EXIT_USAGE


def _configure_logging(debug: bool) -> None:
    """Warnings (or everything with --debug) to stderr. Messages never name patients.

    pydicom's own records (raw values, decoder tracebacks) go into Interval's
    log at debug level instead (:mod:`interval.io.dicom.pydicom_log`): only
    ``--debug`` shows them; the skipped list says what was wrong per file.
    """
    from interval.io.dicom.pydicom_log import route_pydicom_logging

    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="interval: %(levelname)s: %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if debug:
        logging.getLogger().setLevel(logging.DEBUG)
    route_pydicom_logging()
    # pydicom logs each of its warnings too: the log record is what Interval keeps
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")


def _report(exc: IntervalError, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc)
    sys.stderr.write(f"interval: error: {message}\n")
    if isinstance(exc, IrregularGeometry):
        for problem in exc.problems:
            if problem not in message:
                sys.stderr.write(f"  - {problem}\n")
    hint = getattr(exc, "hint", None)
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def _report_internal(message: str, exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"interval: {message}\n")
    if not debug:
        sys.stderr.write("interval: run again with --debug to see the details\n")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
