"""Kinds of import, registered by their apps in AppConfig.ready().

A kind's blank template can be served before its importer exists (the bank repayment file's
columns are fixed now; posting repayments arrives with the loans app)."""

from dataclasses import dataclass

from .base import Column, Importer


@dataclass(frozen=True)
class TemplateSpec:
    kind: str
    label: str
    columns: tuple[Column, ...]


_IMPORTERS: dict[str, type[Importer]] = {}
_TEMPLATES: dict[str, TemplateSpec] = {}


def register(importer: type[Importer]) -> type[Importer]:
    _IMPORTERS[importer.kind] = importer
    register_template(importer.kind, importer.label, importer.columns)
    return importer


def register_template(kind: str, label: str, columns) -> None:
    _TEMPLATES[kind] = TemplateSpec(kind, label, tuple(columns))


def get(kind: str) -> type[Importer] | None:
    return _IMPORTERS.get(kind)


def template(kind: str) -> TemplateSpec | None:
    return _TEMPLATES.get(kind)


def kinds() -> dict[str, type[Importer]]:
    return dict(_IMPORTERS)


def templates() -> dict[str, TemplateSpec]:
    """Every kind with a template, importable or not (the bank repayment file has only its
    template until the loans app posts repayments)."""
    return dict(_TEMPLATES)


def unregister(kind: str) -> None:
    """For tests that register a kind of their own."""
    _IMPORTERS.pop(kind, None)
    _TEMPLATES.pop(kind, None)
