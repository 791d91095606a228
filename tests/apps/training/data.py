"""A fictional bank's customer messages, written for these tests (three intents)."""

CARD_LOST = [
    "I lost my debit card yesterday",
    "My card was stolen at the station",
    "Cannot find my bank card anywhere",
    "Please block my card, it is missing",
    "Someone took my wallet with my card",
    "My credit card is gone, what do I do",
    "I think I left my card in a taxi",
    "Freeze my card please, I misplaced it",
    "The card fell out of my pocket",
    "Report a lost card",
    "My card disappeared after shopping",
    "Lost card, need a replacement",
]
OPENING_HOURS = [
    "What time does the branch open?",
    "Are you open on Saturdays?",
    "When does the Main Street office close?",
    "Opening hours of the downtown branch",
    "Is the branch open on public holidays?",
    "How late are you open on Fridays?",
    "What are your hours tomorrow?",
    "Can I visit the branch on Sunday?",
    "When do you open in the morning?",
    "Branch hours this week",
    "Is the office open at lunchtime?",
    "Until what time can I come in today?",
]
TRANSFER_FEES = [
    "How much does an international transfer cost?",
    "Is there a fee for sending money abroad?",
    "What do you charge for a wire transfer?",
    "Transfer fees to Europe",
    "Do SEPA payments have a charge?",
    "How expensive is it to send money to the US?",
    "Are domestic transfers free?",
    "What is the fee for an urgent payment?",
    "Cost of a foreign currency transfer",
    "Why was I charged for my transfer?",
    "Fee for sending 500 euros to Spain",
    "Do you charge for receiving money from abroad?",
]

INTENTS = {"card_lost": CARD_LOST, "opening_hours": OPENING_HOURS, "transfer_fees": TRANSFER_FEES}


def labelled_csv(intents: dict[str, list[str]] | None = None) -> bytes:
    lines = ["text,label"]
    for label, texts in (intents or INTENTS).items():
        lines.extend(f'"{text}",{label}' for text in texts)
    return ("\n".join(lines) + "\n").encode()


FAQ_PAIRS = [
    ("How do I block my card?", "You can freeze your card instantly in the app under Cards > Freeze."),
    ("When is the branch open?", "Branches are open Monday to Friday from 9:00 to 17:00."),
    ("What does a transfer abroad cost?", "International transfers cost 5 EUR plus the exchange margin."),
    ("How do I reset my PIN?", "Reset your PIN at any of our ATMs with your card and the code we text you."),
    ("Can I increase my card limit?", "Raise your daily card limit in the app under Cards > Limits."),
    ("How do I open a savings account?", "Open a savings account online in five minutes with your ID."),
    ("Where can I see my IBAN?", "Your IBAN is shown on the account page of the app and on statements."),
    ("How do I dispute a payment?", "Dispute a card payment from the transaction detail in the app."),
    ("Is there a fee for cash withdrawals?", "Withdrawals at our ATMs are free; other banks' ATMs cost 2 EUR."),
    ("How do I change my address?", "Change your address in Settings > Personal details."),
    ("Can I get a paper statement?", "Order paper statements in Settings > Documents for 1 EUR each."),
    ("How long does a transfer take?", "Transfers within the euro area arrive the next business day."),
    ("Do you offer mortgages?", "Yes, book a mortgage consultation online or at any branch."),
    ("How do I close my account?", "Close your account by sending a signed request from the app."),
]


def pairs_jsonl() -> bytes:
    import json

    return "\n".join(json.dumps({"query": q, "positive": a}) for q, a in FAQ_PAIRS).encode() + b"\n"
