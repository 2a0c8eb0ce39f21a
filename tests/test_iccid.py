from __future__ import annotations

import pytest

from mioesim_async import InvalidICCIDError
from mioesim_async._iccid import luhn_valid, normalize_iccid, normalize_iccids

LUHN_OK = "89860012345678901238"


class TestNormalize:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("934801019851134300", "934801019851134300"),
            ("9000024041590216", "9000024041590216"),
            ("  8986001234567890123F\n", "8986001234567890123F"),
            ("1234567890", "1234567890"),
            ("1" * 22, "1" * 22),
        ],
    )
    def test_accepts(self, value, expected):
        """10 to 22 digits, an optional trailing F, whitespace stripped."""
        assert normalize_iccid(value) == expected

    @pytest.mark.parametrize(
        "value",
        ["", "123456789", "1" * 23, "89860a12345678901237", "8986001234567890123f",
         "F8986001234567890123", "8986 0012 3456 7890", 8986001234567890123, None],
    )  # fmt: skip
    def test_rejects(self, value):
        """Anything else is an InvalidICCIDError naming the value."""
        with pytest.raises(InvalidICCIDError) as info:
            normalize_iccid(value, 7)
        assert info.value.value == value
        assert info.value.position == 7
        assert repr(value) in str(info.value)
        assert "position 7" in str(info.value)

    def test_is_a_value_error(self):
        """Callers catching ValueError catch bad ICCIDs too."""
        with pytest.raises(ValueError, match="invalid ICCID"):
            normalize_iccid("x")

    def test_strict_adds_luhn(self):
        """strict=True refuses a wrong check digit; lenient mode does not."""
        wrong = LUHN_OK[:-1] + "7"
        assert normalize_iccid(wrong) == wrong
        with pytest.raises(InvalidICCIDError, match="Luhn"):
            normalize_iccid(wrong, strict=True)
        assert normalize_iccid(LUHN_OK + "F", strict=True) == LUHN_OK + "F"


class TestNormalizeMany:
    def test_names_the_position_of_the_first_bad_one(self):
        """The error's position is the 0-based index in the input."""
        with pytest.raises(InvalidICCIDError) as info:
            normalize_iccids([LUHN_OK, LUHN_OK, "nope"])
        assert info.value.position == 2

    def test_a_lone_string_is_refused(self):
        """A string is not read as a collection of its characters."""
        with pytest.raises(InvalidICCIDError, match="collection"):
            normalize_iccids(LUHN_OK)

    def test_keeps_order_and_duplicates(self):
        """Normalising neither reorders nor de-duplicates."""
        assert normalize_iccids([" 1234567890 ", "1234567890"]) == ["1234567890"] * 2


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("79927398713", True), ("79927398710", False), (LUHN_OK, True), ("0", True)],
)
def test_luhn(digits, valid):
    """The E.118 check digit, on the textbook example."""
    assert luhn_valid(digits) is valid


class TestWholeListCheck:
    """Lists are checked in one pass when clean; the result never differs."""

    def test_clean_list(self):
        values = [LUHN_OK, "1234567890", "1" * 22 + "F"]
        assert normalize_iccids(values) == values

    def test_a_line_break_inside_one_value_is_refused(self):
        """Two ICCIDs hidden in one string are one invalid value."""
        with pytest.raises(InvalidICCIDError) as info:
            normalize_iccids([LUHN_OK, f"{LUHN_OK}\n{LUHN_OK}"])
        assert info.value.position == 1

    def test_whitespace_is_still_stripped(self):
        assert normalize_iccids([f" {LUHN_OK}", LUHN_OK]) == [LUHN_OK, LUHN_OK]

    def test_a_non_string_is_still_named(self):
        with pytest.raises(InvalidICCIDError, match="expected a string") as info:
            normalize_iccids([LUHN_OK, 8986])
        assert info.value.position == 1

    def test_strict_still_checks_every_digit(self):
        with pytest.raises(InvalidICCIDError, match="Luhn"):
            normalize_iccids([LUHN_OK, LUHN_OK[:-1] + "7"], strict=True)
