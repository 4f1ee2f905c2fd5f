# The two entry points the README documents.
.PHONY: demo test lint bench

demo:
	./deploy/bootstrap.sh
	.venv/bin/vigia run --config examples/demo.yml

test:
	./deploy/bootstrap.sh --tests
	./deploy/test-services.sh
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench:
	.venv/bin/python -m benchmarks.run
