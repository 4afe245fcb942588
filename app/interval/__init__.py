"""Interval: a clinical imaging viewer with AI plugins."""

__version__ = "0.1.0"
