"""The ``interval`` command line: the same operations as the viewer, without a display."""
