"""Example Interval plugin: a CT bone threshold "network" and a label-volume analyzer.

Interval reads ``interval-plugin.json`` beside this file without importing the package;
the modules here are imported only when their contribution is used (``network`` in the
process that runs the model, ``analyzer`` when a longitudinal analysis runs).
"""
