import pytest

from apps.datasets.validation import is_formula


@pytest.mark.parametrize(
    "value",
    [
        "=SUM(A1:A3)",
        "=1+1",
        '=HYPERLINK("http://x")',
        "@SUM(A1)",
        "@cmd|' /C calc'!A0",
        "+A1",
        "-A1+B2",
        "-1+2",
        "+SUM(A1)",
        "-cmd|' /C calc'!A0",
        "\t=SUM(A1)",
        "\r=1+2",
        "+$A$1",
    ],
)
def test_formulas_are_recognised(value):
    assert is_formula(value)


@pytest.mark.parametrize(
    "value",
    [
        "-5% guidance for the quarter",
        "+1 great service",
        "-1",
        "+44 20 7946 0958",
        "-Q3 results were weak",
        "@acme_support thanks for the quick reply",
        "- bullet point",
        "= is the equals sign",
        "email me at ana@example.com",
        "2+2 is four",
    ],
)
def test_ordinary_sentences_are_not_formulas(value):
    assert not is_formula(value)
