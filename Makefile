# The handful of verbs a person types. Everything else is cargo.
#   make conformance   build the image and run the whole suite, then print a summary table
#   make test          every test: formatting, clippy, unit tests and the conformance suite
#   make image         build the image and tag it hermes-s6:latest
#   make shell         a shell as hermes in a fresh container of hermes-s6:latest
#   make repro BUG=id  bring a historical bug back and watch the suite catch it (no BUG: list)
#   make soak N=10     the suite N times in a row: failures out of N per scenario (flakes)
#   make privilege-map accept the privilege map this tree has: rewrite docs/privilege-map.md
#   make replay SEED=n  re-run the model sequence of seed n; make fuzz DURATION=30m: long model runs

SHELL := /bin/bash
CARGO ?= cargo
REPORT := target/conformance/report.jsonl

.PHONY: deps image images conformance test lint unit shell repro clean-images clean-containers help

help:
	@sed -n '2,10p' Makefile

deps:
	@bash ci/install-deps.sh

image: deps
	$(CARGO) run --quiet -p conformance --bin conformance-image -- --tag-latest

# The main job: a freshly built image, the whole suite as hermes, a readable summary.
conformance: deps
	@mkdir -p target/conformance && rm -f $(REPORT) target/conformance/sensitivity.jsonl
	@rc=0; $(CARGO) test -p conformance --test suite || rc=$$?; \
	 $(CARGO) run --quiet -p conformance --bin conformance-summary || true; \
	 exit $$rc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Some unit tests chown to other users, which only root may do: they are #[ignore]d with that
# reason, and run here when we are root (as CI is).
unit:
	@if [ "$$(id -u)" = 0 ]; then \
	  $(CARGO) test --workspace --lib --bins -- --include-ignored; \
	else \
	  echo "unit: not root: the root-only unit tests (chown) are listed as ignored"; \
	  $(CARGO) test --workspace --lib --bins; \
	fi
	$(CARGO) test -p hermes --test registrar_helper

# All tests: lint, unit tests, the images, then the conformance suite with its summary; a
# table of each phase's time at the end (ci/phases.sh).
test:
	@bash ci/phases.sh deps lint unit images conformance

# The base and product images alone (the suite builds the regression images it needs).
images: deps
	$(CARGO) run --quiet -p conformance --bin conformance-image

shell: image
	@bash ci/shell.sh

repro:
	@if [ -n "$(BUG)" ]; then $(MAKE) --no-print-directory deps; fi
	$(CARGO) run --quiet -p conformance --bin conformance-repro -- $(BUG)

# Containers kept with TESTCONTAINERS_COMMAND=keep (never those of a run still going).
clean-containers:
	-docker ps -aq --filter label=hermes.conformance.kept=1 | xargs -r docker rm -f -v

clean-images:
	-docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^hermes-s6(-base|-regression|-trace|-trace-base)?:' | xargs -r docker rmi

# Benchmarks: image build, boot, CLI verbs, scale, memory and the whole suite, each a
# median with min and max, against the floor Docker and s6 cost anyway. Prints a table, writes
# target/conformance/bench.json. A smoke run: make bench BENCH=--quick (see docs/benchmarks.md).
# Growth curves (0…1000 profiles, /run on the image fs and on a tmpfs, memory with N gateways
# running; opt-in, ~20-30 min here): make bench BENCH='--only curves --curves' (quick: add --quick).
BENCH ?= --with-suite
.PHONY: bench
bench: deps
	$(CARGO) run --quiet -p conformance --bin conformance-bench -- $(BENCH)

# Flakes, measured: the whole suite N times in a row on the warm image, then per
# scenario its failures out of N with the first line of each. SOAK_THREADS=8 doubles the
# default parallelism; FILTER narrows the scenarios (as `cargo test -- FILTER`).
N ?= 10
SOAK_THREADS ?=
FILTER ?=
.PHONY: soak
soak: deps
	$(CARGO) run --quiet -p conformance --bin conformance-soak -- --runs $(N) \
	  $(if $(SOAK_THREADS),--threads $(SOAK_THREADS)) $(FILTER)

# The privilege map (docs/contract.md §10.1): every suite run compares the map it finds with
# docs/privilege-map.md and fails on a difference; this accepts the current one (commit it).
.PHONY: privilege-map
privilege-map: deps
	HERMES_ACCEPT_PRIVILEGE_MAP=1 $(CARGO) test -p conformance --test suite -- security::privilege_map_is_accepted --exact

# The lifecycle against its reference model. `make replay SEED=n` re-runs the
# sequence of seed n (one sequence; shrunk and printed if it fails; BUG=id runs it against
# that regression build). `make fuzz DURATION=30m` runs sequences until then and prints ops/s,
# the sequences run and every distinct failure once, shrunk. Both keep their own report, so a
# suite run beside them keeps its report.jsonl.
OPS ?= 25
DURATION ?= 30m
.PHONY: replay fuzz
replay: deps
	HERMES_CONFORMANCE_REPORT=$(CURDIR)/target/conformance/model-report.jsonl \
	  HERMES_MODEL_SEED=$(SEED) HERMES_MODEL_SEQUENCES=1 HERMES_MODEL_OPS=$(OPS) \
	  HERMES_MODEL_REGRESSION=$(BUG) $(CARGO) test -p conformance --test suite -- \
	  model::lifecycle_matches_the_model --exact --nocapture
fuzz: deps
	HERMES_CONFORMANCE_REPORT=$(CURDIR)/target/conformance/model-report.jsonl \
	  HERMES_MODEL_DURATION=$(DURATION) HERMES_MODEL_OPS=$(OPS) HERMES_MODEL_SEED=$(SEED) \
	  HERMES_MODEL_REGRESSION=$(BUG) $(CARGO) test -p conformance --test suite -- \
	  model::lifecycle_matches_the_model --exact --nocapture
