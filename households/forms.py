"""Browser forms. They check types only; the service checks the rules, and its messages are put
on the form's fields, so the pages and the API say the same thing."""

from django import forms

from .models import HouseholdAttribute, HouseholdStatus, IdentificationStandard, PovertyCause


class HouseholdFilterForm(forms.Form):
    q = forms.CharField(label="户主姓名或户编号", required=False, max_length=50)
    region = forms.ChoiceField(label="区域", required=False)
    status = forms.ChoiceField(label="脱贫状态", required=False, choices=[("", "全部")] + HouseholdStatus.choices)

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "全部")] + [
            (r.code, ("　" * ["city", "county", "township", "village"].index(r.level)) + r.name) for r in regions
        ]


class HouseholdForm(forms.Form):
    household_no = forms.CharField(label="户编号", max_length=40)
    village_code = forms.CharField(label="行政村代码（12位）", max_length=12)
    head_name = forms.CharField(label="户主姓名", max_length=50)
    head_id_number = forms.CharField(label="户主身份证号", max_length=40)
    phone = forms.CharField(label="联系电话", max_length=20, required=False)
    member_count = forms.IntegerField(label="家庭人数", min_value=1, max_value=99, initial=1)
    labor_count = forms.IntegerField(label="劳动力人数", min_value=0, max_value=99, initial=0)
    status = forms.ChoiceField(label="脱贫状态", choices=HouseholdStatus.choices)
    attribute = forms.ChoiceField(label="贫困户属性", choices=[("", "—")] + HouseholdAttribute.choices, required=False)
    identification_standard = forms.ChoiceField(
        label="识别标准", choices=[("", "—")] + IdentificationStandard.choices, required=False
    )
    poverty_causes = forms.MultipleChoiceField(
        label="致贫原因", choices=PovertyCause.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    per_capita_income = forms.DecimalField(label="人均纯收入（元）", max_digits=12, decimal_places=2, required=False)
    bank_name = forms.CharField(label="开户银行", max_length=100, required=False)
    bank_account = forms.CharField(label="银行账号", max_length=40, required=False)

    # On edit, leaving a sensitive number empty keeps the stored one.
    SENSITIVE = ("head_id_number", "bank_account")

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["head_id_number"].required = False
            self.fields["head_id_number"].help_text = "留空则不修改"
            self.fields["bank_account"].help_text = "留空则不修改"

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        for field in self.SENSITIVE:
            if not data.get(field) and not self.fields[field].required:
                data.pop(field, None)
        return data

    def add_service_errors(self, errors: dict) -> None:
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
