# make check: what .ci/run runs after installing (contracts, ruff check + format, mypy, tests)
.PHONY: check contracts lint types test

check:
	scripts/check

contracts:
	.venv/bin/lint-imports

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# strict on services/ and models/ (see [tool.mypy]); incremental: a warm run takes about a second
types:
	.venv/bin/mypy

test:
	.venv/bin/pytest -n 2
