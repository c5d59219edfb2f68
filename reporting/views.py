"""The home page: who I am and what I can see. It lives in reporting, the app that may read
every other app (nothing imports reporting)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from households.selectors import household_list
from organization.selectors import region_list


@login_required
def home(request):
    assignments = request.user.role_assignments.select_related("unit__region", "branch__bank")
    return render(
        request,
        "home.html",
        {
            "assignments": assignments,
            "household_count": household_list(user=request.user).count(),
            "counties": region_list(user=request.user, level="county"),
        },
    )
