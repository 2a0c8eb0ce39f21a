from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st

from mioesim_async._build import RequestBuilder, encode_query, with_query

BASE = httpx.URL("https://bpm.example/api_esim/queryIccidInformation")
params_strategy = st.dictionaries(
    st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=6
)


@given(params_strategy)
def test_with_query_is_what_httpx_would_parse(params):
    """The cheap URL equals httpx's own parse of the same URL, for any text."""
    fast = with_query(BASE, encode_query(params))
    assert fast == httpx.URL(str(fast))
    assert dict(fast.params) == params
    assert fast.path == BASE.path
    assert fast.host == BASE.host


def test_commas_travel_unencoded():
    """A list of ICCIDs keeps its commas: valid in a query, and shorter."""
    url = with_query(BASE, encode_query({"iccids": "111,222"}))
    assert url.query == b"iccids=111,222"
    assert url.params["iccids"] == "111,222"


def test_the_base_url_is_not_changed():
    with_query(BASE, "a=1")
    assert BASE.query == b""


class TestRequestBuilder:
    def test_get(self):
        client = httpx.AsyncClient(base_url="https://h.example/", headers={"X-A": "1"})
        builder = RequestBuilder(client)
        timeout = httpx.Timeout(3.0)
        request = builder.build("GET", "/api_esim/getSkus", {"token": "t"}, timeout)
        assert str(request.url) == "https://h.example/api_esim/getSkus?token=t"
        assert request.headers["X-A"] == "1"
        assert request.headers["Host"] == "h.example"
        assert request.extensions["timeout"] == timeout.as_dict()

    def test_post_is_a_form(self):
        builder = RequestBuilder(httpx.AsyncClient(base_url="https://h.example"))
        request = builder.build(
            "POST", "/api_esim/refundOrder", {"orderNum": "EP1"}, httpx.Timeout(1.0)
        )
        assert request.content == b"orderNum=EP1"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert request.url.query == b""
