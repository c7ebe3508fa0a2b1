"""One table of answers per kind of exercise, for the Python checker and the page's checker.

Each kind has a small exercise (the shapes of the book's own: units, tolerance, known
mistakes, dimension names) and answers of every sort: right answers in several spellings, the
typical wrong ones, garbage, empty text, huge numbers and Unicode. ``tests/test_checkers.py``
judges them in Python; ``tests/browser/test_exercises_in_browser.py`` types them into the page
and requires the same verdict and the same words.
"""

from __future__ import annotations

from mbcourse.exercises import MultipleChoice, NumericQuestion, ShapeQuestion


def numeric() -> NumericQuestion:
    return NumericQuestion(
        "How many parameters does SqueezeExcitation(64, reduction=4) hold?",
        answer=2128,
        units="parameters",
        hints=["Two 1×1 convs with bias.", "C·S + S + S·C + C with S = C // r"],
        mistakes={2048: "You forgot the biases.", 4256: "Counted twice?"},
        explanation="fc1 and fc2 with their biases.",
        key="table.number",
    )


def tolerant() -> NumericQuestion:
    return NumericQuestion(
        "Size in kB?",
        answer=401.408,
        rel_tol=0.01,
        units="kB",
        key="table.tolerant",
        mistakes={802.816: "That is float32."},
    )


def ratio() -> NumericQuestion:
    return NumericQuestion("Ratio?", answer=0.0478125, rel_tol=0.01, key="table.ratio")


def shape() -> ShapeQuestion:
    return ShapeQuestion(
        "Output shape?",
        answer=(1, 24, 56, 56),
        mistakes={(1, 24, 112, 112): "The stride halves H and W."},
        explanation="Stride 2 halves 112.",
        key="table.shape",
    )


def choice() -> MultipleChoice:
    return MultipleChoice(
        "How many multiply-adds?",
        options={
            "1,000,000": "Right: one multiply-add is two FLOPs.",
            "2,000,000": "That is the FLOP count.",
            "4,000,000 (× 2)": "The other way round: MACs = FLOPs / 2.",
        },
        correct="1,000,000",
        hints=["A MAC is a multiplication and an addition."],
        key="table.choice",
    )


SPACE_KINDS = "\u00a0\u2009\u202f\u3000\t"
# fmt: off
NUMBER_ANSWERS = [
    # right, in several spellings
    "2128", "2,128", "2 128", "2_128", "+2128", "2128.0", "2.128e3", "2.128E+03", "2.128k",
    "2128 parameters", "2128 Parameter", "2128PARAMETERS", f"{SPACE_KINDS}2128{SPACE_KINDS}",
    "２１２８", "2128\u2009parameters", "0.002128M",
    # typical wrong answers
    "2048", "4256", "4,256", "2127", "21280", "212.8", "1064", "-2128", "\u22122128", "0",
    "2.1k", "1e6", "0.5", "-0.001", "2,128.5", ".5", "5.", "1e-320", "123456789012345678",
    "1e300", "7e299",
    # garbage, empty, huge, Unicode
    "", "   ", "abc", "2*1064", "(2128)", "2^11", "2128/1", "3,5", "1,28", "21,28", "0x850",
    "nan", "NaN", "inf", "-Infinity", "infinity parameters", "1e400", "-1e400", "9" * 250,
    "1" + "0" * 150, "1" + "0" * 400, "२१२८", "٣", "2128 🙂", "🙂" * 45, "2128 params",
    "2.1M", "1/0", "2128 parameterss", "k", "M", "2128kk", "1__2", "2128 ,", "e5", "1e", "--5",
    "Ünïcödé", "2128\n", "\u200b2128", "ß",
]
TOLERANT_ANSWERS = [
    "401.408", "401.4", "401", "405", "397.4", "397", "401.4 kB", "401.4 KB", "401.4kb",
    "405.5", "410", "802.816", "802.8 kB", "401408", "0.401408", "401.4k", "4e2", "-401.4",
    "401,4", "4.014e2 kB", "", "kB", "1e300 kB",
]
RATIO_ANSWERS = [
    "0.0478125", "0.048", "0.0473", "0.0483", "0.05", "0.0478", "4.78e-2", "20.9", "1/20.9",
    "0.478", "0.00478", "0.0956", "0.0239", "-0.0478", "0", "1e-7", "123456.789", "99999.5",
    "0.000123456", "1.2345e-9", "1234.5", "12345.5", "0.9999996", "9.99996", "99995",
    "1e15", "1.5e15", "4.5e20", "1.2345e21", "1e-5", "2.5e-7",
]
SHAPE_ANSWERS = [
    # right
    "1, 24, 56, 56", "(1,24,56,56)", "[1, 24, 56, 56]", "1x24x56x56", "1 × 24 × 56 × 56",
    "1 24 56 56", "torch.Size([1, 24, 56, 56])", "(1, 24, 56, 56,)", "((1,24,56,56))",
    "１, ２４, ５６, ５６", f"{SPACE_KINDS}1,24,56,56{SPACE_KINDS}", "1*24*56*56",
    "01, 024, 56, 56", "+1, 24, 56, 56",
    # wrong
    "1, 24, 112, 112", "24, 56, 56", "1, 24, 56", "1, 48, 28, 28", "56, 56, 24, 1",
    "1, 24, 56, 56, 1", "1,56,56", "0, 0, 0, 0", "999999999, 24, 56, 56", "1", "(8,)",
    # garbage, empty, huge, Unicode
    "", "   ", "(", "()", "[]", "a, b", "1,,2", "1.5, 2", "-1, 24, 56, 56", "1, 24, 56, 5600000000",
    "1; 24; 56; 56", "{1, 2}", "((1,2),(3,4))", "1，24，56，56", "😀", "1," * 150,
    "torch.Size(1, 24, 56, 56)", "1 x", "x", "1.0, 24, 56, 56", "., 24", "1, 2a, 3", "1 - 2",
    "1, 24, 56, 56 🙂", "ᛯ, 2",
]
CHOICE_ANSWERS = [
    "1,000,000", "2,000,000", "4,000,000 (× 2)", " 1,000,000 ", "A", "b", "C", "c", "D", "Z",
    "", "   ", None, "1", "é", "ß", "not an option", "1,000,000.", "a.", "ａ",
]
# fmt: on

TABLE = {
    "number": (numeric, NUMBER_ANSWERS),
    "tolerant": (tolerant, TOLERANT_ANSWERS),
    "ratio": (ratio, RATIO_ANSWERS),
    "shape": (shape, SHAPE_ANSWERS),
    "choice": (choice, CHOICE_ANSWERS),
}


def python_verdicts() -> dict[str, list[dict[str, object]]]:
    """Every table row judged by the Python checker: kind -> [{input, status, message}]."""
    out: dict[str, list[dict[str, object]]] = {}
    for kind, (make, answers) in TABLE.items():
        question = make()
        out[kind] = [
            {"input": a, "status": (f := question.check(a)).status, "message": f.message}
            for a in answers
        ]
    return out
