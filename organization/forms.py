"""Browser forms of the policy pages. They check types only; organization.services checks the
rules (the date after today, the city's envelope, the city's own numbers) and its messages are put
on the forms, so the pages and the API say the same thing."""

from django import forms

from common.forms import ServiceForm

from .models import CityPolicy, CountyPolicy


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class PolicyForm(ServiceForm):
    """A proposed row: its effective date and every number of the level, prefilled from the row
    in force (the `initial`); only the numbers the user changed are proposed (`changes`)."""

    model = CountyPolicy
    field_names: tuple[str, ...] = CountyPolicy.COUNTY_FIELDS

    effective_from = forms.DateField(label="生效日期", widget=DateInput, help_text="须晚于今天")

    def __init__(self, *args, envelope_help: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        envelope_help = envelope_help or {}
        for name in self.field_names:
            field = self.model._meta.get_field(name).formfield()
            field.required = True
            field.help_text = envelope_help.get(name, "")
            field.error_messages["required"] = self.fields["effective_from"].error_messages["required"]
            self.fields[name] = field

    def changes(self) -> dict:
        """The numbers that differ from the row in force (the form's initial)."""
        return {
            name: self.cleaned_data[name]
            for name in self.field_names
            if name in self.changed_data and self.cleaned_data.get(name) is not None
        }


class CityPolicyForm(PolicyForm):
    model = CityPolicy
    field_names = CityPolicy.POLICY_FIELDS


class ReviewForm(ServiceForm):
    decision = forms.ChoiceField(label="复核", choices=[("approve", "批准"), ("reject", "驳回")])
    reason = forms.CharField(label="驳回理由", required=False, max_length=200)
