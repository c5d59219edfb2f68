"""The unified social credit code (GB 32100): length, characters, check character."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from enterprises.credit_code import ALPHABET, check_character, make_credit_code, normalize, parse_credit_code

# Published examples (stdnum's doctest and widely quoted real codes).
VALID = ["91110000600037341L", "91310000MA1FL4B24G", make_credit_code("93", "411722", "MA4000001")]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes(code):
    assert parse_credit_code(code) == code


def test_normalises_full_width_spaces_and_case():
    code = VALID[0]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)  # ９１１１…Ｌ
    assert parse_credit_code(full_width) == code
    assert parse_credit_code(" 9111 0000-6000 37341l ") == code
    assert normalize("ｍａ") == "MA"


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        ("9111000060003734", "credit_code_length", "应为18位，实际为16位"),
        ("91110000600037341LX", "credit_code_length", "实际为19位"),
        ("", "credit_code_length", "实际为0位"),
        ("9A110000600037341L", "credit_code_format", "前8位须为数字"),
        ("91110000600037341I", "credit_code_format", "不含I、O、Z、S、V"),
        ("91110000600O37341L", "credit_code_format", "大写字母"),
        ("91110000600037341M", "credit_code_checksum", "校验位不正确"),
    ],
)
def test_each_problem_has_its_own_chinese_message(value, code, words):
    with pytest.raises(ValidationError) as exc:
        parse_credit_code(value)
    assert exc.value.code == code
    assert words in exc.value.messages[0]


def test_make_credit_code():
    code = make_credit_code("93", "411722", "MA40AB12X")
    assert len(code) == 18 and parse_credit_code(code) == code
    with pytest.raises(ValueError):
        make_credit_code("93", "411722", "SHORT")


# A valid code from the strategy: authority/type digits, 6-digit region, 9 characters, check.
bodies = st.tuples(
    st.text("0123456789", min_size=8, max_size=8),
    st.text(ALPHABET, min_size=9, max_size=9),
).map(lambda parts: parts[0] + parts[1])
valid_codes = bodies.map(lambda body: body + check_character(body))


@given(valid_codes)
def test_every_code_with_its_check_character_is_valid(code):
    assert parse_credit_code(code) == code


@given(valid_codes, st.integers(min_value=0, max_value=17), st.sampled_from(ALPHABET))
def test_any_single_changed_character_is_refused(code, position, replacement):
    """Modulus 31 over a 31-character alphabet with weights prime to 31: changing any one character
    (the check character included) always breaks the check."""
    if code[position] == replacement:
        replacement = ALPHABET[(ALPHABET.index(replacement) + 1) % len(ALPHABET)]
    changed = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(ValidationError) as exc:
        parse_credit_code(changed)
    assert exc.value.code in ("credit_code_checksum", "credit_code_format")  # a letter in the first 8
