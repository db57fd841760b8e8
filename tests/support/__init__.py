"""Code the tests share (helpers, a scripted origin); not tests themselves."""

import pytest

# assert statements in these helpers report like those in test modules
pytest.register_assert_rewrite("tests.support.helpers", "tests.support.scripted_origin")
