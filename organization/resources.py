"""django-import-export resources for the admin's import/export of reference data."""

from import_export import fields, resources, widgets

from .models import Bank, BankBranch, Region


class RegionResource(resources.ModelResource):
    parent = fields.Field(attribute="parent", column_name="parent",
                          widget=widgets.ForeignKeyWidget(Region, field="code"))  # fmt: skip

    class Meta:
        model = Region
        import_id_fields = ("code",)
        fields = ("code", "name", "level", "parent")


class BankResource(resources.ModelResource):
    class Meta:
        model = Bank
        import_id_fields = ("code",)
        fields = ("code", "name")


class BankBranchResource(resources.ModelResource):
    bank = fields.Field(
        attribute="bank", column_name="bank", widget=widgets.ForeignKeyWidget(Bank, field="code")
    )
    counties = fields.Field(attribute="counties", column_name="counties",
                            widget=widgets.ManyToManyWidget(Region, field="code", separator=","))  # fmt: skip

    class Meta:
        model = BankBranch
        import_id_fields = ("code",)
        fields = ("code", "name", "bank", "counties")
