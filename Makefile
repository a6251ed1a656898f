# The two commands: `make dev` serves the whole stack on http://localhost:8000,
# `make test` runs every test (CI runs it through .ci/run).
.PHONY: dev test stop bench

dev:
	scripts/dev.sh

test:
	scripts/test.sh

# The performance benchmark (not part of `make test`): writes BENCHMARKS.md.
bench:
	scripts/bench.sh

stop:
	scripts/dynamodb.sh stop 8100
	scripts/standin.sh stop 8102
