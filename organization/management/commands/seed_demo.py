"""manage.py seed_demo [--households N]: the 驻马店市 demo (see organization.demo_data)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from organization import demo_data


class Command(BaseCommand):
    help = "创建驻马店市演示数据：区划、服务机构、银行、政策、建档立卡户及演示用户（可重复运行）。"

    def add_arguments(self, parser):
        parser.add_argument(
            "--households", type=int, default=demo_data.DEFAULT_HOUSEHOLDS,
            help=f"演示户总数（默认 {demo_data.DEFAULT_HOUSEHOLDS}）；已有的不重复创建，只补足差额。",
        )  # fmt: skip
        parser.add_argument(
            "--allow-production", action="store_true",
            help="在生产配置下也运行（会创建密码公开的演示账号，包括超级用户 admin）。",
        )  # fmt: skip

    def handle(self, *args, households, allow_production, **options):
        if households < 0:
            raise CommandError("--households 不能为负数。")
        if str(settings.SETTINGS_MODULE).endswith(".production") and not allow_production:
            raise CommandError("当前为生产配置：演示账号的密码是公开的。确需运行请加 --allow-production。")

        result = demo_data.seed(households=households)
        counts = demo_data.counts()

        self.stdout.write("")
        self.stdout.write("演示用户（所有用户密码相同）：")
        self.stdout.write(demo_data.format_table(["用户名", "密码", "角色", "所属机构"], result.user_rows))
        self.stdout.write("")
        self.stdout.write(
            demo_data.format_table(
                ["项目", "总数", "本次新增"],
                [
                    ("行政区划", counts["regions"], result.regions_created),
                    ("服务机构", counts["service_units"], result.units_created),
                    ("银行网点", counts["bank_branches"], result.branches_created),
                    ("县级政策", counts["policies"], result.policies_created),
                    ("建档立卡户", counts["households"], result.households_created),
                    ("家庭成员", counts["members"], result.members_created),
                    ("用户", counts["users"], result.users_created),
                    ("评分卡", counts["scorecards"], result.ratings.scorecards_created),
                    ("信用评级", counts["ratings"], result.ratings.ratings_created),
                    ("授信冻结", counts["credit_freezes"], result.ratings.freezes_created),
                ],
            )
        )
        if households and counts["households"] > households and not result.households_created:
            self.stdout.write(
                f"（库中已有 {counts['households']} 户，多于 --households {households}；不会删除。）"
            )
        from enterprises import demo as enterprise_demo  # a later app: its own demo data

        self.stdout.write(enterprise_demo.seed().summary())
        from loans import demo as loan_demo

        loans = loan_demo.seed()
        self.stdout.write(loans.summary())
        self.stdout.write(loan_demo.describe(loans))
        from risk_fund import demo as fund_demo
        from subsidy import demo as subsidy_demo

        self.stdout.write(fund_demo.seed().summary())
        self.stdout.write(subsidy_demo.seed().summary())
        from reporting import demo as reporting_demo  # last: it reads everything above

        self.stdout.write(reporting_demo.summary(reporting_demo.seed()))
        timings = "，".join(f"{name} {seconds:.1f} 秒" for name, seconds in result.timings.items())
        self.stdout.write(self.style.SUCCESS(f"完成，用时 {result.seconds:.1f} 秒（{timings}）。"))
