from django.apps import AppConfig


class RiskFundConfig(AppConfig):
    name = "risk_fund"
    verbose_name = "风险补偿金"
