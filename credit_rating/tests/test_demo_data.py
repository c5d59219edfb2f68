"""The demo's ratings (seed_demo): every state present, expiry spread, four eyes kept, a second run
adds nothing; and the issue's walk-through on the demo city, as a new user would do it."""

import datetime
import html
import re
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from common.clock import today
from common.models import AuditEntry
from credit_rating import services
from credit_rating.models import CreditLineFreeze, Rating, RatingEvent, RatingOpinion, Scorecard
from households.models import Household
from organization.models import User

pytestmark = pytest.mark.django_db
HOUSEHOLDS = 600


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", households=HOUSEHOLDS, stdout=out)
    return out.getvalue()


def test_demo_ratings_in_every_state_and_idempotent():
    output = seed()
    assert "信用评级" in output and "评分卡" in output
    cards = Scorecard.objects.all()
    assert cards.count() == 10 and {c.effective_from for c in cards} == {datetime.date(2017, 7, 19)}
    assert all(c.indicators.count() == 11 and c.grades.count() == 5 for c in cards)

    states = dict(Rating.objects.values_list("status").annotate(n=Count("id")))
    assert set(states) == {
        "draft", "submitted", "reviewed", "approved", "rejected", "superseded", "returned",
    }, states  # fmt: skip
    returned = Rating.objects.get(status="returned")
    assert returned.return_reason and returned.events.last().action == "return"
    opinions = RatingOpinion.objects.select_related("rating")
    assert sorted(o.agrees for o in opinions) == [False, True]
    assert all(o.rating.status == "reviewed" for o in opinions)
    assert opinions.get(agrees=False).comment
    eligible = Household.objects.filter(status__in=("poor", "lifted"))
    approved = Rating.objects.filter(status="approved", household__in=eligible).values("household").distinct()
    assert approved.count() > eligible.count() / 2  # most poor and lifted households are rated

    day = today()
    valid = Rating.objects.filter(status="approved")
    assert valid.filter(valid_until__gte=day, valid_until__lte=day + datetime.timedelta(days=30)).exists()
    assert valid.filter(valid_until__lt=day).exists()  # lapsed
    assert valid.filter(valid_until__gt=day + datetime.timedelta(days=30)).exists()
    assert Rating.objects.filter(status="rejected").exclude(reject_reason="").count() == states["rejected"]
    assert CreditLineFreeze.objects.filter(lifted_at__isnull=True).count() == 1

    before = (Rating.objects.count(), RatingEvent.objects.count(), Scorecard.objects.count(),
              CreditLineFreeze.objects.count(), RatingOpinion.objects.count())  # fmt: skip
    seed()
    after = (Rating.objects.count(), RatingEvent.objects.count(), Scorecard.objects.count(),
             CreditLineFreeze.objects.count(), RatingOpinion.objects.count())  # fmt: skip
    assert after == before


def test_seeded_history_is_consistent():
    seed()
    # History is history: no step of any rating (nor its audit entry) is dated after now.
    assert not RatingEvent.objects.filter(at__gt=timezone.now()).exists()
    assert not AuditEntry.objects.filter(at__gt=timezone.now()).exists()
    for rating in Rating.objects.prefetch_related("events").select_related("scorecard")[:400]:
        events = sorted(rating.events.all(), key=lambda e: (e.at, e.id))
        assert events[0].action in ("create", "prerate") and events[-1].to_status == rating.status
        assert [e.at for e in events] == sorted(e.at for e in events)
        by = {e.action: e.actor_id for e in events}
        # Four eyes: the reviewer and approver did no earlier work on it.
        workers = {e.actor_id for e in events if e.action in ("create", "prerate", "rescore", "submit")}
        if "review" in by:
            assert by["review"] not in workers
        if "approve" in by:
            assert by["approve"] not in workers | {by["review"]}
        if rating.status in ("approved", "superseded"):
            assert rating.approved_on and rating.valid_until and events[0].at.date() <= rating.approved_on
        # The stored score is what the service computes from the stored entered scores.
        household = SimpleNamespace(**dict(zip(("labor_count", "member_count", "per_capita_income"),
                                               Household.objects.filter(pk=rating.household_id).values_list(
                                                   "labor_count", "member_count", "per_capita_income").get(),
                                               strict=True)))  # fmt: skip
        entered = {c: v for c, v in rating.scores.items() if c not in ("labor_share", "income")}
        scored = services.score_household(scorecard=rating.scorecard, household=household, entered=entered)
        assert (scored.score, scored.grade, scored.credit_line) == (
            rating.score,
            rating.grade,
            rating.credit_line,
        )
    # At most one approved and one in progress per household.
    assert (
        not Rating.objects.filter(status="approved")
        .values("household")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )


def page(client, url, **kwargs):
    response = client.get(url, **kwargs)
    assert response.status_code == 200, (url, response.status_code)
    return html.unescape(response.content.decode())


def test_walk_through_on_the_demo_city(client):
    """A village clerk rates a household, the township reviews, the county approves, the bank sees
    the grade; the outsiders see nothing."""
    seed()
    users = {u.username: u for u in User.objects.all()}
    village = Household.objects.filter(village_id="411722100201")
    household = (
        village.exclude(ratings__status__in=("draft", "returned", "submitted", "reviewed"))
        .order_by("household_no")
        .first()
    )

    client.force_login(users["village_411722"])
    detail = page(client, f"/households/{household.pk}/")
    assert f'href="/ratings/new/{household.pk}/" id="rate-household"' in detail
    form = page(client, f"/ratings/new/{household.pk}/")
    codes = re.findall(r'<input type="number" name="(\w+)"', form)
    assert len(codes) == 9
    response = client.post(f"/ratings/new/{household.pk}/", {c: "10" for c in codes} | {"then": "submit"})
    rating = Rating.objects.filter(household=household).order_by("-id").first()
    assert response["Location"] == f"/ratings/{rating.pk}/" and rating.status == "submitted"

    client.force_login(users["township_411722"])
    assert f'href="/ratings/{rating.pk}/"' in page(client, "/ratings/")
    client.post(f"/ratings/{rating.pk}/", {"action": "review"})
    client.force_login(users["county_411722"])
    queue = page(client, "/ratings/")
    assert f'name="ids" value="{rating.pk}"' in queue and "批量审批" in queue
    disagreed = RatingOpinion.objects.get(agrees=False)  # the banks' opinions, on the rating page
    assert disagreed.comment in page(client, f"/ratings/{disagreed.rating_id}/")
    follow = html.unescape(client.post("/ratings/bulk/", {"action": "approve", "ids": [rating.pk]}, follow=True)
                           .content.decode())  # fmt: skip
    assert "已审批 1 条" in follow
    rating.refresh_from_db()
    assert rating.status == "approved"

    client.force_login(users["bank_411722"])
    body = client.get(f"/api/v1/households/{household.pk}/rating/").json()
    assert body["effective"]["id"] == rating.pk and body["effective"]["grade"] == rating.grade
    assert f"{rating.grade}</span>" in page(client, f"/households/{household.pk}/")

    for outsider in ("township_411721", "bank_411721", "village_411721", "county_411721"):
        client.force_login(users[outsider])
        assert client.get(f"/ratings/{rating.pk}/").status_code == 404
        assert client.get(f"/api/v1/households/{household.pk}/rating/").status_code == 404
        assert client.get(f"/api/v1/ratings/{rating.pk}/").status_code == 404
        assert household.head_name not in html.unescape(client.get("/ratings/?tab=all").content.decode())
