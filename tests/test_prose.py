"""The chapters' prose as a reader meets it: each section holds what it announces, and no term is
used before the page defines or shows it.

The notebooks are read in reading order as blocks: headings, paragraphs (a directive, a list, a
display equation or a table is one block) and code cells. A section is a heading and the
blocks up to the next heading of any level. What a section must hold:

* **What a paragraph announces.** A paragraph that ends with a colon introduces the next block,
  and one that speaks of "the table below" (figure, cell, plot, list, output) introduces a later
  one: they must be in the same section, not behind the next heading.
* **Its own numbers.** A number a section prints (``{glue:text}`name```) is computed in that
  section or an earlier one: prose that prints a number computed under a later heading talks
  about a measurement that is not where it is (the chapter's opening and its learning goals
  may preview results).
* **Its own figures.** A figure is referred to ({numref}) in the section that draws it.
* **Its own measurement.** A section whose heading says it measures ("Our measurement", "Measured
  on this device", "... measured here") runs a measurement (timing, counting) in its code.

Chapter 3 once put the ECA-Net table under "Our measurement: SE inside an MBConv of
EfficientNet-B0" and that measurement under "Where SE sits in a ResNet"; each rule above
catches it (``test_the_rules_catch_chapter_3s_misplaced_sections``).

Terms (``TERMS``): a paper's table, section or symbol a chapter uses (Table 2's rows, d′, T⁺, ...)
must be defined or shown at its first use or before, by the pattern given for it.

``KNOWN`` lists what the chapters still do wrong (issue 21's second phase empties it; see
``tests/known_problems.py``): an entry that no longer fails is reported, so the list only shrinks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from known_problems import judge

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


# ---- reading a notebook as blocks and sections ---------------------------------------------


@dataclass(frozen=True)
class Block:
    """One unit of reading order: a heading, a paragraph-like block of Markdown, or a code cell."""

    cell: int  # index of the notebook cell
    kind: str  # "heading", "text" or "code"
    text: str  # the heading's title, the Markdown, or the code cell's source
    level: int = 0  # heading level (1 = the chapter title)
    figure: str = ""  # a code cell's figure name (mystnb metadata), if it draws one
    caption: str = ""  # that figure's caption
    visible_output: bool = True  # a code cell whose output the page shows


@dataclass
class Section:
    """A heading (None before the first one) and the blocks under it, to the next heading."""

    heading: Block | None
    blocks: list[Block] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.heading.text if self.heading else "(before the first heading)"


_FENCE = re.compile(r"^(`{3,}|~{3,}|:{3,})")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _markdown_blocks(cell: int, source: str) -> list[Block]:
    """Split one Markdown cell into headings and paragraph-like blocks (blank-line separated;
    a fenced block, a directive or a $$ equation stays whole)."""
    blocks: list[Block] = []
    lines: list[str] = []
    fence = ""
    math = False

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            blocks.append(Block(cell, "text", text))
        lines.clear()

    for line in source.splitlines():
        stripped = line.strip()
        if fence:
            lines.append(line)
            if stripped.startswith(fence[0] * len(fence)) and stripped.strip(fence[0]) == "":
                fence = ""
            continue
        if math:
            lines.append(line)
            if stripped.endswith("$$"):
                math = False
            continue
        opening = _FENCE.match(stripped)
        if opening:
            flush()
            fence = opening.group(1)
            lines.append(line)
            continue
        if stripped.startswith("$$"):
            flush()
            lines.append(line)
            math = not (stripped.endswith("$$") and len(stripped) > 2)
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            blocks.append(Block(cell, "heading", heading.group(2), level=len(heading.group(1))))
            continue
        if not stripped:
            flush()
            continue
        lines.append(line)
    flush()
    return blocks


def blocks_of(path: Path) -> list[Block]:
    """The notebook's blocks in reading order (cells tagged remove-cell are not read)."""
    blocks: list[Block] = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        tags = set(cell.metadata.get("tags", []))
        if "remove-cell" in tags:
            continue
        if cell.cell_type == "markdown":
            blocks += _markdown_blocks(index, cell.source)
        elif cell.cell_type == "code":
            figure = cell.metadata.get("mystnb", {}).get("figure", {})
            blocks.append(
                Block(
                    index,
                    "code",
                    cell.source,
                    figure=figure.get("name", ""),
                    caption=figure.get("caption", ""),
                    visible_output=not tags & {"remove-output"},
                )
            )
    return blocks


def sections_of(blocks: list[Block]) -> list[Section]:
    sections = [Section(None)]
    for block in blocks:
        if block.kind == "heading":
            sections.append(Section(block))
        else:
            sections[-1].blocks.append(block)
    return sections


# ---- the section rules ---------------------------------------------------------------------

_ANNOUNCES_BELOW = re.compile(
    r"\b(?:table|figure|plot|chart|cell|list|output|diagram|code)s? (?:just |right )?below\b"
    r"|\bbelow:|\bthe following (?:table|figure|cell|plot|list)",
    re.IGNORECASE,
)
_GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z_][A-Za-z0-9_]*)")
_GLUE_CALL = re.compile(r"""\bglue\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
_MEASURING_HEADING = re.compile(
    r"\bour measurement\b|\bmeasured (?:on this|here|time)\b|\bmeasured,? here\b", re.IGNORECASE
)
_MEASURES = re.compile(
    r"\b(?:compare_latency|time_interleaved|count_parameters|count_flops|activation_memory|"
    r"measure_\w+|benchmark\w*|run_seeds|optimization_ratios|\w*sweep\w*|load_\w+)\("
)
_PREVIEW = re.compile(r"^(?:learning goals|summary)$", re.IGNORECASE)


def _refers_to(text: str, figure: str) -> bool:
    reference = r"\{(?:numref|ref)\}`(?:[^`<]*<)?" + re.escape(figure) + r">?`"
    return re.search(reference, text) is not None


def _shows_something(block: Block) -> bool:
    """A code cell with a visible output, or a table, equation, list, code block or directive."""
    if block.kind == "code":
        return block.visible_output
    return re.match(r"\||\$\$|`{3}|:{3}|[*-] |\d+\. ", block.text) is not None


def _snippet(text: str, length: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def section_problems(path: Path) -> list[str]:
    """Every breach of the section rules in one chapter, as one line each."""
    sections = sections_of(blocks_of(path))
    problems: list[str] = []

    produced: dict[str, int] = {}  # glue name -> index of the section whose code computes it
    for number, section in enumerate(sections):
        for block in section.blocks:
            if block.kind == "code":
                for name in _GLUE_CALL.findall(block.text):
                    produced.setdefault(name, number)

    for number, section in enumerate(sections):
        blocks = section.blocks
        texts = [b.text for b in blocks if b.kind == "text"]
        for i, block in enumerate(blocks):
            if block.kind != "text" or _FENCE.match(block.text):
                continue
            last_line = block.text.rstrip().splitlines()[-1].rstrip()
            if last_line.endswith(":") and i == len(blocks) - 1:
                problems.append(
                    f"[{section.title}] announces what follows, but the next thing is "
                    f"{_next_heading(sections, number)}: {_snippet(block.text[-160:])!r}"
                )
            elif _ANNOUNCES_BELOW.search(block.text) and not any(
                _shows_something(b) for b in blocks[i + 1 :]
            ):
                said = _ANNOUNCES_BELOW.search(block.text).group(0)
                problems.append(
                    f"[{section.title}] says {said!r}, but nothing follows it before "
                    f"{_next_heading(sections, number)}"
                )
        if number > 0 and not (number == 1 or _PREVIEW.match(section.title)):
            for text in texts:
                for name in _GLUE_REF.findall(text):
                    later = produced.get(name)
                    if later is not None and later > number:
                        problems.append(
                            f"[{section.title}] prints {{glue}}`{name}`, which is computed "
                            f"under a later heading, [{sections[later].title}]"
                        )
        for block in blocks:
            if block.figure and not any(_refers_to(t, block.figure) for t in texts):
                problems.append(
                    f"[{section.title}] draws {block.figure}, but its text never refers to it"
                )
        if section.heading and _MEASURING_HEADING.search(section.title):
            code = "\n".join(b.text for b in blocks if b.kind == "code")
            if not _MEASURES.search(code):
                problems.append(
                    f"[{section.title}] says it measures, but its code measures nothing"
                )
    return list(dict.fromkeys(problems))  # a number printed twice is one problem


def _next_heading(sections: list[Section], number: int) -> str:
    if number + 1 < len(sections):
        return f"the heading [{sections[number + 1].title}]"
    return "the end of the chapter"


# ---- terms used before they are defined ----------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A term a chapter uses (``use``), and what counts as defining or showing it (``defined``):
    the first match of ``defined`` must start before the end of the block of the first use."""

    name: str
    use: str  # regular expression of a use
    defined: str  # regular expression of its definition (or of the place that shows it)
    why: str  # what a reader needs, for the failure message


EFFICIENTNET_TABLE_1 = Term(
    "Table 1 (EfficientNet)",
    r"Table 1\b",
    r"EfficientNet(?:-B0)?'s (?:baseline )?(?:network )?Table 1|Table 1 of (?:the )?"
    r"EfficientNet|Table 1 \((?:EfficientNet|the B0)",
    "'Table 1's stage 5' names EfficientNet's Table 1 (B0's stages) without saying whose table "
    "it is or showing it (chapter 6 shows it)",
)

# The chapters' paper tables, sections and symbols, and what defines each. A definition may sit
# in the sentence of the first use ("d′ input and d″ output channels"). The patterns ask for
# the content, not for a phrasing: name the table's columns or show it, say what a symbol is.
TERMS: dict[str, list[Term]] = {
    "02_inverted_residuals": [
        Term(
            "Table 2",
            r"Table 2\b",
            r"Table 2[^.]{0,120}\(\$?t, c, n, s\$?\)|\(\$?t, c, n, s\$?\)[^.]{0,40}Table 2"
            r"|Table 2[^.]{0,60}architecture",
            "MobileNetV2's Table 2 (its architecture: one row (t, c, n, s) per stage) is named "
            "as what its rows are, or shown, before 'Table 2's c = 24 row' is used",
        ),
        Term(
            "Table 1",
            r"Table 1\b",
            r"Table 1[^.]{0,160}\b(?:input|operator|output)\b",
            "MobileNetV2's Table 1 (the block: input, operator, output of each layer) is shown "
            "or described where the chapter first checks against it",
        ),
        Term(
            "d′ and d″",
            r"d'|d′|d″",
            r"\$d'\$[^.]{0,60}\binput\b|\binput\b[^.]{0,40}\$d'\$",
            "d′ and d″ are the block's input and output channels; the learning goals use them "
            "in a formula before the text says so",
        ),
        Term(
            "T⁺",
            r"T\^\{?\+\}?|T⁺",
            r"pseudo-?inverse[^.]{0,20}(?:\$T\^\{?\+|T⁺)",
            "T⁺ is the pseudo-inverse of T",
        ),
        Term(
            "Section 5.1",
            r"Section 5\.1",
            r"Section 5\.1[^.]{0,80}[Mm]emory[ -]efficient inference"
            r"|[Mm]emory[ -]efficient inference[^.]{0,40}Section 5\.1",
            "the paper's Section 5.1 is named by what it is ('Memory efficient inference')",
        ),
    ],
    "03_squeeze_excitation": [
        Term(
            "MBConv6",
            r"MBConv6",
            r"MBConv6[^.]{0,30}MBConv block with (?:an )?expansion ratio|"
            r"MBConv block with (?:an )?expansion ratio \$?e = 6",
            "MBConv6 is an MBConv block with expansion ratio e = 6 (chapter 4 teaches MBConv)",
        ),
        EFFICIENTNET_TABLE_1,
    ],
    "04_mbconv": [
        EFFICIENTNET_TABLE_1,
        Term(
            "M and N",
            r"HWM|\$M\$ input channels|to \$N\$ channels",
            r"\$?M = C_\\text\{in\}|\$?N = C_\\text\{out\}",
            "the chapter counts channels as C_in and C_out; the kernel-size argument switches "
            "to M and N without relating them",
        ),
    ],
}


def term_problems(path: Path) -> list[str]:
    """Every term of ``TERMS`` for this chapter that is used before its definition."""
    terms = TERMS.get(path.stem, [])
    if not terms:
        return []
    reading: list[tuple[Block, str]] = []
    for block in blocks_of(path):
        text = block.text
        if block.kind == "code" and block.caption:
            text = block.caption + "\n" + text  # the caption, as the reader sees it
        reading.append((block, text))
    problems = []
    for term in terms:
        first_use = next(
            ((i, m) for i, (_, t) in enumerate(reading) if (m := re.search(term.use, t))), None
        )
        if first_use is None:
            continue
        i, use = first_use
        definition = next(
            (j for j, (_, t) in enumerate(reading[: i + 1]) if re.search(term.defined, t)), None
        )
        if definition is None:
            block, text = reading[i]
            problems.append(
                f"{term.name!r} is used in cell {block.cell} before it is defined "
                f"({term.why}): {_snippet(text[max(0, use.start() - 60) : use.end() + 40])!r}"
            )
    return problems


# ---- what the chapters still do wrong --------------------------------------------------------

# chapter -> {substring of a problem line: what issue 21's second phase changes}. The tests fail
# on anything else, and on an entry that matches no problem any more (remove it then).
KNOWN: dict[tuple[str, str], dict[str, str]] = {
    ("terms", "02_inverted_residuals"): {
        "'Table 2' is used in cell 3": "'The block, drawn from the module' says 'Table 2's c = 24 "
        "row' before the chapter says what Table 2 is (cell 13 explains its rows (t, c, n, s)): "
        "name it as the architecture table, one row (t, c, n, s) per stage, at first use",
        "'Table 1' is used in cell 7": "'Shapes through expand, depthwise, project' checks "
        "'against the paper's Table 1' without showing or describing it (input, operator, "
        "output per layer)",
        "'d′ and d″' is used in cell 0": "the learning goals give h w d′ t (d′ + k² + d″) before "
        "cell 9 says d′ and d″ are the input and output channels: say it in the goal",
        "'Section 5.1' is used in cell 22": "'The memory argument' opens with 'Section 5.1 of the "
        "paper:': name the section (Memory efficient inference)",
    },
    ("sections", "03_squeeze_excitation"): {
        "[The other side: ECA-Net] announces what follows": "the paragraph ending 'summed over the "
        "network:' announces the ECA parameter table (cell 22), which sits under the next heading, "
        "'Our measurement: SE inside an MBConv of EfficientNet-B0': move that heading and its two "
        "paragraphs below the ECA table and its paragraph (cell 23)",
        "prints {glue}`ch3_b0_r`": "the B0 measurement's text (in cell 21) prints numbers that "
        "cell 27 computes under 'Where SE sits in a ResNet': cells 27-30 (the B0 block, its SE "
        "sweep, the latency and Figure 13) belong under 'Our measurement', after its text",
        "prints {glue}`ch3_b0_cexp`": "(the same move as ch3_b0_r)",
        "[Our measurement: SE inside an MBConv of EfficientNet-B0] says it measures": "(the same "
        "move: the section holds only the ECA count today)",
    },
    ("terms", "03_squeeze_excitation"): {
        "'Table 1 (EfficientNet)' is used in cell 21": "'Table 1's stage 5': say EfficientNet's "
        "Table 1 (B0's stages, shown in chapter 6)",
    },
    ("terms", "04_mbconv"): {
        "'Table 1 (EfficientNet)' is used in cell 3": "'the second block of Table 1's stage 5': "
        "say EfficientNet's Table 1 (B0's stages, shown in chapter 6)",
        "'M and N' is used in cell 7": "'Why SiLU, and why 5 × 5 kernels' counts HWM(k² + N) for M "
        "input channels: write it in C_in and C_out as the rest of the chapter, or say M = C_in, "
        "N = C_out",
    },
    ("sections", "08_performance"): {
        "draws fig-ch8-fusion-grid": "'MBConv against Fused-MBConv, measured here' draws a "
        "numbered figure that no sentence refers to: refer to it with {numref} where the text "
        "reads it",
    },
}


def _judge(check: str, chapter: str, problems: list[str]) -> None:
    judge(KNOWN, check, chapter, problems, Path(__file__).name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_section_holds_what_it_announces(path: Path) -> None:
    _judge("sections", path.stem, section_problems(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_term_is_used_before_it_is_defined(path: Path) -> None:
    _judge("terms", path.stem, term_problems(path))


# ---- the rules on the defects they were written for ---------------------------------------


def _notebook(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        new = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(new(source))
    path = tmp_path / "ch.ipynb"
    nbformat.write(nb, path)
    return path


# Chapter 3 as it was (cells 21-27, shortened): the ECA paragraph announces its table, the next
# heading comes first; the B0 section prints numbers computed under the ResNet heading.
_CH3_AS_IT_WAS = [
    (
        "md",
        "# SE\n\n## Is r = 1 ideal?\n\nSENet's table.\n\n### The other side: ECA-Net\n\n"
        "ECA-Net found a gain. The parameter cost of each choice, summed over the network:\n\n"
        "## Our measurement: SE inside an MBConv of EfficientNet-B0\n\nA reduction of "
        "{glue:text}`b0_r` in every block; we measure its latency on this machine.",
    ),
    ("code", "eca = {name: count(2048) for name, count in variants.items()}\nprint(eca)"),
    ("md", "## Where SE sits in a ResNet\n\nOn the residual branch."),
    (
        "code",
        "block = MBConv(80, 80)\nglue('b0_r', r_eff)\n"
        "latency = compare_latency(variants, (8, 80, 14, 14))",
    ),
]
_CH3_IN_ORDER = [
    (
        "md",
        "# SE\n\n## Is r = 1 ideal?\n\nSENet's table.\n\n### The other side: ECA-Net\n\n"
        "ECA-Net found a gain. The parameter cost of each choice, summed over the network:",
    ),
    ("code", "eca = {name: count(2048) for name, count in variants.items()}\nprint(eca)"),
    (
        "md",
        "## Our measurement: SE inside an MBConv of EfficientNet-B0\n\nWe measure its "
        "latency on this machine:",
    ),
    (
        "code",
        "block = MBConv(80, 80)\nglue('b0_r', r_eff)\n"
        "latency = compare_latency(variants, (8, 80, 14, 14))",
    ),
    (
        "md",
        "A reduction of {glue:text}`b0_r` in every block.\n\n## Where SE sits in a ResNet\n\n"
        "On the residual branch.",
    ),
]


def test_the_rules_catch_chapter_3s_misplaced_sections(tmp_path: Path) -> None:
    problems = section_problems(_notebook(tmp_path, _CH3_AS_IT_WAS))
    assert any("[The other side: ECA-Net] announces what follows" in p for p in problems)
    assert any(
        "prints {glue}`b0_r`, which is computed under a later heading, "
        "[Where SE sits in a ResNet]" in p
        for p in problems
    )
    assert any(
        "[Our measurement: SE inside an MBConv of EfficientNet-B0] says it measures" in p
        for p in problems
    )
    assert section_problems(_notebook(tmp_path, _CH3_IN_ORDER)) == []


def test_a_figure_belongs_to_the_section_that_refers_to_it(tmp_path: Path) -> None:
    path = _notebook(
        tmp_path,
        [
            ("md", "# C\n\n## A\n\nText."),
            ("code", "fig = draw()"),
            ("md", "## B\n\n{numref}`fig-c-a` shows it."),
        ],
    )
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["mystnb"] = {"figure": {"name": "fig-c-a", "caption": "A figure."}}
    nbformat.write(nb, path)
    assert section_problems(path) == ["[A] draws fig-c-a, but its text never refers to it"]


def test_announcing_below_needs_something_below(tmp_path: Path) -> None:
    path = _notebook(tmp_path, [("md", "# C\n\n## A\n\nThe table below lists them.\n\n## B")])
    assert section_problems(path) == [
        "[A] says 'table below', but nothing follows it before the heading [B]"
    ]


def test_a_term_may_be_defined_where_it_is_first_used_but_not_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    term = Term("d′", r"d'", r"\$d'\$ input", "d′ is the input width")
    monkeypatch.setitem(TERMS, "ch", [term])
    before = _notebook(tmp_path, [("md", "# C\n\nCost $h w d'$, with $d'$ input channels.")])
    assert term_problems(before) == []
    after = _notebook(
        tmp_path, [("md", "# C\n\nCost $h w d'$.\n\n## Later\n\nWith $d'$ input channels.")]
    )
    [problem] = term_problems(after)
    assert problem.startswith("'d′' is used in cell 0 before it is defined (d′ is the input width)")
