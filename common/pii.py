"""Sensitive personal information (PIPL art. 28, JR/T 0171 C2): ID and bank-account numbers.

Stored encrypted (Fernet; the first key encrypts, every key decrypts, so keys can rotate),
found through a keyed hash (HMAC-SHA256) so uniqueness and lookup work without decrypting,
and shown masked.
"""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.PII_ENCRYPTION_KEYS])


def encrypt(value: str) -> str:
    if not value:
        return ""
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    return _fernet().decrypt(token.encode()).decode()


def lookup_hash(value: str) -> str:
    """A keyed hash: equal values give equal hashes, but the hash cannot be reversed by guessing
    18-digit numbers without the key."""
    if not value:
        return ""
    return hmac.new(settings.PII_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def mask(value: str, keep_start: int = 0, keep_end: int = 4) -> str:
    """An ID number keeps only its last 4: 41172219900101123X -> **************123X.

    Not the first 6 and the last 4 as GB/T 35273 examples do: the 8 digits between are the birth
    date, which pages show beside the number, so that mask gave the whole number back. The area
    code is left out too: with the village shown, it narrows nothing and only helps a guess."""
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_account(value: str) -> str:
    """6228480402564890018 -> 6228***********0018: the first 4 name the bank (shown anyway), and
    nothing shown beside an account number tells its middle digits."""
    return mask(value, keep_start=4, keep_end=4)
