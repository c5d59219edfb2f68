"""Browser forms of the fund pages. They check types only; the services check the rules and their
messages are put on the forms, so the pages and the API say the same thing."""

from django import forms

from enterprises.forms import DateInput
from loans.forms import ServiceForm

from .models import ClaimStatus, FundEntry

# The choices as the deposit form names them: 市级补充 is city money into the fund itself (a top-up
# that counts in the balance and the leverage); the city's money for guarantee and interest
# subsidies goes to the subsidy pot (/subsidy/pot/), its own ledger.
DEPOSIT_LABELS = {FundEntry.Kind.CITY_CONTRIBUTION: "市级补充（注入风险补偿金本金）"}


class DepositForm(ServiceForm):
    kind = forms.ChoiceField(
        label="类型",
        choices=[(k.value, DEPOSIT_LABELS.get(k, k.label)) for k in FundEntry.MONEY_IN],
        help_text="市级担保补贴和贷款贴息资金不是补偿金，请登记到“财政贴息 › 贴息资金池”。",
    )
    amount = forms.DecimalField(label="金额（元）", max_digits=14, decimal_places=2)
    received_on = forms.DateField(label="到账日期", widget=DateInput)
    source = forms.CharField(
        label="来源", required=False, max_length=100, help_text="如：县级财政预算（计入补偿金余额和放大倍数）"
    )
    reference = forms.CharField(label="凭证号", required=False, max_length=100)


class AgreementForm(ServiceForm):
    bank = forms.ChoiceField(label="合作银行")
    fund_share = forms.DecimalField(label="补偿金分担（%）", max_digits=6, decimal_places=2, initial=80)
    guarantee_share = forms.DecimalField(label="担保机构分担（%）", max_digits=6, decimal_places=2, initial=0)
    bank_share = forms.DecimalField(label="银行分担（%）", max_digits=6, decimal_places=2, initial=20)
    guarantee_agency = forms.CharField(
        label="担保机构", required=False, max_length=100, help_text="三方分担时填写"
    )
    guarantee_fee_rate = forms.DecimalField(
        label="担保费率（年，%）", max_digits=6, decimal_places=2, initial=0, required=False
    )
    guarantee_fee_subsidized = forms.BooleanField(label="担保费享受财政补贴", required=False)
    leverage_multiple = forms.DecimalField(label="放大倍数", max_digits=6, decimal_places=2, initial=10)
    valid_from = forms.DateField(label="生效日期", widget=DateInput)
    valid_until = forms.DateField(
        label="截止日期", widget=DateInput, required=False, help_text="留空为长期有效"
    )
    reference = forms.CharField(label="协议编号", required=False, max_length=100)

    def __init__(self, *args, banks=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bank"].choices = [("", "请选择")] + [(b.code, b.name) for b in banks]


class ReasonForm(ServiceForm):
    reason = forms.CharField(label="驳回原因", required=False, max_length=200)


class RecoveryForm(ServiceForm):
    amount = forms.DecimalField(label="收回金额（元）", max_digits=14, decimal_places=2)
    received_on = forms.DateField(label="收回日期", widget=DateInput)


class ClaimFilterForm(forms.Form):
    status = forms.ChoiceField(label="状态", required=False, choices=[("", "全部"), *ClaimStatus.choices])
    county = forms.ChoiceField(label="县区", required=False)

    def __init__(self, *args, counties=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["county"].choices = [("", "全部")] + [(c.code, c.name) for c in counties]

    def filters(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if v} if self.is_valid() else {}
