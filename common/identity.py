"""Chinese resident ID numbers (GB 11643), phone numbers and other identifiers people type: one
validator for forms, the API and the importers, so every channel gives the same Chinese message."""

import datetime
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from stdnum.cn import ric

from common import clock


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: datetime.date
    gender: str  # "male" | "female"


def age_on(birth_date: datetime.date, on: datetime.date) -> int:
    """Full years (周岁) on `on`."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def normalize(value: str) -> str:
    """Full-width digits and letters become ASCII; spaces go; a lower-case x becomes X."""
    return unicodedata.normalize("NFKC", value or "").replace(" ", "").strip().upper()


def parse_resident_id(value: str, *, today: datetime.date | None = None) -> ResidentId:
    """Check length, digits, GB 11643 check character, a real birth date. Raises ValidationError.

    stdnum's own validate() also checks the birth place against today's division codes, which
    refuses real numbers issued under older codes, so we do not call it."""
    number = normalize(value)
    if len(number) != 18:
        raise ValidationError(f"身份证号应为18位，实际为{len(number)}位。", code="id_length")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValidationError("身份证号只能由数字组成，最后一位可以是X。", code="id_format")
    if number[17] != ric.calc_check_digit(number):
        raise ValidationError("身份证号校验位不正确，请核对号码。", code="id_checksum")
    try:
        birth_date = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError("身份证号中的出生日期不存在。", code="id_birth_date") from None
    today = today or clock.today()
    if birth_date > today or birth_date.year < 1900:
        raise ValidationError("身份证号中的出生日期不合理。", code="id_birth_date")
    gender = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, birth_date=birth_date, gender=gender)


def validate_resident_id(value: str) -> None:
    parse_resident_id(value)


def check_gender(resident_id: ResidentId, gender: str) -> None:
    """The 17th digit is odd for men and even for women."""
    if gender and gender != resident_id.gender:
        expected = "男" if resident_id.gender == "male" else "女"
        raise ValidationError(f"性别与身份证号不符：按身份证号应为{expected}。", code="id_gender")


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def normalize_phone(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").replace(" ", "").strip()


def validate_phone(value: str) -> None:
    phone = normalize_phone(value)
    if phone and not (_MOBILE.match(phone) or _LANDLINE.match(phone)):
        raise ValidationError("联系电话格式不正确：应为11位手机号或带区号的固定电话。", code="phone")


def search_term(value: str) -> str:
    """A search box's text as numbers and codes are stored: NFKC (full-width digits and letters
    become ASCII), trimmed. Chinese names are unchanged by NFKC."""
    return unicodedata.normalize("NFKC", value or "").strip()


def invisible_characters(value: str) -> str:
    """The control and format characters of `value`: NUL, zero-width spaces, direction overrides."""
    return "".join(c for c in value if unicodedata.category(c) in ("Cc", "Cf"))


def invisible_refusal(label: str) -> str:
    return f"{label}含有不可见字符（如零宽空格、文字方向控制符），请删除后重新输入。"


def clean_identifier(value, label: str) -> str:
    """An identifier a person types or pastes (户编号, 流水号): NFKC, so full-width letters and
    digits become ASCII, and trimmed. Invisible characters are refused: two numbers that look the
    same on screen would otherwise both pass a uniqueness or duplicate check."""
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    if invisible_characters(text):
        raise ValidationError(invisible_refusal(label), code="invisible")
    return text
