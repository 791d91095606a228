"""Tiny project-written data: a fictional bank (Tessera Test Bank) and its FAQ."""

from ml.classification import LabelledText
from ml.retrieval import TextPair

INTENTS = {
    "card_lost": [
        "I lost my debit card yesterday",
        "My card was stolen from my bag",
        "I can't find my bank card anywhere",
        "Someone took my credit card, please block it",
        "I think I left my card at the restaurant and it's gone",
        "Please freeze my card, I have lost it",
        "My wallet with my card was stolen on the train",
        "Lost card, what should I do now?",
        "I dropped my card somewhere in town",
        "Block my card immediately, it was stolen",
        "My card is missing since this morning",
    ],
    "opening_hours": [
        "What time does the branch open?",
        "Are you open on Saturdays?",
        "When do your offices close today?",
        "What are your opening hours?",
        "Is the bank open on public holidays?",
        "Until what time can I visit the branch?",
        "Do you open early on Monday mornings?",
        "What hours is customer service available?",
        "Are branches open on Sunday?",
        "When does the downtown office open tomorrow?",
        "Is the branch closed at lunchtime?",
    ],
    "transfer_fees": [
        "How much does an international transfer cost?",
        "Is there a fee for sending money abroad?",
        "What do you charge for wire transfers?",
        "Are transfers to other banks free?",
        "Why was I charged a fee for my transfer?",
        "How much is the fee for a SEPA payment?",
        "Do you charge for transfers in foreign currency?",
        "What is the cost of an urgent bank transfer?",
        "Is sending money to my friend's account free of charge?",
        "Transfer fees for payments to the US?",
        "How expensive is it to wire money overseas?",
    ],
    "change_address": [
        "I moved house, how do I update my address?",
        "Please change the postal address on my account",
        "How can I update my home address?",
        "I have a new address, where do I change it?",
        "Update my address details please",
        "I am relocating next month, how do I change my address?",
        "Can I change my address in the app?",
        "My address is wrong on my statements",
        "Where do I register my new home address?",
        "I need to correct the address you have for me",
        "We moved, please send letters to our new address",
    ],
}

# The first 8 of each intent train, the last 3 are a held-out test set.
TRAIN = [LabelledText(text, label) for label, texts in INTENTS.items() for text in texts[:8]]
TEST = [LabelledText(text, label) for label, texts in INTENTS.items() for text in texts[8:]]
LABELS = sorted(INTENTS)

FAQ = {
    "Call us or block your card in the app at once if it is lost or stolen; a new card arrives in 5 days.": [
        "I lost my card",
        "my card got stolen what do I do",
        "how do I block a missing card",
    ],
    "Branches are open Monday to Friday from 9:00 to 17:00 and Saturday until 13:00.": [
        "when are you open",
        "opening times on saturday",
        "what time does the branch close",
    ],
    "Transfers within the euro area are free; international transfers cost 5 euros.": [
        "how much is an international transfer",
        "fees for sending money abroad",
        "are euro transfers free",
    ],
    "Change your address in the app under Profile, then Personal details.": [
        "how to update my address",
        "I moved house",
        "where do I change my postal address",
    ],
    "Your PIN is sent by post three days after the card; you can also view it in the app.": [
        "where is my pin",
        "I forgot my PIN code",
        "how do I see my card pin",
    ],
    "Savings accounts pay 2.1% interest per year, credited monthly.": [
        "what interest rate do savings get",
        "how much interest will I earn",
        "when is interest paid on savings",
    ],
}

PAIRS = [TextPair(query=query, positive=answer) for answer, queries in FAQ.items() for query in queries]
