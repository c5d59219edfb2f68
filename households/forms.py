"""Browser forms. They check types only; the service checks the rules, and its messages are put
on the form's fields, so the pages and the API say the same thing."""

from django import forms

from common.forms import ServiceForm

from .models import HouseholdAttribute, HouseholdStatus, IdentificationStandard, PovertyCause

LEVELS = ["province", "city", "county", "township", "village"]


def indented_region_choices(regions) -> list[tuple[str, str]]:
    """(code, name) pairs, each name indented by its depth below the shallowest region given."""
    regions = list(regions)
    if not regions:
        return []
    top = min(LEVELS.index(r.level) for r in regions)
    return [(r.code, "\u3000" * (LEVELS.index(r.level) - top) + r.name) for r in regions]


def village_choices(villages) -> list:
    """Villages grouped under their township, for a <select> with <optgroup>s. The value stays the
    12-digit village code the service reads."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for village in villages:
        township = village.parent.name if village.parent_id else "其他"
        groups.setdefault(township, []).append((village.code, f"{village.name}（{village.code}）"))
    return list(groups.items())


class HouseholdFilterForm(forms.Form):
    q = forms.CharField(
        label="户主姓名或户编号",
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": "输入姓名或户编号开头", "type": "search"}),
    )
    region = forms.ChoiceField(label="区域", required=False)
    status = forms.ChoiceField(
        label="脱贫状态", required=False, choices=[("", "全部")] + HouseholdStatus.choices
    )

    def __init__(self, *args, regions=(), **kwargs):
        kwargs.setdefault("label_suffix", "")  # no ASCII colon after a Chinese label
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "全部")] + indented_region_choices(regions)


class HouseholdForm(ServiceForm):
    household_no = forms.CharField(label="户编号", max_length=40)
    # A CharField shown as a <select>: an out-of-scope code posted anyway reaches the service, which
    # answers with the same message as the API (a ChoiceField would answer with its own).
    village_code = forms.CharField(label="行政村", max_length=12, widget=forms.Select)
    head_name = forms.CharField(label="户主姓名", max_length=50)
    head_id_number = forms.CharField(
        label="户主身份证号", max_length=40, widget=forms.TextInput(attrs={"class": "mono"})
    )
    phone = forms.CharField(label="联系电话", max_length=20, required=False)
    member_count = forms.IntegerField(label="家庭人数", min_value=1, max_value=99, initial=1)
    labor_count = forms.IntegerField(label="劳动力人数", min_value=0, max_value=99, initial=0)
    status = forms.ChoiceField(label="脱贫状态", choices=HouseholdStatus.choices)
    attribute = forms.ChoiceField(
        label="贫困户属性", choices=[("", "—")] + HouseholdAttribute.choices, required=False
    )
    identification_standard = forms.ChoiceField(
        label="识别标准", choices=[("", "—")] + IdentificationStandard.choices, required=False
    )
    poverty_causes = forms.MultipleChoiceField(
        label="致贫原因", choices=PovertyCause.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    per_capita_income = forms.DecimalField(
        label="人均纯收入（元）", max_digits=12, decimal_places=2, required=False
    )
    bank_name = forms.CharField(label="开户银行", max_length=100, required=False)
    bank_account = forms.CharField(
        label="银行账号", max_length=40, required=False, widget=forms.TextInput(attrs={"class": "mono"})
    )

    # How the page groups the fields; "wide" fields take a whole row.
    FIELDSETS = (
        ("基本信息", ("household_no", "village_code", "head_name", "head_id_number", "phone")),
        ("家庭情况", ("member_count", "labor_count", "status", "attribute", "identification_standard",
                      "per_capita_income", "poverty_causes")),
        ("银行账户", ("bank_name", "bank_account")),
    )  # fmt: skip
    WIDE = ("poverty_causes",)

    # On edit, leaving a sensitive number empty keeps the stored one.
    SENSITIVE = ("head_id_number", "bank_account")

    def __init__(self, *args, villages=(), editing=False, masked: dict | None = None, **kwargs):
        """editing: sensitive numbers become optional; masked: their stored masked forms, shown
        as a hint beside them."""
        super().__init__(*args, **kwargs)
        self.fields["village_code"].widget.choices = [("", "请选择行政村")] + village_choices(villages)
        if editing:
            self.fields["head_id_number"].required = False
            for name in self.SENSITIVE:
                current = (masked or {}).get(name)
                self.fields[name].help_text = f"当前 {current}，留空则不修改" if current else "留空则不修改"

    def fieldsets(self):
        """[(legend, [(bound field, wide?), ...]), ...] for the template."""
        return [
            (legend, [(self[name], name in self.WIDE) for name in names]) for legend, names in self.FIELDSETS
        ]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        for field in self.SENSITIVE:
            if not data.get(field) and not self.fields[field].required:
                data.pop(field, None)
        return data
