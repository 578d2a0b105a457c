# The two commands of the README: `make local` runs the local stack, `make test` passes the tests.
.PHONY: setup local test lint openapi bench build fuzz

setup:
	@scripts/bootstrap

local: setup
	.venv/bin/rooms-local up

test: setup
	@scripts/test

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

openapi: setup
	.venv/bin/python -m rooms.api.openapi --write docs/openapi.json

# Cold starts as ratios to a bare `import boto3` (about a minute), admissions like for like (and the
# capacity meter's overhead), then the capacity report of a 12,000-user storm into 5,000 and 60 s of
# heartbeats, metered by AWS's rules (bench/results/capacity.json), and what 1,000 listener-hours of
# presence cost over HTTP heartbeats and over the live connection (bench/results/presence_cost.json)
bench: setup
	.venv/bin/python bench/coldstart.py
	.venv/bin/python bench/joins.py
	.venv/bin/python bench/capacity.py
	.venv/bin/python bench/presence_cost.py

# Schemathesis against the local stack's /openapi.json: every operation and phase, 100 cases each
fuzz: setup
	.venv/bin/python tests/e2e/fuzz.py --max-examples 100

# The Lambda artefacts in .aws-sam/build, without Docker; the layer's pip is the SAM CLI's own.
build: setup
	SAM_CLI_TELEMETRY=0 PYTHON=$(CURDIR)/.venv-sam/bin/python .venv-sam/bin/sam build
