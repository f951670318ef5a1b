"""Browser tests serve the same app as the API tests."""

from tests.api.conftest import api, api_chain, make_api  # noqa: F401 - re-exported fixtures
