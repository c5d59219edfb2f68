"""Resident ID numbers (GB 11643) and phone numbers: property tests with Hypothesis."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from common.identity import check_gender, normalize, parse_resident_id, validate_phone
from common.testing import make_resident_id

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

areas = st.from_regex(r"[1-6][0-9]{5}", fullmatch=True)
births = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2020, 12, 31))
sequences = st.integers(min_value=0, max_value=100_000)


@st.composite
def resident_ids(draw):
    area, birth, seq, male = draw(areas), draw(births), draw(sequences), draw(st.booleans())
    return make_resident_id(area, birth, seq, male=male), area, birth, male


@settings(deadline=None)
@given(resident_ids())
def test_made_ids_parse_with_their_gender_and_birth_date(made):
    number, area, birth, male = made
    resident = parse_resident_id(number)
    assert resident.number == number
    assert len(number) == 18 and number.startswith(area)
    assert resident.birth_date == birth
    assert resident.gender == ("male" if male else "female")
    check_gender(resident, resident.gender)  # agrees with itself
    with pytest.raises(ValidationError):
        check_gender(resident, "female" if male else "male")


@settings(deadline=None)
@given(resident_ids(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_changing_any_single_character_breaks_the_checksum(made, position, replacement):
    number = made[0]
    if number[position] == replacement or (position < 17 and replacement == "X"):
        replacement = str((int(number[position]) + 1) % 10) if number[position] != "X" else "0"
    changed = number[:position] + replacement + number[position + 1 :]
    assert changed != number
    with pytest.raises(ValidationError) as exc:
        parse_resident_id(changed)
    assert exc.value.code == "id_checksum"


@settings(deadline=None)
@given(resident_ids(), st.booleans(), st.booleans())
def test_full_width_and_spaced_forms_parse_to_the_same_number(made, lower_x, spaces):
    number = made[0]
    written = number.translate(FULL_WIDTH)
    if lower_x:
        written = written.replace("Ｘ", "x")
    if spaces:
        written = f" {written[:6]} {written[6:14]}\u3000{written[14:]} "
    assert parse_resident_id(written).number == number
    assert normalize(written) == number


@settings(deadline=None)
@given(resident_ids())
def test_swapping_two_different_digits_is_caught(made):
    """Adjacent transpositions of unequal digits change the weighted sum (weights differ mod 11)."""
    number = made[0]
    for i in range(16):
        a, b = number[i], number[i + 1]
        if a != b:
            swapped = number[:i] + b + a + number[i + 2 :]
            with pytest.raises(ValidationError):
                parse_resident_id(swapped)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "id_length"),
        ("41172219800506001", "id_length"),
        ("4117221980050600123", "id_length"),
        ("41172219800506A01X", "id_format"),
        ("X11722198005060011", "id_format"),
    ],
)
def test_malformed(value, code):
    with pytest.raises(ValidationError) as exc:
        parse_resident_id(value)
    assert exc.value.code == code


def test_birth_date_in_the_future_is_refused():
    number = make_resident_id("411722", datetime.date(2030, 1, 1), 1)
    with pytest.raises(ValidationError) as exc:
        parse_resident_id(number, today=datetime.date(2025, 1, 1))
    assert exc.value.code == "id_birth_date"
    assert parse_resident_id(number, today=datetime.date(2030, 1, 1)).birth_date == datetime.date(2030, 1, 1)


def test_known_real_format_example():
    # GB 11643's worked example
    resident = parse_resident_id("11010519491231002X")
    assert resident.birth_date == datetime.date(1949, 12, 31)
    assert resident.gender == "female"


@pytest.mark.parametrize(
    "phone", ["13912345678", "19912345678", "0396-1234567", "03961234567", "010-12345678", ""]
)
def test_good_phones(phone):
    validate_phone(phone)


@pytest.mark.parametrize(
    "phone", ["12912345678", "1391234567", "139123456789", "396-1234567", "abc", "+8613912345678"]
)
def test_bad_phones(phone):
    with pytest.raises(ValidationError):
        validate_phone(phone)
