"""Time-series statistics: spike detection on hourly counts, and what explains a spike.

`spikes` decides whether the newest hours of a count series are an anomaly against a
rolling baseline; `terms` finds the words that rose and the documents that represent them.
See docs/sentiment.md for the method and its false-alarm reasoning.
"""

from ml.timeseries.spikes import HourlySeries, SpikeConfig, SpikeDecision, detect, scan
from ml.timeseries.terms import RisingTerm, representative, rising_terms

__all__ = [
    "HourlySeries",
    "RisingTerm",
    "SpikeConfig",
    "SpikeDecision",
    "detect",
    "representative",
    "rising_terms",
    "scan",
]
