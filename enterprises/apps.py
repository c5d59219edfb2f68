from django.apps import AppConfig


class EnterprisesConfig(AppConfig):
    name = "enterprises"
    verbose_name = "带贫企业"

    def ready(self):
        from imports import registry

        from .importers import EnterpriseImporter, EnterpriseLinkImporter

        registry.register(EnterpriseImporter)
        registry.register(EnterpriseLinkImporter)
