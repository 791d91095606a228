"""The sentiment monitor of the embedded demo (`make demo`): a fictional bank in the news,
in app-store reviews and on social media, with a login outage of its mobile app in the
last few hours.

Every sentence here was written for this project; none comes from a dataset (Financial
PhraseBank and the like are benchmark-only, DESIGN.md). `demo_documents(now)` expands the
templates into about three weeks of documents in the ingest format of
`apps.sentiment.services.documents_ingest`.

Deterministic and re-run friendly: each hour's documents come from a generator seeded with
that hour (UTC), so an hour yields the same external ids (and texts, but for the rare
redraw of a repeated text) whenever the demo is seeded; a later seed only adds the hours
since, the earlier ones being duplicates by external id. The outage is placed in the last two
hours before `now` and keyed by the day, so re-seeding the same day adds it once.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_MONITOR: dict[str, Any] = {
    "name": "Northwind in the news and app stores",
    "description": "What news sites, app-store reviews and social posts say about Northwind Savings Bank.",
    "topics": [
        {
            "name": "fraud",
            "description": "scams, phishing texts and calls, stolen or cloned cards, unauthorised payments",
        },
        {
            "name": "customer service",
            "description": "branch staff, call centre and chat support, waiting times, complaints and their handling",
        },
        {
            "name": "fees and rates",
            "description": "account and overdraft fees, foreign transaction charges, savings and mortgage rates",
        },
        {
            "name": "mobile app",
            "description": "the mobile banking app and online banking: signing in, crashes, outages, updates",
        },
        {
            "name": "earnings",
            "description": "quarterly results, profit and revenue, dividends, share price and analyst ratings",
        },
    ],
}

DAYS = 21
SEED = "northwind-demo-v1"
SPIKE_TOPIC = "mobile app"
SPIKE_DOCUMENTS = 30
# Within the last SPIKE_MINUTES, so inside the detector's 3-hour window whatever the minute.
SPIKE_MINUTES = 115
# A text is redrawn (up to MAX_REDRAWS times) once it appears MAX_SAME_TEXT times.
MAX_SAME_TEXT = 2
MAX_REDRAWS = 20
# A word every outage text has and no baseline text of the topic has (the test checks it).
SPIKE_MARKER = "login"

# topic: (documents per hour on average, share of negative / neutral / positive, news share)
VOLUME: dict[str, tuple[float, tuple[float, float, float], float]] = {
    "fraud": (0.25, (0.50, 0.30, 0.20), 0.35),
    "customer service": (0.40, (0.35, 0.30, 0.35), 0.15),
    "fees and rates": (0.30, (0.35, 0.40, 0.25), 0.45),
    "mobile app": (0.60, (0.30, 0.30, 0.40), 0.10),
    "earnings": (0.12, (0.25, 0.40, 0.35), 0.85),
}
# Results day: one day in every 21 (by calendar, so it stays put across re-seeds) brings a
# burst of mostly positive earnings news in the European morning.
RESULTS_EVERY_DAYS = 21
RESULTS_HOURS = (6, 7, 8, 9)
RESULTS_EXTRA_PER_HOUR = 4.0
RESULTS_MIX = (0.10, 0.25, 0.65)

SENTIMENTS = ("negative", "neutral", "positive")

# topic -> sentiment -> voice -> templates. "news" is written by an outlet, "post" by a
# customer (an app-store review or a social post). {name} fields are filled from FILLERS.
TEMPLATES: dict[str, dict[str, dict[str, list[str]]]] = {
    "fraud": {
        "negative": {
            "news": [
                "Police in {city} warn Northwind Savings customers about fraudsters posing as {impostor}.",
                "Scam calls spoofing Northwind's fraud line hit {city}; callers ask for {secret}.",
                "Northwind is replacing cards hit by a merchant data leak in {city}; old cards stop on {weekday}.",
            ],
            "post": [
                "Got a text on {weekday} pretending to be Northwind: verify your card at {fake_site}. Phishing!",
                "My Northwind debit card was cloned and thieves spent {amount} in {city}. Furious nobody flagged it.",
                "{days} days since I reported the unauthorised payments and Northwind hasn't refunded {amount}.",
                "My {relative} lost {amount} to a fake Northwind investment scheme and the bank won't help.",
                "{count} phishing emails with the Northwind logo this month, the latest linking to {fake_site}.",
            ],
        },
        "neutral": {
            "news": [
                "Northwind Savings reminds customers in {city} it never asks for {secret} by text or email.",
                "Northwind adds card controls to block online or overseas payments, in {city} from {month}.",
                "Northwind says {count} phishing campaigns using its logo went to the {city} cyber crime unit.",
                "Northwind Savings joins a {city} fraud-sharing network with {count} other lenders.",
            ],
            "post": [
                "Is there a number to forward suspicious Northwind texts to? My {relative} got one on {weekday}.",
            ],
        },
        "positive": {
            "news": [
                "Northwind wins the {city} fraud prevention award for the {ordinal} time, praised for fast checks.",
            ],
            "post": [
                "Northwind's fraud team blocked a dodgy {amount} payment on my card within {minutes} minutes.",
                "Got every penny back after a card skimming incident in {city}. Northwind sorted it in {days} days.",
                "Props to Northwind {branch}: a sharp-eyed cashier saved a customer from wiring {amount} to a scammer.",
                "The scam warning before transfers made my {relative} double-check a {amount} payment. Good move.",
            ],
        },
    },
    "customer service": {
        "negative": {
            "news": [
                "Northwind Savings apologises as complaint backlogs leave {city} customers waiting {weeks} weeks.",
            ],
            "post": [
                "Waited {wait} on hold with Northwind Savings about my {product}, then the call dropped. Awful.",
                "Northwind {branch} turned me away on {weekday}: the only cashier was on a break. Terrible service.",
                "Complained about my {product} to Northwind {weeks} weeks ago, still nothing but an automated email.",
                "Northwind's chat agent pasted the same scripted answer about my {product} for {wait}. Useless.",
                "Staff at the Northwind {branch} branch were rude when I asked why my {product} paperwork was lost.",
            ],
        },
        "neutral": {
            "news": [
                "Northwind Savings extends opening hours at its {branch} branch to 6pm on {weekday}s.",
                "Northwind says average call waiting time was {minutes} minutes in {month}, per its service report.",
                "Northwind Savings will close its {branch} branch in {month} and move staff to a nearby hub.",
                "Ombudsman figures list {count} complaints about Northwind Savings {product}s this quarter.",
            ],
            "post": [
                "Does anyone know if the Northwind {branch} branch takes cash deposits on {weekday}s?",
                "Booked a Northwind appointment about my {product} for {weekday}. Anything I should bring?",
                "Northwind's support chat currently estimates a {minutes} minute reply time for {product} questions.",
            ],
        },
        "positive": {
            "news": [
                "Northwind Savings tops the {city} customer satisfaction survey for the {ordinal} year running.",
            ],
            "post": [
                "{staff} at Northwind {branch} sorted out my {product} mix-up in ten minutes. Lovely person.",
                "Phoned Northwind about my {product} and got a real human in under {minutes} minutes. Refreshing.",
                "Really patient help from {staff} on Northwind's support chat while I set up a {product}.",
                "Five stars for {staff} at Northwind: explained every step of my {product} and called back.",
            ],
        },
    },
    "fees and rates": {
        "negative": {
            "news": [
                "Northwind Savings hikes its monthly account fee to {fee} from {month}, and customers are furious.",
                "{city} consumer group names Northwind among banks paying savers only {rate} as mortgages rise.",
            ],
            "post": [
                "Northwind charged me a {fee} overdraft fee for going {small} over my limit. Daylight robbery.",
                "Another rate cut on the Northwind easy-access saver, down to {rate}. Not worth keeping money there.",
                "Ripped off with a {fee} foreign transaction fee in {country} on a Northwind card sold as free abroad.",
            ],
        },
        "neutral": {
            "news": [
                "Northwind Savings sets its two-year fixed mortgage rate at {rate} from {weekday}, like its rivals.",
                "Northwind changes how overdraft interest is calculated from {month}; letters go out on {weekday}.",
                "Northwind Savings publishes a business account fee schedule with a {fee} base charge from {month}.",
            ],
            "post": [
                "What's the current Northwind rate on a {saver}? The website still shows {rate}.",
                "Is the {fee} fee on the Northwind {saver} charged monthly or quarterly? Can't tell from the leaflet.",
            ],
        },
        "positive": {
            "news": [
                "Northwind Savings cuts first-time buyer mortgage rates in {city} to {rate}, undercutting rivals.",
                "Northwind scraps its {fee} paper statement charge from {month} after customer feedback.",
            ],
            "post": [
                "Northwind raised its {saver} to {rate}, best rate I've found at a high-street bank.",
                "No fee on my {amount} transfer to {country} with Northwind. Finally a bank that doesn't skim.",
                "No monthly fee and {rate} on my {saver}. Switched to Northwind in {month}, haven't looked back.",
            ],
        },
    },
    "mobile app": {
        "negative": {
            "news": [],
            "post": [
                "Northwind app update {version} drains my battery and the balance screen takes forever on my {device}.",
                "Northwind app froze mid-transfer on my {device} and now I can't tell if the {amount} went through.",
                "Why does the Northwind app make me re-add payees after each update? {version} did it on my {device}.",
                "Notifications from the Northwind app arrive {hours} late on my {device}, useless for budgeting.",
                "Since version {version} the Northwind app hides {feature} three menus deep. Clumsy redesign.",
                "Cheque deposit in the Northwind app rejects every photo from my {device}. Gave up after {count} goes.",
            ],
        },
        "neutral": {
            "news": [
                "Northwind Savings releases version {version} of its mobile app with {feature} and a new home screen.",
                "Northwind says its mobile app will be down for planned maintenance on {weekday} from {night}.",
            ],
            "post": [
                "Does the Northwind app support {feature} yet? Can't find it in the menus on my {device}.",
                "Northwind app {version} moved {feature} under the Accounts tab, according to the release notes.",
            ],
        },
        "positive": {
            "news": [],
            "post": [
                "Love {feature} in the Northwind app on my {device}, makes budgeting so much easier.",
                "Northwind app {version} is fast and clean on my {device}. Paying friends takes seconds.",
                "Version {version} of the Northwind app finally added {feature}. Five stars.",
                "Best banking app I've used: instant notifications and {feature}. Northwind {version} is great.",
                "Paid my rent in {city} with the Northwind app in under a minute on my {device}.",
            ],
        },
    },
    "earnings": {
        "negative": {
            "news": [
                "Northwind Savings Bank {quarter} profit falls {pct} as bad-loan provisions rise.",
                "Analysts at {broker} cut Northwind Savings to sell on {weekday}, citing shrinking lending margins.",
                "Northwind shares slide {pct} on {weekday} after the bank trims its full-year outlook.",
            ],
            "post": [
                "Sold my Northwind shares after that {quarter} update, down {pct} already. Margins look awful.",
            ],
        },
        "neutral": {
            "news": [
                "Northwind Savings Bank will report {quarter} results on {weekday}, the bank said.",
                "Northwind Savings keeps its {quarter} dividend unchanged at {cents} cents a share.",
                "Northwind reports a net interest margin of {margin} for the {quarter}, unchanged from last year.",
            ],
            "post": [
                "Anyone listening to the Northwind {quarter} results call on {weekday}?",
            ],
        },
        "positive": {
            "news": [
                "Northwind Savings Bank beats forecasts with a {pct} rise in {quarter} profit.",
                "Northwind shares climb {pct} on {weekday} after strong deposit growth and a higher dividend.",
                "{broker} upgrades Northwind Savings to buy after the {quarter}, praising its cost control.",
                "Record mortgage lending lifts Northwind Savings revenue {pct} in the {quarter}.",
            ],
            "post": [
                "Northwind's {quarter} numbers look great, shares up {pct}. Glad I held on.",
            ],
        },
    },
}

# The outage: a recognisable phrase ("login", "keeps crashing") in every text.
SPIKE_TEMPLATES: list[tuple[str, str]] = [
    ("post", "Can't log in to the Northwind app since {since}, login keeps failing with error {code}."),
    ("post", "Northwind app keeps crashing on the login screen since {since}. Anyone else?"),
    ("post", "Is the Northwind app down? Login fails every time on my {device}."),
    ("post", "Locked out of the Northwind app: login error {code} and I need to pay rent today."),
    ("news", "Northwind login outage: customers in {city} report the mobile app crashing when they try to sign in."),
    ("post", "Northwind app crashed at login {count} times since {since}. Can't see my balance or pay anyone."),
    ("post", "@NorthwindBank your app keeps crashing at login, please fix this! {device} here."),
    ("post", "Northwind app login broken. Reinstalled it on my {device} and it still keeps crashing."),
    ("post", "Stuck at the Northwind app login screen with error {code} for {wait} now. Fix it."),
    (
        "post",
        "Northwind app keeps crashing after the login page on my {device}. Card payments work, the app doesn't.",
    ),
]

FILLERS: dict[str, list[str]] = {
    "amount": ["$40", "$85", "$120", "$180", "$260", "$399", "$640", "$900", "$1,200", "$2,750"],
    "fee": ["$5", "$8", "$10", "$12", "$15", "$20", "$25", "$35"],
    "small": ["$3", "$7", "$12", "a few dollars", "less than $20"],
    "rate": ["3.85%", "4.1%", "4.25%", "4.4%", "4.5%", "4.75%", "4.9%", "5.05%", "5.2%"],
    "pct": ["3%", "4%", "6%", "8%", "9%", "11%", "14%", "17%"],
    "cents": ["18", "21", "24", "27"],
    "margin": ["2.41%", "2.48%", "2.52%", "2.57%"],
    "city": [
        "Harbour City",
        "Northshire",
        "Eastmoor",
        "Lakeside",
        "Port Ellen",
        "Kingsbridge",
        "Millbrook",
        "Westfold",
        "Ashby Cross",
    ],
    "branch": ["Harbour Street", "Northgate", "Riverside", "Old Town", "Station Road", "Elm Park", "Market Square"],
    "staff": ["Dana", "Luis", "Amara", "Tom", "Keiko", "Sam", "Ravi", "Ingrid"],
    "relative": ["dad", "mum", "grandmother", "grandad", "uncle", "neighbour", "aunt"],
    "impostor": ["bank staff", "fraud officers", "branch managers", "police officers", "courier drivers"],
    "secret": ["one-time passcodes", "card PINs", "full card numbers", "security answers", "online banking passwords"],
    "fake_site": ["northwind-verify.test", "nw-account-check.test", "northwindsavings-help.test", "nwsb-secure.test"],
    "days": ["two", "three", "four", "five", "six", "ten"],
    "weeks": ["three", "four", "five", "six", "eight"],
    "hours": ["hours", "two hours", "half a day", "a day"],
    "wait": ["40 minutes", "an hour", "75 minutes", "90 minutes", "two hours"],
    "minutes": ["2", "3", "4", "5", "6", "8", "12", "15"],
    "count": ["3", "4", "6", "7", "9", "12", "14", "18"],
    "ordinal": ["second", "third", "fourth", "fifth"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "month": ["January", "February", "March", "April", "May", "June", "July"],
    "night": ["midnight to 2am", "1am to 3am", "2am to 4am", "11pm to 1am"],
    "product": [
        "mortgage",
        "joint account",
        "business account",
        "savings account",
        "car loan",
        "ISA",
        "current account",
    ],
    "saver": ["regular saver", "easy-access saver", "cash ISA", "one-year bond", "children's saver"],
    "country": ["Spain", "Portugal", "Japan", "Canada", "Mexico", "Italy", "Greece"],
    "device": ["iPhone", "Pixel", "Galaxy phone", "iPad", "OnePlus", "Android tablet"],
    "version": ["5.2", "5.2.1", "5.3", "5.3.2", "5.4", "5.4.1"],
    "feature": [
        "savings goals",
        "instant card freeze",
        "the budgeting tab",
        "bill splitting",
        "spending insights",
        "round-ups",
        "dark mode",
    ],
    "quarter": ["third quarter", "second quarter", "first half", "nine months"],
    "broker": ["Harbour Securities", "Kingsbridge Capital", "Lakeside Research", "Eastmoor & Co"],
    "since": ["this morning", "about 7am", "breakfast", "lunchtime", "the last update"],
    "code": ["NW-503", "NW-401", "E1042", "E2210"],
}

OUTLETS = [
    ("Harbour City Ledger", "ledger.example.com"),
    ("The Finance Wire", "financewire.example.com"),
    ("Northshire Gazette", "gazette.example.com"),
    ("Market Desk Daily", "marketdesk.example.com"),
]
REPORTERS = ["Elena Brooks", "Marcus Hale", "Ruth Okafor", "Jonas Lindqvist", "Aisha Rahman", "Peter Vance"]
HANDLES = [
    "jess_m",
    "dkowalski",
    "budgetbee",
    "harbourdad",
    "ines.r",
    "moneyminded",
    "tkwan88",
    "lakeside_lou",
    "frugal_fran",
    "oldtownoli",
    "priya_spends",
    "benno",
    "sara.codes",
    "kingsbridge_k",
    "mattyp",
    "nightowl_nat",
]
REVIEW_STARS = {"negative": (1, 2), "neutral": (3, 3), "positive": (4, 5)}


# --- generator -------------------------------------------------------------------------


def _fill(template: str, rng: random.Random) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{name: rng.choice(FILLERS[name]) for name in sorted(names)})


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _activity(hour: datetime) -> float:
    """Relative volume of an hour (UTC): quiet at night, busiest mid-afternoon, calmer at weekends."""
    diurnal = 1.0 + 0.6 * math.sin(2 * math.pi * (hour.hour - 9) / 24)
    return diurnal * (0.75 if hour.weekday() >= 5 else 1.0)


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:8])


def _row(
    rng: random.Random,
    *,
    topic: str,
    sentiment: str,
    voice: str,
    text: str,
    published_at: datetime,
    external_id: str,
    scenario: str = "",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"demo": True, "written_as": {"topic": topic, "sentiment": sentiment}}
    if scenario:
        metadata["scenario"] = scenario
    number = rng.randrange(10**8, 10**9)
    if voice == "news":
        outlet, domain = rng.choice(OUTLETS)
        source, author = "news", rng.choice(REPORTERS)
        url = f"https://{domain}/{published_at:%Y/%m/%d}/{_slug(text)}-{number}"
        metadata["outlet"] = outlet
    elif topic in ("mobile app", "customer service") and rng.random() < 0.6:
        source, author = "app_store", rng.choice(HANDLES)
        url = f"https://apps.example.com/northwind-savings/reviews/{number}"
        metadata["rating"] = rng.randint(*REVIEW_STARS[sentiment])
    else:
        handle = rng.choice(HANDLES)
        source, author = "social", "@" + handle.replace(".", "_")
        url = f"https://chirp.test/{handle.replace('.', '_')}/status/{number}"
    return {
        "text": text,
        "source": source,
        "url": url,
        "author": author,
        "published_at": published_at.isoformat().replace("+00:00", "Z"),
        "external_id": external_id,
        "language": "en",
        "metadata": metadata,
    }


def _distinct_text(template: str, rng: random.Random, used: Counter, limit: int = MAX_SAME_TEXT) -> str:
    """A filled template, drawn again (a few times) when that exact text is already common."""
    text = _fill(template, rng)
    for _ in range(MAX_REDRAWS):
        if used[text] < limit:
            break
        text = _fill(template, rng)
    used[text] += 1
    return text


def _hour_documents(hour: datetime, now: datetime, used: Counter) -> list[dict[str, Any]]:
    """The documents of one hour (UTC); the same whenever they are generated, up to redraws."""
    rng = random.Random(f"{SEED}:{hour:%Y%m%d%H}")  # noqa: S311 - reproducible demo data
    results_day = hour.toordinal() % RESULTS_EVERY_DAYS == 0 and hour.hour in RESULTS_HOURS
    rows = []
    for topic, (per_hour, mix, news_share) in VOLUME.items():
        count = _poisson(rng, per_hour * _activity(hour))
        plan = [mix] * count
        if topic == "earnings" and results_day:
            plan += [RESULTS_MIX] * _poisson(rng, RESULTS_EXTRA_PER_HOUR)
        for index, weights in enumerate(plan):
            sentiment = rng.choices(SENTIMENTS, weights=weights)[0]
            by_voice = TEMPLATES[topic][sentiment]
            voice = "news" if rng.random() < news_share else "post"
            voice = voice if by_voice[voice] else ("post" if voice == "news" else "news")
            template = rng.choice(by_voice[voice])
            published_at = hour + timedelta(seconds=rng.randrange(3600))
            row = _row(
                rng,
                topic=topic,
                sentiment=sentiment,
                voice=voice,
                text=_distinct_text(template, rng, used),
                published_at=published_at,
                external_id=f"nw-demo-{hour:%Y%m%d%H}-{topic.replace(' ', '-')}-{index}",
            )
            if published_at < now:  # the current hour: only what has been published so far
                rows.append(row)
    return rows


def _outage_documents(now: datetime, used: Counter) -> list[dict[str, Any]]:
    """The login outage: SPIKE_DOCUMENTS negative app texts (all different) in the last SPIKE_MINUTES."""
    rng = random.Random(f"{SEED}:outage:{now:%Y%m%d}")  # noqa: S311 - reproducible demo data
    rows = []
    for index in range(SPIKE_DOCUMENTS):
        # Most complaints in the middle of the outage, a few as it starts and as it eases.
        minutes_ago = rng.triangular(2, SPIKE_MINUTES, SPIKE_MINUTES / 2.5)
        voice, template = SPIKE_TEMPLATES[index % len(SPIKE_TEMPLATES)]
        rows.append(
            _row(
                rng,
                topic=SPIKE_TOPIC,
                sentiment="negative",
                voice=voice,
                text=_distinct_text(template, rng, used, limit=1),
                published_at=(now - timedelta(minutes=minutes_ago)).replace(microsecond=0),
                external_id=f"nw-demo-outage-{now:%Y%m%d}-{index}",
                scenario="login outage",
            )
        )
    return rows


def demo_documents(now: datetime) -> list[dict[str, Any]]:
    """About DAYS days of documents up to `now` (oldest first) in the ingest row format.

    Each topic gets up to a few documents an hour (VOLUME: busiest mid-afternoon UTC,
    quieter at night and at weekends, a burst of earnings news on results day); the last
    SPIKE_MINUTES add a negative spike in SPIKE_TOPIC (a login outage). Deterministic
    for a given `now`.
    """
    now = now.astimezone(UTC)
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    rows: list[dict[str, Any]] = []
    used: Counter = Counter()
    for back in range(DAYS * 24 - 1, -1, -1):
        rows.extend(_hour_documents(current_hour - timedelta(hours=back), now, used))
    rows.extend(_outage_documents(now, used))
    rows.sort(key=lambda row: (row["published_at"], row["external_id"]))
    return rows
