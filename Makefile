# The two entry points the README documents.
.PHONY: demo test lint bench bench-smoke

demo:
	./deploy/bootstrap.sh
	.venv/bin/python examples/simulate_radius.py examples/demo.yml
	.venv/bin/vigia run --config examples/demo.yml

test:
	./deploy/bootstrap.sh --tests
	./deploy/test-services.sh
	# Two phases: the tests that mostly wait (servers, daemons, timeouts) three at a time on two cores
	# (they keep the CPU about half busy two at a time), with the scale tests that assert no timing,
	# then the scale and fault labs alone, whose timings a concurrent test would disturb (README:
	# "the test suite").
	.venv/bin/python -m pytest -n 3 --dist loadgroup -m "not scale or shares_cpu"
	.venv/bin/python -m pytest -m "scale and not shares_cpu"

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/python .ci/bar.py

bench:
	.venv/bin/python -m benchmarks.run

# Every benchmark at a tiny size: CI runs it so that a change that breaks one fails.
bench-smoke:
	.venv/bin/python -m benchmarks.run --smoke
