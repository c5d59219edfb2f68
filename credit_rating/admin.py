"""Admin of credit ratings. A published scorecard is never edited (ratings are pinned to their
version): a change is a new version, either from the default template (an action) or from the add
form, whose indicators and grades the services check and the services write."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from common.admin import ReadOnlyAdminMixin
from common.clock import today
from common.errors import ApplicationError

from . import services
from .models import CreditLineFreeze, GradeBand, Indicator, Rating, RatingEvent, RatingOpinion, Scorecard


class _ServiceCheckedFormSet(forms.BaseInlineFormSet):
    """Runs the service's check over the rows being added, so the form refuses what the service
    would (weights adding up to 100, a grade starting at 0, ...)."""

    check = None  # services.check_indicators or services.check_grades
    fields_read: tuple[str, ...] = ()

    def rows(self) -> list[dict]:
        return [
            {name: form.cleaned_data.get(name) for name in self.fields_read}
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        rows = [{k: v for k, v in row.items() if k != "position"} for row in self.rows()]
        try:
            type(self).check(rows)
        except ApplicationError as exc:
            raise ValidationError(exc.message) from None


class IndicatorFormSet(_ServiceCheckedFormSet):
    check = staticmethod(services.check_indicators)
    fields_read = ("position", "code", "name", "group", "weight", "max_score", "source", "full_marks_at")


class GradeFormSet(_ServiceCheckedFormSet):
    check = staticmethod(services.check_grades)
    fields_read = ("grade", "min_score", "credit_line")


class _NewVersionOnly:
    """Rows are entered with a new version and never changed after (ratings are pinned to it)."""

    def has_add_permission(self, request, obj=None):
        return obj is None and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is None and super().has_delete_permission(request, obj)


class IndicatorInline(_NewVersionOnly, admin.TabularInline):
    model = Indicator
    formset = IndicatorFormSet
    fields = ("position", "code", "name", "group", "weight", "max_score", "source", "full_marks_at")
    extra = 0

    def get_extra(self, request, obj=None, **kwargs):
        return 11 if obj is None else 0


class GradeBandInline(_NewVersionOnly, admin.TabularInline):
    model = GradeBand
    formset = GradeFormSet
    fields = ("grade", "min_score", "credit_line")
    extra = 0

    def get_extra(self, request, obj=None, **kwargs):
        return 5 if obj is None else 0


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    list_display = ("county", "version", "effective_from", "note", "created_by", "created_at")
    list_filter = ("county",)
    fields = ("county", "effective_from", "note", "version", "created_by", "created_at")
    inlines = [IndicatorInline, GradeBandInline]
    actions = ["publish_default"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("version", "created_by", "created_at")
        return self.fields  # published: read-only, ratings are pinned to it

    def has_change_permission(self, request, obj=None):
        # The change page stays viewable; saving is refused for published versions.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and not obj.ratings.exists() and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """Nothing yet: save_related publishes the version through the service, with its rows."""

    def save_related(self, request, form, formsets, change):
        by_model = {formset.model: formset for formset in formsets}
        indicators = sorted(by_model[Indicator].rows(), key=lambda row: row.get("position") or 0)
        scorecard = services.scorecard_publish(
            actor=request.user,
            county=form.cleaned_data["county"],
            effective_from=form.cleaned_data["effective_from"],
            indicators=[{k: v for k, v in row.items() if k != "position"} for row in indicators],
            grades=by_model[GradeBand].rows(),
            note=form.cleaned_data.get("note", ""),
        )
        # The admin logs and redirects with the instance its form built: make it the published one.
        obj = form.instance
        obj.pk, obj.version, obj.created_by, obj.created_at = (
            scorecard.pk, scorecard.version, scorecard.created_by, scorecard.created_at,
        )  # fmt: skip
        obj._state.adding = False
        for formset in formsets:  # what construct_change_message reads
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    @admin.action(description="以默认模板发布新版本")
    def publish_default(self, request, queryset):
        counties = {s.county for s in queryset.select_related("county")}
        for county in sorted(counties, key=lambda c: c.code):
            try:
                scorecard = services.scorecard_publish_default(
                    actor=request.user, county=county, effective_from=today()
                )
            except ApplicationError as exc:
                self.message_user(request, f"{county.name}：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"已发布：{scorecard}（{scorecard.effective_from:%Y-%m-%d} 起）")


class RatingEventInline(admin.TabularInline):
    model = RatingEvent
    fields = ("at", "action", "actor", "from_status", "to_status", "comment")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RatingOpinionInline(admin.TabularInline):
    """The banks' opinions (read-only: recorded through services.rating_opinion_record)."""

    model = RatingOpinion
    fields = ("at", "branch", "officer", "agrees", "comment")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: ratings move only through the workflow (services)."""

    list_display = (
        "id",
        "household",
        "status",
        "score",
        "grade",
        "credit_line",
        "approved_on",
        "valid_until",
    )
    list_filter = ("status", "grade")
    search_fields = ("household__household_no", "household__head_name")
    list_select_related = ("household",)
    raw_id_fields = ("household",)
    inlines = [RatingEventInline, RatingOpinionInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(CreditLineFreeze)
class CreditLineFreezeAdmin(admin.ModelAdmin):
    """Freezes come from post-loan checks (services.credit_line_freeze); here they are listed and
    lifted."""

    list_display = ("household", "reason", "frozen_at", "frozen_by", "lifted_at", "lifted_by")
    list_filter = ("lifted_at",)
    search_fields = ("household__household_no", "household__head_name")
    list_select_related = ("household", "frozen_by", "lifted_by")
    actions = ["lift"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="解除所选授信冻结")
    def lift(self, request, queryset):
        done = 0
        for freeze in queryset.filter(lifted_at__isnull=True).select_related("household"):
            try:
                services.credit_line_lift(actor=request.user, household=freeze.household)
            except ApplicationError as exc:
                self.message_user(request, f"{freeze.household}：{exc.message}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, f"已解除 {done} 条。")
