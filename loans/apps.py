from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = "贷款"

    def ready(self):
        from imports import registry

        from .importers import RepaymentImporter

        registry.register(RepaymentImporter)

        from . import daily, services  # noqa: F401 (their workflows: common.workflow.all_workflows)
