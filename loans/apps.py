from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = "贷款"

    def ready(self):
        from imports import registry

        from .importers import REPAYMENT_COLUMNS

        registry.register_template("repayments", "银行还款文件", REPAYMENT_COLUMNS)
