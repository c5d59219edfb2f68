"""API of credit ratings (API.md "Credit rating"): scorecards, ratings and their workflow, a
household's rating as banks read it, batch pre-rating. One class per operation; reads go through
the selectors (404 outside scope), writes through the services (RatingError 400, Forbidden 403)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import IdSerializerField, MoneySerializerField, paginated_response, paginated_schema
from common.clock import today
from households.selectors import household_get_for_user
from organization.selectors import region_get_for_user

from . import selectors, services
from .models import RatingStatus

# --- output shapes -----------------------------------------------------------------------------


class IndicatorOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    group = serializers.CharField()
    weight = serializers.DecimalField(max_digits=5, decimal_places=2)
    max = serializers.DecimalField(source="max_score", max_digits=5, decimal_places=2)
    source = serializers.CharField()
    full_marks_at = MoneySerializerField(allow_null=True)


class GradeBandOutputSerializer(serializers.Serializer):
    grade = serializers.CharField()
    min_score = serializers.DecimalField(max_digits=5, decimal_places=2)
    credit_line = MoneySerializerField()


class ScorecardOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    county = serializers.CharField(source="county_id")
    effective_from = serializers.DateField()
    note = serializers.CharField()
    indicators = IndicatorOutputSerializer(many=True)
    grades = serializers.SerializerMethodField()

    def get_grades(self, scorecard) -> list[dict]:
        bands = sorted(scorecard.grades.all(), key=lambda b: b.min_score, reverse=True)
        return GradeBandOutputSerializer(bands, many=True).data


class RatingOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    household = serializers.IntegerField(source="household_id")
    household_no = serializers.CharField(source="household.household_no")
    head_name = serializers.CharField(source="household.head_name")
    village_code = serializers.CharField(source="household.village_id")
    village_name = serializers.CharField(source="household.village.name")
    status = serializers.CharField()
    score = serializers.DecimalField(max_digits=5, decimal_places=2)
    grade = serializers.CharField()
    credit_line = MoneySerializerField()
    scorecard_version = serializers.IntegerField(source="scorecard.version")
    drafted_by = serializers.CharField(source="drafted_by.username")
    created_at = serializers.DateTimeField()
    approved_on = serializers.DateField(allow_null=True)
    valid_until = serializers.DateField(allow_null=True)
    reject_reason = serializers.CharField()
    return_reason = serializers.CharField()


class RatingOpinionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bank = serializers.CharField(source="bank.code")
    bank_name = serializers.CharField(source="bank.name")
    branch = serializers.CharField(source="branch.code")
    branch_name = serializers.CharField(source="branch.name")
    officer = serializers.CharField(source="officer.username")
    officer_name = serializers.CharField(source="officer.__str__")
    agrees = serializers.BooleanField()
    comment = serializers.CharField()
    at = serializers.DateTimeField()


class RatingEventOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.CharField(source="actor.username")
    actor_name = serializers.CharField(source="actor.__str__")
    at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    comment = serializers.CharField()


class RatingDetailOutputSerializer(RatingOutputSerializer):
    scores = serializers.DictField(child=serializers.CharField())
    missing = serializers.SerializerMethodField()
    events = RatingEventOutputSerializer(many=True)
    opinions = serializers.SerializerMethodField()

    def get_opinions(self, rating) -> list[dict]:
        return RatingOpinionOutputSerializer(selectors.rating_opinions(rating=rating), many=True).data

    def get_missing(self, rating) -> list[str]:
        """Entered indicators without a score yet (submit needs them all)."""
        return [
            i.code
            for i in rating.scorecard.indicators.all()
            if not i.is_computed and i.code not in rating.scores
        ]


def _detail(request, rating) -> dict:
    rating = selectors.rating_get_for_user(user=request.user, pk=rating.pk)
    return RatingDetailOutputSerializer(rating).data


# --- scorecards --------------------------------------------------------------------------------


class ScorecardCurrentApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(max_length=6)
        on = serializers.DateField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=ScorecardOutputSerializer)
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        county = region_get_for_user(
            user=request.user, code=filters.validated_data["county"], include_ancestors=True
        )
        scorecard = selectors.scorecard_current(county.code, on=filters.validated_data.get("on") or today())
        if scorecard is None:
            raise services.RatingError("no_scorecard", f"{county.name}尚未发布评分卡。")
        return Response(ScorecardOutputSerializer(scorecard).data)


# --- ratings -----------------------------------------------------------------------------------


class ScoresField(serializers.DictField):
    """{"<indicator code>": number or numeric string}; the service checks codes and ranges."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.JSONField(), **kwargs)


class RatingListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=RatingStatus.choices, required=False)
        region = serializers.CharField(required=False, max_length=12)
        household = IdSerializerField(required=False)
        q = serializers.CharField(required=False, max_length=50)

    class InputSerializer(serializers.Serializer):
        household = serializers.IntegerField()
        scores = ScoresField(required=False, default=dict)

    @extend_schema(
        operation_id="ratings_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(RatingOutputSerializer, "PaginatedRatingList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        ratings = selectors.rating_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            request=request, queryset=ratings, serializer_class=RatingOutputSerializer, view=self
        )

    @extend_schema(request=InputSerializer, responses={201: RatingDetailOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        household = household_get_for_user(user=request.user, pk=data.validated_data["household"])
        rating = services.rating_create(
            actor=request.user, household=household, scores=data.validated_data["scores"]
        )
        return Response(_detail(request, rating), status=status.HTTP_201_CREATED)


class RatingDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        scores = ScoresField()

    @extend_schema(responses=RatingDetailOutputSerializer)
    def get(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        return Response(RatingDetailOutputSerializer(rating).data)

    @extend_schema(request=InputSerializer, responses=RatingDetailOutputSerializer)
    def patch(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_update_scores(
            actor=request.user, rating=rating, scores=data.validated_data["scores"]
        )
        return Response(_detail(request, rating))


class CommentInputSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class RatingSubmitApi(APIView):
    @extend_schema(request=None, responses=RatingDetailOutputSerializer)
    def post(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        rating = services.rating_submit(actor=request.user, rating=rating)
        return Response(_detail(request, rating))


class RatingReviewApi(APIView):
    @extend_schema(request=CommentInputSerializer, responses=RatingDetailOutputSerializer)
    def post(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        data = CommentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_review(
            actor=request.user, rating=rating, comment=data.validated_data["comment"]
        )
        return Response(_detail(request, rating))


class RatingApproveApi(APIView):
    @extend_schema(request=CommentInputSerializer, responses=RatingDetailOutputSerializer)
    def post(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        data = CommentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_approve(
            actor=request.user, rating=rating, comment=data.validated_data["comment"]
        )
        return Response(_detail(request, rating))


class _RatingReasonApi(APIView):
    """A step that takes a reason (return, reject): `perform` is the service that takes it."""

    perform = staticmethod(lambda **kwargs: None)

    class InputSerializer(serializers.Serializer):
        # Blank allowed here so that the service answers with its own code, reason_required.
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    @extend_schema(request=InputSerializer, responses=RatingDetailOutputSerializer)
    def post(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = self.perform(actor=request.user, rating=rating, reason=data.validated_data["reason"])
        return Response(_detail(request, rating))


class RatingReturnApi(_RatingReasonApi):
    """退回修改: the township returns a submitted rating to the village, the county a reviewed one to
    the township."""

    perform = staticmethod(services.rating_return)


class RatingOpinionListCreateApi(APIView):
    """The banks' opinions on a rating (银行同步参与): read by whoever may read the rating, recorded by
    an officer of a branch serving its county while it is under review."""

    class InputSerializer(serializers.Serializer):
        agrees = serializers.BooleanField()
        comment = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    @extend_schema(operation_id="ratings_opinions_list", responses=RatingOpinionOutputSerializer(many=True))
    def get(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        return Response(
            RatingOpinionOutputSerializer(selectors.rating_opinions(rating=rating), many=True).data
        )

    @extend_schema(request=InputSerializer, responses={201: RatingOpinionOutputSerializer})
    def post(self, request, pk):
        rating = selectors.rating_get_for_user(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        opinion = services.rating_opinion_record(actor=request.user, rating=rating, **data.validated_data)
        return Response(RatingOpinionOutputSerializer(opinion).data, status=status.HTTP_201_CREATED)


class RatingRejectApi(_RatingReasonApi):
    perform = staticmethod(services.rating_reject)


class RatingPrerateApi(APIView):
    throttle_scope = "jobs"

    class InputSerializer(serializers.Serializer):
        region = serializers.CharField(max_length=12)

    class OutputSerializer(serializers.Serializer):
        job_id = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        region = region_get_for_user(user=request.user, code=data.validated_data["region"])
        job = services.prerate_start(actor=request.user, region_code=region.code)
        return Response({"job_id": job.pk}, status=status.HTTP_202_ACCEPTED)


# --- a household's rating ------------------------------------------------------------------------


class HouseholdRatingApi(APIView):
    class EffectiveSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        grade = serializers.CharField()
        score = serializers.DecimalField(max_digits=5, decimal_places=2)
        credit_line = MoneySerializerField()
        approved_on = serializers.DateField()
        valid_until = serializers.DateField()
        scorecard_version = serializers.IntegerField(source="scorecard.version")

    class HistorySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        grade = serializers.CharField()
        score = serializers.DecimalField(max_digits=5, decimal_places=2)
        credit_line = MoneySerializerField()
        scorecard_version = serializers.IntegerField(source="scorecard.version")
        created_at = serializers.DateTimeField()
        approved_on = serializers.DateField(allow_null=True)
        valid_until = serializers.DateField(allow_null=True)

    class OutputSerializer(serializers.Serializer):
        household = serializers.IntegerField()
        effective = serializers.SerializerMethodField()
        available_credit_line = MoneySerializerField()
        frozen = serializers.BooleanField()
        history = serializers.SerializerMethodField()

        def get_effective(self, obj) -> dict | None:
            rating = obj["effective"]
            return None if rating is None else HouseholdRatingApi.EffectiveSerializer(rating).data

        def get_history(self, obj) -> list[dict]:
            return HouseholdRatingApi.HistorySerializer(obj["history"], many=True).data

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk):
        household = household_get_for_user(user=request.user, pk=pk)
        summary = selectors.household_rating(household=household, user=request.user, on=today())
        effective = summary["effective"]
        available = effective.credit_line if effective is not None and not summary["frozen"] else "0.00"
        return Response(
            self.OutputSerializer(
                {**summary, "household": household.pk, "available_credit_line": available}
            ).data
        )
