from django.apps import AppConfig


class SubsidyConfig(AppConfig):
    name = "subsidy"
    verbose_name = "财政贴息"

    def ready(self):
        from . import services  # noqa: F401  BatchWorkflow, listed by common.workflow.all_workflows
