PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
SERVE_STAMP := $(VENV)/.installed-serve
TRAIN_STAMP := $(VENV)/.installed-train

BASE_IMAGE ?= modelserve/debian:bookworm

.PHONY: setup serve train test test-pythons lint bench soak clean wheels images test-containers

# The system programs and services the tests use (apt packages, RabbitMQ, a Docker engine):
# installs and starts what is missing as root, otherwise says what is missing and fails.
setup:
	deploy/dev/setup-machine.sh

# The serving install: no TensorFlow, a few seconds.
$(SERVE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

serve: $(SERVE_STAMP)
	$(BIN)/modelserve serve $(ARGS)

# Training needs TensorFlow, which serving does without: added to the same environment, so the
# server started by `make serve` sees the versions it trains. E.g. make train ARGS="--epochs 50"
$(TRAIN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train]'
	touch $@

train: $(TRAIN_STAMP)
	$(BIN)/modelserve train $(ARGS)

# Re-installs only when pyproject.toml changes; the package itself is installed editable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) test-pythons

# The serving path on the oldest and the newest Python of the supported images (Ubuntu 22.04's
# 3.10, Debian 13's 3.13), each in a serving-only environment (no TensorFlow).
COMPAT_PYTHONS ?= 3.10 3.13
COMPAT_TESTS := tests/bundles tests/runtime tests/protocol tests/batching tests/datasets \
	tests/worker tests/web tests/cli/test_serve.py tests/execution/test_celery_mode.py \
	tests/execution/test_replies.py tests/distribution/test_transport.py \
	tests/distribution/test_served.py tests/monitoring/test_log.py \
	tests/monitoring/test_feedback.py tests/monitoring/test_monitor.py \
	tests/monitoring/test_migrations.py tests/monitoring/test_wire.py \
	tests/monitoring/test_shipping.py
test-pythons:
	@for version in $(COMPAT_PYTHONS); do \
	  python=$$(.ci/find-python $$version) || exit 1; \
	  venv=.venv-$$version; \
	  test -x $$venv/bin/python || $$python -m venv $$venv || exit 1; \
	  test $$venv/.installed -nt pyproject.toml || \
	    { $$venv/bin/pip install --quiet -e '.[test-serving]' && touch $$venv/.installed; } || exit 1; \
	  echo "Python $$version: $$($$venv/bin/python -V)"; \
	  $$venv/bin/pytest -q -m 'not train' -p no:cacheprovider \
	    -o 'filterwarnings=error::pytest.PytestUnraisableExceptionWarning' $(COMPAT_TESTS) || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# modelserve beside the alternatives (bench/RESULTS.md); needs wrk and a RabbitMQ.
bench: $(STAMP)
	deploy/dev/setup-machine.sh --bench
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/runtime.py
	$(BIN)/python bench/request_path.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/prediction_log.py

# 100,000 requests in Celery mode: does memory stay put? (bench/results/soak.json)
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# Python wheels for the images, every version pinned (no index needed while building).
wheels: $(STAMP)
	PYTHON=$(BIN)/python deploy/images/build-wheels.sh build/wheels --train --dist build/dist

# The images, on a Debian base built here with debootstrap (no registry needed).
images: setup wheels
	docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || deploy/images/build-base.sh $(BASE_IMAGE)
	docker build --quiet --build-arg BASE_IMAGE=$(BASE_IMAGE) --target serving \
	  -t modelserve/serving:latest -f deploy/docker/Dockerfile .
	docker build --quiet --build-arg BASE_IMAGE=$(BASE_IMAGE) --target training \
	  -t modelserve/training:latest -f deploy/docker/Dockerfile .
	docker build --quiet --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  -t modelserve/rabbitmq:latest -f deploy/docker/Dockerfile.rabbitmq .
	docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' 'modelserve/*'

test-containers: images
	$(BIN)/pytest -m containers $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-3.* build dist src/*.egg-info .pytest_cache
