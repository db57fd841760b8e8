"""Pure HTTP caching policy (RFC 9111 as a shared cache, RFC 9110, 5861, 8246, 9211, 9213).

No I/O, no event loop, no clock reads: ``now`` is always a parameter.
"""

from edge.policy.cache_control import CacheControl, parse_cache_control, parse_targeted
from edge.policy.cache_status import cache_status
from edge.policy.conditional import ConditionalResult, evaluate_conditionals, not_modified_headers
from edge.policy.decide import (
    LookupAction,
    LookupDecision,
    StoreDecision,
    conditional_headers,
    decide_lookup,
    decide_store,
    freshen,
    make_entry,
    matches_304,
)
from edge.policy.headers import (
    HOP_BY_HOP,
    age_value,
    format_http_date,
    parse_http_date,
    strip_hop_by_hop,
)
from edge.policy.invalidate import invalidation_urls
from edge.policy.keys import normalize_url, primary_key
from edge.policy.options import PolicyOptions
from edge.policy.ranges import RangeDecision, evaluate_range
from edge.policy.request import RequestFacts, analyze_request
from edge.policy.tags import extract_tags, group_invalidations
from edge.policy.vary import normalize, select_variant, variant_key, vary_names

__all__ = [
    "HOP_BY_HOP",
    "CacheControl",
    "ConditionalResult",
    "LookupAction",
    "LookupDecision",
    "PolicyOptions",
    "RangeDecision",
    "RequestFacts",
    "StoreDecision",
    "age_value",
    "analyze_request",
    "cache_status",
    "conditional_headers",
    "decide_lookup",
    "decide_store",
    "evaluate_conditionals",
    "evaluate_range",
    "extract_tags",
    "format_http_date",
    "freshen",
    "group_invalidations",
    "invalidation_urls",
    "make_entry",
    "matches_304",
    "normalize",
    "normalize_url",
    "not_modified_headers",
    "parse_cache_control",
    "parse_http_date",
    "parse_targeted",
    "primary_key",
    "select_variant",
    "strip_hop_by_hop",
    "variant_key",
    "vary_names",
]
