PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
SERVE_STAMP := $(VENV)/.installed-serve

BASE_IMAGE ?= modelserve/debian:bookworm

.PHONY: serve test lint bench soak clean wheels images test-containers

# The serving install: no TensorFlow, a few seconds.
$(SERVE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

serve: $(SERVE_STAMP)
	$(BIN)/modelserve serve

# Re-installs only when pyproject.toml changes; the package itself is installed editable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# modelserve beside the alternatives (bench/RESULTS.md); needs wrk and a RabbitMQ.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/runtime.py
	$(BIN)/python bench/request_path.py
	$(BIN)/python bench/run.py

# 100,000 requests in Celery mode: does memory stay put? (bench/results/soak.json)
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# Python wheels for the images, every version pinned (no index needed while building).
wheels: $(STAMP)
	PYTHON=$(BIN)/python deploy/images/build-wheels.sh build/wheels --train --dist build/dist

# The images, on a Debian base built here with debootstrap (no registry needed).
images: wheels
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
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
