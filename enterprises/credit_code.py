"""The unified social credit code (统一社会信用代码, GB 32100-2015): one validator for the API, the
forms and the importer, so every channel gives the same Chinese message.

18 characters from 0-9 and the capital letters without I O Z S V: registering authority (1),
entity type (1), registering region (6 digits), organisation code (9), check character (1).
Companies registered by the market regulator start 91, farmers' cooperatives 93.
"""

import unicodedata

from django.core.exceptions import ValidationError
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def normalize(value) -> str:
    """Full-width characters become ASCII (NFKC); spaces and hyphens go; letters become capitals."""
    text = unicodedata.normalize("NFKC", str(value or ""))
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper()


def check_character(first17: str) -> str:
    """The 18th character for the first 17 (GB 32100 weights, modulus 31)."""
    return uscc.calc_check_digit(first17)


def parse_credit_code(value) -> str:
    """The normalised code, or ValidationError with a Chinese message saying what is wrong:
    its length, its characters, or its check character."""
    code = normalize(value)
    try:
        return uscc.validate(code)
    except InvalidLength:
        raise ValidationError(
            f"统一社会信用代码应为18位，实际为{len(code)}位。", code="credit_code_length"
        ) from None
    except InvalidFormat:
        raise ValidationError(
            "统一社会信用代码前8位须为数字，其余只能是数字或大写字母（不含I、O、Z、S、V）。",
            code="credit_code_format",
        ) from None
    except InvalidChecksum:
        raise ValidationError(
            "统一社会信用代码校验位不正确，请核对号码（可能有字符录错）。", code="credit_code_checksum"
        ) from None
    except StdnumError:  # any other refusal of the library
        raise ValidationError("统一社会信用代码格式不正确。", code="credit_code_format") from None


def make_credit_code(prefix: str, region_code: str, organisation: str) -> str:
    """A valid code from its parts (for demo data and tests): e.g. ("93", "411722", "MA40XXXX1")."""
    body = f"{prefix}{region_code}{organisation}"
    if len(body) != 17:
        raise ValueError("prefix + region + organisation code must be 17 characters")
    return body + check_character(body)
