# moescope: see README.md. `make` builds, `make run` opens the app, `make test` runs the tests.
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/moescope
MANPREFIX ?= $(PREFIX)/share/man
DESTDIR ?=
WERROR ?= 1
BUILD ?= build

# Install or name what is missing before pkg-config is asked (a fresh machine has nothing).
ifeq ($(filter clean uninstall man-lint layering,$(MAKECMDGOALS)),)
DEPS_KIND := $(if $(filter test-arm64,$(MAKECMDGOALS)),test-arm64,$(if $(filter test check fuzz,$(MAKECMDGOALS)),test,build))
ifneq ($(shell sh tools/deps.sh $(DEPS_KIND) >&2; echo $$?),0)
$(error missing packages, see above)
endif
endif

PKGS := ncursesw readline libcjson libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lncursesw -ltinfo -lreadline -lcjson -lcurl)
# What the remote backend and its tests link without curses: cJSON and libcurl.
REMOTE_LIBS := $(shell pkg-config --libs libcjson libcurl 2>/dev/null || echo -lcjson -lcurl)

OPT ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
CFLAGS ?=
# engine/'s own folders are on the include path of engine/ itself (and of the tests and tools
# that reach inside it); everything else sees only the public headers at engine/'s top.
ENGINE_INC := -Iengine -Iengine/gguf -Iengine/model -Iengine/simd -Iengine/text -Iengine/sys
PUBLIC_INC := -Iengine -Isessions -Ithemes -Itui -Icli -Ibackend -Iremote
INC = $(PUBLIC_INC)
$(BUILD)/engine/%.o: INC = $(ENGINE_INC)
$(BUILD)/tests/%.o $(BUILD)/tools/%.o: INC = $(ENGINE_INC) $(PUBLIC_INC)
BASE_CFLAGS := -std=c11 $(OPT) $(WARN) -D_GNU_SOURCE -pthread -MMD -MP
CFLAGS_ALL = $(BASE_CFLAGS) $(INC) $(CFLAGS) -DMOESCOPE_DATADIR='"$(DATADIR)"'
LDLIBS_ENGINE := -lm -pthread

ENGINE_SRC := $(wildcard engine/*.c engine/*/*.c)
CLI_SRC := $(filter-out cli/main.c,$(wildcard cli/*.c))
SESSION_SRC := $(wildcard sessions/*.c)
THEME_SRC := $(wildcard themes/*.c)
TUI_SRC := $(wildcard tui/*.c)
# What generates tokens: the engine or a remote server, behind backend/backend.h.
BACKEND_SRC := $(wildcard backend/*.c remote/*.c)
TEST_ENGINE_SRC := $(wildcard tests/test_*.c)
TEST_TUI_SRC := $(wildcard tests/tui_test_*.c)
TEST_REMOTE_SRC := $(wildcard tests/remote_test_*.c)
TRAIN_LIB_SRC := tools/train/nn.c tools/train/trainer.c

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
ENGINE_OBJ := $(call obj,$(ENGINE_SRC))
SESSION_OBJ := $(call obj,$(SESSION_SRC))
THEME_OBJ := $(call obj,$(THEME_SRC))
BACKEND_OBJ := $(call obj,$(BACKEND_SRC))
TUI_OBJ := $(call obj,$(TUI_SRC)) $(call obj,$(CLI_SRC)) $(BACKEND_OBJ)
TRAIN_LIB_OBJ := $(call obj,$(TRAIN_LIB_SRC))

DEFAULT_MODEL := $(BUILD)/default.gguf
TEST_BINS := $(BUILD)/test_engine $(BUILD)/test_tui $(BUILD)/test_remote
# The real binary driven in tmux: typing, streaming, resizing, signals, hostile output.
E2E_TESTS := tests/e2e_tmux.sh tests/e2e_signals.sh tests/e2e_hostile.sh tests/e2e_remote_errors.sh \
	tests/e2e_llama_server.sh tests/e2e_context.sh tests/e2e_reasoning.sh
TOOLS := $(BUILD)/synth $(BUILD)/train $(BUILD)/session_bench

.PHONY: all run test test-arm64 check check-html fuzz bench bench-anchor train install uninstall clean man-lint layering moescope-san

all: moescope $(TOOLS) $(DEFAULT_MODEL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) -c $< -o $@

moescope $(BUILD)/moescope: $(BUILD)/cli/main.o $(TUI_OBJ) $(SESSION_OBJ) $(THEME_OBJ) $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(LDLIBS_ENGINE) $(LDFLAGS)

$(BUILD)/synth: $(BUILD)/tools/synth.o $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ENGINE) $(LDFLAGS)

# The default model: the small MoE that tools/train trained on Shakespeare (`make train`
# re-creates it from its seeds), or, in a tree without it, a small random-weight synth model.
# Four stages: 4000 steps on windows of 128 bytes, 200 steps on windows of 512 bytes that
# start from the first stage's weights (the context grows to 512), 400 more steps on
# windows of 512 at half the learning rate (a fresh cosine schedule from 5e-4), then 300
# steps on windows of 1024 with residual dropout 0.1 (the context grows to 1024; dropout
# holds back the overfitting of the earlier stages).
TRAINED_MODEL := tools/train/default.gguf
TRAIN_SHAPE := --layers 4 --d-model 128 --heads 4 --kv-heads 4 --experts 8 --experts-used 2 \
	--ff 256 --aux 0.01 -t 2 --name "moescope shakespeare moe"
TRAIN_FLAGS_CTX128 := --steps 4000 --batch 16 --ctx 128 --lr 0.002 --warmup 100 --seed 1 \
	--eval-every 100 --save-every 200 $(TRAIN_SHAPE)
TRAIN_FLAGS_CTX512 := --steps 200 --batch 4 --ctx 512 --lr 0.001 --warmup 20 --seed 2 \
	--eval-every 50 --save-every 50 $(TRAIN_SHAPE)
TRAIN_FLAGS_CTX512_LOWLR := --steps 400 --batch 4 --ctx 512 --lr 0.0005 --warmup 20 --seed 3 \
	--eval-every 50 --save-every 50 $(TRAIN_SHAPE)
TRAIN_FLAGS := --steps 300 --batch 4 --ctx 1024 --lr 0.0003 --warmup 20 \
	--seed 4 --dropout 0.1 --eval-every 50 --save-every 50 $(TRAIN_SHAPE)
ifneq ($(wildcard $(TRAINED_MODEL)),)
$(DEFAULT_MODEL): $(TRAINED_MODEL)
	@mkdir -p $(BUILD)
	cp $< $@
else
$(DEFAULT_MODEL): $(BUILD)/synth
	$(BUILD)/synth --arch qwen2moe --layers 4 --d-model 128 --heads 4 --kv-heads 2 \
		--experts 8 --experts-used 2 --ff 256 --shared-ff 256 --vocab-bytes --seed 1 \
		--name "moescope random default" -o $@
endif

$(BUILD)/session_bench: $(BUILD)/tools/session_bench.o $(SESSION_OBJ) $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson) $(LDLIBS_ENGINE) $(LDFLAGS)

$(BUILD)/train: $(BUILD)/tools/train/main.o $(TRAIN_LIB_OBJ) $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ENGINE) $(LDFLAGS)

# Trains the default model (the four stages; CPU time in README.md) and writes the loss
# curves and the expert report into docs/.
train: $(BUILD)/train
	@mkdir -p docs
	$(BUILD)/train $(TRAIN_FLAGS_CTX128) --corpus ../shared/corpus/tinyshakespeare.txt \
		-o $(BUILD)/train-ctx128.gguf --log docs/train-loss-ctx128.txt
	$(BUILD)/train $(TRAIN_FLAGS_CTX512) --init $(BUILD)/train-ctx128.gguf \
		--corpus ../shared/corpus/tinyshakespeare.txt -o $(BUILD)/train-ctx512.gguf \
		--log docs/train-loss-ctx512.txt
	$(BUILD)/train $(TRAIN_FLAGS_CTX512_LOWLR) --init $(BUILD)/train-ctx512.gguf \
		--corpus ../shared/corpus/tinyshakespeare.txt -o $(BUILD)/train-ctx512-lowlr.gguf \
		--log docs/train-loss-ctx512-lowlr.txt
	$(BUILD)/train $(TRAIN_FLAGS) --init $(BUILD)/train-ctx512-lowlr.gguf \
		--corpus ../shared/corpus/tinyshakespeare.txt -o $(TRAINED_MODEL) \
		--log docs/train-loss.txt --svg docs/train-loss.svg --report docs/train-experts.txt

$(BUILD)/test_engine: $(call obj,$(TEST_ENGINE_SRC) tests/runner.c) $(TRAIN_LIB_OBJ) $(ENGINE_OBJ) $(SESSION_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson) $(LDLIBS_ENGINE) $(LDFLAGS)

$(BUILD)/test_tui: $(call obj,$(TEST_TUI_SRC) tests/runner.c) $(TUI_OBJ) $(SESSION_OBJ) $(THEME_OBJ) $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(LDLIBS_ENGINE) $(LDFLAGS)

# The remote backend without curses: the SSE parser, routed-expert decoding, the families.
$(BUILD)/test_remote: $(call obj,$(TEST_REMOTE_SRC) tests/runner.c) $(BACKEND_OBJ) $(SESSION_OBJ) $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(REMOTE_LIBS) $(LDLIBS_ENGINE) $(LDFLAGS)

run: all
	./moescope

test: all $(TEST_BINS) man-lint layering
	@tests/run.sh $(TEST_BINS) $(E2E_TESTS)

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer.
check:
	$(MAKE) BUILD=build-san OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
		CC=$(CC) build-san/test_engine build-san/test_tui build-san/test_remote moescope-san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-san/test_engine build-san/test_tui build-san/test_remote

moescope-san: $(BUILD)/cli/main.o $(TUI_OBJ) $(SESSION_OBJ) $(THEME_OBJ) $(ENGINE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $(BUILD)/moescope $^ $(PKG_LIBS) $(LDLIBS_ENGINE) $(LDFLAGS)

# The HTML export opened in headless Chromium: a screenshot that shows a drawn page.
check-html: all
	$(BUILD)/session_bench --sample $(BUILD)/sample-session.json
	MOESCOPE=./moescope tools/check_html.sh $(BUILD)/sample-session.json $(BUILD)/sample-session.png

man-lint:
	@out=$$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l man/moescope.1 2>&1 >/dev/null); \
	if [ -n "$$out" ]; then echo "man/moescope.1: $$out"; exit 1; fi

# The layers of DESIGN.md (tools/layering.sh says which includes each folder may have).
layering:
	@tools/layering.sh

# libFuzzer targets: tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME/. Each runs for
# FUZZ_SECONDS; a crash stops the run and its input is kept in tests/fuzz/crashes/ (move it to
# tests/fuzz/regressions/NAME/ once fixed: `make test` replays that folder without clang).
# The sources are compiled once into build-fuzz/obj/ and linked into every target.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix build-fuzz/,$(FUZZ_TARGETS))
FUZZ_COMMON := -std=c11 -g -O1 -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -DFUZZING -pthread $(ENGINE_INC) $(PUBLIC_INC)
FUZZ_FLAGS := $(FUZZ_COMMON) -fsanitize=fuzzer,address,undefined
FUZZ_LIB_OBJ := $(patsubst %.c,build-fuzz/obj/%.o,$(ENGINE_SRC) $(SESSION_SRC) $(THEME_SRC))
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COMMON) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP $(PKG_CFLAGS) -c $< -o $@
# fuzz_tokenizer also reads the fixtures' vocabularies (MOESCOPE_FIXTURES at run time wins).
$(FUZZ_BINS): build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -DMOESCOPE_FIXTURES='"$(abspath ../shared/fixtures)"' $(PKG_CFLAGS) \
		-o $@ $^ $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson) $(FUZZ_LDLIBS) -lm
# fuzz_ollama reads a remote turn's stream: the backend's objects too, and libcurl (turn.c).
build-fuzz/fuzz_ollama: $(patsubst %.c,build-fuzz/obj/%.o,$(BACKEND_SRC))
build-fuzz/fuzz_ollama: FUZZ_LDLIBS := -lcurl

# The longest input per target, for what its format needs: every execution pays for every
# byte, and libFuzzer's default is the largest seed. Themes are short; sessions, chat turns
# and texts a few KB; a GGUF's header (keys, arrays, tensor table) fits in 8 KB, and the
# smallest whole models (fuzz_gguf also loads the model) in 16-20 KB. An NDJSON stream of a
# few lines with logprobs, 4 KB.
FUZZ_MAX_LEN_fuzz_theme := 2048
FUZZ_MAX_LEN_fuzz_session := 4096
FUZZ_MAX_LEN_fuzz_chat := 4096
FUZZ_MAX_LEN_fuzz_tokenizer := 4096
FUZZ_MAX_LEN_fuzz_gguf := 20480
FUZZ_MAX_LEN_fuzz_ollama := 4096

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t tests/fuzz/corpus/$$t tests/fuzz/crashes; \
		ml=$$(echo "$(foreach t,$(FUZZ_TARGETS),$(t)=$(FUZZ_MAX_LEN_$(t)))" | tr ' ' '\n' | sed -n "s/^$$t=//p"); \
		echo "== $$t for $(FUZZ_SECONDS) s"; \
		build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$${ml:-4096} -timeout=10 -rss_limit_mb=4096 \
			-artifact_prefix=tests/fuzz/crashes/$$t- -print_final_stats=1 \
			build-fuzz/corpus/$$t tests/fuzz/corpus/$$t \
			$$([ -d tests/fuzz/regressions/$$t ] && echo tests/fuzz/regressions/$$t) 2>build-fuzz/$$t.log; rc=$$?; \
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' build-fuzz/$$t.log; \
		if [ $$rc -ne 0 ]; then tail -40 build-fuzz/$$t.log; echo "$$t: crash, input kept in tests/fuzz/crashes/"; exit 1; fi; \
	done

bench: all
	tools/bench.sh

# llama.cpp's llama-bench and llama-server, built once per machine (tools/llama_anchor.sh):
# make bench compares with them when they are there.
bench-anchor:
	tools/llama_anchor.sh

# arm64: the whole program cross-compiled with Debian's gcc-aarch64-linux-gnu (-Werror, into
# build-arm64/), then the engine tests under qemu-user on the NEON path, with and without
# the dot-product instructions (tools/test_arm64.sh). ARM64_TESTS picks tests by name (all
# by default; under emulation they prove correctness, not speed).
ARM64_CC ?= aarch64-linux-gnu-gcc
ARM64_TESTS ?=
# qemu's root for the guest's loader: / (Debian multiarch), so that ld-linux-aarch64.so.1
# and libc.so.6 come from the same libc6:arm64. The cross toolchain's loader in
# /usr/aarch64-linux-gnu with multiarch's libc (another build of 2.36) hangs the first
# pthread_create in a walk of a list the two lay out differently.
ARM64_SYSROOT ?= /
ARM64_LIBDIR ?= /usr/lib/aarch64-linux-gnu
# gcc 12's aarch64 vectorizer stops with an internal compiler error on a float64 reduction
# in this test (vect_transform_reduction); the test's own code is fine.
build-arm64/tests/test_sampler.o: CFLAGS += -fno-tree-vectorize
test-arm64:
	PKG_CONFIG_LIBDIR=$(ARM64_LIBDIR)/pkgconfig:/usr/share/pkgconfig \
		$(MAKE) BUILD=build-arm64 CC=$(ARM64_CC) build-arm64/moescope build-arm64/test_engine
	tools/test_arm64.sh build-arm64 $(ARM64_SYSROOT) $(ARM64_TESTS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 $(DESTDIR)$(DATADIR)/themes
	install -m 755 moescope $(DESTDIR)$(BINDIR)/moescope
	install -m 644 man/moescope.1 $(DESTDIR)$(MANPREFIX)/man1/moescope.1
	install -m 644 $(DEFAULT_MODEL) $(DESTDIR)$(DATADIR)/default.gguf
	for t in themes/*.theme; do [ -e "$$t" ] && install -m 644 "$$t" $(DESTDIR)$(DATADIR)/themes/; done; true

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/moescope $(DESTDIR)$(MANPREFIX)/man1/moescope.1
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-san build-fuzz build-arm64 moescope

-include $(shell find $(BUILD) build-san build-fuzz -name '*.d' 2>/dev/null)
