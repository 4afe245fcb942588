"""Cohort runs: segmentation and/or tracking (+ growth forecast) of many patients on Dask.

``interval batch MANIFEST -o OUT`` (:mod:`interval.cli.batch`) is a thin shell over these
pieces, one job each:

* :mod:`.manifest` - the CSV/JSON manifest -> :class:`~.manifest.Case` list (checked);
* :mod:`.settings` - the run's options, and what they make of each case (plain data);
* :mod:`.cluster` - a ``LocalCluster`` or an existing cluster (``dask-jobqueue`` notes);
* :mod:`.worker_setup` - the Dask preload that prepares each worker process;
* :mod:`.runner` - submit, skip finished cases, progress, cancel;
* :mod:`.case_runner` - ONE case in isolation inside a worker (never raises);
* :mod:`.case_work` - what a case does (the same logic as ``segment`` and ``track``);
* :mod:`.case_folder` - a case's results, published atomically with its ``case.json``;
* :mod:`.case_numbers` - a case's key numbers from its ``report.json``;
* :mod:`.pacs_fetch` - a PACS case's studies fetched into a cache;
* :mod:`.out_folder` - the output folder's layout, lock and cancel flag;
* :mod:`.summary` and :mod:`.cohort_report` - ``summary.csv`` and the cohort report.

Nothing here imports Qt; Dask is imported only where a cluster is used.
"""
