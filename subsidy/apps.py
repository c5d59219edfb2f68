from django.apps import AppConfig


class SubsidyConfig(AppConfig):
    name = "subsidy"
    verbose_name = "财政贴息"
