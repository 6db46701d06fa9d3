# make check: what .ci/run runs after installing (contracts, ruff check, tests)
.PHONY: check contracts lint test

check:
	scripts/check

contracts:
	.venv/bin/lint-imports

lint:
	.venv/bin/ruff check .

test:
	.venv/bin/pytest -n 2
