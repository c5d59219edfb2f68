"""The OpenAPI document (/api/v1/schema/) and its Swagger UI page (/api/v1/docs/): for signed-in
callers only (session or token; SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]), and the document is
generated once per process, not on every request.

The document depends only on the code (the URL routes and their views; SERVE_PUBLIC: not on who
asks), so a process keeps it in memory until it ends: a deployment starts new processes and so
serves the new document. The key is the API version and the language; the ?lang= and ?version=
query parameters of drf-spectacular are not honoured (one version, one language), so a caller
cannot fill the memory with variants.
"""

import threading

from django.utils import translation
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

_schemas: dict[tuple, dict] = {}
_lock = threading.Lock()


def clear_schema_cache() -> None:
    """Forget the generated documents (tests; nothing else changes the code under a process)."""
    with _lock:
        _schemas.clear()


class _JsonErrors:
    """A refusal (401, 429...) in the API's JSON error shape, not in the view's own format (the
    document's YAML, the docs page's HTML)."""

    def handle_exception(self, exc):
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)


class SwaggerSplitView(_JsonErrors, SpectacularSwaggerSplitView):
    pass


class CachedSpectacularAPIView(_JsonErrors, SpectacularAPIView):
    @extend_schema(**SCHEMA_KWARGS)  # as drf-spectacular's own: not in the document itself
    def get(self, request, *args, **kwargs):
        version = self.api_version or request.version
        key = (self.urlconf, version, translation.get_language())
        schema = _schemas.get(key)
        if schema is None:
            with _lock:
                schema = _schemas.get(key)
                if schema is None:
                    generator = self.generator_class(
                        urlconf=self.urlconf, api_version=version, patterns=self.patterns
                    )
                    schema = generator.get_schema(request=request, public=self.serve_public)
                    _schemas[key] = schema
        return Response(
            data=schema,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )
