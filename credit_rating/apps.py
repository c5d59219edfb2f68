from django.apps import AppConfig


class CreditRatingConfig(AppConfig):
    name = "credit_rating"
    verbose_name = "信用评价"
