"""Migration 0004: the stored ID masks of the old rule (first 6 + last 4, which with the birth date
shown beside gave the whole number back) become the new one (last 4 only), history rows too."""

import importlib

import pytest
from django.apps import apps

from common import pii
from households.models import Household, Member
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("households.migrations.0004_mask_keeps_last_four")


def old_mask(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def test_old_masks_are_recomputed_everywhere(regions):
    household = HouseholdFactory(village=regions["village_a1"])
    number = pii.decrypt(household.head_id_enc)
    member = household.members.get()
    account_mask = household.bank_account_masked
    # as the old rule stored them, in the rows and in their history
    Household.objects.filter(pk=household.pk).update(head_id_masked=old_mask(number))
    Member.objects.filter(pk=member.pk).update(id_masked=old_mask(number))
    Household.history.filter(id=household.pk).update(head_id_masked=old_mask(number))
    Member.history.filter(id=member.pk).update(id_masked=old_mask(number))

    migration.forwards(apps, None)

    new = "*" * 14 + number[-4:]
    household.refresh_from_db()
    member.refresh_from_db()
    assert household.head_id_masked == new == member.id_masked == pii.mask(number)
    assert household.bank_account_masked == account_mask  # account masks are unchanged
    assert set(Household.history.filter(id=household.pk).values_list("head_id_masked", flat=True)) == {new}
    assert set(Member.history.filter(id=member.pk).values_list("id_masked", flat=True)) == {new}
    assert Household.history.filter(id=household.pk).exists() and Member.history.filter(id=member.pk).exists()

    migration.forwards(apps, None)  # idempotent
    household.refresh_from_db()
    assert household.head_id_masked == new
