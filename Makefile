# rail_stream: PGXS build, plus the two commands of the README.
#
#   make demo    load the sample data into a local PostgreSQL and print it
#   make test    the whole suite (pg_regress, the upgrade test, the integration
#                tests, pg_regress under ASan/UBSan, fuzzing)
#
# Both install what is missing themselves (see test/deps.sh).

EXTENSION    = rail_stream
EXTVERSION   = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)
MODULE_big   = rail_stream
OBJS         = src/rail_stream.o src/guc.o src/json.o src/decode.o \
               src/feed_time.o src/transform.o src/trust.o src/cif.o \
               src/generic.o src/row.o src/sink.o src/ingest.o src/run_as.o src/plans.o \
               src/window.o \
               src/sql_api.o src/shmem.o src/kafka.o \
               src/bgw.o src/ingest_worker.o src/launcher.o src/object_access.o \
               src/http_client.o src/breaker.o src/alert_sender.o \
               src/alert_body.o src/enrich.o src/backfill.o \
               src/avro_decode.o src/schema_registry.o
PGFILEDESC   = "rail_stream - Kafka to PostgreSQL streaming ETL"

# The install script is assembled from the parts under sql/, in this order.
SQL_PARTS    = sql/machinery.sql sql/rail_model.sql sql/reference_data.sql \
               sql/enrichment.sql sql/punctuality.sql sql/backfill.sql \
               sql/subscriptions.sql sql/schema_registries.sql sql/alerts.sql
# Releases: a fresh install runs the assembled script of the current
# version; an installed 1.0 (sql/rail_stream--1.0.sql, kept as released)
# moves up through the update scripts sql/rail_stream--X--Y.sql, which
# repeat every change made to the parts since.
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA         = sql/$(EXTENSION)--1.0.sql $(wildcard sql/$(EXTENSION)--*--*.sql)

# librdkafka, libcurl and libavro: flags from pkg-config (packages that install them
# elsewhere than /usr say where)
PKG_CONFIG  ?= pkg-config
PG_CPPFLAGS  = -I$(srcdir)/src -DRS_EXTVERSION='"$(EXTVERSION)"' \
               $(shell $(PKG_CONFIG) --cflags rdkafka libcurl avro-c)
SHLIB_LINK   = $(shell $(PKG_CONFIG) --libs rdkafka libcurl avro-c)

# pg_regress: tests in test/sql, expected output in expected/ (design card;
# test/expected is a symbolic link to it, as PostgreSQL 15's pg_regress reads
# <inputdir>/expected).
TESTS        = $(sort $(wildcard test/sql/*.sql))
REGRESS      = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

EXTRA_CLEAN  = sql/$(EXTENSION)--$(EXTVERSION).sql

PG_CONFIG   ?= pg_config
PGXS        := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))
ifneq ($(PGXS),)
include $(PGXS)
else
all:
	@echo "PostgreSQL server headers are missing: run 'make test' or 'make demo'," >&2
	@echo "which install them, or 'apt-get install postgresql-server-dev-15'" >&2
	@echo "(or set PG_CONFIG to the pg_config of another installation)." >&2
	@exit 1
endif

# PGXS tracks no header dependencies: rebuild everything when a header changes
$(OBJS): $(wildcard src/*.h)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

.PHONY: test demo deps sanitize fuzz tapcheck regress-alone dockercheck feedercheck
deps:
	test/deps.sh

# parts of make test, on their own, against the PostgreSQL of PG_CONFIG
# (after "make install"): the TAP tests with a real Kafka broker, each
# pg_regress file alone, the docker/ checks
tapcheck: deps
	PG_CONFIG=$(PG_CONFIG) test/tap.sh

regress-alone:
	PG_CONFIG=$(PG_CONFIG) test/regress_alone.sh

dockercheck: deps
	PG_CONFIG=$(PG_CONFIG) test/docker/run.sh

# the feeder against a real Artemis and Kafka, alone (make test runs it
# with the other TAP tests)
feedercheck: deps
	test/tap.sh docker/feeder/t/090_feeder.pl

sanitize: deps
	test/sanitize.sh

fuzz: deps
	test/fuzz/run.sh

test: deps
	test/run.sh

demo: deps
	demo/demo.sh

# make dist: the release tarball (PGXN's format, described by META.json),
# from the committed tree
DISTVERSION = $(shell sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' META.json | head -n1)
.PHONY: dist packagecheck matrix
dist:
	git archive --format=tar.gz --prefix=$(EXTENSION)-$(DISTVERSION)/ \
		-o $(EXTENSION)-$(DISTVERSION).tar.gz HEAD

# the .debs (debian/), built and installed into a clean Debian 12 chroot
# with a smoke test
packagecheck: deps
	test/packages/run.sh

# the suite on PostgreSQL 17 and 18, in Debian trixie and sid chroots
matrix: deps
	test/matrix/run.sh 17 18
