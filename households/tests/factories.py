import datetime

import factory

from common import pii
from common.testing import make_resident_id
from households.models import HEAD_RELATION, Household, HouseholdStatus, Member


class HouseholdFactory(factory.django.DjangoModelFactory):
    """A household with a valid, encrypted head ID and the head's member row."""

    class Meta:
        model = Household
        skip_postgeneration_save = True

    class Params:
        head_id_number = factory.Sequence(
            lambda n: make_resident_id(
                "411722", datetime.date(1970, 1, 1) + datetime.timedelta(days=n // 400), n % 400
            )
        )
        bank_account = factory.Sequence(lambda n: f"6228480{n:012d}")

    household_no = factory.Sequence(lambda n: f"H4117{n:08d}")
    village = None  # required: pass village=<Region>
    head_name = factory.Sequence(lambda n: f"张{n}")
    head_id_enc = factory.LazyAttribute(lambda o: pii.encrypt(o.head_id_number))
    head_id_hash = factory.LazyAttribute(lambda o: pii.lookup_hash(o.head_id_number))
    head_id_masked = factory.LazyAttribute(lambda o: pii.mask(o.head_id_number))
    bank_name = "邮储银行"
    bank_account_enc = factory.LazyAttribute(lambda o: pii.encrypt(o.bank_account))
    bank_account_hash = factory.LazyAttribute(lambda o: pii.lookup_hash(o.bank_account))
    bank_account_masked = factory.LazyAttribute(lambda o: pii.mask_account(o.bank_account))
    phone = "13800138000"
    member_count = 1
    labor_count = 1
    status = HouseholdStatus.POOR
    attribute = "general"
    identification_standard = "national"
    poverty_causes = factory.LazyFunction(lambda: ["lack_funds"])
    per_capita_income = 3200

    @factory.post_generation
    def head_member(household, create, extracted, **kwargs):
        if not create:
            return
        from common.identity import parse_resident_id
        from households.services import member_instance

        resident = parse_resident_id(pii.decrypt(household.head_id_enc))
        member_instance(
            household=household,
            name=household.head_name,
            relation=HEAD_RELATION,
            resident=resident,
            labor_capable=True,
        ).save()


__all__ = ["HouseholdFactory", "Member"]
