# The two commands an instructor needs:
#   make run    install everything, build the index if needed, start the bot
#               (on Discord when DISCORD_TOKEN is set, else a terminal session)
#   make test   install everything and run the whole test suite, lint included
.PHONY: run test install lint bench

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

run: install
	$(PY) -m bot run

test: install lint
	$(PY) -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
