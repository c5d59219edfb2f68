"""The upload form of the import page. It checks types only; imports.services decides (the same
words as the API)."""

from django import forms


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label="导入类型")
    file = forms.FileField(
        label="Excel 文件（.xlsx）",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        ),
    )
    dry_run = forms.BooleanField(label="先试运行（不写入）", required=False, initial=True)

    def __init__(self, *args, kinds=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(importer.kind, importer.label) for importer in kinds]
        if len(kinds) == 1:
            self.fields["kind"].initial = kinds[0].kind
