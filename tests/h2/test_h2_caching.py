"""The caching behaviour suite over HTTP/2: the web tests below, unchanged, with this
directory's ``edge``/``make_edge`` (an HTTP/2 client by prior knowledge). A cheap subset,
one or two per concern; the HTTP/1.1-only ones (Connection fields, framing breaks read as
aiohttp's exceptions) are not among them."""

from __future__ import annotations

import pytest

from tests.support.scripted_origin import origin as origin  # noqa: F401  (fixture)
from tests.web.test_caching import (  # noqa: F401
    test_collapsing_100_concurrent_misses_make_one_origin_request,
    test_head_is_answered_from_a_stored_get,
    test_rfc5861_3_stale_while_revalidate_serves_stale_then_refreshes,
    test_rfc5861_4_stale_if_error_on_5xx_and_refused,
    test_rfc9110_13_client_conditionals_answered_from_cache,
    test_rfc9111_4_1_vary_keeps_variants_apart,
    test_rfc9111_4_2_3_age_includes_upstream_age,
    test_rfc9111_4_2_stale_response_is_revalidated_with_304,
    test_rfc9111_4_4_unsafe_method_invalidates,
    test_rfc9111_4_fresh_response_is_served_from_cache,
    test_rfc9111_5_2_1_7_only_if_cached,
    test_rfc9111_5_2_1_request_directives,
    test_rfc9211_cache_status_is_a_valid_list_on_every_response,
)
from tests.web.test_proxy import (  # noqa: F401
    test_a_route_has_its_own_body_limit,
    test_chunked_origin_body_passes_through,
    test_download_streams_with_exact_length,
    test_oversized_upload_is_413,
)
from tests.web.test_rfc9110_ranges import (  # noqa: F401
    test_range_is_served_from_a_stored_full_response,
    test_unsatisfiable_range_is_416_with_the_size,
)
from tests.web.test_rfc9111_validation import (  # noqa: F401
    test_304_updates_returned_and_stored_headers,
)

pytestmark = pytest.mark.timeout(60)
