from django.apps import AppConfig


class HouseholdsConfig(AppConfig):
    name = "households"
    verbose_name = "建档立卡户"

    def ready(self) -> None:
        from imports import registry

        from .importers import HouseholdImporter

        registry.register(HouseholdImporter)
