"""Browser forms of the subsidy pages. They check types; the services check the rules, and their
messages are put on the forms, so the pages and the API say the same thing."""

from django import forms

from enterprises.forms import DateInput
from loans.forms import ServiceForm

from .models import BatchStatus

ANY = [("", "全部")]


class BatchFilterForm(forms.Form):
    county = forms.ChoiceField(label="县区", required=False)
    bank = forms.ChoiceField(label="银行", required=False)
    status = forms.ChoiceField(label="状态", required=False, choices=ANY + BatchStatus.choices)

    def __init__(self, *args, counties=(), banks=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["county"].choices = ANY + [(c.code, c.name) for c in counties]
        self.fields["bank"].choices = ANY + [(b.code, b.name) for b in banks]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class BatchForm(ServiceForm):
    county = forms.ChoiceField(label="县区")
    bank = forms.ChoiceField(label="贷款银行")
    period_start = forms.DateField(
        label="结算期起",
        widget=DateInput,
        help_text="结算期按县级政策的结算周期（默认每季度），从1月、4月、7月、10月的1日开始",
    )

    def __init__(self, *args, counties=(), banks=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["county"].choices = [(c.code, c.name) for c in counties]
        self.fields["bank"].choices = [("", "请选择")] + [(b.code, b.name) for b in banks]


class CommentForm(ServiceForm):
    comment = forms.CharField(label="意见", required=False, max_length=500)


class ReasonForm(ServiceForm):
    reason = forms.CharField(label="作废原因", required=False, max_length=500)


class MarkPaidForm(ServiceForm):
    paid_on = forms.DateField(label="拨付日期", widget=DateInput)
    reference = forms.CharField(label="拨付凭证号", required=False, max_length=100)


class NoFieldsForm(ServiceForm):
    pass


class PotDepositForm(ServiceForm):
    amount = forms.DecimalField(label="金额（元）", max_digits=14, decimal_places=2)
    entry_date = forms.DateField(label="到账日期", widget=DateInput)
    source = forms.CharField(
        label="来源",
        required=False,
        max_length=100,
        help_text="如：市级担保补贴和贷款贴息资金（不进风险补偿金）",
    )
    reference = forms.CharField(label="凭证号", required=False, max_length=100)


class PotPayoutForm(ServiceForm):
    batch = forms.ChoiceField(
        label="贴息结算批次", required=False, help_text="已拨付、尚未从资金池支出的批次"
    )
    amount = forms.DecimalField(label="金额（元）", max_digits=14, decimal_places=2)
    entry_date = forms.DateField(
        label="支出日期", widget=DateInput, required=False, help_text="留空为批次拨付日期或今天"
    )
    reference = forms.CharField(label="凭证号", required=False, max_length=100)

    def __init__(self, *args, batches=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["batch"].choices = [("", "不对应批次")] + [
            (
                str(b.pk),
                f"#{b.pk} {b.bank.name} {b.period_start:%Y-%m-%d}～{b.period_end:%Y-%m-%d} 合计{b.total_amount:,}元",
            )
            for b in batches
        ]
