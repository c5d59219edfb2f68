"""OpenAPI naming: our serializers are nested in their API class (MeApi.OutputSerializer), so the
default component name ("Output") would collide. Name them after the API class instead."""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname and not getattr(getattr(serializer, "Meta", None), "ref_name", None):
            owner, inner = qualname.rsplit(".", 1)
            owner = owner.replace(".", "").removesuffix("Api")
            inner = inner.removesuffix("Serializer")
            return f"{owner}{inner}"
        return name
