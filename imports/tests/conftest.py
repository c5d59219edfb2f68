"""Fixtures of the import tests: uploads go to a temporary MEDIA_ROOT, and a tiny importer kind
("test_notes", writing auth Groups) shows what a new kind is: one small class."""

from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from common.errors import ApplicationError
from common.spreadsheets import cell_text
from imports import registry
from imports.base import Column, Counts, Importer
from imports.models import ImportJob
from imports.services import import_run
from organization.models import Role
from tests.test_browser import allow_orm_beside_playwright, page  # noqa: F401 (fixtures for test_browser.py)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class NotesPlan:
    create: list = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)


class NotesImporter(Importer):
    """The whole of a new kind: its columns, check() and commit(), and who may upload it."""

    kind = "test_notes"
    label = "测试便笺"
    roles = (Role.COUNTY_STAFF,)
    columns = [
        Column("title", "标题", width=20, example="第一条"),
        Column("note", "备注", required=False, aliases=("说明",)),
        Column("color", "颜色", required=False, choices=("红", "绿")),
    ]
    progress_seen: list = []  # processed_rows as the job showed it during check()
    notes_seen: list = []

    def check(self, rows, report):
        plan = NotesPlan()
        existing = set(Group.objects.values_list("name", flat=True))
        for index, row in enumerate(rows, start=1):
            title = cell_text(row.values["title"])
            NotesImporter.notes_seen.append(cell_text(row.values.get("note")))
            if not title:
                report.add(row.number, "标题", "", "标题不能为空。")
            elif title.startswith("坏"):
                report.add(row.number, "标题", title, "标题不能以“坏”开头。")
            color = cell_text(row.values.get("color"))
            if color and color not in ("红", "绿"):
                report.add(row.number, "颜色", color, "颜色须为“红”或“绿”。")
            if title in existing:
                plan.counts.unchanged += 1
            elif title:
                plan.create.append(title)
                plan.counts.created += 1
            self.progress(index)
            NotesImporter.progress_seen.append(
                ImportJob.objects.values_list("processed_rows", flat=True).first()
            )
        return plan

    def commit(self, plan):
        for title in plan.create:
            Group.objects.create(name=title)
            if title == "炸":
                raise RuntimeError("boom, after some rows were written")
            if title == "拒":
                raise ApplicationError("refused", "该批便笺已被锁定。")
        return plan.counts


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def notes_kind():
    registry.register(NotesImporter)
    NotesImporter.progress_seen = []
    NotesImporter.notes_seen = []
    yield NotesImporter
    registry.unregister(NotesImporter.kind)


@pytest.fixture
def template_only_kind():
    """A kind with a blank template but no importer yet (as the repayment file was at first)."""
    registry.register_template("test_template_only", "测试模板", [Column("title", "标题")])
    yield "test_template_only"
    registry.unregister("test_template_only")


def upload(data: bytes, name: str = "便笺.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=XLSX)


@pytest.fixture
def make_job():
    """make_job(user, data, kind=..., dry_run=...) -> a queued ImportJob holding the file."""

    def make(user, data: bytes, *, kind: str = "test_notes", dry_run: bool = True, name: str = "便笺.xlsx"):
        job = ImportJob(kind=kind, dry_run=dry_run, created_by=user, original_name=name)
        job.file.save(name, ContentFile(data), save=False)
        job.save()
        return job

    return make


@pytest.fixture
def run_job(make_job):
    """run_job(user, data, ...) -> the job after imports.services.import_run (what the task does)."""

    def run(user, data: bytes, **kwargs) -> ImportJob:
        job = make_job(user, data, **kwargs)
        return import_run(job_id=job.pk)

    return run
