"""Encryption, keyed lookup hashes and masks of ID and bank-account numbers."""

import re

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from common import pii

ID = "41172219900101123X"
ACCOUNT = "6228480012345678901"


@pytest.fixture
def fresh_fernet():
    """The Fernet object is cached; clear it around tests that change the keys."""
    pii._fernet.cache_clear()
    yield
    pii._fernet.cache_clear()


@hypothesis_settings(deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_round_trip(value):
    token = pii.encrypt(value)
    assert value not in token or len(value) < 3
    assert pii.decrypt(token) == value


def test_round_trip_of_an_id():
    token = pii.encrypt(ID)
    assert ID not in token
    assert pii.decrypt(token) == ID


def test_ciphertexts_differ_for_the_same_value():
    tokens = {pii.encrypt(ID) for _ in range(5)}
    assert len(tokens) == 5
    assert {pii.decrypt(t) for t in tokens} == {ID}


def test_empty_stays_empty():
    assert pii.encrypt("") == "" and pii.decrypt("") == ""
    assert pii.lookup_hash("") == ""
    assert pii.mask("") == "" and pii.mask_account("") == ""


def test_lookup_hash_is_stable_and_distinct():
    first = pii.lookup_hash(ID)
    assert first == pii.lookup_hash(ID)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert pii.lookup_hash(ID[:-1] + "1") != first


def test_lookup_hash_is_keyed():
    import hashlib

    plain = hashlib.sha256(ID.encode()).hexdigest()
    before = pii.lookup_hash(ID)
    assert before != plain  # not a bare hash that anyone can compute by guessing numbers
    with override_settings(PII_HASH_KEY="another-key"):
        assert pii.lookup_hash(ID) != before
    assert pii.lookup_hash(ID) == before


def test_keys_rotate(fresh_fernet):
    old_key = settings.PII_ENCRYPTION_KEYS[0]
    old_token = pii.encrypt(ID)
    new_key = Fernet.generate_key().decode()
    with override_settings(PII_ENCRYPTION_KEYS=[new_key, old_key]):
        pii._fernet.cache_clear()
        assert pii.decrypt(old_token) == ID  # the old key still decrypts
        new_token = pii.encrypt(ID)
        assert Fernet(new_key.encode()).decrypt(new_token.encode()).decode() == ID  # the first key encrypts
    with override_settings(PII_ENCRYPTION_KEYS=[new_key]):
        pii._fernet.cache_clear()
        with pytest.raises(InvalidToken):
            pii.decrypt(old_token)
    pii._fernet.cache_clear()
    assert pii.decrypt(old_token) == ID


def test_tampered_token_is_refused():
    token = pii.encrypt(ID)
    broken = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(InvalidToken):
        pii.decrypt(broken)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (ID, "**************123X"),
        ("411722199001011234", "**************1234"),
        ("1234", "****"),  # too short to show anything
        ("12345678901", "*******8901"),
    ],
)
def test_mask(value, masked):
    assert pii.mask(value) == masked
    assert len(pii.mask(value)) == len(value)


@pytest.mark.parametrize(
    ("value", "masked"),
    [(ACCOUNT, "6228***********8901"), ("6222020200112233", "6222********2233"), ("12345678", "********")],
)
def test_mask_account(value, masked):
    assert pii.mask_account(value) == masked


@hypothesis_settings(deadline=None)
@given(st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True))
def test_mask_never_shows_the_birth_date(number):
    """Nothing but the last 4: a mask keeping the area code gave the whole number back beside the
    birth date that pages show (issue 15)."""
    masked = pii.mask(number)
    assert masked == "*" * 14 + number[-4:]
    assert number[6:14] not in masked and number[:6] not in masked
