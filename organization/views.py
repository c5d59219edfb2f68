from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from households.selectors import household_list

from .selectors import region_list


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    assignments = request.user.role_assignments.select_related("unit__region", "branch__bank")
    counties = region_list(user=request.user, level="county")
    return render(
        request,
        "home.html",
        {
            "assignments": assignments,
            "household_count": household_list(user=request.user).count(),
            "counties": counties,
        },
    )
