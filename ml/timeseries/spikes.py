"""Spike detection on hourly counts: is the newest negative volume of a topic an anomaly?

The method (docs/sentiment.md has the reasoning and the benchmark):

1. **Baseline.** The `baseline_hours` before the scan windows give an hourly negative rate
   `λ` and a negative share `p0`. Volume follows hour-of-day and day-of-week; a
   multiplicative profile is estimated from the baseline's *total* counts (more data
   than the negatives), shrunk towards flat by `seasonal_prior_documents` pseudo-documents
   so quiet topics get a flat profile. The expected negatives of hour `t` are `λ·f(t)`.
2. **Over-dispersion.** News arrives in bursts, so counts vary more than Poisson. A
   method-of-moments negative-binomial dispersion `1/r = Σ((x-μ)²-μ) / Σμ²` is estimated
   from the baseline residuals (with the n/(n-k) correction for the fitted profile),
   kept between `min_overdispersion` and `max_overdispersion`, plus `1/Σx` for the
   uncertainty of the baseline rate itself.
3. **Scan windows.** For each window of the last 1, 3 and 6 hours (the current, possibly
   partial, hour included), the one-sided tail probability `P(X ≥ x)` of the observed
   negative count under the negative binomial with the window's expected mean. Windows
   of several hours catch a sustained 2× rise that no single hour can show at low volume.
4. **Share guard.** A window counts only if its negative share is also above the baseline
   share (one-sided binomial test, z ≥ `share_z_min`): a topic whose whole volume doubled
   with the usual mix (a busy news day) is attention, not a negative spike.
5. **Decision.** The smallest window p-value, Bonferroni-corrected for the number of
   windows, as a z-score; alert when z ≥ `sensitivity` and the window holds at least
   `min_volume` negative documents.

The current hour is compared with a *full* hour's expectation, never one scaled to the
elapsed minutes: counts only grow within an hour, so an alert raised early would have been
raised at the end of the hour anyway. Evaluating after every scored batch then adds no
false alarms (a scaled expectation, tested after every batch, would multiply them).

Pure Python + numpy/scipy; no Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy import special

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SpikeConfig:
    """Settings of the spike test.

    Args:
        min_volume: the fewest negative documents in the firing window (protects quiet topics,
            where three documents can be "significant").
        sensitivity: the z threshold on the corrected p-value; the per-hour false-alarm
            probability is `1 - Φ(sensitivity)` (3.0 → 0.00135, about 0.97 per topic-month of
            720 hourly tests, before the share guard and the cooldown, which lower it).
        cooldown_hours: after an alert, no new alert for the topic for this many hours.
        baseline_hours: the rolling baseline (168 = one week, each weekday once).
        windows: scan window lengths in hours, each ending at the current hour.
        share_z_min: the negative share must be above the baseline share at this z (1.28: p ≤ 0.1).
        seasonal_prior_documents: shrinks hour-of-day/day-of-week factors towards 1.
        min_baseline_documents: below this many documents in the baseline, no decision.
        min_overdispersion: floor on `1/r`: a week of baseline underestimates burstiness
            (the seasonal profile is fitted on the same hours), and news is never Poisson.
        max_overdispersion: cap on the estimated `1/r` (1.0: variance at most μ + μ²).
        dispersion_trim: share of baseline hours with the largest residuals left out of the
            dispersion estimate. Off by default: the benchmark showed that trimming hides
            genuine burstiness too (0.03 raised false alarms from 1.1 to 1.8 per topic-month
            on busy topics) for a few points of recall.
    """

    min_volume: int = 5
    sensitivity: float = 3.0
    cooldown_hours: int = 6
    baseline_hours: int = 168
    windows: tuple[int, ...] = (1, 3, 6)
    share_z_min: float = 1.28
    seasonal_prior_documents: float = 20.0
    min_baseline_documents: int = 24
    min_overdispersion: float = 0.1
    max_overdispersion: float = 1.0
    dispersion_trim: float = 0.0

    def __post_init__(self) -> None:
        if self.min_volume < 1:
            raise ValueError("min_volume must be at least 1.")
        if self.sensitivity <= 0:
            raise ValueError("sensitivity must be positive.")
        if self.cooldown_hours < 0:
            raise ValueError("cooldown_hours cannot be negative.")
        if self.baseline_hours < 24:
            raise ValueError("baseline_hours must cover at least one day.")
        if not self.windows or min(self.windows) < 1:
            raise ValueError("windows must be positive hour counts.")

    @property
    def history_hours(self) -> int:
        """How many hours `detect` needs: the baseline plus the longest window."""
        return self.baseline_hours + max(self.windows)

    @property
    def false_alarm_probability(self) -> float:
        """The per-test false-alarm bound `1 - Φ(sensitivity)`."""
        return float(special.ndtr(-self.sensitivity))


@dataclass(frozen=True)
class HourlySeries:
    """Hourly counts of one topic; index 0 starts at `start` (UTC, on the hour); the last is now."""

    start: datetime
    negative: Sequence[int]
    total: Sequence[int]

    def __post_init__(self) -> None:
        if len(self.negative) != len(self.total):
            raise ValueError("negative and total must have the same length.")
        if self.start.minute or self.start.second or self.start.microsecond:
            raise ValueError("start must be on the hour.")


@dataclass(frozen=True)
class SpikeDecision:
    """A spike: the statistic, the window that fired and the numbers behind it."""

    score: float  # z of the Bonferroni-corrected tail probability
    p_value: float  # corrected
    window_hours: int
    window_start: datetime
    current_negative: int
    current_total: int
    expected_negative: float  # for the window, from the baseline rate and the seasonal profile
    baseline_negative_per_hour: float  # the plain baseline average
    baseline_negative_share: float
    current_share: float
    share_score: float
    overdispersion: float  # 1/r; 0 is Poisson


def _tail_z(p: float) -> float:
    return float(-special.ndtri(min(max(p, 1e-300), 1.0)))


def _count_tail(x: int, mean: float, size: float | None) -> float:
    """P(X ≥ x) for a Poisson (size None) or negative binomial with that mean and size."""
    if x <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if size is None:
        return float(special.gammainc(x, mean))
    # NB with n=size, p=size/(size+mean): P(X ≥ x) = I_{1-p}(x, size).
    return float(special.betainc(x, size, mean / (size + mean)))


def _binomial_tail(x: int, n: int, p: float) -> float:
    if x <= 0:
        return 1.0
    if x > n:
        return 0.0
    return float(special.betainc(x, n - x + 1, p))


def _profile(total: np.ndarray, hod: np.ndarray, dow: np.ndarray, baseline: slice, prior: float) -> np.ndarray:
    """Seasonal factor per hour of the series, from the baseline's total counts."""
    base_total = total[baseline]
    mean = base_total.mean()
    factors = np.ones(len(total))
    profiles = [(hod, 24)]
    # TRICKY: a weekday factor is only fair when each weekday × hour-of-day appears equally
    # often (a whole number of weeks); otherwise a half-covered day gets the factor of its
    # night hours. Shorter baselines use the hour-of-day profile alone.
    if len(base_total) % (7 * 24) == 0:
        profiles.append((dow, 7))
    for keys, size in profiles:
        base_keys = keys[baseline]
        sums = np.bincount(base_keys, weights=base_total, minlength=size)
        hours = np.bincount(base_keys, minlength=size)
        factor = (sums + prior) / (hours * mean + prior)
        factors = factors * factor[keys]
    return factors


def _overdispersion(
    base_negative: np.ndarray, base_expected: np.ndarray, config: SpikeConfig, parameters: int
) -> float:
    """Method-of-moments `1/r` of the baseline, plus the uncertainty of the baseline rate."""
    # Optionally leave out the hours with the largest Pearson residuals (earlier spikes).
    residuals = (base_negative - base_expected) / np.sqrt(base_expected)
    keep = np.argsort(residuals)[: len(residuals) - math.ceil(config.dispersion_trim * len(residuals))]
    kept_expected = base_expected[keep]
    squares = float((kept_expected**2).sum())
    # The seasonal profile was fitted on these same hours and absorbs part of their
    # variance: the squared residuals get the usual n / (n - parameters) correction.
    squared = float(((base_negative[keep] - kept_expected) ** 2).sum())
    moments = squared * len(keep) / max(len(keep) - parameters, 1) - float(kept_expected.sum())
    inverse_size = min(max(moments / squares if squares else 0.0, config.min_overdispersion), config.max_overdispersion)
    # The baseline rate is itself an estimate: its relative variance 1/Σx adds to 1/r.
    return inverse_size + 1.0 / (float(base_negative.sum()) + 0.5)


def _best_window(
    negative: np.ndarray,
    total: np.ndarray,
    expected: np.ndarray,
    lo: int,
    current: int,
    earliest: int,
    inverse_size: float,
    share0: float,
    config: SpikeConfig,
) -> tuple | None:
    """The scan window with the smallest tail probability that passes volume and share."""
    best: tuple | None = None
    for hours in config.windows:
        start = current - hours + 1
        if start < earliest:
            continue
        x = int(negative[start : current + 1].sum())
        n = int(total[start : current + 1].sum())
        if x < config.min_volume:
            continue
        window_expected = expected[start - lo : current - lo + 1]
        mean = float(window_expected.sum())
        if x <= mean:
            continue
        size = mean**2 / (inverse_size * float((window_expected**2).sum()))
        share_z = _tail_z(_binomial_tail(x, n, share0))
        if share_z < config.share_z_min:
            continue
        p = _count_tail(x, mean, size)
        if best is None or p < best[0]:
            best = (p, hours, start, x, n, mean, share_z)
    return best


def _detect_at(
    negative: np.ndarray,
    total: np.ndarray,
    hod: np.ndarray,
    dow: np.ndarray,
    current: int,
    config: SpikeConfig,
    earliest: int,
) -> tuple[float, float, int, int, int, float, float, float, float, float, float] | None:
    longest = max(config.windows)
    baseline_end = current - longest + 1
    baseline_start = max(0, baseline_end - config.baseline_hours)
    if baseline_end - baseline_start < 24:
        return None
    baseline = slice(baseline_start, baseline_end)
    base_negative = negative[baseline]
    base_total = total[baseline]
    total_documents = float(base_total.sum())
    if total_documents < config.min_baseline_documents:
        return None

    lo = baseline_start
    view = slice(lo, current + 1)
    factors = _profile(total[view], hod[view], dow[view], slice(0, baseline_end - lo), config.seasonal_prior_documents)
    base_factors = factors[: baseline_end - lo]
    # Half a document of prior keeps a topic with no negatives in its baseline testable.
    rate = (float(base_negative.sum()) + 0.5) / float(base_factors.sum())
    expected = rate * factors
    base_expected = expected[: baseline_end - lo]
    parameters = 1 + 23 + (6 if (baseline_end - baseline_start) % (7 * 24) == 0 else 0)
    inverse_size = _overdispersion(base_negative, base_expected, config, parameters)
    share0 = (float(base_negative.sum()) + 0.5) / (total_documents + 1.0)

    best = _best_window(negative, total, expected, lo, current, earliest, inverse_size, share0, config)
    if best is None:
        return None
    p, hours, start, x, n, mean, share_z = best
    p_corrected = min(1.0, p * len(config.windows))
    score = _tail_z(p_corrected)
    if score < config.sensitivity:
        return None
    baseline_per_hour = float(base_negative.sum()) / len(base_negative)
    return (score, p_corrected, hours, start, x, n, mean, baseline_per_hour, share0, share_z, inverse_size)


def _calendar(start: datetime, length: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.arange(length) + start.hour
    hod = offsets % 24
    dow = (start.weekday() + offsets // 24) % 7
    return hod.astype(np.int64), dow.astype(np.int64)


def _decision(values: tuple, start: datetime) -> SpikeDecision:
    score, p, hours, index, x, n, mean, per_hour, share0, share_z, inverse_size = values
    return SpikeDecision(
        score=round(score, 4),
        p_value=p,
        window_hours=hours,
        window_start=start + index * HOUR,
        current_negative=x,
        current_total=n,
        expected_negative=round(mean, 4),
        baseline_negative_per_hour=round(per_hour, 4),
        baseline_negative_share=round(share0, 4),
        current_share=round(x / n, 4) if n else 0.0,
        share_score=round(share_z, 4),
        overdispersion=round(inverse_size, 4),
    )


def detect(series: HourlySeries, config: SpikeConfig, *, not_before: datetime | None = None) -> SpikeDecision | None:
    """Test whether the newest hours of `series` are a negative spike.

    Args:
        series: hourly negative and total counts; the last entry is the current hour
            (complete or still filling). Give at least `config.history_hours` entries;
            fewer shorten the baseline (at least one day is needed).
        config: the thresholds.
        not_before: no scan window may start before this hour (the end of the previous
            alert's cooldown: hours already reported are never counted again).

    Returns:
        A `SpikeDecision` when the test fires, else None (no spike, too little volume,
        or too short a baseline).

    Example:
        >>> start = datetime(2026, 3, 2, tzinfo=UTC)
        >>> series = HourlySeries(start=start, negative=[2] * 173 + [15], total=[10] * 173 + [23])
        >>> detect(series, SpikeConfig()).window_hours
        1
    """
    negative = np.asarray(series.negative, dtype=np.float64)
    total = np.asarray(series.total, dtype=np.float64)
    if not len(negative):
        return None
    hod, dow = _calendar(series.start, len(negative))
    earliest = 0
    if not_before is not None:
        earliest = max(0, int((not_before - series.start) // HOUR))
    values = _detect_at(negative, total, hod, dow, len(negative) - 1, config, earliest)
    return None if values is None else _decision(values, series.start)


def scan(series: HourlySeries, config: SpikeConfig) -> list[tuple[int, SpikeDecision]]:
    """Replay `detect` hour by hour over a long series with the production rules.

    After an alert at hour `i`, no alert until `i + cooldown_hours`, and no later window
    reaches back before that hour: the hours of one alert and its cooldown are never
    counted again. Returns `(hour index, decision)` pairs. The benchmark
    uses it; `apps.sentiment.alerts` applies the same two rules from stored alerts.
    """
    negative = np.asarray(series.negative, dtype=np.float64)
    total = np.asarray(series.total, dtype=np.float64)
    hod, dow = _calendar(series.start, len(negative))
    alerts: list[tuple[int, SpikeDecision]] = []
    quiet_until = 0
    earliest = 0
    history = config.history_hours
    for current in range(len(negative)):
        if current < quiet_until:
            continue
        lo = max(0, current - history + 1)
        values = _detect_at(
            negative[lo : current + 1],
            total[lo : current + 1],
            hod[lo : current + 1],
            dow[lo : current + 1],
            current - lo,
            config,
            max(0, earliest - lo),
        )
        if values is None:
            continue
        decision = _decision(values, series.start + lo * HOUR)
        alerts.append((current, decision))
        quiet_until = current + max(config.cooldown_hours, 1)
        earliest = quiet_until
    return alerts
