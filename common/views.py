"""What the browser pages of every app share."""

from django.core.paginator import Page, Paginator

from .errors import ApplicationError, Forbidden


def paginate(request, items, per_page: int) -> tuple[Page, str]:
    """The page of `items` that ?page= asks for (the nearest one for a bad number) and the request's
    query string without `page`: the two that common/_pager.html takes, so its links keep the
    list's filters."""
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def refusal_status(exc: ApplicationError) -> int:
    """The status of a page shown again with a service's refusal: 403 when the user may see the
    object but not do this to it (as the API answers, API.md), else 200 (a form to correct)."""
    return 403 if isinstance(exc, Forbidden) else 200
