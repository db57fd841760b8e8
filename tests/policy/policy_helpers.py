"""Builders shared by the policy tests (no event loop, fixed clock values)."""

from __future__ import annotations

from multidict import CIMultiDict

from edge.models import Entry
from edge.policy import PolicyOptions, analyze_request, format_http_date, make_entry
from edge.policy.request import RequestFacts

T0 = 1_700_000_000.0  # a fixed "now" for the tables
OPTS = PolicyOptions()


def hdrs(*pairs: tuple[str, str], **kw: str) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict(pairs)
    for k, v in kw.items():
        out.add(k.replace("_", "-"), v)
    return out


def date(ts: float) -> str:
    return format_http_date(ts)


def req(method: str = "GET", *pairs: tuple[str, str], **kw: str) -> RequestFacts:
    return analyze_request(method, hdrs(*pairs, **kw))


def entry(
    *pairs: tuple[str, str],
    status: int = 200,
    request_time: float = T0,
    response_time: float = T0,
    req_headers: CIMultiDict[str] | None = None,
    opts: PolicyOptions = OPTS,
    with_date: bool = True,
    **kw: str,
) -> Entry:
    headers = hdrs(*pairs, **kw)
    if with_date and "date" not in headers:
        headers.add("Date", date(response_time))
    return make_entry(
        key="v0|http://example.com/a",
        url="http://example.com/a",
        req_headers=req_headers if req_headers is not None else CIMultiDict(),
        method="GET",
        status=status,
        reason="OK",
        resp_headers=headers,
        request_time=request_time,
        response_time=response_time,
        body_size=10,
        opts=opts,
        stored_at=response_time,
    )
