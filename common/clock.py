"""The one source of "today": tests and the daily job can set it (time-machine moves it too)."""

import datetime

from django.utils import timezone


def today() -> datetime.date:
    return timezone.localdate()


def now() -> datetime.datetime:
    return timezone.now()
