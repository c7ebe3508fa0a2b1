"""The GitHub workflows, tested where they cannot run.

* every workflow validates against GitHub's workflow schema (check-jsonschema's vendored copy,
  offline) and passes zizmor's offline security audit with no finding above "low";
* ci runs exactly ``.ci/run``; pages builds with the README's book command and deploys the
  folder that command builds, with least privileges; weekly runs the learner environment and
  the link check and reports to one issue;
* every action is pinned to a full commit, and no secret beyond the default token is used.

check-jsonschema and zizmor come with ``.[test]``; without them these tests skip, except in CI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
sys.path.insert(0, str(ROOT / "tools"))
from readme_command import readme_command  # noqa: E402

REQUIRED = os.environ.get("CI") == "true" or os.environ.get("MBCOURSE_REQUIRE_BROWSER") == "1"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def _tool(name: str) -> str:
    """The executable of a test tool (next to this Python first); skips or fails without it."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed: python -m pip install -e '.[test]'"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def _uses(step: dict[str, Any]) -> str:
    return step.get("uses", "").split("@")[0]


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in FILES} == {"ci.yml", "pages.yml", "weekly.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_valid_against_githubs_workflow_schema(path: Path) -> None:
    check = _tool("check-jsonschema")
    done = subprocess.run(
        [check, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_above_low() -> None:
    zizmor = _tool("zizmor")
    done = subprocess.run(
        [zizmor, "--offline", "--format", "json", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.stdout.strip(), f"zizmor wrote nothing (exit {done.returncode}): {done.stderr}"
    findings = json.loads(done.stdout)
    serious = [
        f"{f['ident']} ({f['determinations']['severity']}): "
        f"{f['locations'][0]['concrete']['feature']!r} in "
        f"{f['locations'][0]['symbolic']['key']['Local']['verbatim_path']}"
        for f in findings
        if f["determinations"]["severity"] not in ("Unknown", "Informational", "Low")
    ]
    assert serious == [], "\n".join(serious)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_pinned_to_a_commit_and_no_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", text, flags=re.MULTILINE)
    assert uses, f"{path.name} uses no action"
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned to a SHA"
        assert re.search(r"#\s*v\d", comment), f"{ref}: say which version the SHA is (# vX.Y.Z)"
    assert "secrets." not in text, f"{path.name} uses a secret; only the default token is allowed"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_are_explicit(path: Path) -> None:
    """Top-level permissions are set, and every job that writes anything names it."""
    workflow = _load(path.name)
    assert "permissions" in workflow, f"{path.name}: set top-level permissions"
    for name, job in workflow["jobs"].items():
        scopes = job.get("permissions", workflow["permissions"])
        assert scopes is not None and scopes != "write-all", f"{path.name}:{name}: {scopes}"


def test_ci_runs_exactly_ci_run_on_push_and_pull_request() -> None:
    ci = _load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert list(ci["jobs"]) == ["ci"]
    job = ci["jobs"]["ci"]
    assert job["runs-on"] == "ubuntu-latest"
    runs = [s["run"].strip() for s in job["steps"] if "run" in s]
    assert runs == ["bash .ci/run"], f"ci must run exactly .ci/run, not {runs}"
    uses = {_uses(s) for s in job["steps"] if "uses" in s}
    assert {"actions/checkout", "actions/setup-node", "actions/cache"} <= uses
    caches = [s for s in job["steps"] if _uses(s) in ("actions/setup-node", "actions/cache")]
    assert any(s["with"].get("cache") == "npm" for s in caches), "no npm cache"
    assert any("pip" in str(s["with"].get("path", "")) for s in caches), "no pip cache"
    uploads = [s["with"]["path"] for s in job["steps"] if _uses(s) == "actions/upload-artifact"]
    assert "artifacts/screenshots/" in uploads and "_build/html/" in uploads
    for step in job["steps"]:
        if _uses(step) == "actions/upload-artifact":
            assert step.get("if") == "always()", "artifacts help most when the run failed"


def _book_output_dir(command: str) -> Path:
    """The HTML folder that the README's book command builds (jupyter-book build PATH ...)."""
    for part in command.split("&&"):
        words = shlex.split(part)
        if words[:2] == ["jupyter-book", "build"]:
            args = words[2:]
            book = next(a for a in args if not a.startswith("-"))
            out = args[args.index("--path-output") + 1] if "--path-output" in args else book
            return (ROOT / out / "_build" / "html").resolve()
    raise AssertionError(f"no `jupyter-book build` in the README's book command: {command}")


def test_pages_builds_with_the_readme_command_and_deploys_its_folder() -> None:
    pages = _load("pages.yml")
    build = _steps(pages, "build")
    runs = "\n".join(s.get("run", "") for s in build)
    assert "python tools/readme_command.py book-command" in runs
    upload = [s for s in build if _uses(s) == "actions/upload-pages-artifact"]
    assert len(upload) == 1
    deployed = (ROOT / upload[0]["with"]["path"]).resolve()
    assert deployed == _book_output_dir(readme_command("book-command"))
    assert pages["jobs"]["build"]["env"]["MBCOURSE_REQUIRE_PDF"] == "1"


def test_pages_least_privileges_one_deployment_on_main_and_tags() -> None:
    pages = _load("pages.yml")
    assert pages["on"]["push"]["branches"] == ["main"]
    assert any(t.startswith("v") for t in pages["on"]["push"]["tags"])
    assert pages["permissions"] == {}
    assert pages["concurrency"]["cancel-in-progress"] is False
    assert pages["jobs"]["build"]["permissions"] == {"contents": "read"}
    deploy = pages["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert [_uses(s) for s in deploy["steps"]] == ["actions/deploy-pages"]
    release = pages["jobs"]["release"]
    assert release["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert release["permissions"] == {"contents": "write"}
    text = (WORKFLOWS / "pages.yml").read_text(encoding="utf-8")
    assert "mbcourse.pdf" in text and "mbcourse-notebooks.zip" in text


def test_weekly_runs_learner_env_on_colabs_newest_freeze_and_linkcheck_and_reports() -> None:
    """The learner job fetches backend-info's newest freeze, compares it with tools/colab,
    builds the book and runs the learner test on that freeze; the issue opens on a failure or
    on a changed freeze."""
    weekly = _load("weekly.yml")
    assert "schedule" in weekly["on"] and "workflow_dispatch" in weekly["on"]
    steps = _steps(weekly, "learner")
    learner = "\n".join(s.get("run", "") for s in steps)
    assert "googlecolab/backend-info" in learner
    for name in ("pip-freeze.txt", "pip-freeze.gpu.txt", "os-info.txt", "SOURCE"):
        assert name in learner, name
    assert "python tools/learner_env.py --compare tools/colab colab-newest" in learner
    assert "jupyter-book build . -W -n --keep-going" in learner
    run_on_newest = "python tools/learner_env.py --freeze colab-newest --report"
    assert learner.index("jupyter-book build") < learner.index(run_on_newest)
    python = next(s for s in steps if _uses(s) == "actions/setup-python")
    assert "3.13" in str(python["with"]["python-version"]), "Colab's Python for the learner"
    assert weekly["jobs"]["learner"]["outputs"]["freeze-changed"]
    links = "\n".join(s.get("run", "") for s in _steps(weekly, "links"))
    assert "--builder linkcheck" in links
    report = weekly["jobs"]["report"]
    assert set(report["needs"]) == {"learner", "links"}
    assert report["if"] == "failure() || needs.learner.outputs.freeze-changed == 'true'"
    assert report["permissions"] == {"contents": "read", "issues": "write"}
    script = "\n".join(s.get("run", "") for s in report["steps"])
    assert "tools/weekly_report.py" in script and "--freeze-changes" in script
    assert "gh issue create" in script and "gh issue edit" in script
    for job in ("learner", "links"):
        assert weekly["jobs"][job]["permissions"] == {"contents": "read"}


def test_pages_publishes_the_colab_edition_to_the_branch_the_buttons_open() -> None:
    """The build keeps _build/colab; on main one job, holding only contents: write, pushes it
    as the single commit of the branch that _config.yml's colab_edition_branch names."""
    pages = _load("pages.yml")
    kept = [s for s in _steps(pages, "build") if _uses(s) == "actions/upload-artifact"
            and s["with"]["name"] == "colab-edition"]
    assert len(kept) == 1 and kept[0]["with"]["path"].rstrip("/") == "_build/colab"
    job = pages["jobs"]["notebooks"]
    assert job["needs"] == "build" and job["if"] == "github.ref == 'refs/heads/main'"
    assert job["permissions"] == {"contents": "write"}
    fetched = [s for s in job["steps"] if _uses(s) == "actions/download-artifact"]
    assert fetched and fetched[0]["with"]["name"] == "colab-edition"
    push = next(s for s in job["steps"] if "git push" in s.get("run", ""))
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert push["env"]["BRANCH"] == config["sphinx"]["config"]["colab_edition_branch"]
    assert "--force" in push["run"] and "git init" in push["run"]
    assert "${{" not in push["run"], "no expression inside a run script (template injection)"


def test_linkcheck_ignores_only_known_flaky_hosts() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    ignored = config["sphinx"]["config"]["linkcheck_ignore"]
    assert any("colab" in pattern for pattern in ignored)
    assert not any(pattern in (".*", "https://.*") for pattern in ignored)


def test_readme_command_reads_the_readme_as_ci_run_does() -> None:
    """tools/readme_command.py (pages workflow) and .ci/run's awk give the same commands."""
    for name in ("book-command", "test-command"):
        script = (
            f'source <(sed -n "/^readme_command()/,/^}}/p" .ci/run); readme_command {name}'
        )
        done = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == readme_command(name).strip() != ""


def test_weekly_issue_body_names_failing_chapters_and_links(tmp_path: Path) -> None:
    """tools/weekly_report.py: the learner report and the broken links, summed up on line 1."""
    import datetime

    from weekly_report import compose

    report = tmp_path / "learner-report.md"
    report.write_text(
        "| chapter | status |\n|---|---|\n| 04_mbconv | ModuleNotFoundError: myst_nb |\n",
        encoding="utf-8",
    )
    linkcheck = tmp_path / "output.json"
    entries = [
        {"filename": "book/01.ipynb", "lineno": 3, "status": "working", "uri": "https://a.org"},
        {"filename": "book/02.ipynb", "lineno": 7, "status": "broken", "uri": "https://b.org",
         "info": "404 Client Error | Not Found"},
        {"filename": "book/03.ipynb", "lineno": 9, "status": "timeout", "uri": "https://c.org"},
    ]
    linkcheck.write_text("\n".join(json.dumps(e) for e in entries) + "\n", encoding="utf-8")
    day = datetime.date(2026, 1, 5)
    body = compose("failure", report, "failure", linkcheck, "https://run", day)
    first = body.splitlines()[0]
    assert first == (
        "Weekly check of 2026-01-05: learner environment: failure; links: failure, 2 broken."
    )
    changes = tmp_path / "freeze-changes.md"
    changes.write_text("2 package(s) changed:\n\n| torch | 2.11.0 | 2.12.0 |\n", encoding="utf-8")
    moved = compose("success", report, "success", linkcheck.with_name("x.json"), "", day, changes)
    assert moved.splitlines()[0].startswith(
        "Weekly check of 2026-01-05: Colab's published freeze changed"
    )
    assert "| torch | 2.11.0 | 2.12.0 |" in moved and "tools/colab/" in moved
    changes.write_text("No package changed.\n", encoding="utf-8")
    same = compose("failure", report, "success", linkcheck, "", day, changes)
    assert "freeze changed" not in same.splitlines()[0]
    assert "04_mbconv | ModuleNotFoundError: myst_nb" in body
    assert "https://b.org" in body and "404 Client Error \\| Not Found" in body
    assert "https://c.org" in body and "https://a.org" not in body
    quiet = compose("failure", tmp_path / "none.md", "success", linkcheck.with_name("x.json"), "")
    assert "No report was written" in quiet and "No linkcheck output" in quiet
