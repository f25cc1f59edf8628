# The README's two commands. Each sets up what it needs first (a .venv with celerydesk and its
# pinned dependencies), so on a fresh clone `make run` and `make test` are all there is to type.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench binary bytecode clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# An editable install leaves celerydesk's own modules uncompiled, and with PYTHONDONTWRITEBYTECODE
# set Python never caches them: every `up` and every sample worker would compile them again
# (~40 ms on the path that starts the stack). Up-to-date files are skipped, so this is quick.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q celerydesk >/dev/null

# Open the celerydesk window on the built-in sample stack (local Redis, no Docker needed).
run: bytecode
	$(BIN)/celerydesk gui --sample

# The layering contracts (pyproject.toml [tool.importlinter]), then the whole test suite. On CI
# (.ci/run) CELERYDESK_STRICT=1 turns Docker/Xvfb skips into failures.
test: bytecode
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The PyInstaller onedir build, dist/celerydesk/celerydesk (see build.spec); about a minute.
binary: $(STAMP)
	$(BIN)/pip install --quiet -e '.[build]'
	$(BIN)/pyinstaller --noconfirm --log-level WARN build.spec
	@du -sh dist/celerydesk

bench: bytecode
	for b in tests/bench/bench_*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) build dist *.egg-info
