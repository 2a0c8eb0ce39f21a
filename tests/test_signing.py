from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from mioesim_async import SignatureStyle
from mioesim_async._signing import SigningAuth, render_params, sign

SECRET = "1234567890qwertyuiopasdfghjklzxc"
TOKEN = "29281-9EFE5E410BEF5300DD15E3830BD65601"

# CONTRACT section 3: every known-answer vector, both styles.
VECTORS = [
    (
        {"phonenumber": "13800000000", "password": "mypassword"},
        "9d3017ea1ffa8e5df1839a5bef2f4da4",
        "AB0603942871EFEC83C327DA614E644F",
    ),
    (
        {"token": TOKEN},
        "72d335e8b2aa3561f5c7837a80cc8cf0",
        "6EAD091F44FC271AB9F1DA11A8F1419D",
    ),
    (
        {
            "token": TOKEN,
            "skuId": "45",
            "priceId": "441",
            "count": "1",
            "backInfo": "1",
        },
        "17f99f6d2e39e54d1a73be92d7cfb958",
        "546B2324F8F96BB44271F34F483D6C35",
    ),
]


class TestSign:
    @pytest.mark.parametrize(("params", "plain", "upper"), VECTORS)
    def test_plain(self, params, plain, upper):
        """PLAIN hashes the sorted string as is, in lower-case hex."""
        assert sign(params, SECRET, SignatureStyle.PLAIN) == plain

    @pytest.mark.parametrize(("params", "plain", "upper"), VECTORS)
    def test_urlencoded_upper(self, params, plain, upper):
        """URLENCODED_UPPER percent-encodes first and gives upper-case hex."""
        assert sign(params, SECRET, SignatureStyle.URLENCODED_UPPER) == upper

    def test_sign_itself_is_not_signed(self):
        """A stray sign parameter does not change the signature."""
        params = dict(VECTORS[1][0])
        assert sign({**params, "sign": "x"}, SECRET) == VECTORS[1][1]

    def test_order_of_parameters_does_not_matter(self):
        """The key=value strings are sorted, whatever order they came in."""
        params = VECTORS[2][0]
        reversed_params = dict(reversed(list(params.items())))
        assert sign(reversed_params, SECRET) == sign(params, SECRET)


class TestRenderParams:
    def test_drops_none_and_empty(self):
        """Empty parameters are neither sent nor signed."""
        assert render_params({"a": None, "b": "", "c": "x"}) == {"c": "x"}

    def test_renders_numbers_bools_and_lists(self):
        """ints in decimal, bools as 1/0, lists joined with commas."""
        rendered = render_params(
            {"count": 2, "send": True, "off": False, "iccids": ["111", "222"]}
        )
        assert rendered == {"count": "2", "send": "1", "off": "0", "iccids": "111,222"}

    def test_refuses_dates(self):
        """Dates have an endpoint-specific format, so they are rendered there."""
        import datetime

        with pytest.raises(TypeError, match="dates"):
            render_params({"beginDate": datetime.date(2024, 1, 1)})


def _signed(request: httpx.Request, token: str | None = TOKEN) -> httpx.Request:
    flow = SigningAuth(SECRET, SignatureStyle.PLAIN, token).sync_auth_flow(request)
    return next(flow)


class TestSigningAuth:
    def test_get_gets_token_and_sign_in_the_query(self):
        """A read carries token and sign in its query string."""
        request = httpx.Request("GET", "https://h/api_esim/getSkus")
        signed = _signed(request)
        assert dict(signed.url.params) == {
            "token": TOKEN,
            "sign": "72d335e8b2aa3561f5c7837a80cc8cf0",
        }
        assert signed.content == b""

    def test_post_gets_token_and_sign_in_the_form_body(self):
        """A write carries every parameter, token and sign in its form body."""
        request = httpx.Request(
            "POST",
            "https://h/api_esim/addEsimOrder",
            data={"skuId": "45", "priceId": "441", "count": "1", "backInfo": "1"},
        )
        signed = _signed(request)
        body = dict(parse_qsl(signed.content.decode()))
        assert body["sign"] == "17f99f6d2e39e54d1a73be92d7cfb958"
        assert body["token"] == TOKEN
        assert signed.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert int(signed.headers["Content-Length"]) == len(signed.content)
        assert "token" not in signed.url.params

    def test_login_has_no_token(self):
        """Without a token only sign is added (login)."""
        request = httpx.Request(
            "POST",
            "https://h/api_order/login",
            data={"phonenumber": "13800000000", "password": "mypassword"},
        )
        body = dict(parse_qsl(_signed(request, token=None).content.decode()))
        assert body == {
            "phonenumber": "13800000000",
            "password": "mypassword",
            "sign": "9d3017ea1ffa8e5df1839a5bef2f4da4",
        }

    def test_repr_hides_the_secret_and_token(self):
        """Neither the secret key nor the token shows in the repr."""
        text = repr(SigningAuth(SECRET, SignatureStyle.PLAIN, TOKEN))
        assert SECRET not in text
        assert TOKEN not in text
