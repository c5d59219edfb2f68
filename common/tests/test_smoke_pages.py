from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.django_db
def test_smoke_pages_passes_on_the_demo_data():
    call_command("seed_demo", households=30, stdout=StringIO())
    out = StringIO()
    call_command("smoke_pages", stdout=out)
    output = out.getvalue()
    assert "全部符合预期" in output
    assert "✗" not in output
    assert "village_411722" in output and "/api/v1/households/" in output


@pytest.mark.django_db
def test_smoke_pages_fails_on_an_unexpected_status():
    call_command("seed_demo", households=30, stdout=StringIO())
    with pytest.raises(CommandError, match="不符合预期"):
        call_command("smoke_pages", user=["village_411722"], password="wrong-password", stdout=StringIO())


@pytest.mark.django_db
def test_smoke_pages_asks_for_seed_demo_first():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("smoke_pages", stdout=StringIO())
