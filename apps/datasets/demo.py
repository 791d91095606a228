"""Demo datasets for the embedded demo (`make demo`): a fictional bank's customer messages
and FAQ, written for this project. Small on purpose: a `head` job trains in seconds."""

from __future__ import annotations

import csv
import io
import json

SUPPORT_INTENTS: dict[str, list[str]] = {
    "card_lost_or_stolen": [
        "I lost my debit card this morning",
        "My card was stolen on the train",
        "I can't find my credit card anywhere",
        "Please block my card, my wallet is gone",
        "Someone took my bag with my bank card in it",
        "I think I left my card at the restaurant",
        "How do I report a stolen card?",
        "My card is missing, can you freeze it?",
        "Lost my card abroad, what now?",
        "I need a replacement for a lost card",
        "The ATM kept my card and I have no card now",
        "Card stolen, there are payments I did not make",
    ],
    "branch_opening_hours": [
        "What time does the Harbour Street branch open?",
        "Are your branches open on Saturday?",
        "When do you close today?",
        "Is the city centre office open on public holidays?",
        "Opening hours of the branch near the station",
        "Can I come in on Sunday?",
        "How late are you open on Thursdays?",
        "What are the branch hours over Christmas?",
        "Is the branch open during lunch?",
        "When does the Northgate branch open tomorrow?",
        "Do you have evening opening hours?",
        "Until what time can I deposit cash at the counter?",
    ],
    "transfer_fees": [
        "How much does it cost to send money abroad?",
        "Is there a fee for international transfers?",
        "What do you charge for an urgent payment?",
        "Are transfers to other banks free?",
        "Why was I charged 5 euros for my transfer?",
        "Fee for sending money to the United States",
        "Do SEPA transfers cost anything?",
        "What is the exchange margin on foreign transfers?",
        "How expensive is a same-day transfer?",
        "Do I pay to receive money from abroad?",
        "Transfer costs for a business account",
        "Is there a cheaper way to send money to my family overseas?",
    ],
    "mortgage_enquiry": [
        "I want to apply for a mortgage",
        "What is your current mortgage rate?",
        "Can I book an appointment about a home loan?",
        "How much can I borrow to buy a flat?",
        "Do you offer fixed-rate mortgages?",
        "I'd like to remortgage my house",
        "What documents do I need for a mortgage application?",
        "How long does mortgage approval take?",
        "Can first-time buyers get a mortgage with you?",
        "What deposit do I need for a home loan?",
        "Is there an early repayment fee on my mortgage?",
        "Can I overpay my mortgage each month?",
    ],
    "app_login_problem": [
        "I can't log in to the mobile app",
        "The app says my password is wrong but it isn't",
        "I'm locked out of online banking",
        "The verification code never arrives",
        "App crashes when I try to sign in",
        "How do I reset my online banking password?",
        "My new phone won't activate the banking app",
        "Face ID stopped working in the app",
        "I keep getting an error when logging in",
        "Online banking says my account is blocked",
        "Can't sign in after updating the app",
        "The login page just spins forever",
    ],
}

FAQ_PAIRS: list[tuple[str, str]] = [
    ("How do I freeze my card?", "Open the app, go to Cards and tap Freeze. Unfreeze it the same way."),
    ("When are branches open?", "Branches are open Monday to Friday 9:00-17:00 and Saturday 9:00-12:00."),
    ("What does an international transfer cost?", "International transfers cost 5 EUR plus a 0.5% exchange margin."),
    ("How do I reset my online banking password?", "Tap 'Forgot password' on the login screen and enter the code."),
    ("How can I raise my card limit?", "Change your daily limit in the app under Cards > Limits, up to 5,000 EUR."),
    ("How do I open a savings account?", "Open a savings account in the app in five minutes with your ID card."),
    ("Where do I find my IBAN?", "Your IBAN is on the account page in the app and on every statement."),
    ("How do I dispute a card payment?", "Open the payment in the app and tap 'Dispute'; we answer within 10 days."),
    ("Are cash withdrawals free?", "Withdrawals at Northwind ATMs are free; other banks' ATMs cost 2 EUR."),
    ("How do I change my address?", "Update your address in the app under Settings > Personal details."),
    ("How long does a transfer take?", "Transfers in the euro area arrive the next business day."),
    ("Can I get a mortgage appointment?", "Book a mortgage appointment online or at any branch counter."),
    ("How do I close my account?", "Send a signed closing request from the app; we close it within 5 days."),
    ("What if my card is stolen abroad?", "Freeze it in the app and call +31 20 555 0100 day and night."),
    ("Can I order paper statements?", "Order paper statements in Settings > Documents for 1 EUR each."),
]


def support_intents_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    for label, texts in SUPPORT_INTENTS.items():
        writer.writerows([text, label] for text in texts)
    return buffer.getvalue().encode()


def faq_pairs_jsonl() -> bytes:
    return "".join(json.dumps({"query": q, "positive": a}) + "\n" for q, a in FAQ_PAIRS).encode()
