"""API of the enterprise registry (API.md "Enterprises"), plus the withdrawal of a recognition, the
early end of a link and the loan eligibility (extra endpoints, same conventions)."""

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import MoneySerializerField, paginated_response, paginated_schema
from common.clock import today

from . import selectors, services
from .models import EnterpriseKind


class RecognitionEventOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    decision_no = serializers.CharField()
    decided_on = serializers.DateField()
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.username")
    at = serializers.DateTimeField()


class EnterpriseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    credit_code = serializers.CharField()
    kind = serializers.CharField()
    founded_on = serializers.DateField()
    county_code = serializers.CharField(source="county_id")
    county_name = serializers.CharField(source="county.name")
    township_code = serializers.CharField(source="township_id")
    township_name = serializers.CharField(source="township.name")
    legal_rep = serializers.CharField()
    contact_name = serializers.CharField()
    contact_phone = serializers.CharField()
    recognized = serializers.BooleanField()
    decision_no = serializers.CharField()
    recognized_on = serializers.DateField(allow_null=True)
    households_led = serializers.IntegerField(help_text="今天有效的利益联结所带动的户数")


class EnterpriseDetailOutputSerializer(EnterpriseOutputSerializer):
    recognition_events = serializers.SerializerMethodField(help_text="认定与撤销记录，新的在前")

    @extend_schema_field(RecognitionEventOutputSerializer(many=True))
    def get_recognition_events(self, enterprise) -> list[dict]:
        return RecognitionEventOutputSerializer(selectors.recognition_history(enterprise), many=True).data


class EnterpriseInputSerializer(serializers.Serializer):
    """Types only; the service checks the rules so that the API and the forms say the same."""

    name = serializers.CharField(max_length=100)
    credit_code = serializers.CharField(max_length=40)
    kind = serializers.CharField(max_length=20, help_text="company | cooperative")
    founded_on = serializers.DateField()
    township_code = serializers.CharField(max_length=12)
    county_code = serializers.CharField(max_length=6, required=False, help_text="可省略：由乡镇决定")
    legal_rep = serializers.CharField(max_length=50)
    contact_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    contact_phone = serializers.CharField(max_length=20, required=False, allow_blank=True)


class EnterpriseListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        region = serializers.CharField(required=False, max_length=12)
        kind = serializers.ChoiceField(choices=EnterpriseKind.choices, required=False)
        recognized = serializers.ChoiceField(choices=["true", "false"], required=False)
        q = serializers.CharField(required=False, max_length=100)

    @extend_schema(
        operation_id="enterprises_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(EnterpriseOutputSerializer, "PaginatedEnterpriseList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        if "recognized" in data:
            data["recognized"] = data["recognized"] == "true"
        enterprises = selectors.enterprise_list(user=request.user, filters=data)
        return paginated_response(
            request=request, queryset=enterprises, serializer_class=EnterpriseOutputSerializer, view=self
        )

    @extend_schema(request=EnterpriseInputSerializer, responses={201: EnterpriseDetailOutputSerializer})
    def post(self, request):
        data = EnterpriseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enterprise = services.enterprise_create(actor=request.user, data=data.validated_data)
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=enterprise.pk)
        return Response(EnterpriseDetailOutputSerializer(enterprise).data, status=status.HTTP_201_CREATED)


class EnterpriseDetailApi(APIView):
    @extend_schema(responses=EnterpriseDetailOutputSerializer)
    def get(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        return Response(EnterpriseDetailOutputSerializer(enterprise).data)

    @extend_schema(request=EnterpriseInputSerializer, responses=EnterpriseDetailOutputSerializer)
    def patch(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        data = EnterpriseInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.enterprise_update(actor=request.user, enterprise=enterprise, data=data.validated_data)
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        return Response(EnterpriseDetailOutputSerializer(enterprise).data)


class EnterpriseRecognizeApi(APIView):
    """The county recognises the enterprise as 带贫 (decision number and date)."""

    class InputSerializer(serializers.Serializer):
        decision_no = serializers.CharField(max_length=100)
        decided_on = serializers.DateField()

    @extend_schema(request=InputSerializer, responses=EnterpriseDetailOutputSerializer)
    def post(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.enterprise_recognize(actor=request.user, enterprise=enterprise, **data.validated_data)
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        return Response(EnterpriseDetailOutputSerializer(enterprise).data)


class EnterpriseWithdrawRecognitionApi(APIView):
    """The county withdraws the recognition, with a reason (from decided_on, default today)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)
        decided_on = serializers.DateField(required=False)
        decision_no = serializers.CharField(max_length=100, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=EnterpriseDetailOutputSerializer)
    def post(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.enterprise_withdraw_recognition(
            actor=request.user, enterprise=enterprise, **data.validated_data
        )
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        return Response(EnterpriseDetailOutputSerializer(enterprise).data)


class LinkOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    household = serializers.IntegerField(source="household_id")
    household_no = serializers.CharField(source="household.household_no")
    head_name = serializers.CharField(source="household.head_name")
    village_code = serializers.CharField(source="household.village_id")
    mode = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    annual_benefit = MoneySerializerField()
    in_force = serializers.SerializerMethodField()
    end_reason = serializers.CharField()

    def get_in_force(self, link) -> bool:
        return link.in_force(self.context.get("on") or today())


class EnterpriseLinkListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        household = serializers.IntegerField()
        mode = serializers.CharField(max_length=30)
        start_date = serializers.DateField()
        end_date = serializers.DateField(required=False, allow_null=True)
        annual_benefit = MoneySerializerField(min_value=0)

    @extend_schema(responses=LinkOutputSerializer(many=True))
    def get(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        links = selectors.link_list(enterprise=enterprise)
        return Response(LinkOutputSerializer(links, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: LinkOutputSerializer})
    def post(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link = services.link_create(actor=request.user, enterprise=enterprise, data=data.validated_data)
        link = selectors.link_get_for_user(user=request.user, enterprise_pk=pk, pk=link.pk)
        return Response(LinkOutputSerializer(link).data, status=status.HTTP_201_CREATED)


class EnterpriseLinkEndApi(APIView):
    """End a link early: its last day becomes end_date."""

    class InputSerializer(serializers.Serializer):
        end_date = serializers.DateField()
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=LinkOutputSerializer)
    def post(self, request, pk, link_id):
        link = selectors.link_get_for_user(user=request.user, enterprise_pk=pk, pk=link_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.link_end(actor=request.user, link=link, **data.validated_data)
        link = selectors.link_get_for_user(user=request.user, enterprise_pk=pk, pk=link_id)
        return Response(LinkOutputSerializer(link).data)


class EnterpriseEligibilityApi(APIView):
    """Whether the enterprise may borrow on a day, and its loan cap (households led × the county's
    amount per household); with `amount`, also whether that amount is within the cap."""

    class FilterSerializer(serializers.Serializer):
        on = serializers.DateField(required=False)
        amount = MoneySerializerField(required=False, min_value=0)

    class OutputSerializer(serializers.Serializer):
        on = serializers.DateField()
        recognized = serializers.BooleanField(source="recognised")
        cooperative_old_enough = serializers.BooleanField()
        households_led = serializers.IntegerField()
        cap_per_household = MoneySerializerField()
        loan_cap = MoneySerializerField()
        eligible = serializers.BooleanField()
        refusals = inline_serializer(
            "EnterpriseRefusal",
            {"code": serializers.CharField(), "message": serializers.CharField()},
            many=True,
        )

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request, pk):
        enterprise = selectors.enterprise_get_for_user(user=request.user, pk=pk)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        result = selectors.enterprise_eligibility(enterprise, on=filters.validated_data.get("on") or today())
        refusals = result.refusals
        if "amount" in filters.validated_data:
            refusals = result.refusals_for(filters.validated_data["amount"])
        body = {
            "on": result.on,
            "recognised": result.recognised,
            "cooperative_old_enough": result.cooperative_old_enough,
            "households_led": result.households_led,
            "cap_per_household": result.cap_per_household,
            "loan_cap": result.loan_cap,
            "eligible": not refusals,
            "refusals": [{"code": code, "message": message} for code, message in refusals],
        }
        return Response(self.OutputSerializer(body).data)
