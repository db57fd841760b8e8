"""The cache-tests results, summarised and compared with the committed baseline.

``classify.mjs`` (run inside the suite) gives one record per test with the
suite's own verdict, the one cache-tests.fyi shows: ``pass``, ``fail`` (a
required test failed), ``optional_fail`` (an "optimal" test failed),
``yes``/``no`` (informational checks), and the verdicts that say the test
could not run as designed: ``dependency_fail`` (a test it depends on did not
pass), ``setup_fail``, ``retry`` (the cache retried a request) and
``harness_fail``. This module is plain data in, text and an exit status out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED = "required"
OPTIONAL = "optional"
SETUP = "setup"

#: The suite's verdicts grouped the way the summary counts them.
_GROUP_OF = {
    "fail": REQUIRED,
    "optional_fail": OPTIONAL,
    "dependency_fail": SETUP,
    "setup_fail": SETUP,
    "retry": SETUP,
    "harness_fail": SETUP,
}
_PASSING = frozenset({"pass", "yes"})
_TITLES = {
    REQUIRED: "required failures",
    OPTIONAL: "optional failures",
    SETUP: "dependency/setup failures",
}


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    kind: str
    result: str
    message: str = ""
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Failure:
    id: str
    group: str
    result: str
    message: str
    known: str | None  # the baseline's note, None when the baseline does not list it


@dataclass(frozen=True, slots=True)
class Summary:
    passed: int
    checks_yes: int
    checks_no: int
    untested: int
    failures: tuple[Failure, ...]
    fixed: tuple[tuple[str, str], ...]  # (group, id) listed in the baseline that no longer fail
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def new_required(self) -> tuple[Failure, ...]:
        return tuple(f for f in self.failures if f.group == REQUIRED and f.known is None)

    @property
    def ok(self) -> bool:
        """The gate: no required failure the baseline does not list."""
        return not self.new_required


def parse_records(text: str) -> list[Record]:
    return [
        Record(
            id=item["id"],
            kind=item["kind"],
            result=item["result"],
            message=item.get("message", ""),
            depends_on=tuple(item.get("depends_on", ())),
        )
        for item in json.loads(text)
    ]


def load_baseline(path: Path) -> dict[str, dict[str, str]]:
    """``{group: {test id: why it is known}}``; a missing file is an empty baseline."""
    if not path.exists():
        return {REQUIRED: {}, OPTIONAL: {}, SETUP: {}}
    data = json.loads(path.read_text())
    return {group: dict(data.get(group, {})) for group in (REQUIRED, OPTIONAL, SETUP)}


def summarise(records: Iterable[Record], baseline: Mapping[str, Mapping[str, str]]) -> Summary:
    records = list(records)
    by_id = {r.id: r for r in records}
    failures: list[Failure] = []
    counts = {REQUIRED: 0, OPTIONAL: 0, SETUP: 0}
    for r in records:
        group = _GROUP_OF.get(r.result)
        if group is None:
            continue
        counts[group] += 1
        message = r.message
        if r.result == "dependency_fail":
            broken = [d for d in r.depends_on if d in by_id and by_id[d].result not in _PASSING]
            message = f"depends on {', '.join(broken)}" + (f" ({message})" if message else "")
        failures.append(Failure(r.id, group, r.result, message, baseline[group].get(r.id)))
    failing = {(f.group, f.id) for f in failures}
    fixed = tuple(
        (group, test_id)
        for group in (REQUIRED, OPTIONAL, SETUP)
        for test_id in baseline[group]
        if (group, test_id) not in failing
    )
    results = [r.result for r in records]
    return Summary(
        passed=results.count("pass"),
        checks_yes=results.count("yes"),
        checks_no=results.count("no"),
        untested=results.count("untested"),
        failures=tuple(failures),
        fixed=fixed,
        counts=counts,
    )


def render(summary: Summary) -> str:
    c = summary.counts
    lines = [
        f"cache-tests: {summary.passed} passed, {c[REQUIRED]} required failures, "
        f"{c[OPTIONAL]} optional failures, {c[SETUP]} dependency/setup failures "
        f"(checks: {summary.checks_yes} yes, {summary.checks_no} no; "
        f"{summary.untested} not applicable)",
    ]
    for group in (REQUIRED, OPTIONAL, SETUP):
        group_failures = [f for f in summary.failures if f.group == group]
        if not group_failures:
            continue
        lines.append("")
        lines.append(f"{_TITLES[group]}:")
        for f in group_failures:
            mark = "known" if f.known is not None else "NEW  "
            lines.append(f"  {mark} {f.id}: {f.message or f.result}")
            if f.known:
                lines.append(f"        baseline: {f.known}")
    if summary.fixed:
        lines.append("")
        lines.append("listed in the baseline but no longer failing (remove them from it):")
        lines.extend(f"  {group}: {test_id}" for group, test_id in summary.fixed)
    lines.append("")
    if summary.ok:
        lines.append("conformance: OK (no required failure outside the baseline)")
    else:
        ids = ", ".join(f.id for f in summary.new_required)
        lines.append(f"conformance: FAILED, required failures not in the baseline: {ids}")
    return "\n".join(lines)


def baseline_of(summary: Summary, old: Mapping[str, Mapping[str, str]]) -> dict[str, object]:
    """A baseline listing today's failures, keeping the notes already written."""
    out: dict[str, object] = {
        "_about": (
            "The cache-tests failures `make conformance` accepts (conformance/run.py): a "
            "required failure not listed here fails the run. Each note says why it is known."
        )
    }
    for group in (REQUIRED, OPTIONAL, SETUP):
        out[group] = {
            f.id: old[group].get(f.id) or "TODO: say why"
            for f in summary.failures
            if f.group == group
        }
    return out
