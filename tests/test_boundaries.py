"""Architecture rules that must fail CI when broken."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_web_process_starts_without_importing_torch():
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'apps.config.settings.local';"
        "from apps.config.wsgi import application;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "from django.test import Client; Client().get('/healthz');"
        "heavy = {'torch', 'transformers', 'sentence_transformers', 'peft'};"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in heavy);"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_ml_never_imports_django_or_apps():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
