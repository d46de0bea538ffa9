# pgque_worker and pgque_pgq, built with PGXS.
#
#   make && make install     build and install both extensions (PG_CONFIG=... to choose the server)
#   make test                unit tests, pg_regress and TAP against a real PostgreSQL 15
#   make demo                a throwaway cluster that shows the whole thing working
#   make bench               latency / throughput benchmarks (never part of make test)
#   make soak                SOAK_MINUTES (60) of sustained load, checked and plotted (never part of make test)

PG_CONFIG ?= pg_config

EXTENSION  = pgque_worker pgque_pgq
MODULE_big = pgque_worker
DATA       = $(wildcard sql/*--*.sql)
DOCS       =

SRCS := $(sort $(wildcard src/*.cpp src/*/*.cpp))
OBJS  = $(SRCS:.cpp=.o)

# Our own code gets every warning as an error; PostgreSQL's and other
# third-party headers come in through -isystem so their warnings stay theirs.
PG_INCLUDEDIR_SERVER := $(shell $(PG_CONFIG) --includedir-server)
PG_CPPFLAGS = -Iinclude -isystem $(PG_INCLUDEDIR_SERVER)
# -MMD -MP: an object is rebuilt when a header it includes changes (PGXS does
# not track that for C++).
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-missing-field-initializers -fexceptions -MMD -MP
SHLIB_LINK  = -lstdc++ -lcurl -lssl -lcrypto

# make installcheck: the pg_regress suites against a running server (PGHOST,
# PGPORT, PGUSER as usual), with or without the module preloaded. pg_regress
# wants sql/ and expected/ under its input directory, and our sql/ holds the
# extension scripts: REGRESS_DIR links sql-tests/ and expected/ in.
REGRESS      = $(sort $(basename $(notdir $(wildcard sql-tests/*.sql))))
REGRESS_DIR ?= build/regress
REGRESS_OPTS = --inputdir=$(REGRESS_DIR) --outputdir=$(REGRESS_DIR) --dbname=pgque_regress
REGRESS_PREP = regress-inputs

# No LLVM bitcode for JIT: it needs clang at install time and buys nothing here.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS's own CXXFLAGS carry flags meant for C (and -Wno-... sets we do not
# want to rely on); the ones above are appended after them and win.

-include $(SRCS:.cpp=.d)
EXTRA_CLEAN = $(SRCS:.cpp=.d) build

.PHONY: deps test unit demo bench soak regress-inputs
regress-inputs:
	mkdir -p $(REGRESS_DIR)
	ln -sfn $(abspath sql-tests) $(REGRESS_DIR)/sql
	ln -sfn $(abspath expected) $(REGRESS_DIR)/expected

deps:
	scripts/install-deps.sh

test: deps
	scripts/run-tests.sh

unit: deps
	scripts/run-tests.sh unit

demo: deps
	scripts/demo.sh

bench:
	scripts/install-deps.sh bench
	scripts/bench.sh

soak:
	scripts/install-deps.sh bench
	scripts/soak.sh
