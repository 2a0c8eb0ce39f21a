from __future__ import annotations

import pickle

import pytest

import mioesim_async as mio


class TestTree:
    @pytest.mark.parametrize(
        "error",
        [
            mio.AuthenticationError,
            mio.PermissionDeniedError,
            mio.InvalidRequestError,
            mio.NotFoundError,
            mio.OrderStateError,
            mio.SignatureError,
            mio.IPNotWhitelistedError,
        ],
    )
    def test_api_errors(self, error):
        assert issubclass(error, mio.APIError)
        assert issubclass(error, mio.MioesimError)

    def test_invalid_iccid_is_a_value_error(self):
        assert issubclass(mio.InvalidICCIDError, ValueError)
        assert issubclass(mio.InvalidICCIDError, mio.MioesimError)


class TestAPIError:
    def test_message(self):
        error = mio.APIError(-8, "query failed", endpoint="queryIccidInformation")
        assert str(error) == "queryIccidInformation: query failed (code -8)"

    def test_message_without_code_or_text(self):
        assert str(mio.APIError(None, "")) == "no message"

    @pytest.mark.parametrize("error", [mio.APIError, mio.SignatureError])
    def test_pickles(self, error):
        """Errors cross process boundaries intact."""
        original = error(-30, "sign wrong", endpoint="getSkus")
        copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
        assert type(copy) is error
        assert (copy.code, copy.message, copy.endpoint) == (
            -30,
            "sign wrong",
            "getSkus",
        )

    def test_whitelist_error_says_what_to_do(self):
        error = mio.IPNotWhitelistedError(-3, "ip refused", endpoint="getESIMDetail")
        assert "help@mioesim.com" in str(error)
        assert "whitelist" in str(error)


class TestBatchError:
    def test_groups_by_error(self):
        """Thousands of ICCIDs stay readable: one line per distinct error."""
        timeout = mio.TransportError("queryIccidInformation: ReadTimeout")
        api = mio.APIError(-8, "query failed", endpoint="queryIccidInformation")
        failed = {f"{n:019d}": timeout for n in range(10_000)}
        failed["8986000000000000001"] = api
        error = mio.BatchError(failed, ["8986000000000000002"])
        lines = str(error).splitlines()
        assert lines[0] == "10001 ICCIDs failed, 1 missing"
        assert lines[1].startswith("  10000 failed with TransportError: ")
        assert lines[1].endswith("and 9995 more")
        assert "1 failed with APIError" in lines[2]
        assert lines[3] == "  1 missing from the answers: 8986000000000000002"
        assert len(lines) == 4
        assert error.failed == failed
        assert error.missing == ["8986000000000000002"]

    def test_few(self):
        error = mio.BatchError({}, ["1", "2"])
        assert str(error).splitlines() == [
            "0 ICCIDs failed, 2 missing",
            "  2 missing from the answers: 1, 2",
        ]
