"""Browser forms. They check types only; the service checks the rules, and its messages are put
on the form's fields, so the pages and the API say the same thing."""

from django import forms

from common.forms import ServiceForm
from households.forms import indented_region_choices

from .models import EnterpriseKind, LinkMode


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def township_choices(townships) -> list:
    """Townships grouped under their county, for a <select> with <optgroup>s; the value is the
    9-digit township code the service reads."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for township in townships:
        county = township.parent.name if township.parent_id else "其他"
        groups.setdefault(county, []).append((township.code, f"{township.name}（{township.code}）"))
    return list(groups.items())


class EnterpriseFilterForm(forms.Form):
    q = forms.CharField(
        label="名称或信用代码",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "名称中的字或信用代码开头", "type": "search"}),
    )
    region = forms.ChoiceField(label="区域", required=False)
    kind = forms.ChoiceField(label="类型", required=False, choices=[("", "全部")] + EnterpriseKind.choices)
    recognized = forms.ChoiceField(
        label="带贫认定", required=False, choices=[("", "全部"), ("true", "已认定"), ("false", "未认定")]
    )

    def __init__(self, *args, regions=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "全部")] + indented_region_choices(regions)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}
        if "recognized" in data:
            data["recognized"] = data["recognized"] == "true"
        return data


class EnterpriseForm(ServiceForm):
    name = forms.CharField(label="企业名称", max_length=100)
    credit_code = forms.CharField(
        label="统一社会信用代码", max_length=40, widget=forms.TextInput(attrs={"class": "mono"}),
        help_text="18位，营业执照上的代码",
    )  # fmt: skip
    kind = forms.ChoiceField(label="类型", choices=EnterpriseKind.choices)
    founded_on = forms.DateField(label="成立日期", widget=DateInput)
    # A CharField shown as a <select>: an out-of-scope code posted anyway reaches the service, which
    # answers with the same message as the API.
    township_code = forms.CharField(label="所在乡镇", max_length=12, widget=forms.Select)
    legal_rep = forms.CharField(label="法定代表人", max_length=50)
    contact_name = forms.CharField(label="联系人", max_length=50, required=False)
    contact_phone = forms.CharField(label="联系电话", max_length=20, required=False)

    FIELDSETS = (
        ("登记信息", ("name", "credit_code", "kind", "founded_on", "township_code")),
        ("联系方式", ("legal_rep", "contact_name", "contact_phone")),
    )

    def __init__(self, *args, townships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["township_code"].widget.choices = [("", "请选择乡镇")] + township_choices(townships)

    def fieldsets(self):
        return [(legend, [(self[name], False) for name in names]) for legend, names in self.FIELDSETS]

    def service_data(self) -> dict:
        return dict(self.cleaned_data)


class RecognizeForm(ServiceForm):
    decision_no = forms.CharField(
        label="认定文号",
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "如 蔡扶贫〔2017〕12号"}),
    )
    decided_on = forms.DateField(label="认定日期", widget=DateInput)


class WithdrawForm(ServiceForm):
    reason = forms.CharField(label="撤销理由", max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    decided_on = forms.DateField(label="撤销日期", widget=DateInput, required=False, help_text="留空为今天")
    decision_no = forms.CharField(label="撤销文号", max_length=100, required=False)

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("decided_on"):
            data.pop("decided_on", None)
        return data


class LinkForm(ServiceForm):
    household_no = forms.CharField(
        label="户编号", max_length=40, widget=forms.TextInput(attrs={"class": "mono"}),
        help_text="本县未脱贫、已脱贫或监测户的户编号",
    )  # fmt: skip
    mode = forms.ChoiceField(label="联结方式", choices=[("", "请选择")] + LinkMode.choices)
    start_date = forms.DateField(label="开始日期", widget=DateInput)
    end_date = forms.DateField(label="结束日期", widget=DateInput, required=False, help_text="长期可留空")
    annual_benefit = forms.DecimalField(
        label="约定年收益（元）", max_digits=14, decimal_places=2, min_value=0, initial=0
    )


class LinkEndForm(ServiceForm):
    end_date = forms.DateField(label="终止日期", widget=DateInput)
    reason = forms.CharField(label="终止原因", max_length=200, required=False)


class EligibilityDateForm(forms.Form):
    on = forms.DateField(label="测算日期", required=False, widget=DateInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
