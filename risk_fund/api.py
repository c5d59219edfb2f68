"""API of the risk compensation fund (API.md "Risk compensation fund"): a county's fund with its
leverage and ledger, deposits, compensation claims and their workflow, recoveries on a compensated
loan. Reads through the selectors (404 outside scope), writes through the services (FundError 400,
Forbidden 403). Deposits and recoveries move money: they take an optional Idempotency-Key."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import (
    IdSerializerField,
    MoneySerializerField,
    action_view,
    paginated_response,
    paginated_schema,
)
from common.clock import today
from loans.idempotency import idempotent
from loans.selectors import loan_get_for_user

from . import selectors, services
from .models import ClaimStatus, FundEntry


def Percent(**kwargs):  # noqa: N802
    return serializers.DecimalField(max_digits=6, decimal_places=2, **kwargs)


IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, description="同一键重复提交只登记一次，返回首次结果"
)

# --- output shapes -----------------------------------------------------------------------------


class FundEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = MoneySerializerField()
    received_on = serializers.DateField()
    source = serializers.CharField()
    reference = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")


class AgreementOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bank = serializers.CharField(source="bank.code")
    fund_share = Percent()
    guarantee_share = Percent()
    bank_share = Percent()
    guarantee_agency = serializers.CharField()
    guarantee_fee_rate = Percent()
    guarantee_fee_subsidized = serializers.BooleanField()
    leverage_multiple = Percent()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField(allow_null=True)
    reference = serializers.CharField()


class FundOutputSerializer(serializers.Serializer):
    county = serializers.CharField()
    name = serializers.CharField()
    on = serializers.DateField()
    balance = MoneySerializerField()
    covered_outstanding = MoneySerializerField(help_text="在保贷款余额：已放款未结清、未代偿的本金")
    committed = MoneySerializerField(help_text="已审批待放款：银行已审批、尚未放款的贷款金额，计入放大倍数")
    used = MoneySerializerField(help_text="已用额度 = 在保贷款余额 + 已审批待放款（放大倍数按此计算）")
    written_off_principal = MoneySerializerField(
        help_text="已核销本金：本县银行已核销的贷款本金，不在在保贷款余额中"
    )
    leverage_multiple = Percent()
    leverage_cap = MoneySerializerField()
    headroom = MoneySerializerField()
    used_percent = Percent()
    warning_ratio = Percent()
    warning = serializers.BooleanField()
    agreements = AgreementOutputSerializer(many=True)
    ledger = FundEntryOutputSerializer(many=True)


def fund_data(county, *, on) -> dict:
    lev = selectors.leverage_for(county.code, on=on)
    return {
        "county": county.code, "name": county.name, "on": on, "balance": lev.balance,
        "covered_outstanding": lev.covered_outstanding, "committed": lev.committed, "used": lev.used,
        "written_off_principal": selectors.written_off_principal(county.code), "leverage_multiple": lev.multiple,
        "leverage_cap": lev.cap, "headroom": lev.headroom, "used_percent": lev.used_percent,
        "warning_ratio": lev.warning_ratio, "warning": lev.warning,
        "agreements": selectors.agreements_in_force(county.code, on=on),
        "ledger": selectors.ledger(county.code).filter(received_on__lte=on),
    }  # fmt: skip


class ClaimOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    loan = serializers.IntegerField(source="loan_id")
    loan_no = serializers.CharField(source="loan.loan_no", allow_null=True)
    borrower_name = serializers.CharField(source="loan.borrower_name")
    county = serializers.CharField(source="county_id")
    bank = serializers.CharField(source="bank.code")
    dpd = serializers.IntegerField()
    loss_principal = MoneySerializerField()
    loss_interest = MoneySerializerField()
    fund_percent = Percent()
    guarantee_percent = Percent()
    bank_percent = Percent()
    fund_share = MoneySerializerField()
    guarantee_share = MoneySerializerField()
    bank_share = MoneySerializerField()
    guarantee_agency = serializers.CharField()
    filed_by = serializers.CharField(source="filed_by.username")
    filed_at = serializers.DateTimeField()
    verified_by = serializers.CharField(source="verified_by.username", allow_null=True, default=None)
    verified_at = serializers.DateTimeField(allow_null=True)
    paid_by = serializers.CharField(source="paid_by.username", allow_null=True, default=None)
    paid_at = serializers.DateTimeField(allow_null=True)
    reject_reason = serializers.CharField()


class RecoveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    claim = serializers.IntegerField(source="claim_id")
    amount = MoneySerializerField()
    received_on = serializers.DateField()
    fund_part = MoneySerializerField()
    guarantee_part = MoneySerializerField()
    bank_part = MoneySerializerField()
    recorded_by = serializers.CharField(source="recorded_by.username")


class ClaimDetailOutputSerializer(ClaimOutputSerializer):
    recovered = MoneySerializerField()
    recoveries = RecoveryOutputSerializer(many=True)


def claim_detail(request, claim) -> dict:
    claim = selectors.claim_get_for_user(user=request.user, pk=claim.pk)
    return {
        **ClaimOutputSerializer(claim).data,
        "recovered": str(selectors.recovered(claim)["amount"]),
        "recoveries": RecoveryOutputSerializer(selectors.recoveries_of(claim), many=True).data,
    }


# --- the fund ----------------------------------------------------------------------------------


class FundDetailApi(APIView):
    class FilterSerializer(serializers.Serializer):
        on = serializers.DateField(required=False, help_text="按该日的余额与台账（默认今天）")

    @extend_schema(parameters=[FilterSerializer], responses=FundOutputSerializer)
    def get(self, request, county_code):
        county = selectors.fund_county_for_user(user=request.user, code=county_code)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        on = filters.validated_data.get("on") or today()
        return Response(FundOutputSerializer(fund_data(county, on=on)).data)


class FundDepositApi(APIView):
    class InputSerializer(serializers.Serializer):
        amount = MoneySerializerField()
        source = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        received_on = serializers.DateField()
        reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        kind = serializers.ChoiceField(
            choices=[(k.value, k.label) for k in FundEntry.MONEY_IN], default=FundEntry.Kind.DEPOSIT
        )

    @extend_schema(
        request=InputSerializer, responses={201: FundEntryOutputSerializer}, parameters=[IDEMPOTENCY]
    )
    def post(self, request, county_code):
        county = selectors.fund_county_for_user(user=request.user, code=county_code)

        def post_once():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            entry = services.deposit_record(
                actor=request.user, county_code=county.code, **data.validated_data
            )
            return Response(FundEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)

        return idempotent(request, scope=f"fund:{county.code}:deposits", handler=post_once)


# --- claims ------------------------------------------------------------------------------------


class ClaimListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(required=False, max_length=6)
        bank = serializers.CharField(required=False, max_length=20)
        status = serializers.ChoiceField(choices=ClaimStatus.choices, required=False)
        loan = IdSerializerField(required=False)

    class InputSerializer(serializers.Serializer):
        loan = serializers.IntegerField()

    @extend_schema(
        operation_id="compensation_claims_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(ClaimOutputSerializer, "PaginatedClaimList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        claims = selectors.claim_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            request=request, queryset=claims, serializer_class=ClaimOutputSerializer, view=self
        )

    @extend_schema(request=InputSerializer, responses={201: ClaimDetailOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        loan = loan_get_for_user(user=request.user, pk=data.validated_data["loan"])
        claim = services.claim_file(actor=request.user, loan=loan)
        return Response(claim_detail(request, claim), status=status.HTTP_201_CREATED)


class ClaimDetailApi(APIView):
    @extend_schema(responses=ClaimDetailOutputSerializer)
    def get(self, request, pk):
        return Response(claim_detail(request, selectors.claim_get_for_user(user=request.user, pk=pk)))


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


# action -> (input serializer, what to do); every action answers with the claim.
CLAIM_ACTIONS = {
    "verify": (None, lambda user, claim, data: services.claim_verify(actor=user, claim=claim)),
    "pay": (None, lambda user, claim, data: services.claim_pay(actor=user, claim=claim)),
    "reject": (
        ReasonInputSerializer,
        lambda user, claim, data: services.claim_reject(actor=user, claim=claim, reason=data["reason"]),
    ),
}


def claim_action_view(action: str):
    """POST /compensation-claims/{id}/<verify|pay|reject>/."""
    return action_view(
        action,
        CLAIM_ACTIONS,
        name="Claim",
        operation="compensation_claims",
        get_object=selectors.claim_get_for_user,
        output_serializer=ClaimDetailOutputSerializer,
        respond=claim_detail,
    )


# --- recoveries --------------------------------------------------------------------------------


class LoanRecoveriesApi(APIView):
    class InputSerializer(serializers.Serializer):
        amount = MoneySerializerField()
        received_on = serializers.DateField()

    @extend_schema(operation_id="loan_recoveries_list", responses=RecoveryOutputSerializer(many=True))
    def get(self, request, pk):
        loan = loan_get_for_user(user=request.user, pk=pk)
        claim = selectors.claim_list(
            user=request.user, filters={"loan": loan.pk, "status": ClaimStatus.PAID}
        ).first()
        rows = selectors.recoveries_of(claim) if claim else []
        return Response(RecoveryOutputSerializer(rows, many=True).data)

    @extend_schema(
        request=InputSerializer, responses={201: RecoveryOutputSerializer}, parameters=[IDEMPOTENCY]
    )
    def post(self, request, pk):
        loan = loan_get_for_user(user=request.user, pk=pk)

        def post_once():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            recovery = services.recovery_record(actor=request.user, loan=loan, **data.validated_data)
            return Response(RecoveryOutputSerializer(recovery).data, status=status.HTTP_201_CREATED)

        return idempotent(request, scope=f"loan:{loan.pk}:recoveries", handler=post_once)
