# Kafka metadata as columns, and VSTP, through the real broker.
#
# A json: subscription with option "metadata" fills the columns it names
# with each message's topic, partition, offset, timestamp, key and headers:
# they must equal what Kafka's own tools say of the topic (every offset of
# every partition exactly once, up to the high watermark).  A vstp
# subscription writes the VSTP samples of data/vstp as ingest_message()
# does.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;

brokers();
my $node = rail_node('metadata');

$node->safe_psql('postgres', q{
	CREATE TABLE public.events (
		id          integer PRIMARY KEY,
		what        text,
		k_topic     text,
		k_partition integer,
		k_offset    bigint,
		k_time      timestamptz,
		k_key       text,
		k_headers   jsonb
	);
	SELECT rail_stream.create_subscription('events', 'meta_events', 'json:public.events',
		options => '{"metadata": {"k_topic": "topic", "k_partition": "partition",
		             "k_offset": "offset", "k_time": "timestamp", "k_key": "key",
		             "k_headers": "headers"}}');
	SELECT rail_stream.create_subscription('vstp', 'VSTP_ALL', 'vstp');
});

# 3 partitions, 60 keyed messages with a header each (header values are
# bytes: the headers column has them in hex, as dead letters do)
create_topic('meta_events', 3);
my $n = 60;
produce_lines('meta_events',
	[ map { "k$_:{\"id\": $_, \"what\": \"event $_\"}" } 1 .. $n ],
	'-K:', '-H', 'origin=tap');
wait_for($node, 'SELECT count(*) FROM public.events', $n, 'every event lands');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM public.events
	WHERE k_topic = 'meta_events' AND k_key = 'k' || id AND k_time IS NOT NULL
	  AND k_headers = jsonb_build_object('origin', encode('tap', 'hex'))}), $n,
	'topic, key, timestamp and headers of every row are its message\'s');

# each partition's offsets are 0 .. high watermark - 1, each once
my $hw = high_watermarks('meta_events');
my $expected = join ',', map { "$_:$hw->{$_}" } sort keys %$hw;
is($node->safe_psql('postgres', q{
	SELECT string_agg(k_partition || ':' || n, ',' ORDER BY k_partition)
	FROM (SELECT k_partition, count(DISTINCT k_offset) AS n,
	             min(k_offset) AS lo, max(k_offset) AS hi
	      FROM public.events GROUP BY k_partition) p
	WHERE lo = 0 AND hi = n - 1}), $expected,
	'partitions and offsets are those Kafka reports');

# VSTP: the samples through Kafka land as through ingest_message
produce('VSTP_ALL', repo_path('data/vstp/vstp_samples.ndjson'));
wait_for($node, q{SELECT count(*) FROM rail.schedules WHERE schedule_key = 'W65870/2018-07-14/C'},
	'1', 'the last VSTP sample lands');
is($node->safe_psql('postgres', q{
	SELECT string_agg(schedule_key || '=' || num_stops, ',' ORDER BY schedule_key)
	FROM rail.schedules}),
	'W65870/2018-07-07/O=4,W65870/2018-07-14/C=0',
	'created, overlaid, deleted and cancelled in order');
is($node->safe_psql('postgres', 'SELECT count(*) FROM rail_stream.dead_letters'), '0',
	'no dead letters');

$node->stop;
done_testing();
