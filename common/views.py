"""What the browser pages of every app share."""

from django.core.paginator import Page, Paginator


def paginate(request, items, per_page: int) -> tuple[Page, str]:
    """The page of `items` that ?page= asks for (the nearest one for a bad number) and the request's
    query string without `page`: the two that common/_pager.html takes, so its links keep the
    list's filters."""
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()
