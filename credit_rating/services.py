"""Every write to credit ratings: scorecard versions, ratings and their workflow, bank opinions,
credit-line freezes, batch pre-rating.

Workflow (STEPS, run by common.workflow's engine, is the whole table):
    draft/returned --submit (village desk)--> submitted --review (township)--> reviewed
        --approve (county)--> approved
    submitted --return (township, with a reason)--> returned (the village rescores and submits again)
    reviewed --return (county, with a reason)--> submitted (back with the township)
    submitted/reviewed --reject (township or county, with a reason)--> rejected (final)
    approving a household's new rating makes its previous approved one `superseded`.
Four eyes: nobody reviews a rating they drafted, rescored or submitted, nor approves (or returns
from the county) one they also reviewed. Bank officers of a branch serving the county may record an
opinion on a rating under review (RatingOpinion); it never blocks a step.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction

from common.audit import audit_entry, audit_record, audit_record_many
from common.bulk import insert_rows
from common.clock import now, today
from common.dates import add_months
from common.errors import ApplicationError, Forbidden
from common.workflow import Refusal, Step, Workflow
from households.models import Household
from organization.models import Region, Role, code_prefix
from organization.scoping import has_role_over, scope_for
from organization.selectors import policy_for

from . import defaults
from .models import (
    EDITABLE,
    IN_PROGRESS,
    UNDER_REVIEW,
    CreditLineFreeze,
    GradeBand,
    Indicator,
    Rating,
    RatingEvent,
    RatingOpinion,
    RatingStatus,
    Scorecard,
)
from .selectors import scorecard_current

TWO_PLACES = Decimal("0.01")


def plain(number) -> str:
    """A Decimal as people write it: 10.00 -> "10", 8.50 -> "8.5" (f"{d:g}" keeps "10.00")."""
    return format(Decimal(number).normalize(), "f")


class RatingError(ApplicationError):
    pass


S = RatingStatus
# Who may draft a rating (and enter its scores).
DRAFTERS = (Role.VILLAGE_CLERK, Role.COUNTY_STAFF)
STEPS = {
    "submit": Step(EDITABLE, S.SUBMITTED, DRAFTERS, "提交", guards=("scores_complete",)),
    "review": Step((S.SUBMITTED,), S.REVIEWED, (Role.TOWNSHIP_OFFICER,), "乡镇审核", checker=True,
                   guards=("scores_complete",)),
    "approve": Step((S.REVIEWED,), S.APPROVED, (Role.COUNTY_STAFF,), "县级审批", checker=True,
                    guards=("scores_complete",)),
    # To the step before, with a reason: the township gives a submitted rating back to the village
    # (returned: rescored and submitted again), the county a reviewed one back to the township.
    "return": Step((S.SUBMITTED,), S.RETURNED, (Role.TOWNSHIP_OFFICER,), "退回修改", checker=True, reason=True),
    "return-to-township": Step((S.REVIEWED,), S.SUBMITTED, (Role.COUNTY_STAFF,), "退回修改", checker=True,
                               reason=True),
    "reject": Step((S.SUBMITTED, S.REVIEWED), S.REJECTED, (Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF), "退回",
                   reason=True),
}  # fmt: skip
TRANSITIONS = STEPS  # the name pages and older callers know
# The one "return" of the API and the pages: the step it is from each state.
RETURN_STEP = {S.SUBMITTED: "return", S.REVIEWED: "return-to-township"}
RETURN_ACTIONS = tuple(RETURN_STEP.values())
# Work on a rating that keeps the worker from reviewing it (maker-checker); approving it (or the
# county's return) also excludes whoever reviewed it. A return is not work: whoever returned a
# rating may check it again when it comes back.
DRAFT_WORK = ("create", "rescore", "submit")
CHECKS = ("review", "approve", *RETURN_ACTIONS)


def _missing(rating: Rating) -> list[str]:
    return [
        i.name for i in rating.scorecard.indicators.all() if not i.is_computed and i.code not in rating.scores
    ]


def _scores_complete_guard(workflow, rating: Rating, context) -> list[Refusal]:
    """Every entered indicator scored: on submit, and again on review and approval (a pre-rated
    draft or a row written outside the services cannot slip through a bulk approval)."""
    missing = _missing(rating)
    if not missing:
        return []
    return [Refusal("incomplete_scores", f"还有{len(missing)}项未评分：{'、'.join(missing)}。")]


class RatingWorkflow(Workflow):
    """Credit ratings: STEPS is the whole table."""

    obj_type = "rating"
    model = Rating
    steps = STEPS
    guards = {"scores_complete": _scores_complete_guard}
    error = RatingError
    reason_limit = RatingEvent._meta.get_field("comment").max_length  # 200
    forbidden_text = "您的角色不能对该户的评级执行“{label}”。"
    state_text = "评级当前为“{state}”，不能执行“{label}”。"
    checker_text = "审核、审批须由他人进行：您已参与该评级的评分、提交或审核。"

    def lock(self, obj):
        return (
            Rating.objects.select_for_update(of=("self",))
            .select_related("household", "scorecard")
            .get(pk=obj.pk)
        )

    def holds_role(self, user, obj, role):
        return has_role_over(user, obj.household.village_id, (role,))

    def worked_on(self, obj, user, action):
        if obj.drafted_by_id == user.pk:
            return True
        work = DRAFT_WORK
        if action in ("approve", "return-to-township"):
            work = (*DRAFT_WORK, "review")
        return obj.events.filter(actor=user, action__in=work).exists()

    def subject(self, obj):
        return rating_subject(obj.pk, obj.household.household_no, obj.household.village_id)

    def write_event(self, obj, *, action, actor, from_state, to_state, comment):
        RatingEvent.objects.create(
            rating=obj, action=action, actor=actor, from_status=from_state, to_status=to_state,
            comment=comment[:200],
        )  # fmt: skip


RATING_WORKFLOW = RatingWorkflow()


# --- scorecards --------------------------------------------------------------------------------


@transaction.atomic
def scorecard_publish(
    *,
    actor,
    county: Region,
    effective_from: datetime.date,
    indicators: list[dict],
    grades: list[dict],
    note: str = "",
) -> Scorecard:
    """A new version of the county's scorecard. Ratings already made keep their version."""
    if county.level != Region.Level.COUNTY:
        raise RatingError("invalid_scorecard", "评分卡按县发布，请选择县（区）。")
    check_indicators(indicators)
    check_grades(grades)
    # Lock the county row, not the latest version: with no version yet there is nothing to lock,
    # and two first publications would both take version 1.
    Region.objects.select_for_update().filter(pk=county.pk).first()
    latest = Scorecard.objects.filter(county=county).order_by("-version").first()
    scorecard = Scorecard.objects.create(
        county=county, version=(latest.version + 1) if latest else 1, effective_from=effective_from,
        note=note, created_by=actor,
    )  # fmt: skip
    Indicator.objects.bulk_create(
        Indicator(scorecard=scorecard, position=i, **spec) for i, spec in enumerate(indicators, start=1)
    )
    GradeBand.objects.bulk_create(GradeBand(scorecard=scorecard, **spec) for spec in grades)
    return scorecard


def scorecard_publish_default(*, actor, county: Region, effective_from: datetime.date) -> Scorecard:
    return scorecard_publish(
        actor=actor, county=county, effective_from=effective_from, indicators=defaults.default_indicators(),
        grades=defaults.default_grades(), note="默认评分卡（卢氏九项指标＋档卡两项）",
    )  # fmt: skip


def check_indicators(indicators: list[dict]) -> None:
    """The indicators of a new version: codes unique, weights positive and adding up to 100, every
    maximum positive, the income indicator with its full-marks income. (The admin form calls this
    too, so it refuses what the service would.)"""
    if not indicators:
        raise RatingError("invalid_scorecard", "评分卡至少要有一项指标。")
    codes = [i["code"] for i in indicators]
    if len(set(codes)) != len(codes):
        raise RatingError("invalid_scorecard", "指标代码不能重复。")
    for spec in indicators:
        if Decimal(spec["weight"]) <= 0:
            raise RatingError("invalid_scorecard", f"指标“{spec['name']}”的权重应大于0。")
        if Decimal(spec.get("max_score", 10)) <= 0:
            raise RatingError("invalid_scorecard", f"指标“{spec['name']}”的满分应大于0。")
        source = spec.get("source", Indicator.Source.ENTERED)
        if source not in Indicator.Source.values:
            raise RatingError("invalid_scorecard", f"指标“{spec['name']}”的评分方式无效。")
        if source == Indicator.Source.INCOME and not (spec.get("full_marks_at") or 0) > 0:
            raise RatingError("invalid_scorecard", f"指标“{spec['name']}”须设定大于0的满分收入。")
    total = sum(Decimal(i["weight"]) for i in indicators)
    if total != 100:
        raise RatingError("invalid_scorecard", f"各指标权重之和应为100分，当前为{plain(total)}分。")


def check_grades(grades: list[dict]) -> None:
    """Grade bands: each grade once, minimum scores within 0-100, lines not negative, one band
    starting at 0 so that every score has a grade, and a higher band never gives a smaller line."""
    names = [g["grade"] for g in grades]
    if len(set(names)) != len(names):
        raise RatingError("invalid_scorecard", "每个等级只能出现一次。")
    for band in grades:
        if not 0 <= Decimal(band["min_score"]) <= 100:
            raise RatingError("invalid_scorecard", f"等级{band['grade']}的最低分应在0到100之间。")
        if Decimal(band["credit_line"]) < 0:
            raise RatingError("invalid_scorecard", f"等级{band['grade']}的授信额度不能为负数。")
    scores = [Decimal(g["min_score"]) for g in grades]
    if len(set(scores)) != len(scores):
        raise RatingError("invalid_scorecard", "各等级的最低分不能相同。")
    if not any(score == 0 for score in scores):
        raise RatingError("invalid_scorecard", "须有一个最低分为0的等级，使任何得分都有等级。")
    ordered = sorted(grades, key=lambda g: Decimal(g["min_score"]))
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        if Decimal(higher["credit_line"]) < Decimal(lower["credit_line"]):
            raise RatingError(
                "invalid_scorecard", f"等级{higher['grade']}的授信额度不应低于等级{lower['grade']}。"
            )


# --- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    scores: dict  # indicator code -> raw score (string with two places, as stored)
    score: Decimal
    grade: str
    credit_line: Decimal
    missing: tuple[str, ...]  # entered indicators without a score yet


def computed_raw_score(indicator: Indicator, household: Household) -> Decimal:
    """File-based indicators: the labour-capable share of members, and per-capita income against
    the income that earns full marks (linear, capped at the maximum)."""
    return computed_raw(
        indicator, labor_count=household.labor_count, member_count=household.member_count,
        income=household.per_capita_income,
    )  # fmt: skip


def computed_raw(indicator: Indicator, *, labor_count: int, member_count: int, income) -> Decimal:
    if indicator.source == Indicator.Source.LABOR_SHARE:
        share = min(Decimal(labor_count or 0) / Decimal(member_count or 1), Decimal(1))
    else:
        share = min(Decimal(income or 0) / indicator.full_marks_at, Decimal(1))
    return (share * indicator.max_score).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def score_household(*, scorecard: Scorecard, household: Household, entered: dict) -> Scored:
    """Fill the computed indicators, check the entered ones, add up, look up grade and line."""
    if not isinstance(entered, dict):
        raise RatingError("invalid_scores", "评分应为“指标代码: 得分”的对象。", {"scores": ["格式有误。"]})
    indicators = list(scorecard.indicators.all())
    known = {i.code for i in indicators if not i.is_computed}
    unknown = set(entered) - known
    errors: dict[str, list[str]] = {}
    for code in sorted(unknown):
        errors.setdefault("scores", []).append(f"评分卡中没有可手工评分的指标“{code}”。")
    scores, total, missing = {}, Decimal(0), []
    for indicator in indicators:
        if indicator.is_computed:
            raw = computed_raw_score(indicator, household)
        elif indicator.code in entered and entered[indicator.code] not in (None, ""):
            value = entered[indicator.code]
            try:
                if isinstance(value, bool):  # JSON true/false is no score
                    raise InvalidOperation
                raw = Decimal(str(value).strip())
                if not raw.is_finite():  # NaN would fail every comparison below with a 500
                    raise InvalidOperation
                raw = raw.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
            except (InvalidOperation, ValueError, TypeError):
                errors.setdefault("scores", []).append(f"“{indicator.name}”的得分应为数字。")
                continue
            if not (0 <= raw <= indicator.max_score):
                errors.setdefault("scores", []).append(
                    f"“{indicator.name}”的得分应在0到{plain(indicator.max_score)}之间。"
                )
                continue
        else:
            missing.append(indicator.code)
            continue
        scores[indicator.code] = str(raw)
        total += raw / indicator.max_score * indicator.weight
    if errors:
        raise RatingError("invalid_scores", "评分有误，请检查。", errors)
    total = total.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
    band = grade_for(scorecard, total)
    return Scored(scores, total, band.grade, band.credit_line, tuple(missing))


def grade_for(scorecard: Scorecard, total: Decimal) -> GradeBand:
    """The band a total falls in (the prefetched bands, highest first; no query when prefetched)."""
    bands = sorted(scorecard.grades.all(), key=lambda b: b.min_score, reverse=True)
    return next(b for b in bands if total >= b.min_score)


def points(indicator: Indicator, raw) -> Decimal:
    """What a raw score contributes to the 0-100 total (for the breakdown on the rating page)."""
    return (Decimal(raw) / indicator.max_score * indicator.weight).quantize(
        TWO_PLACES, rounding=ROUND_HALF_UP
    )


# --- ratings -----------------------------------------------------------------------------------


def _scorecard_for(household: Household, on: datetime.date) -> Scorecard:
    scorecard = scorecard_current(household.village_id[:6], on=on)
    if scorecard is None:
        raise RatingError("no_scorecard", "本县尚未发布评分卡，请联系县金融扶贫服务中心。")
    return scorecard


@transaction.atomic
def rating_create(*, actor, household: Household, scores: dict) -> Rating:
    """A draft rating. Entered scores may be partial at this stage; submit needs them all."""
    if not has_role_over(actor, household.village_id, DRAFTERS):
        raise Forbidden("只有本村金融扶贫服务部或县中心可以评分；银行认可评级结果，不重新评级。")
    Household.objects.select_for_update().filter(pk=household.pk).first()  # one draft at a time
    if Rating.objects.filter(household=household, status__in=IN_PROGRESS).exists():
        raise RatingError("rating_in_progress", "该户已有一条进行中的评级，请在原评级上修改或提交。")
    scorecard = _scorecard_for(household, today())
    scored = score_household(scorecard=scorecard, household=household, entered=scores)
    rating = Rating.objects.create(
        household=household, scorecard=scorecard, scores=scored.scores, score=scored.score, grade=scored.grade,
        credit_line=scored.credit_line, drafted_by=actor,
    )  # fmt: skip
    _record(rating, "create", actor, "", RatingStatus.DRAFT)
    return rating


@transaction.atomic
def rating_update_scores(*, actor, rating: Rating, scores: dict) -> Rating:
    """Change the entered scores of a draft or of a rating returned to the village (the version it
    was made with stays)."""
    rating = Rating.objects.select_for_update().select_related("household").get(pk=rating.pk)
    if not has_role_over(actor, rating.household.village_id, DRAFTERS):
        raise Forbidden("只有本村金融扶贫服务部或县中心可以评分。")
    if rating.status not in EDITABLE:
        raise RatingError("invalid_transition", "只有草稿或退回修改的评级可以修改评分。")
    entered = {code: value for code, value in rating.scores.items()}
    entered.update(scores)
    computed = {i.code for i in rating.scorecard.indicators.all() if i.is_computed}
    scored = score_household(
        scorecard=rating.scorecard, household=rating.household,
        entered={c: v for c, v in entered.items() if c not in computed},
    )  # fmt: skip
    rating.scores, rating.score, rating.grade, rating.credit_line = (
        scored.scores, scored.score, scored.grade, scored.credit_line,
    )  # fmt: skip
    # 评分人 is whoever entered the scores last: a batch pre-rating only filled the file-based
    # indicators, so the county staff who ran it stay free to approve what the village scored.
    # (Everyone who created or rescored it is still in the events, and the four-eyes check reads them.)
    rating.drafted_by = actor
    rating.save(update_fields=["scores", "score", "grade", "credit_line", "drafted_by"])
    _record(rating, "rescore", actor, rating.status, rating.status)
    return rating


def rating_transition(*, actor, rating: Rating, action: str, comment: str = "") -> Rating:
    """Take one step of STEPS through the engine (role, state, four eyes, reason, guards, event
    and audit in one transaction). "return" is the step back from wherever the rating is."""
    if action == "return":
        action = _return_step(rating)

    def change(rating: Rating) -> None:
        reason = (comment or "").strip()[:200]
        if action == "approve":
            _approve(rating, actor)
        elif action == "reject":
            rating.reject_reason = reason
        elif action in RETURN_ACTIONS:
            rating.return_reason = reason

    return RATING_WORKFLOW.run(actor=actor, obj=rating, action=action, comment=comment, change=change)


def _return_step(rating: Rating) -> str:
    """The return step from the rating's state now (run checks the state again under the lock)."""
    status = Rating.objects.filter(pk=rating.pk).values_list("status", flat=True).first() or rating.status
    return RETURN_STEP.get(status, "return")


def rating_submit(*, actor, rating: Rating) -> Rating:
    return rating_transition(actor=actor, rating=rating, action="submit")


def rating_review(*, actor, rating: Rating, comment: str = "") -> Rating:
    return rating_transition(actor=actor, rating=rating, action="review", comment=comment)


def rating_approve(*, actor, rating: Rating, comment: str = "") -> Rating:
    return rating_transition(actor=actor, rating=rating, action="approve", comment=comment)


def rating_return(*, actor, rating: Rating, reason: str) -> Rating:
    """退回修改: the township returns a submitted rating to the village, the county a reviewed one
    to the township; a reason is required."""
    return rating_transition(actor=actor, rating=rating, action="return", comment=reason)


def rating_reject(*, actor, rating: Rating, reason: str) -> Rating:
    return rating_transition(actor=actor, rating=rating, action="reject", comment=reason)


def rating_actions_for(*, user, rating: Rating) -> list[str]:
    """What the user may do to the rating now ("edit", the steps of STEPS with both returns as
    "return", and "opinion" for a bank officer), for the buttons of the rating page. The services
    check all of it again."""
    actions = []
    if rating.status in EDITABLE and has_role_over(user, rating.household.village_id, DRAFTERS):
        actions.append("edit")
    actions += ["return" if a in RETURN_ACTIONS else a for a in RATING_WORKFLOW.actions_for(user, rating)]
    if rating.status in UNDER_REVIEW and _opinion_branch(user, rating) is not None:
        actions.append("opinion")
    return actions


def _approve(rating: Rating, actor) -> None:
    """Effective from today for the policy's validity; the household's old rating is superseded."""
    day = today()
    months = policy_for(rating.household.village_id[:6], on=day).rating_validity_months
    old = Rating.objects.select_for_update().filter(household=rating.household, status=RatingStatus.APPROVED)
    for previous in old:
        previous.status = RatingStatus.SUPERSEDED
        previous.save(update_fields=["status"])
        _record(
            previous,
            "supersede",
            actor,
            RatingStatus.APPROVED,
            RatingStatus.SUPERSEDED,
            f"被评级#{rating.pk}取代",
        )
    rating.approved_on = day
    rating.valid_until = add_months(day, months) - datetime.timedelta(days=1)


def rating_subject(rating_id: int, household_no: str, village_id: str) -> dict:
    """What the audit trail says about a rating (common.audit)."""
    label = f"{household_no} 评级#{rating_id}"
    return {"obj_type": "rating", "obj_id": rating_id, "label": label, "region": village_id}


def _record(rating: Rating, action: str, actor, from_status: str, to_status: str, comment: str = "") -> None:
    """For what is not a step of the table (creation, a rescore, a supersede, a bank opinion): the
    rating's own event and the audit entry, through the workflow's one write path."""
    RATING_WORKFLOW.record(rating, action=action, actor=actor, from_state=from_status, to_state=to_status,
                           comment=comment)  # fmt: skip


# --- bank opinions (银行同步参与) ------------------------------------------------------------------


def _opinion_branch(user, rating: Rating):
    """The user's bank branch that serves the rating's county (None: not a serving officer)."""
    county = rating.household.village_id[:6]
    if county not in scope_for(user).served_county_codes:
        return None
    for assignment in user.role_assignments.select_related("branch"):
        if assignment.role == Role.BANK_OFFICER and assignment.branch_id:
            if assignment.branch.counties.filter(code=county).exists():
                return assignment.branch
    return None


@transaction.atomic
def rating_opinion_record(*, actor, rating: Rating, agrees: bool, comment: str = "") -> RatingOpinion:
    """A bank officer's opinion on a rating under review: agree, or disagree with a comment (a
    disagree needs one). One per officer and rating: a second replaces the first (the history keeps
    both). It shows in the rating's history and on the county's approval queue; it never blocks a
    step. The caller has read the rating through the selectors (404 outside scope)."""
    rating = Rating.objects.select_for_update().select_related("household").get(pk=rating.pk)
    branch = _opinion_branch(actor, rating)
    if branch is None:
        raise Forbidden("只有服务本县的银行网点信贷员可以对评级发表意见。")
    if rating.status not in UNDER_REVIEW:
        raise RatingError(
            "invalid_transition",
            f"评级当前为“{rating.get_status_display()}”，只有审核中的评级可以发表银行意见。",
        )
    comment = (comment or "").strip()
    limit = RatingOpinion._meta.get_field("comment").max_length
    if len(comment) > limit:
        raise RatingError("invalid", f"意见不能超过{limit}个字。", {"comment": [f"不能超过{limit}个字。"]})
    if not agrees and not comment:
        raise RatingError("reason_required", "不同意须填写意见。", {"comment": ["请填写不同意的理由。"]})
    opinion = RatingOpinion.objects.filter(rating=rating, officer=actor).first()
    previous = "" if opinion is None else ("agree" if opinion.agrees else "disagree")
    if opinion is None:
        opinion = RatingOpinion(rating=rating, officer=actor)
    opinion.branch, opinion.bank_id, opinion.agrees, opinion.comment, opinion.at = (
        branch, branch.bank_id, agrees, comment, now(),
    )  # fmt: skip
    opinion.save()
    text = f"{branch.name}：{'同意' if agrees else '不同意'}" + (f"。{comment}" if comment else "")
    RATING_WORKFLOW.write_event(
        rating, action="opinion", actor=actor, from_state=rating.status, to_state=rating.status, comment=text
    )
    audit_record(
        actor=actor, action="opinion", **RATING_WORKFLOW.subject(rating), from_state=previous,
        to_state="agree" if agrees else "disagree",
        detail={"branch": branch.code, "agrees": agrees, **({"comment": comment} if comment else {})},
    )  # fmt: skip
    return opinion


# --- bulk work ---------------------------------------------------------------------------------


def ratings_bulk_transition(*, actor, ratings, action: str, comment: str = "") -> dict:
    """Submit or approve many at once (the county's queue): each one through rating_transition and
    so the engine's `run` (every guard of the step, as one by one), on its own, so one refusal does
    not undo the others. Returns {"done": n, "refused": [(rating id, message), ...]}."""
    done, refused = 0, []
    for rating in ratings:
        try:
            rating_transition(actor=actor, rating=rating, action=action, comment=comment)
            done += 1
        except ApplicationError as exc:
            refused.append((rating.pk, exc.message))
    return {"done": done, "refused": refused}


PRERATE_LEVELS = (Region.Level.COUNTY, Region.Level.TOWNSHIP, Region.Level.VILLAGE)
PRERATE_COLUMNS = [
    "household_id", "scorecard_id", "status", "scores", "score", "grade", "credit_line", "drafted_by_id",
    "created_at", "reject_reason",
]  # fmt: skip
PRERATE_EVENT_COLUMNS = ["rating_id", "action", "actor_id", "at", "from_status", "to_status", "comment"]


def prerate_region(*, actor, region_code: str, progress=None, batch_size: int = 2000) -> dict:
    """Batch pre-rating: a draft for every household of the region (a county, township or village)
    that has no rating in progress, with the file-based indicators filled in; the village desk
    enters the rest. Set-based: households are read in id order batch by batch, scored in memory
    from three columns, and drafts and their events bulk-inserted, one transaction per batch. The
    partial unique constraint keeps it safe to run twice or alongside someone drafting by hand
    (such households are skipped). progress(processed, total) is called after every batch.

    It only ever writes drafts (a creation, like rating_create: not a step of STEPS) and moves no
    rating to another state; submitting them goes through the engine like any other draft."""
    region = Region.objects.filter(code=region_code, level__in=PRERATE_LEVELS).first()
    if region is None:
        raise RatingError("invalid_region", "请选择一个县（区）、乡镇或行政村。", {"region": ["区划无效。"]})
    if not has_role_over(actor, region_code, (Role.COUNTY_STAFF,)):
        raise Forbidden("只有县金融扶贫服务中心可以批量预评级。")
    scorecard = scorecard_current(region_code[:6], on=today())
    if scorecard is None:
        raise RatingError("no_scorecard", "本县尚未发布评分卡，请联系县金融扶贫服务中心。")
    computed = [i for i in scorecard.indicators.all() if i.is_computed]
    bands = sorted(scorecard.grades.all(), key=lambda b: b.min_score, reverse=True)
    busy = Rating.objects.filter(status__in=IN_PROGRESS).values("household_id")
    households = (
        Household.objects.filter(village__code__startswith=code_prefix(region_code))
        .exclude(pk__in=busy)
        .order_by("id")
    )
    total = households.count()
    created = processed = 0
    last_id, started = 0, now()
    moment = started
    if progress:
        progress(0, total)
    while True:
        batch = list(
            households.filter(id__gt=last_id).values_list(
                "id", "labor_count", "member_count", "per_capita_income"
            )[:batch_size]
        )
        if not batch:
            break
        last_id = batch[-1][0]
        rows = []
        for household_id, labor_count, member_count, income in batch:
            scores, total_points = {}, Decimal(0)
            for indicator in computed:
                raw = computed_raw(
                    indicator, labor_count=labor_count, member_count=member_count, income=income
                )
                scores[indicator.code] = str(raw)
                total_points += raw / indicator.max_score * indicator.weight
            total_points = total_points.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
            band = next(b for b in bands if total_points >= b.min_score)
            rows.append((household_id, scorecard.pk, RatingStatus.DRAFT, scores, total_points, band.grade,
                         band.credit_line, actor.pk, moment, ""))  # fmt: skip
        ids = [row[0] for row in rows]
        with transaction.atomic():
            # A household someone drafted meanwhile breaks the one-in-progress constraint: its row
            # is skipped, and the drafts read back are ours (a draft made by hand has its event).
            insert_rows(Rating, PRERATE_COLUMNS, rows, ignore_conflicts=True)
            made = list(
                Rating.objects.filter(
                    household_id__in=ids, status=RatingStatus.DRAFT, events__isnull=True
                ).values_list("id", "household__household_no", "household__village_id")
            )
            insert_rows(
                RatingEvent, PRERATE_EVENT_COLUMNS,
                [(pk, "prerate", actor.pk, moment, "", RatingStatus.DRAFT, "批量预评级") for pk, _, _ in made],
            )  # fmt: skip
            audit_record_many(
                audit_entry(actor=actor, action="prerate", **rating_subject(*row), to_state=RatingStatus.DRAFT)
                for row in made
            )  # fmt: skip
        created += len(made)
        processed += len(batch)
        if progress:
            progress(processed, total)
    return {
        "region": region_code,
        "households": total,
        "created": created,
        "skipped": processed - created,
        "seconds": round((now() - started).total_seconds(), 2),
    }


def prerate_start(*, actor, region_code: str):
    """Check what prerate_region would refuse up front (so the caller hears it at once), then queue
    it as a background job. Returns the Job; the task starts after this transaction commits."""
    from common.jobs import enqueue_job, job_create

    from .tasks import prerate_task

    region = Region.objects.filter(code=region_code, level__in=PRERATE_LEVELS).first()
    if region is None:
        raise RatingError("invalid_region", "请选择一个县（区）、乡镇或行政村。", {"region": ["区划无效。"]})
    if not has_role_over(actor, region_code, (Role.COUNTY_STAFF,)):
        raise Forbidden("只有县金融扶贫服务中心可以批量预评级。")
    if scorecard_current(region_code[:6], on=today()) is None:
        raise RatingError("no_scorecard", "本县尚未发布评分卡，请联系县金融扶贫服务中心。")
    with transaction.atomic():
        job = job_create(
            kind="prerate", actor=actor, params={"region": region_code, "region_name": region.name}
        )
        enqueue_job(prerate_task, job.pk)
    return job


# --- credit-line freeze ------------------------------------------------------------------------


@transaction.atomic
def credit_line_freeze(*, actor, household: Household, reason: str) -> CreditLineFreeze:
    """A post-loan check found non-productive use (called by the loans app's check service)."""
    if not has_role_over(actor, household.village_id, (Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF)):
        raise Forbidden("只有乡镇服务站或县中心可以冻结授信。")
    if not reason.strip():
        raise RatingError("reason_required", "冻结须填写原因。", {"reason": ["请填写原因。"]})
    existing = (
        CreditLineFreeze.objects.select_for_update()
        .filter(household=household, lifted_at__isnull=True)
        .first()
    )
    if existing:
        return existing
    freeze = CreditLineFreeze.objects.create(
        household=household, reason=reason.strip()[:200], frozen_by=actor
    )
    _audit_freeze(freeze, "freeze", actor, "", "frozen")
    return freeze


def _audit_freeze(freeze: CreditLineFreeze, action: str, actor, from_state: str, to_state: str) -> None:
    household = freeze.household
    audit_record(
        actor=actor, action=action, obj_type="credit_freeze", obj_id=freeze.pk, label=household.household_no,
        region=household.village_id, from_state=from_state, to_state=to_state, detail={"reason": freeze.reason},
    )  # fmt: skip


@transaction.atomic
def credit_line_lift(*, actor, household: Household) -> CreditLineFreeze:
    if not has_role_over(actor, household.village_id, (Role.COUNTY_STAFF,)):
        raise Forbidden("只有县中心可以解除授信冻结。")
    freeze = (
        CreditLineFreeze.objects.select_for_update()
        .filter(household=household, lifted_at__isnull=True)
        .first()
    )
    if freeze is None:
        raise RatingError("not_frozen", "该户授信未被冻结。")
    freeze.lifted_at, freeze.lifted_by = now(), actor
    freeze.save(update_fields=["lifted_at", "lifted_by"])
    _audit_freeze(freeze, "lift", actor, "frozen", "lifted")
    return freeze
