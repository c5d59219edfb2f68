"""The production deployment (docker-compose.yml, Dockerfile, production settings) hangs together.

Every command the compose file and the image run is checked against the project: the manage.py
subcommands exist, gunicorn's app path imports under production settings, `celery -A config`
finds our app, and the executables are installed from the non-dev dependencies.
`manage.py check --deploy` is clean under production settings with realistic variables.
"""

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
APP_SERVICES = ("web", "worker", "beat")
REQUIRED_SECRETS = ("SECRET_KEY", "PII_ENCRYPTION_KEYS", "PII_HASH_KEY")


def production_env(**overrides: str) -> dict[str, str]:
    """A clean environment such as .env plus docker-compose.yml give the containers."""
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(48)[:50],  # as .env.example generates it
        "PII_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PII_HASH_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "example.org",
        "CSRF_TRUSTED_ORIGINS": "https://example.org",
        # Nothing here may connect at start-up, so hosts that do not resolve are fine.
        "DATABASE_URL": "postgres://fupin:secret@db.invalid:5432/fupin",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }
    env.update(overrides)
    return env


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _argv_list(command) -> list[list[str]]:
    """A compose `command` (string or list) as the argv of each program it runs."""
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    result = []
    for part in argv[2].split("&&"):
        words = shlex.split(part)
        if words and words[0] == "exec":
            words = words[1:]
        result.append(words)
    return result


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match, "the Dockerfile has no exec-form CMD"
    return yaml.safe_load(match.group(1))


def _all_commands(compose: dict) -> list[list[str]]:
    commands = [_dockerfile_cmd()]
    for name in APP_SERVICES:
        commands += _argv_list(compose["services"][name]["command"])
    return commands


def _option(argv: list[str], *names: str) -> str:
    for i, word in enumerate(argv):
        if word in names:
            return argv[i + 1]
        for name in names:
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
    raise AssertionError(f"{argv}: none of {names}")


def test_compose_file_has_the_five_services(compose):
    assert set(compose["services"]) == {"db", "redis", "web", "worker", "beat"}
    assert compose["services"]["db"]["image"].startswith("postgres:15")
    assert compose["services"]["redis"]["image"].startswith("redis:7")
    for name in ("db", "redis"):
        assert compose["services"][name]["healthcheck"]["test"], name
    assert {"pgdata", "media"} <= set(compose["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in compose["services"]["db"]["volumes"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_production_settings_against_db_and_redis(compose, name):
    service = compose["services"][name]
    assert service["build"] == "."
    assert service["env_file"] == ".env"
    env = service["environment"]
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert re.fullmatch(r"postgres://fupin:\$\{POSTGRES_PASSWORD[^}]*\}@db:5432/fupin", env["DATABASE_URL"])
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert service["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert any(v.startswith("media:") for v in service["volumes"])


def test_web_migrates_and_collects_static_before_gunicorn(compose):
    programs = [" ".join(argv[:3]) for argv in _argv_list(compose["services"]["web"]["command"])]
    assert programs == [
        "python manage.py migrate",
        "python manage.py collectstatic",
        "gunicorn config.wsgi:application --bind",
    ]


def test_every_command_the_deployment_runs_exists(compose):
    commands = _all_commands(compose)
    programs = {argv[0] for argv in commands}
    assert programs == {"python", "gunicorn", "celery"}, programs

    for program in programs:
        assert shutil.which(program, path=str(VENV_BIN)), f"{program} is not installed in {VENV_BIN}"

    django_commands = get_commands()
    from celery.app.utils import find_app
    from celery.bin.celery import celery as celery_cli

    import config.celery

    wsgi_paths = set()
    for argv in commands:
        if argv[0] == "python":
            assert argv[1] == "manage.py", argv
            assert argv[2] in django_commands, f"manage.py has no {argv[2]!r} command"
        elif argv[0] == "gunicorn":
            wsgi_paths.add(argv[1])
            assert _option(argv, "--bind", "-b") == "0.0.0.0:8000"
        elif argv[0] == "celery":
            assert find_app(_option(argv, "-A", "--app")) is config.celery.app
            subcommands = [w for w in argv[1:] if w in celery_cli.commands]
            assert subcommands and subcommands[0] in {"worker", "beat"}, f"celery has no such command: {argv}"

    # gunicorn imports the app the way it will in the container: with production settings.
    assert wsgi_paths == {"config.wsgi:application"}
    probe = (
        "import sys; from gunicorn.util import import_app; "
        "app = import_app(sys.argv[1]); "
        "from django.conf import settings; print(callable(app), settings.DEBUG)"
    )
    result = run_python(["-c", probe, "config.wsgi:application"], production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_image_installs_the_runtime_programs_without_dev_dependencies():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "uv sync --frozen --no-dev" in dockerfile
    assert re.search(r"^\s*PATH=\"?/app/\.venv/bin:", dockerfile, re.MULTILINE)

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = {
        re.split(r"[\[<>=!~ ]", dep, maxsplit=1)[0].lower() for dep in pyproject["project"]["dependencies"]
    }
    assert {"gunicorn", "celery", "psycopg2-binary", "django"} <= runtime


def test_env_example_documents_every_production_variable():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", text, re.MULTILINE))
    assert {*REQUIRED_SECRETS, "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "POSTGRES_PASSWORD"} <= documented
    # No real secret is ever committed in the example.
    for name in (*REQUIRED_SECRETS, "POSTGRES_PASSWORD"):
        assert re.search(rf"^{name}=$", text, re.MULTILINE), name


def test_check_deploy_is_clean_under_production_settings():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
def test_production_refuses_to_start_without_its_secrets(name):
    env = production_env()
    del env[name]
    result = run_python(["-c", "from django.conf import settings; settings.SECRET_KEY"], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr, result.stderr


def test_production_accepts_a_secret_key_starting_with_a_dollar():
    # Django's own get_random_secret_key() gives one of these in 50.
    env = production_env(SECRET_KEY="$" + secrets.token_urlsafe(48)[:49])
    result = run_python(["-c", "from django.conf import settings; print(settings.SECRET_KEY)"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == env["SECRET_KEY"]
