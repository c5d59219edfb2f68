"""The city's subsidy pot (贴息资金池): city finance's deposits, a county's payouts against its paid
batches, the balance as the sum of the rows, the pages, and that the risk fund never counts it."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client

from common.clock import today
from common.errors import Forbidden
from common.models import AuditEntry
from risk_fund import selectors as fund_selectors
from risk_fund import services as fund_services
from subsidy import pot_selectors, pot_services
from subsidy.models import BatchStatus, SettlementBatch, SubsidyPotEntry
from subsidy.pot_services import PotError

pytestmark = pytest.mark.django_db

POT = "/subsidy/pot/411722/"


def paid_batch(regions, banks, personas, *, total="1200.00", county="shangcai", bank="x") -> SettlementBatch:
    day = today()
    return SettlementBatch.objects.create(
        county=regions[county], bank=banks[bank], period_start=day.replace(day=1) - datetime.timedelta(days=90),
        period_end=day.replace(day=1) - datetime.timedelta(days=1), status=BatchStatus.PAID,
        total_amount=Decimal(total), created_by=personas["admin"], paid_on=day,
    )  # fmt: skip


def deposit(personas, regions, amount="5000.00", region="shangcai"):
    return pot_services.pot_deposit_record(
        actor=personas["city"], region=regions[region], amount=Decimal(amount), entry_date=today(),
        source="市级贴息资金",
    )  # fmt: skip


def test_deposit_and_payout_make_the_balance(personas, regions, banks):
    deposit(personas, regions)
    batch = paid_batch(regions, banks, personas)
    entry = pot_services.pot_payout_record(
        actor=personas["county_staff"], county=regions["shangcai"], amount=Decimal("1200.00"), batch=batch
    )
    assert entry.amount == Decimal("-1200.00") and entry.entry_date == batch.paid_on
    assert pot_selectors.pot_balance("411722") == Decimal("3800.00")
    assert pot_selectors.pot_balance("411700") == Decimal("0.00")
    actions = list(
        AuditEntry.objects.filter(object_type="subsidy_pot")
        .order_by("at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["deposit", "pot-payout"]


def test_a_pot_deposit_changes_neither_the_fund_balance_nor_the_leverage(personas, regions):
    day = today()
    fund_services.deposit_record(actor=personas["county_staff"], county_code="411722", amount=Decimal("100000"),
                                 received_on=day)  # fmt: skip
    before = fund_selectors.leverage_for("411722", on=day)
    deposit(personas, regions, "2000000.00")
    deposit(personas, regions, "3000000.00", region="city")
    after = fund_selectors.leverage_for("411722", on=day)
    assert fund_selectors.fund_balance("411722", on=day) == Decimal("100000.00")
    assert (after.balance, after.cap, after.headroom) == (before.balance, before.cap, before.headroom)


def test_refusals(personas, regions, banks):
    deposit(personas, regions, "1000.00")
    batch = paid_batch(regions, banks, personas, total="800.00")
    pay = pot_services.pot_payout_record
    with pytest.raises(PotError) as exc:  # more than the pot holds
        pay(actor=personas["county_staff"], county=regions["shangcai"], amount=Decimal("1500.00"))
    assert exc.value.code == "pot_insufficient"
    with pytest.raises(PotError) as exc:
        pay(actor=personas["county_staff"], county=regions["shangcai"], amount=Decimal("900.00"), batch=batch)
    assert exc.value.code == "over_batch"
    pay(actor=personas["county_staff"], county=regions["shangcai"], amount=Decimal("800.00"), batch=batch)
    with pytest.raises(PotError) as exc:
        pay(actor=personas["county_staff"], county=regions["shangcai"], amount=Decimal("100.00"), batch=batch)
    assert exc.value.code == "already_paid_out"
    draft = paid_batch(regions, banks, personas, bank="y")
    SettlementBatch.objects.filter(pk=draft.pk).update(status=BatchStatus.APPROVED, county_id="411722")
    draft.refresh_from_db()
    with pytest.raises(PotError) as exc:
        pay(actor=personas["county_staff"], county=regions["shangcai"], amount=Decimal("1.00"), batch=draft)
    assert exc.value.code == "batch_not_paid"
    with pytest.raises(Forbidden):  # the county does not deposit, the city does not pay out
        pot_services.pot_deposit_record(actor=personas["county_staff"], region=regions["shangcai"],
                                        amount=Decimal("1"), entry_date=today())  # fmt: skip
    with pytest.raises(Forbidden):
        pay(actor=personas["city"], county=regions["shangcai"], amount=Decimal("1.00"))
    with pytest.raises(Forbidden):  # another county's staff
        pay(actor=personas["county_staff"], county=regions["xiping"], amount=Decimal("1.00"))
    assert SubsidyPotEntry.objects.count() == 2


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages(personas, regions, banks):
    city = browser(personas["city"])
    response = city.post(
        f"{POT}deposit/", {"amount": "5000", "entry_date": today().isoformat(), "source": "市级"}
    )
    assert response.status_code == 302
    page = city.get(POT).content.decode()
    assert 'id="pot-balance">5,000.00' in page and 'id="pot-deposit-form"' in page
    assert 'id="pot-payout-form"' not in page
    assert "驻马店市" in city.get("/subsidy/pot/").content.decode()

    batch = paid_batch(regions, banks, personas)
    county = browser(personas["county_staff"])
    page = county.get(POT).content.decode()
    assert 'id="pot-payout-form"' in page and 'id="pot-deposit-form"' not in page and f"#{batch.pk}" in page
    response = county.post(f"{POT}payout/", {"batch": str(batch.pk), "amount": "9000"})
    assert "不能超过批次补贴合计1,200.00元" in response.content.decode() and response.status_code == 200
    response = county.post(f"{POT}payout/", {"batch": str(batch.pk), "amount": "1200"})
    assert response.status_code == 302
    assert 'id="pot-balance">3,800.00' in county.get(POT).content.decode()

    assert (
        county.post(f"{POT}deposit/", {"amount": "1", "entry_date": today().isoformat()}).status_code == 403
    )
    assert city.post(f"{POT}payout/", {"amount": "1"}).status_code == 403
    assert county.get("/subsidy/pot/411700/").status_code == 404  # the city's pot is not the county's
    for outsider in ("township_a", "bank_y", "nobody"):
        assert browser(personas[outsider]).get(POT).status_code == 404, outsider
    assert browser(personas["bank_x"]).get(POT).status_code == 403
    assert SubsidyPotEntry.objects.count() == 2


def test_the_fund_deposit_form_names_the_right_ledger(client_for, personas):
    page = client_for(personas["county_staff"]).get("/risk-fund/411722/").content.decode()
    assert "市级补充（注入风险补偿金本金）" in page and "贴息资金池" in page
