"""The body of the weekly check's GitHub issue (.github/workflows/weekly.yml).

Reads what the two weekly jobs left behind: what changed in Colab's published freeze
(``tools/learner_env.py --compare ... --report freeze-changes.md``), the learner-environment
report (``tools/learner_env.py --report learner-report.md``, Markdown naming the failing
chapters and their errors) and Sphinx linkcheck's ``output.json`` (one JSON object per line),
and writes a Markdown body whose first line sums it up:

    python tools/weekly_report.py --learner-result failure --learner-report learner-report.md \
        --freeze-changes freeze-changes.md \
        --links-result success --linkcheck _build/linkcheck/output.json \
        --run-url https://github.com/OWNER/REPO/actions/runs/1 --output issue.md
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

FAILED_LINKS = ("broken", "timeout")  # linkcheck statuses that fail the check
MAX_REPORT_CHARS = 40_000  # GitHub issue bodies hold 65,536 characters


def broken_links(output_json: Path) -> list[dict[str, object]]:
    """The entries of linkcheck's output.json whose status fails the check."""
    found = []
    for line in output_json.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get("status") in FAILED_LINKS:
                found.append(entry)
    return found


def compose(
    learner_result: str,
    learner_report: Path | None,
    links_result: str,
    linkcheck: Path | None,
    run_url: str,
    today: datetime.date | None = None,
    freeze_changes: Path | None = None,
) -> str:
    """The issue body (Markdown). Results are GitHub's job results: success, failure, ..."""
    today = today or datetime.date.today()
    links = broken_links(linkcheck) if linkcheck and linkcheck.is_file() else None
    changes = (freeze_changes.read_text(encoding="utf-8").strip()
               if freeze_changes and freeze_changes.is_file() else "")
    failing = []
    if changes and "No package changed." not in changes:
        failing.append("Colab's published freeze changed")
    if learner_result != "success":
        failing.append(f"learner environment: {learner_result}")
    if links_result != "success" or links:
        count = f"{len(links)} broken" if links is not None else "no linkcheck output"
        failing.append(f"links: {links_result}, {count}")
    summary = "; ".join(failing) if failing else "everything passed"
    body = [f"Weekly check of {today.isoformat()}: {summary}.", "", f"Run: {run_url}", ""]

    if changes:
        body += ["## Colab's published environment", "", changes, "",
                 "Once the chapters pass on it: copy the newest files of googlecolab/backend-info "
                 "into `tools/colab/` and put its commit in `tools/colab/SOURCE`.", ""]
    body += ["## Every chapter in a learner's environment", ""]
    body.append(f"Job result: **{learner_result}**.")
    if learner_report and learner_report.is_file():
        text = learner_report.read_text(encoding="utf-8").strip()
        if len(text) > MAX_REPORT_CHARS:
            cut = "\n\n… (cut; the full report is in the run's artifacts)"
            text = text[:MAX_REPORT_CHARS] + cut
        body += ["", text]
    else:
        body += ["", "No report was written (the job stopped before it); see the run's log."]

    body += ["", "## Links (Sphinx linkcheck)", "", f"Job result: **{links_result}**."]
    if links is None:
        body += ["", "No linkcheck output was written; see the run's log."]
    elif links:
        body += ["", "| page | line | link | status | reason |", "|---|---|---|---|---|"]
        for entry in links:
            info = str(entry.get("info", "")).replace("|", "\\|").replace("\n", " ")[:200]
            body.append(
                f"| {entry.get('filename', '')} | {entry.get('lineno', '')} | "
                f"{entry.get('uri', '')} | {entry.get('status', '')} | {info} |"
            )
    else:
        body += ["", "No broken link."]
    return "\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learner-result", required=True)
    parser.add_argument("--learner-report", type=Path)
    parser.add_argument("--freeze-changes", type=Path)
    parser.add_argument("--links-result", required=True)
    parser.add_argument("--linkcheck", type=Path)
    parser.add_argument("--run-url", default="")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    body = compose(
        args.learner_result, args.learner_report, args.links_result, args.linkcheck,
        args.run_url, freeze_changes=args.freeze_changes,
    )
    args.output.write_text(body, encoding="utf-8")
    print(body.splitlines()[0])


if __name__ == "__main__":
    main()
