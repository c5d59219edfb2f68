"""Helpers for tests and demo data: valid resident ID numbers, a page's text."""

import datetime
import html

from stdnum.cn import ric


def make_resident_id(area_code: str, birth_date: datetime.date, sequence: int, *, male: bool = True) -> str:
    """A valid 18-digit ID number: 6-digit area, birth date, 3-digit sequence whose last digit's
    parity gives the gender (odd = male), GB 11643 check character."""
    seq = sequence % 500 * 2 + (1 if male else 0)
    body = f"{area_code[:6]}{birth_date:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def page_text(response) -> str:
    """A page's HTML as text, entities decoded, for `"…" in page_text(response)`."""
    return html.unescape(response.content.decode())
