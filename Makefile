# Shortcuts for dev.py, which needs nothing but Python 3.11+ (see README).
PYTHON ?= python3

.PHONY: run test lint test-services ci

run:
	$(PYTHON) dev.py run

test:
	$(PYTHON) dev.py test

lint:
	$(PYTHON) dev.py lint

test-services:
	$(PYTHON) dev.py test-services

ci:
	bash .ci/run
