"""Lesion-growth forecasting for Interval: a small recurrent network and classical growth laws.

Public pieces: :mod:`.forecaster` (``load_default()``, ``Forecaster.forecast``),
:mod:`.baselines` (``fit_all``), :mod:`.analyzer` (``GrowthForecastAnalyzer``).
"""

__version__ = "1.0.0"
