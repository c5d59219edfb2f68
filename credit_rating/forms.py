"""Browser forms of credit ratings. Types only; the services check the rules and their messages
are shown on the page, so the pages and the API say the same thing."""

from django import forms

from households.forms import indented_region_choices

from .models import Indicator, Scorecard
from .services import plain


class ScoresForm(forms.Form):
    """One 0..max input per indicator the village desk enters. Blank is allowed while drafting;
    submitting needs them all (the service says which are missing)."""

    def __init__(self, *args, scorecard: Scorecard, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.indicators = [i for i in scorecard.indicators.all() if not i.is_computed]
        for indicator in self.indicators:
            self.fields[indicator.code] = forms.DecimalField(
                label=indicator.name,
                required=False,
                min_value=0,
                max_value=indicator.max_score,
                decimal_places=2,
                max_digits=5,
                help_text=f"0–{plain(indicator.max_score)} 分，权重 {plain(indicator.weight)}",
                widget=forms.NumberInput(
                    attrs={"step": "0.5", "min": 0, "max": f"{plain(indicator.max_score)}"}
                ),
                error_messages={
                    "min_value": f"“{indicator.name}”的得分应在0到{plain(indicator.max_score)}之间。",
                    "max_value": f"“{indicator.name}”的得分应在0到{plain(indicator.max_score)}之间。",
                    "invalid": f"“{indicator.name}”的得分应为数字。",
                },
            )

    def groups(self):
        """[(group name, [bound field, ...]), ...] in the scorecard's order."""
        out: dict[str, list] = {}
        for indicator in self.indicators:
            out.setdefault(indicator.group or "评分", []).append(self[indicator.code])
        return list(out.items())

    def scores(self) -> dict:
        return {code: str(value) for code, value in self.cleaned_data.items() if value is not None}


class RatingFilterForm(forms.Form):
    q = forms.CharField(
        label="户主姓名或户编号",
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": "输入姓名或户编号开头", "type": "search"}),
    )
    region = forms.ChoiceField(label="区域", required=False)

    def __init__(self, *args, regions=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "全部")] + indented_region_choices(regions)


class PrerateForm(forms.Form):
    region = forms.ChoiceField(label="预评级范围")

    def __init__(self, *args, regions=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = indented_region_choices(regions)


INDICATOR_SOURCES = dict(Indicator.Source.choices)
