"""Helpers for tests and demo data: valid resident ID numbers, a page's text, calls raced in
threads."""

import datetime
import html
import threading
from concurrent.futures import ThreadPoolExecutor

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


def at_once(*calls, catch: tuple[type[BaseException], ...] = ()) -> list:
    """Run each call in its own thread, all released together by a barrier so they really overlap
    (on PostgreSQL each thread has its own connection, hence real row locks). Returns each call's
    result in order, or the exception it raised when that is one of `catch`. Each thread closes its
    own database connections when done."""
    from django.db import connections

    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=10)
            return call()
        except catch as exc:
            return exc
        finally:
            connections.close_all()  # this thread's connections only

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=60) for future in futures]
