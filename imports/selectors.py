"""Reads of import jobs. A job is the uploader's own (the file may hold a whole county's ID
numbers): it is visible to the user who created it and to admins, and answers 404 to anyone else,
exactly like a missing one."""

from django.db.models import QuerySet
from django.http import Http404

from organization.scoping import is_admin

from .models import ImportJob


def import_list_for_user(*, user, limit: int = 20) -> QuerySet[ImportJob]:
    """The user's most recent jobs; an admin's list shows everyone's."""
    qs = ImportJob.objects.select_related("created_by").order_by("-created_at", "-pk")
    if not is_admin(user):
        qs = qs.filter(created_by=user)
    return qs[:limit]


def import_get_for_user(*, user, pk) -> ImportJob:
    try:
        qs = ImportJob.objects.select_related("created_by")
        if not is_admin(user):
            qs = qs.filter(created_by=user)
        return qs.get(pk=pk)
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
