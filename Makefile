# pxebake: `make build` renders the example site into out/, `make test` runs every test.
CARGO ?= cargo
BIN := target/release/pxebake
PXEBAKE_FLAGS ?=

.PHONY: build binary test unit e2e bench clean lint deploy

build: binary
	$(BIN) build $(PXEBAKE_FLAGS)

binary:
	$(CARGO) build --release --locked

# Unit and integration tests (the integration tests run the real binary on fixtures).
test: lint
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf out .out.pxebake-stage
