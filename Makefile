# The two commands a new user needs: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
UV := scripts/uv
RIG := PYTHONPATH=tests $(UV) run --quiet python -m rig

.PHONY: setup demo test check lint typecheck unit kafka-start kafka-stop kafka-status

setup:
	@scripts/setup.sh

demo: setup
	@scripts/demo.sh

test: setup check

check: lint typecheck unit

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck:
	$(UV) run mypy packages tests

unit:
	$(UV) run pytest

kafka-start: setup
	@$(RIG) kafka start

kafka-stop:
	@$(RIG) kafka stop

kafka-status:
	@$(RIG) kafka status
