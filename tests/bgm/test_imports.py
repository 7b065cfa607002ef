"""The core stays free of TensorFlow, gRPC and Discord (DESIGN.md's import rules)."""

import pkgutil
import subprocess
import sys

import bgm

FORBIDDEN = ("tensorflow", "keras", "grpc", "discord", "training", "model_server", "bot")


def test_core_modules_import_nothing_forbidden():
    modules = [f"bgm.{m.name}" for m in pkgutil.iter_modules(bgm.__path__)]
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    assert "bgm.tokens" in modules
