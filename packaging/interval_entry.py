"""The frozen app's entry script (PyInstaller): the ``interval`` console command.

:func:`interval.cli.main.main` handles ``multiprocessing.freeze_support()`` and the
hidden process-group sentinel argument before anything else.
"""

import sys

from interval.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
