"""The conformance summary: the suite's verdicts counted, and the baseline gate."""

from __future__ import annotations

import json

import pytest

from conformance.run import set_key
from conformance.summary import (
    OPTIONAL,
    REQUIRED,
    SETUP,
    Record,
    baseline_of,
    parse_records,
    render,
    summarise,
)

EMPTY: dict[str, dict[str, str]] = {REQUIRED: {}, OPTIONAL: {}, SETUP: {}}

RECORDS = [
    Record("a", "required", "pass"),
    Record("b", "optimal", "pass"),
    Record("c", "required", "fail", "Assertion: Response 2 comes from cache"),
    Record("d", "optimal", "optional_fail", "Assertion: Response 2 does not come from cache"),
    Record("e", "required", "dependency_fail", depends_on=("c",)),
    Record("f", "check", "yes"),
    Record("g", "check", "no"),
    Record("h", "required", "setup_fail", "Setup: Response 1 status is 502, not 200"),
    Record("i", "check", "retry", "Setup: retry"),
    Record("j", "required", "untested"),
]


def test_counts_follow_the_suites_verdicts() -> None:
    s = summarise(RECORDS, EMPTY)
    assert (s.passed, s.checks_yes, s.checks_no, s.untested) == (2, 1, 1, 1)
    assert s.counts == {REQUIRED: 1, OPTIONAL: 1, SETUP: 3}


def test_a_dependency_failure_names_the_test_it_waited_for() -> None:
    s = summarise(RECORDS, EMPTY)
    (e,) = [f for f in s.failures if f.id == "e"]
    assert e.message == "depends on c"


@pytest.mark.parametrize(
    ("known", "ok"),
    [
        ({}, False),  # a required failure outside the baseline fails the gate
        ({REQUIRED: {"c": "why"}}, True),
    ],
)
def test_only_an_unlisted_required_failure_fails(
    known: dict[str, dict[str, str]], ok: bool
) -> None:
    s = summarise(RECORDS, {**EMPTY, **known})
    assert s.ok is ok
    assert ("conformance: OK" in render(s)) is ok


def test_new_optional_and_setup_failures_do_not_fail_the_gate() -> None:
    s = summarise(RECORDS, {**EMPTY, REQUIRED: {"c": "why"}})
    assert s.ok
    assert "NEW   d:" in render(s)


def test_baseline_entries_that_pass_now_are_reported_as_fixed() -> None:
    s = summarise(RECORDS, {**EMPTY, REQUIRED: {"c": "why", "a": "was broken"}})
    assert s.fixed == ((REQUIRED, "a"),)
    assert "no longer failing" in render(s)


def test_a_written_baseline_keeps_existing_notes() -> None:
    s = summarise(RECORDS, EMPTY)
    out = baseline_of(s, {**EMPTY, OPTIONAL: {"d": "a known limit"}})
    assert out[OPTIONAL] == {"d": "a known limit"}
    assert out[REQUIRED] == {"c": "TODO: say why"}
    assert set(out[SETUP]) == {"e", "h", "i"}  # type: ignore[arg-type]


def test_classifier_output_parses() -> None:
    text = json.dumps([{"id": "x", "kind": "optimal", "result": "pass", "depends_on": ["y"]}])
    assert parse_records(text) == [Record("x", "optimal", "pass", "", ("y",))]


def test_set_key_reads_values_as_yaml() -> None:
    config: dict[str, object] = {"cache": {"dir": "/tmp/x"}}
    set_key(config, "cache.serve_stale_on_error=0")
    set_key(config, "proxy.front=aiohttp")
    assert config == {
        "cache": {"dir": "/tmp/x", "serve_stale_on_error": 0},
        "proxy": {"front": "aiohttp"},
    }
