"""Train the model only when what it is made of has changed."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "sahayak.tar.gz"
FINGERPRINT = ROOT / "models" / "sahayak.fingerprint"
# Everything a trained model depends on: data, configuration and the code of the custom NLU components.
INPUTS = ("config.yml", "domain.yml", "data", "bot/nlu", "bot/language", "bot/policies.py")


def fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def is_current() -> bool:
    return MODEL.exists() and FINGERPRINT.exists() and FINGERPRINT.read_text().strip() == fingerprint()


def train(force: bool = False) -> bool:
    """Trains when needed; returns whether it trained. Raises CalledProcessError when training fails."""
    if not force and is_current():
        return False
    current = fingerprint()
    subprocess.run(
        [sys.executable, "-m", "bot.rasa_cli", "train", "--fixed-model-name", MODEL.name.removesuffix(".tar.gz"),
         "--out", str(MODEL.parent), "--force"],
        cwd=ROOT,
        check=True,
    )
    FINGERPRINT.write_text(current + "\n")
    return True
