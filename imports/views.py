"""Browser pages of imports: upload, follow a job, download the error workbook and templates.
Reads go through the selectors, writes through the services, as in the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.errors import ApplicationError
from common.spreadsheets import Limits
from organization.scoping import roles_of

from . import registry, selectors, services
from .api import error_report_response, template_filename, xlsx_download
from .forms import ImportUploadForm
from .models import ImportJob
from .templates_xlsx import build_template


def kind_label(kind: str) -> str:
    spec = registry.template(kind)
    return spec.label if spec else kind


def _templates_for(user) -> list[dict]:
    roles = roles_of(user)
    return [
        {"kind": kind, "label": spec.label, "importable": registry.get(kind) is not None}
        for kind, spec in registry.templates().items()
        if services.may_import(user, kind, roles=roles)
    ]


@login_required
def import_page_view(request):
    if not services.may_use_imports(request.user):
        raise PermissionDenied("您没有导入数据的权限。")
    kinds = services.importable_kinds(request.user)
    form = ImportUploadForm(request.POST or None, request.FILES or None, kinds=kinds)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_create(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                uploaded=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("imports:detail", pk=job.pk)
    jobs = list(selectors.import_list_for_user(user=request.user))
    for job in jobs:
        job.kind_label = kind_label(job.kind)
    return render(
        request,
        "imports/page.html",
        {
            "form": form,
            "kinds": kinds,
            "templates": _templates_for(request.user),
            "jobs": jobs,
            "show_uploader": any(job.created_by_id != request.user.pk for job in jobs),
            "limits": Limits.from_settings(),
        },
    )


@login_required
@require_safe
def import_detail_view(request, pk):
    job = selectors.import_get_for_user(user=request.user, pk=pk)
    job.kind_label = kind_label(job.kind)
    may_commit = (
        job.dry_run
        and job.status == ImportJob.Status.SUCCEEDED
        and registry.get(job.kind) is not None
        and services.may_import(request.user, job.kind)
    )
    return render(request, "imports/detail.html", {"job": job, "may_commit": may_commit})


@login_required
@require_POST
def import_commit_view(request, pk):
    """正式导入: the file of a clean dry run, for real, as a new job."""
    job = selectors.import_get_for_user(user=request.user, pk=pk)
    try:
        new = services.import_rerun(actor=request.user, job=job, dry_run=False)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("imports:detail", pk=job.pk)
    return redirect("imports:detail", pk=new.pk)


@login_required
@require_safe
def import_error_report_view(request, pk):
    job = selectors.import_get_for_user(user=request.user, pk=pk)
    return error_report_response(job)


@login_required
@require_safe
def import_template_view(request, kind):
    spec = registry.template(kind)
    if spec is None:
        raise Http404
    return xlsx_download(build_template(spec), template_filename(spec))
