# gdd: `make test` (the test command), `make book`, `make reproduce PROFILE=cpu|gpu|paper`
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export GDD_DATA ?= $(CURDIR)/data
export GDD_RESULTS ?= $(CURDIR)/results
PROFILE ?= cpu

.PHONY: env test data

env: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[book,test]"
	touch $@

data: env
	$(VENV)/bin/gdd data fetch mnist fashion_mnist

test: env
	$(PY) -m pytest -q

# ---- notebooks and the book (scripts/execute_notebooks.py, scripts/check_book.py) ----
# DEVICE: where notebooks (and `gdd reproduce`) compute; default cuda when torch sees a GPU.
DEVICE ?= $(shell $(PY) -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')" 2>/dev/null || echo cpu)
JB_FLAGS ?= -n -W --keep-going
# offline machines of this project keep verified copies of the data beside the checkout
export GDD_DATA_MIRROR ?= $(if $(wildcard $(CURDIR)/../shared/data),$(abspath $(CURDIR)/../shared/data),)

.PHONY: notebooks book check-book reproduce gpu-carry

# execute every notebooks/NN_*.py with papermill into its .ipynb, loading the stored results
notebooks: env
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --device $(DEVICE)

# the main job: environment, data, notebooks executed against results/, the book in _build/html
book: env data notebooks
	$(VENV)/bin/jupyter-book build $(JB_FLAGS) .

# headless Chromium: equations typeset, figures loaded, nothing remote; screenshots in _build/check
check-book:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$CHROMIUM" ] || \
	  { echo "installing chromium (Debian)"; apt-get install -y -q chromium >/dev/null || sudo apt-get install -y -q chromium; }
	$(PY) scripts/check_book.py

# recompute every result of $(PROFILE) (resumable), then re-render the notebooks and the book.
# The start time is kept in results/$(PROFILE)/.reproduce-notebooks until the notebooks have
# run, so an interrupted reproduction resumes instead of recomputing what it finished.
reproduce: env data
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --mark-start
	$(VENV)/bin/gdd reproduce --profile $(PROFILE) --device $(DEVICE) --force
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --device $(DEVICE) --force
	$(VENV)/bin/jupyter-book build $(JB_FLAGS) .

# what a bare GPU machine (PyTorch already installed) lacks to run scripts/gpu_stage.sh: the
# pure-Python wheels in .whl/ (pinned by requirements.lock) and the raw data files
gpu-carry: env data
	rm -rf .whl && mkdir -p .whl
	$(PY) -m pip download -q --no-deps --only-binary=:all: -d .whl $$(grep -i '^tqdm==' requirements.lock)
	@du -sh .whl $(GDD_DATA)/MNIST/raw $(GDD_DATA)/FashionMNIST/raw

