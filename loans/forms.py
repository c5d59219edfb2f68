"""Browser forms of the loans pages. They check types only; the services check the rules, and their
messages are put on the forms, so the pages and the API say the same thing."""

from decimal import Decimal

from django import forms

from common.clock import today
from common.forms import ServiceForm
from enterprises.forms import DateInput
from households.forms import indented_region_choices

from .eligibility import age_on
from .models import (
    NON_PRODUCTIVE_PURPOSES,
    Classification,
    LoanStatus,
    PostLoanCheck,
    Purpose,
    RepaymentMethod,
    WriteOffReason,
)

ANY = [("", "全部")]

# Productive purposes first; the ones never lent for are listed so a refusal can name them.
PURPOSE_CHOICES = [
    ("", "请选择"),
    ("生产经营", [(p.value, p.label) for p in Purpose if p not in NON_PRODUCTIVE_PURPOSES]),
    ("不予贷款", [(p.value, f"{p.label}（不予贷款）") for p in Purpose if p in NON_PRODUCTIVE_PURPOSES]),
]


class LoanFilterForm(forms.Form):
    q = forms.CharField(
        label="编号或借款人",
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": "贷款编号或户主姓名", "type": "search"}),
    )
    region = forms.ChoiceField(label="区域", required=False)
    status = forms.ChoiceField(label="状态", required=False, choices=ANY + LoanStatus.choices)
    bank = forms.ChoiceField(label="银行", required=False)
    classification = forms.ChoiceField(label="五级分类", required=False, choices=ANY + Classification.choices)

    def __init__(self, *args, regions=(), banks=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = ANY + indented_region_choices(regions)
        self.fields["bank"].choices = ANY + [(b.code, b.name) for b in banks]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class LoanApplicationForm(ServiceForm):
    borrower = forms.ChoiceField(label="借款人", required=False, help_text="本户家庭成员，不选为户主")
    bank = forms.ChoiceField(label="贷款银行")
    amount = forms.DecimalField(
        label="贷款金额（元）", max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    term_months = forms.IntegerField(label="期限（月）", min_value=1, max_value=120)
    purpose = forms.ChoiceField(label="用途", choices=PURPOSE_CHOICES)
    repayment_method = forms.ChoiceField(label="还款方式", choices=RepaymentMethod.choices)
    rate = forms.DecimalField(
        label="年利率（%）", max_digits=7, decimal_places=4, required=False, help_text="留空按基准利率"
    )
    other_subsidy = forms.BooleanField(label="已享受其他财政贴息", required=False)

    def __init__(self, *args, members=None, banks=(), **kwargs):
        """members: the household's (None for an enterprise loan: no borrower, a rate instead)."""
        super().__init__(*args, **kwargs)
        self.fields["bank"].choices = [("", "请选择")] + [(b.code, b.name) for b in banks]
        if members is None:
            del self.fields["borrower"]
        else:
            del self.fields["rate"]
            day = today()
            self.fields["borrower"].choices = [
                (str(m.pk), f"{m.name}（{m.relation}，{age_on(m.birth_date, day)}周岁）") for m in members
            ]


class CommentForm(ServiceForm):
    comment = forms.CharField(label="意见", required=False, max_length=500)


class ReasonForm(ServiceForm):
    # Not required here, so that the service answers with its own message (as the API does).
    reason = forms.CharField(label="原因", required=False, max_length=500)


class WriteOffForm(ServiceForm):
    # A select, checked by the service (which names the fixed list), as the API is.
    reason = forms.CharField(
        label="核销事由",
        required=False,
        widget=forms.Select(choices=[("", "请选择")] + WriteOffReason.choices),
    )
    comment = forms.CharField(label="补充说明", required=False, max_length=300)


class DisburseForm(ServiceForm):
    disbursed_on = forms.DateField(label="放款日期", widget=DateInput)


class ExtendForm(ServiceForm):
    months = forms.IntegerField(label="展期月数", min_value=1, max_value=36)
    reason = forms.CharField(label="展期原因", required=False, max_length=500)


class RepaymentForm(ServiceForm):
    amount = forms.DecimalField(label="还款金额（元）", max_digits=14, decimal_places=2)
    paid_on = forms.DateField(label="还款日期", widget=DateInput)
    reference = forms.CharField(
        label="流水号", required=False, max_length=64, help_text="同一流水号只入账一次"
    )


class CheckForm(ServiceForm):
    tier = forms.ChoiceField(label="检查层级")
    checked_on = forms.DateField(label="检查日期", widget=DateInput)
    finding = forms.ChoiceField(label="检查结论", choices=PostLoanCheck.Finding.choices)
    note = forms.CharField(
        label="情况说明", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, tiers=(), **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(PostLoanCheck.Tier.choices)
        self.fields["tier"].choices = [(t, labels[t]) for t in tiers]
