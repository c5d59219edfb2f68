from django.apps import AppConfig


class RiskFundConfig(AppConfig):
    name = "risk_fund"
    verbose_name = "风险补偿金"

    def ready(self):
        from . import services  # noqa: F401  ClaimWorkflow, listed by common.workflow.all_workflows
