"""A small city whose every rollup figure is computed by hand (test_rollups.py lists them), on top
of the root conftest's regions, personas and households (上蔡 411722: township A with villages A1
and A2, township B with village B1; 西平 411721: township X with village X1)."""

import datetime
from decimal import Decimal

import pytest

from credit_rating.models import RatingStatus
from credit_rating.tests.factories import RatingFactory, publish_default
from enterprises.tests.factories import EnterpriseFactory
from households.models import HouseholdStatus
from households.tests.factories import HouseholdFactory
from loans.models import Classification, Loan, LoanStatus
from loans.tests.factories import fund_deposit

AS_OF = datetime.date(2019, 6, 30)
WRITTEN_OFF_ON = datetime.date(2019, 3, 20)  # h6's loan
C, S = Classification, LoanStatus


def make_loan(household=None, *, enterprise=None, area=None, bank, actor, amount, outstanding=None,
              status=S.ACTIVE, classification=C.NORMAL, disbursed_on=datetime.date(2018, 3, 1),
              **fields) -> Loan:  # fmt: skip
    """A loan as the workflow leaves it, built directly: of a household (in its village) or of an
    enterprise (in its township). `fields`: more of the loan's own (closed_on, written_off_...)."""
    area = household.village if household else enterprise.township
    township = area if enterprise else area.parent
    amount = Decimal(amount)
    return Loan.objects.create(
        household=household, enterprise=enterprise, area=area, township=township, county=township.parent,
        bank=bank, amount=amount, rate=Decimal("4.75"), term_months=24, purpose="breeding", status=status,
        disbursed_on=None if status in (S.DRAFT, S.SUBMITTED) else disbursed_on, classification=classification,
        principal_outstanding=amount if outstanding is None else Decimal(outstanding), created_by=actor,
        **fields,
    )  # fmt: skip


def make_rating(household, *, actor, approved_on, valid_until, status=RatingStatus.APPROVED):
    from credit_rating.models import Scorecard

    county = household.village.parent.parent
    card = Scorecard.objects.filter(county=county).first() or publish_default(county)
    return RatingFactory(
        household=household, scorecard=card, drafted_by=actor, status=status, approved_on=approved_on,
        valid_until=valid_until,
    )  # fmt: skip


def paid_batch(county, bank, *, actor, paid_on, lines, status="paid"):
    """A settlement batch of the quarter before `paid_on` with lines [(loan, amount, excluded_reason)]."""
    from subsidy.models import SettlementBatch, SubsidyLine

    start = datetime.date(2019, 1, 1)
    batch = SettlementBatch.objects.create(
        county=county, bank=bank, period_start=start, period_end=datetime.date(2019, 3, 31), status=status,
        paid_on=paid_on if status == "paid" else None, created_by=actor,
    )  # fmt: skip
    for loan, amount, reason in lines:
        SubsidyLine.objects.create(
            batch=batch, loan=loan, kind="interest", period_start=start, amount=Decimal(amount),
            excluded_reason=reason, payee="贷款户",
        )  # fmt: skip
    return batch


@pytest.fixture(autouse=True)
def empty_cache():
    """The dashboard API caches its answers by snapshot row (ids repeat between tests)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def seeded_targets_and_weights(db):
    """The migration's rows (a transactional test elsewhere may have flushed them)."""
    import importlib

    from django.apps import apps

    importlib.import_module("reporting.migrations.0002_seed_targets_and_weights").add_rows(apps, None)


@pytest.fixture
def city(regions, banks, personas, households):
    """The hand-computed city on AS_OF (2019-06-30).

    Households (status): A1 h1 = households["a1"] (poor), h2 (lifted), h3 (monitored), h4 (non_poor);
    A2 h5 (poor), h6 (poor); B1 h7 = households["b1"] (poor); X1 h8 = households["x1"] (poor), h9 (non_poor).
    Loans (active unless said): h1 two loans, one after the other (the database allows one
    outstanding loan per household): h1b 10,000 lent 2017-02-01 and closed 2018-02-01, then h1a
    20,000 of 30,000 outstanding (normal, lent 2018-03-01); h2 one closed; h3 one only submitted;
    h4 5,000 (borrowed when poor, now non_poor); h5 one disbursed after AS_OF; h6 one written off
    (9,000 of principal, on 2019-03-20); h7 50,000 (loss); h8 20,000; an enterprise of township A
    100,000 (doubtful).
    Ratings valid on AS_OF: h1, h4, h6 (superseded since, but in force on AS_OF), h8; not: h2
    (expired), h5 (approved after AS_OF).
    Subsidy: a paid batch of 上蔡 (h1a's 300, h7's 500, the enterprise's 200, a second line of h7
    excluded: overdue), a draft batch (h2's 100: not paid). Fund: 上蔡 20,000,000 deposited 2017-01-01 and
    1,000,000 after AS_OF; 西平 none."""
    admin, r, bank = personas["admin"], regions, banks["x"]
    h = {1: households["a1"], 7: households["b1"], 8: households["x1"]}
    for n, village, status in [(2, "village_a1", "lifted"), (3, "village_a1", "monitored"),
                               (4, "village_a1", "non_poor"), (5, "village_a2", "poor"), (6, "village_a2", "poor"),
                               (9, "village_x1", "non_poor")]:  # fmt: skip
        h[n] = HouseholdFactory(village=r[village], status=status)
    for n in (1, 7, 8):
        h[n].status = HouseholdStatus.POOR
        h[n].save(update_fields=["status"])

    loans = {
        "h1a": make_loan(h[1], bank=bank, actor=admin, amount="30000", outstanding="20000"),
        "h1b": make_loan(
            h[1],
            bank=bank,
            actor=admin,
            amount="10000",
            outstanding="0",
            status=S.CLOSED,
            disbursed_on=datetime.date(2017, 2, 1),
            closed_on=datetime.date(2018, 2, 1),
        ),  # fmt: skip
        "h2": make_loan(
            h[2],
            bank=bank,
            actor=admin,
            amount="10000",
            outstanding="0",
            status=S.CLOSED,
            disbursed_on=datetime.date(2017, 5, 1),
        ),  # fmt: skip
        "h3": make_loan(h[3], bank=bank, actor=admin, amount="10000", status=S.SUBMITTED),
        "h4": make_loan(h[4], bank=bank, actor=admin, amount="5000"),
        "h5": make_loan(
            h[5], bank=bank, actor=admin, amount="8000", disbursed_on=AS_OF + datetime.timedelta(days=1)
        ),
        "h6": make_loan(
            h[6],
            bank=bank,
            actor=admin,
            amount="9000",
            outstanding="0",
            status=S.WRITTEN_OFF,
            disbursed_on=datetime.date(2017, 3, 1),
            written_off_principal=Decimal("9000"),
            written_off_on=WRITTEN_OFF_ON,
        ),  # fmt: skip
        "h7": make_loan(h[7], bank=bank, actor=admin, amount="50000", classification=C.LOSS),
        "h8": make_loan(h[8], bank=banks["y"], actor=admin, amount="20000"),
        "ent": make_loan(
            enterprise=EnterpriseFactory(township=r["town_a"]),
            bank=bank,
            actor=admin,
            amount="100000",
            classification=C.DOUBTFUL,
        ),  # fmt: skip
    }
    valid = {"approved_on": datetime.date(2019, 1, 10), "valid_until": datetime.date(2020, 1, 9)}
    for n in (1, 4, 8):
        make_rating(h[n], actor=admin, **valid)
    make_rating(h[6], actor=admin, status=RatingStatus.SUPERSEDED, **valid)
    make_rating(
        h[2], actor=admin, approved_on=datetime.date(2018, 1, 1), valid_until=datetime.date(2018, 12, 31)
    )
    make_rating(
        h[5],
        actor=admin,
        approved_on=AS_OF + datetime.timedelta(days=1),
        valid_until=datetime.date(2020, 6, 30),
    )

    paid_batch(r["shangcai"], bank, actor=admin, paid_on=datetime.date(2019, 4, 10),
               lines=[(loans["h1a"], "300", ""), (loans["h7"], "500", ""), (loans["ent"], "200", ""),
                      (loans["h7"], "0", "overdue")])  # fmt: skip
    paid_batch(
        r["shangcai"], banks["y"], actor=admin, paid_on=None, status="draft", lines=[(loans["h2"], "100", "")]
    )
    fund_deposit(r["shangcai"], actor=admin, on=datetime.date(2017, 1, 1))
    fund_deposit(r["shangcai"], actor=admin, amount=Decimal("1000000"), on=AS_OF + datetime.timedelta(days=1))
    return {"households": h, "loans": loans}
