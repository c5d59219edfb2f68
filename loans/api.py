"""API of loans (API.md "Loans"): applications, the workflow's actions, schedule, repayments
(with Idempotency-Key), post-loan checks. Reads through the selectors (404 outside scope), writes
through the services (LoanError 400 with its code, Forbidden 403)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import IdSerializerField, MoneySerializerField, paginated_response, paginated_schema
from common.api import action_view as common_action_view
from common.clock import today
from common.money import rate_text
from enterprises.selectors import enterprise_get_for_user
from households.selectors import household_get_for_user
from organization.models import Bank

from . import selectors, services
from .eligibility import Application, refusals
from .idempotency import idempotent
from .models import Classification, LoanStatus, PostLoanCheck, Purpose, RepaymentMethod, WriteOffReason

# --- output shapes -----------------------------------------------------------------------------


class RateField(serializers.DecimalField):
    """An annual percentage as a string with at least two places: "4.35", "5.225"."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=7, decimal_places=4, **kwargs)

    def to_representation(self, value):
        return rate_text(value)


class LoanEventOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.CharField(source="actor.username")
    at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    comment = serializers.CharField()


class LoanOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    loan_no = serializers.CharField()
    status = serializers.CharField()
    household = serializers.IntegerField(source="household_id", allow_null=True)
    borrower_name = serializers.CharField()
    enterprise = serializers.IntegerField(source="enterprise_id", allow_null=True)
    area_code = serializers.CharField(source="area_id")
    bank = serializers.CharField(source="bank.code")
    amount = MoneySerializerField()
    rate = RateField()
    term_months = serializers.IntegerField()
    purpose = serializers.CharField()
    repayment_method = serializers.CharField()
    other_subsidy = serializers.BooleanField()
    notice_ends_on = serializers.DateField(allow_null=True)
    disbursed_on = serializers.DateField(allow_null=True)
    maturity_date = serializers.DateField(allow_null=True)
    principal_outstanding = MoneySerializerField()
    dpd = serializers.IntegerField()
    classification = serializers.CharField()
    extension_count = serializers.IntegerField()
    renewed_from = serializers.IntegerField(source="renewed_from_id", allow_null=True)
    written_off_principal = MoneySerializerField()
    written_off_on = serializers.DateField(allow_null=True)
    write_off_reason = serializers.CharField(help_text="核销事由代码，见 write-off 的 reason")


class LoanDetailOutputSerializer(LoanOutputSerializer):
    events = serializers.SerializerMethodField()

    @extend_schema_field(LoanEventOutputSerializer(many=True))
    def get_events(self, loan) -> list[dict]:
        return LoanEventOutputSerializer(selectors.loan_events(loan), many=True).data


class InstalmentOutputSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    due_date = serializers.DateField()
    principal_due = MoneySerializerField()
    interest_due = MoneySerializerField()
    principal_paid = MoneySerializerField()
    interest_paid = MoneySerializerField()
    settled = serializers.BooleanField()
    in_extension = serializers.BooleanField()


class RepaymentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    loan = serializers.IntegerField(source="loan_id")
    paid_on = serializers.DateField()
    amount = MoneySerializerField()
    interest_part = MoneySerializerField()
    principal_part = MoneySerializerField()
    reference = serializers.CharField()
    channel = serializers.CharField()
    principal_outstanding = serializers.DecimalField(
        source="loan.principal_outstanding", max_digits=14, decimal_places=2
    )
    loan_status = serializers.CharField(source="loan.status")


class CheckOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tier = serializers.CharField()
    checked_on = serializers.DateField()
    finding = serializers.CharField()
    note = serializers.CharField()
    checker = serializers.CharField(source="checker.username")


def _detail(request, loan) -> dict:
    return LoanDetailOutputSerializer(selectors.loan_get_for_user(user=request.user, pk=loan.pk)).data


# --- list and application ----------------------------------------------------------------------


class LoanListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        region = serializers.CharField(required=False, max_length=12)
        status = serializers.ChoiceField(choices=LoanStatus.choices, required=False)
        bank = serializers.CharField(required=False, max_length=20)
        classification = serializers.ChoiceField(choices=Classification.choices, required=False)
        household = IdSerializerField(required=False)
        enterprise = IdSerializerField(required=False)
        q = serializers.CharField(required=False, max_length=50)

    class InputSerializer(serializers.Serializer):
        household = serializers.IntegerField(required=False)
        enterprise = serializers.IntegerField(required=False)
        borrower = serializers.IntegerField(required=False, help_text="借款的家庭成员（默认户主）")
        bank = serializers.CharField(max_length=20)
        amount = MoneySerializerField(min_value=0)
        term_months = serializers.IntegerField(min_value=1, max_value=120)
        purpose = serializers.ChoiceField(choices=Purpose.choices)
        repayment_method = serializers.ChoiceField(
            choices=RepaymentMethod.choices, default=RepaymentMethod.QUARTERLY_INTEREST_BULLET
        )
        other_subsidy = serializers.BooleanField(default=False)
        rate = serializers.DecimalField(
            max_digits=7, decimal_places=4, required=False, help_text="仅带贫企业贷款"
        )

        def validate(self, attrs):
            if ("household" in attrs) == ("enterprise" in attrs):
                raise serializers.ValidationError({"household": ["请填写 household 或 enterprise 之一。"]})
            return attrs

    @extend_schema(
        operation_id="loans_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(LoanOutputSerializer, "PaginatedLoanList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        loans = selectors.loan_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            request=request, queryset=loans, serializer_class=LoanOutputSerializer, view=self
        )

    @extend_schema(request=InputSerializer, responses={201: LoanDetailOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        household = enterprise = borrower = None
        if "household" in v:
            household = household_get_for_user(user=request.user, pk=v["household"])
            if "borrower" in v:
                borrower = get_object_or_404(household.members, pk=v["borrower"])
        else:
            enterprise = enterprise_get_for_user(user=request.user, pk=v["enterprise"])
        bank = Bank.objects.filter(code=v["bank"]).first()
        if bank is None:
            raise services.LoanError("invalid", f"未知的银行代码“{v['bank']}”。", {"bank": ["未知的银行。"]})
        loan = services.loan_create(
            actor=request.user, household=household, borrower=borrower, enterprise=enterprise, bank=bank,
            amount=v["amount"], term_months=v["term_months"], purpose=v["purpose"],
            repayment_method=v["repayment_method"], other_subsidy=v["other_subsidy"], rate=v.get("rate"),
        )  # fmt: skip
        return Response(_detail(request, loan), status=status.HTTP_201_CREATED)


class LoanDetailApi(APIView):
    class UpdateInputSerializer(serializers.Serializer):
        """The village corrects a draft or returned application (then submits it again)."""

        borrower = serializers.IntegerField(required=False, help_text="借款的家庭成员")
        bank = serializers.CharField(required=False, max_length=20)
        amount = MoneySerializerField(required=False, min_value=0)
        term_months = serializers.IntegerField(required=False, min_value=1, max_value=120)
        purpose = serializers.ChoiceField(choices=Purpose.choices, required=False)
        repayment_method = serializers.ChoiceField(choices=RepaymentMethod.choices, required=False)
        other_subsidy = serializers.BooleanField(required=False)
        rate = serializers.DecimalField(
            max_digits=7, decimal_places=4, required=False, help_text="仅带贫企业贷款"
        )

    @extend_schema(responses=LoanDetailOutputSerializer)
    def get(self, request, pk):
        return Response(
            LoanDetailOutputSerializer(selectors.loan_get_for_user(user=request.user, pk=pk)).data
        )

    @extend_schema(request=UpdateInputSerializer, responses=LoanDetailOutputSerializer)
    def patch(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)
        data = self.UpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "bank" in changes:
            bank = Bank.objects.filter(code=changes["bank"]).first()
            if bank is None:
                raise services.LoanError(
                    "invalid", f"未知的银行代码“{changes['bank']}”。", {"bank": ["未知的银行。"]}
                )
            changes["bank"] = bank
        if "borrower" in changes:
            if loan.household_id is None:
                raise services.LoanError(
                    "invalid", "带贫企业贷款没有借款人成员。", {"borrower": ["不适用。"]}
                )
            changes["borrower"] = get_object_or_404(loan.household.members, pk=changes["borrower"])
        loan = services.loan_update(actor=request.user, loan=loan, changes=changes)
        return Response(_detail(request, loan))


class LoanScheduleApi(APIView):
    @extend_schema(responses=InstalmentOutputSerializer(many=True))
    def get(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)
        return Response(InstalmentOutputSerializer(selectors.loan_schedule(loan), many=True).data)


class LoanEligibilityApi(APIView):
    """Which rules the loan breaks today (what submit and approve would refuse)."""

    class OutputSerializer(serializers.Serializer):
        eligible = serializers.BooleanField()
        refusals = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)
        found = refusals(Application.of(loan), on=today())
        return Response(
            {"eligible": not found, "refusals": [{"code": r.code, "detail": r.message} for r in found]}
        )


# --- the workflow's actions ----------------------------------------------------------------------


class LoanCommentInputSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class LoanReasonInputSerializer(serializers.Serializer):
    # Blank allowed so that the service answers with its own code, reason_required.
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class LoanDisburseInputSerializer(serializers.Serializer):
    disbursed_on = serializers.DateField(required=False, help_text="默认今天")


class LoanWriteOffInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=WriteOffReason.choices, help_text="核销事由（固定列表；也接受其中文名称）"
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")

    def to_internal_value(self, data):
        labels = {r.label: r.value for r in WriteOffReason}
        if isinstance(data, dict) and isinstance(data.get("reason"), str) and data["reason"] in labels:
            data = {**data, "reason": labels[data["reason"]]}
        return super().to_internal_value(data)


class LoanExtendInputSerializer(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=36)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


def _transition(action, field):
    return lambda user, loan, data: services.loan_transition(
        actor=user, loan=loan, action=action, comment=data.get(field, "")
    )


# action -> (input serializer, what to do); every action answers with the loan.
ACTIONS = {
    "submit": (LoanCommentInputSerializer, _transition("submit", "comment")),
    "township-review": (LoanCommentInputSerializer, _transition("township-review", "comment")),
    "county-recommend": (LoanCommentInputSerializer, _transition("county-recommend", "comment")),
    "approve": (LoanCommentInputSerializer, _transition("approve", "comment")),
    "return": (LoanReasonInputSerializer, _transition("return", "reason")),
    "reject": (LoanReasonInputSerializer, _transition("reject", "reason")),
    "withdraw": (LoanCommentInputSerializer, _transition("withdraw", "comment")),
    # Write-off in two steps: a bank officer proposes, a second person approves or sends it back.
    "write-off": (
        LoanWriteOffInputSerializer,
        lambda user, loan, data: services.loan_write_off(
            actor=user, loan=loan, reason=data["reason"], comment=data.get("comment", "")
        ),
    ),
    "write-off-approve": (LoanCommentInputSerializer, _transition("write-off-approve", "comment")),
    "write-off-reject": (LoanReasonInputSerializer, _transition("write-off-reject", "reason")),
    "disburse": (
        LoanDisburseInputSerializer,
        lambda user, loan, data: services.loan_disburse(
            actor=user, loan=loan, disbursed_on=data.get("disbursed_on") or today()
        ),
    ),
    "extend": (
        LoanExtendInputSerializer,
        lambda user, loan, data: services.loan_extend(
            actor=user, loan=loan, months=data["months"], reason=data["reason"]
        ),
    ),
    # Answers with the new application (status draft), renewed_from pointing at this loan.
    "renew": (
        LoanCommentInputSerializer,
        lambda user, loan, data: services.loan_renew(actor=user, loan=loan, comment=data.get("comment", "")),
    ),
}


def action_view(action: str):
    """POST /loans/{id}/<action>/, one route per action (config/urls.py), each with its own schema
    entry; renew answers 201 with the new application."""
    return common_action_view(
        action,
        ACTIONS,
        name="Loan",
        operation="loans",
        get_object=selectors.loan_get_for_user,
        output_serializer=LoanDetailOutputSerializer,
        respond=_detail,
        created=("renew",),
        workflow=services.LOAN_WORKFLOW,
        doc="POST /loans/{id}/<action>/, one route per action (config/urls.py).",
    )


# --- repayments and checks -----------------------------------------------------------------------


class LoanRepaymentsApi(APIView):
    class InputSerializer(serializers.Serializer):
        amount = MoneySerializerField()
        paid_on = serializers.DateField()
        reference = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")

    @extend_schema(responses=RepaymentOutputSerializer(many=True))
    def get(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)
        return Response(RepaymentOutputSerializer(selectors.loan_repayments(loan), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: RepaymentOutputSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="同一键重复提交只入账一次，返回首次结果",
            )
        ],
    )
    def post(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)

        def post_once():
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            repayment = services.repayment_post(
                actor=request.user, loan=loan, channel="api", **data.validated_data
            )
            return Response(RepaymentOutputSerializer(repayment).data, status=status.HTTP_201_CREATED)

        return idempotent(request, scope=f"loan:{loan.pk}:repayments", handler=post_once)


class LoanChecksApi(APIView):
    class InputSerializer(serializers.Serializer):
        tier = serializers.ChoiceField(choices=PostLoanCheck.Tier.choices)
        checked_on = serializers.DateField(required=False)
        finding = serializers.ChoiceField(choices=PostLoanCheck.Finding.choices)
        note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    @extend_schema(responses=CheckOutputSerializer(many=True))
    def get(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)
        return Response(CheckOutputSerializer(loan.checks.select_related("checker"), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CheckOutputSerializer})
    def post(self, request, pk):
        loan = selectors.loan_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        check = services.post_loan_check_record(
            actor=request.user, loan=loan, tier=v["tier"], checked_on=v.get("checked_on") or today(),
            finding=v["finding"], note=v["note"],
        )  # fmt: skip
        return Response(CheckOutputSerializer(check).data, status=status.HTTP_201_CREATED)
