from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ml.timeseries import HourlySeries, SpikeConfig, detect, representative, rising_terms, scan

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
CONFIG = SpikeConfig()


def _noise(seed, hours, mean=10.0, share=0.2):
    rng = np.random.default_rng(seed)
    hour_of_day = np.arange(hours) % 24
    intensity = mean * (1.0 + 0.5 * np.sin(2 * np.pi * (hour_of_day - 9) / 24))
    total = rng.poisson(intensity)
    negative = rng.binomial(total, share)
    return negative, total


def test_stationary_noise_stays_within_the_false_alarm_budget():
    # given: four topic-months of seasonal Poisson noise with no spike
    months = 4
    negative, total = _noise(seed=7, hours=months * 720)

    # when
    alerts = scan(HourlySeries(START, negative.tolist(), total.tolist()), CONFIG)

    # then: the bound is 720 × 0.00135 ≈ 1 per month; allow for the noise of a 4-month sample
    assert len(alerts) <= 2 * months


def test_a_clear_spike_alerts_in_its_first_hour():
    # given: a week of 2 negatives an hour out of 10, then 15 negatives out of 23
    negative, total = [2] * 173 + [15], [10] * 173 + [23]

    # when
    decision = detect(HourlySeries(START, negative, total), CONFIG)

    # then
    assert decision is not None
    assert decision.window_hours == 1
    assert decision.window_start == START + timedelta(hours=173)
    assert decision.current_negative == 15
    assert decision.current_total == 23
    assert decision.baseline_negative_per_hour == 2.0
    assert decision.baseline_negative_share == pytest.approx(0.2, abs=0.001)
    assert decision.score >= CONFIG.sensitivity


def test_no_alert_below_the_minimum_volume():
    # given: a quiet topic (0-1 negatives a day) with 4 negatives now: improbable, but fewer than 5
    negative = ([0] * 23 + [1]) * 7 + [0] * 5 + [4]
    total = [2] * 173 + [4]

    # when
    decision = detect(HourlySeries(START, negative, total), SpikeConfig(min_volume=5))
    lower = detect(HourlySeries(START, negative, total), SpikeConfig(min_volume=3))

    # then
    assert decision is None
    assert lower is not None
    assert lower.current_negative == 4


def test_a_volume_surge_with_the_usual_share_does_not_alert():
    # given: the whole topic triples with the usual 20% negative share
    negative, total = [2] * 173 + [6], [10] * 173 + [30]

    # when
    decision = detect(HourlySeries(START, negative, total), CONFIG)

    # then
    assert decision is None


def test_the_cooldown_keeps_a_long_spike_to_one_alert():
    # given: a week of noise, then six hours with 15 extra negatives each
    negative, total = _noise(seed=3, hours=24 * 8)
    negative, total = negative.tolist(), total.tolist()
    for hour in range(180, 186):
        negative[hour] += 15
        total[hour] += 15
    series = HourlySeries(START, negative, total)

    # when
    with_cooldown = [index for index, _ in scan(series, SpikeConfig(cooldown_hours=6)) if index >= 180]
    without = [index for index, _ in scan(series, SpikeConfig(cooldown_hours=1)) if index >= 180]

    # then
    assert len(with_cooldown) == 1
    assert 180 <= with_cooldown[0] < 186
    assert len(without) > 1


def test_not_before_keeps_reported_hours_out_of_later_windows():
    # given: the spike hour was already reported
    negative, total = [2] * 171 + [15, 2, 2], [10] * 171 + [23, 10, 10]
    series = HourlySeries(START, negative, total)

    # when
    fresh = detect(series, CONFIG)
    after = detect(series, CONFIG, not_before=START + timedelta(hours=172))

    # then
    assert fresh is not None
    assert fresh.window_hours == 3
    assert after is None


def test_a_short_baseline_gives_no_decision():
    # given: less than a day of history
    negative, total = [1] * 10 + [20], [5] * 10 + [25]

    # when / then
    assert detect(HourlySeries(START, negative, total), CONFIG) is None


def test_rising_terms_find_the_injected_phrase():
    # given
    baseline = [
        "the branch queue was slow today",
        "mobile app crashed at login",
        "fees are too high for small accounts",
        "customer support took an hour to answer",
    ] * 10
    current = [
        "my card freeze notice came without warning",
        "card freeze again, cannot pay for groceries",
        "another card freeze and support is not answering",
        "mobile app crashed at login",
        "why the card freeze, the bank will not explain",
    ]

    # when
    terms = rising_terms(current, baseline, top_k=3)

    # then
    assert terms[0].term == "card freeze"
    assert terms[0].current_count == 4
    assert terms[0].baseline_count == 0
    assert terms[0].current_rate == pytest.approx(0.8)
    assert terms[0].score > 0
    assert "app" not in [term.term for term in terms]


def test_representative_picks_the_documents_nearest_the_centroid():
    # given: four documents about frozen cards and one outlier
    texts = [
        "card frozen overnight, cannot pay",
        "frozen card at the checkout, cannot pay",
        "the weather in the harbour is lovely",
        "my card was frozen and i cannot pay rent",
        "card frozen, support says wait",
    ]

    # when
    chosen = representative(texts, k=3)

    # then
    assert len(chosen) == 3
    assert 2 not in chosen


def test_representative_accepts_embeddings():
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])

    assert representative(embeddings, k=2) == [1, 0]


def test_config_rejects_nonsense():
    with pytest.raises(ValueError, match="min_volume"):
        SpikeConfig(min_volume=0)
