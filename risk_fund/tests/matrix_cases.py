"""The fund's cases for tests/test_scope_matrix.py, built with that module's case classes (passed
in, so that this module does not import the matrix):

    from risk_fund.tests.matrix_cases import risk_fund_routes
    ROUTES = {..., **risk_fund_routes(List=List, Object=Object)}

The world: each county has its fund; in villages A1 and B1 (bank X, 上蔡) and X1 (bank Y, 西平) one
loan 120 days past due with a claim (A1's and X1's filed, B1's paid) and one without a claim yet.
Scope: a fund is read by its county's staff, township and village roles (read-only), the banks
serving the county and the city; deposits by its county staff (403 for the other readers). A claim
is seen as its loan is: region roles in their area, bank officers their own bank's.
"""

# Outsiders as for a loan (tests/test_scope_matrix.py HOUSEHOLD_OUTSIDERS); the funds' own.
LOAN_OUTSIDERS = {"township_b": "a1", "bank_y": "a1", "nobody": "a1", "bank_x": "x1", "village_a1": "b1"}
FUND_OUTSIDERS = {
    "bank_y": "shangcai", "nobody": "shangcai", "county_staff": "xiping", "township_a": "xiping",
    "village_a1": "xiping", "bank_x": "xiping",
}  # fmt: skip
COUNTIES = {"shangcai": "411722", "xiping": "411721"}
# Who may not file for a loan without a claim: the bank of the other county, region roles outside.
POST_OUTSIDE = {"township_b": "a1", "bank_y": "a1", "bank_x": "x1", "village_a1": "b1", "county_staff": "x1",
                "nobody": "a1"}  # fmt: skip
VILLAGES = {
    "a1": ("village_a1", "x", "bank_x"),
    "b1": ("village_b1", "x", "bank_x"),
    "x1": ("village_x1", "y", "bank_y"),
}


def claim_world(w) -> dict:
    """{"claimed": {key: claim}, "free": {key: loan}}, made on first use."""
    if "claims" not in w:
        from loans.tests.factories import fund_deposit
        from organization.models import Role
        from organization.tests.factories import UserFactory, assign
        from risk_fund import services
        from risk_fund.tests.factories import overdue_loan

        p, regions = w["personas"], w["regions"]
        payer = assign(UserFactory(username="matrix-payer"), Role.COUNTY_STAFF, region=regions["shangcai"])
        for county in COUNTIES:
            fund_deposit(regions[county], actor=p["admin"])
        claimed, free = {}, {}
        for key, (village, bank, officer) in VILLAGES.items():
            loan = overdue_loan(regions, w["banks"], p, village=village, bank=bank, loan_no=f"L-FUND-{key}")
            claimed[key] = services.claim_file(actor=p[officer], loan=loan)
            free[key] = overdue_loan(
                regions, w["banks"], p, village=village, bank=bank, loan_no=f"L-FREE-{key}"
            )
        b1 = services.claim_verify(actor=p["county_staff"], claim=claimed["b1"])
        claimed["b1"] = services.claim_pay(actor=payer, claim=b1)
        w["claims"] = {"claimed": claimed, "free": free}
    return w["claims"]


def _claims(*keys):
    return lambda w: {f"L-FUND-{k}" for k in keys}


def _fund_target(w, target, method):
    claim_world(w)
    body = {"amount": "1.00", "received_on": "2020-01-01"} if method == "POST" else {}
    return {"county_code": COUNTIES[target]}, {}, body


def _claim_target(w, target, method):
    return {"pk": claim_world(w)["claimed"][target].pk}, {}, {"reason": "矩阵"} if method == "POST" else {}


def _loan_target(w, target, method):
    from common.clock import today

    body = {"amount": "1.00", "received_on": today().isoformat()} if method == "POST" else {}
    return {"pk": claim_world(w)["claimed"][target].loan_id}, {}, body


def _snapshot(w, target=None):
    from risk_fund.models import CompensationClaim, FundEntry, Recovery

    claim_world(w)
    return (
        sorted(CompensationClaim.objects.values_list("pk", "status")),
        FundEntry.objects.count(),
        Recovery.objects.count(),
    )


def _free_written(w):
    from risk_fund.models import CompensationClaim

    return CompensationClaim.objects.filter(loan__loan_no__startswith="L-FREE-").exists()


def risk_fund_routes(*, List, Object) -> dict:  # noqa: N803 (the matrix's classes)
    insiders_get = {("a1", "GET"): "township_a", ("b1", "GET"): "bank_x", ("x1", "GET"): "bank_y"}
    # A1's claim is verified by its county, B1's is paid already (400), X1's reached by the admin.
    insiders_post = {("a1", "POST"): "county_staff", ("b1", "POST"): "county_staff", ("x1", "POST"): "admin"}

    def claim_case(methods):
        insiders = {k: v for k, v in (insiders_get | insiders_post).items() if k[1] in methods}
        return Object(methods=methods, targets=LOAN_OUTSIDERS, insiders=insiders, request=_claim_target,
                      untouched=_snapshot)  # fmt: skip

    return {
        "risk-fund-detail": Object(
            methods=("GET",), targets=FUND_OUTSIDERS, request=_fund_target,
            insiders={("shangcai", "GET"): "township_b", ("xiping", "GET"): "bank_y"},
        ),
        "risk-fund-deposits": Object(
            methods=("POST",), targets=FUND_OUTSIDERS, request=_fund_target, untouched=_snapshot,
            # bank Y reads 西平's fund and may not deposit: 403, not 404
            insiders={("shangcai", "POST"): "county_staff", ("xiping", "POST"): "bank_y"},
        ),
        "claim-list": List(
            methods=("GET", "POST"),
            key=lambda item: item["loan_no"],
            setup=claim_world,
            visible={
                "county_staff": _claims("a1", "b1"), "township_a": _claims("a1"), "township_b": _claims("b1"),
                "village_a1": _claims("a1"), "bank_x": _claims("a1", "b1"), "bank_y": _claims("x1"),
                "city": _claims("a1", "b1", "x1"), "admin": _claims("a1", "b1", "x1"), "nobody": _claims(),
            },
            post_into={persona: lambda w, key=key: key for persona, key in POST_OUTSIDE.items()},
            post_body=lambda w, key: {"loan": claim_world(w)["free"][key].pk},
            post_insider=("bank_x", lambda w: "a1"),
            written=_free_written,
        ),
        "claim-detail": claim_case(("GET",)),
        **{f"claim-{action}": claim_case(("POST",)) for action in ("verify", "pay", "reject")},
        "loan-recoveries": Object(
            methods=("GET", "POST"), targets=LOAN_OUTSIDERS, request=_loan_target, untouched=_snapshot,
            # B1's loan is compensated: bank X records a recovery (201); A1's is not (400)
            insiders=insiders_get | {("a1", "POST"): "bank_x", ("b1", "POST"): "bank_x", ("x1", "POST"): "bank_y"},
        ),
    }  # fmt: skip
