# Avro values through a real schema registry (Apicurio Registry, through its
# Confluent-compatible API), produced by a real Avro serializer
# (confluent-kafka's AvroSerializer):
#   - a json: feed lands Avro records exactly as the same records sent as
#     JSON (md5 of every row), through three versions of the schema (a field
#     added with a default, a field removed), with no restart;
#   - a value that is not Avro, one with an unknown schema id and a corrupt
#     one are dead letters, and the partition goes on;
#   - a registry outage stops the batch, shows in the status, and loses
#     nothing: the rows land once when it is back;
#   - the TRUST feed reads the real sample frames as the Avro JMS messages
#     of Kafka Connect's ActiveMQ source, into the same rows as JSON;
#   - a registry's credentials go out as basic authentication, and what a
#     registry that refuses them or answers no schema makes of a message
#     (a real HTTP server on loopback, test/webhook_receiver.py, as the
#     registry).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use RailStream::Test;

brokers();
my $registry_dir = "$PostgreSQL::Test::Utils::tmp_check/registry";
my $registry = start_registry($registry_dir);
END { stop_registry($registry_dir) if -d $registry_dir; }
create_topic($_, 2) for qw(readings_avro readings_json trust_avro);
my $node = rail_node('avro');
my $json = JSON::PP->new->canonical;

$node->safe_psql('postgres', qq{
	CREATE TABLE public.readings_avro (id bigint PRIMARY KEY, station text, late int,
		ok boolean, speed double precision, kind text, tags jsonb, seen_at timestamptz,
		extra jsonb, platform text);
	CREATE TABLE public.readings_json (LIKE public.readings_avro INCLUDING ALL);
	SELECT rail_stream.create_schema_registry('apicurio', '$registry');
	SELECT rail_stream.create_subscription('readings_json', 'readings_json',
		'json:public.readings_json');
	SELECT rail_stream.create_subscription('readings_avro', 'readings_avro',
		'json:public.readings_avro', NULL,
		'{"value_format": "avro", "schema_registry": "apicurio"}');
});

# records $first .. $first + $n - 1 of a schema version
sub readings
{
	my ($first, $n, $version) = @_;
	my @records;
	for my $i ($first .. $first + $n - 1)
	{
		my %r = (
			id => $i,
			station => ('Leeds', 'Kings Cross', "Ben Rhydding \x{2019}s", 'Chartham')[ $i % 4 ],
			late => ($i % 5 ? $i % 17 : undef),
			ok => ($i % 2 ? JSON::PP::true : JSON::PP::false),
			speed => $i / 8 - 3.25,
			kind => ($i % 3 ? 'ARRIVAL' : 'DEPARTURE'),
			tags => [ map { "t$_" } 1 .. $i % 3 ],
			seen_at => sprintf('2024-07-28T%02d:%02d:00Z', $i % 24, $i % 60),
			extra => { map { ("k$_" => "v$i.$_") } 1 .. $i % 2 });
		$r{platform} = ($i % 2 ? "P$i" : undef) if $version >= 2;
		delete $r{ok} if $version >= 3;
		push @records, \%r;
	}
	return @records;
}

sub send_both
{
	my ($first, $n, $version) = @_;
	my @lines = map { $json->encode($_) } readings($first, $n, $version);
	my $id = produce_avro($registry, 'readings_avro', "readings-v$version.avsc",
		\@lines, '--key', 'id');
	produce_lines('readings_json', [ map { $_->{id} . "\t" . $json->encode($_) } readings($first, $n, $version) ],
		'-K', "\t");
	return $id;
}

sub same_rows
{
	my ($n, $what) = @_;
	my $digest = q{SELECT count(*) || ' ' || md5(string_agg(r::text, E'\n' ORDER BY id)) FROM public.%s r};
	wait_for($node, sprintf(q{SELECT count(*) FROM public.readings_avro}), $n, "$what: $n rows");
	wait_for($node, sprintf(q{SELECT count(*) FROM public.readings_json}), $n, "$what: $n JSON rows");
	is($node->safe_psql('postgres', sprintf($digest, 'readings_avro')),
		$node->safe_psql('postgres', sprintf($digest, 'readings_json')),
		"$what: Avro rows equal JSON rows");
}

sub worker_pid
{
	return $node->safe_psql('postgres', q{SELECT string_agg(DISTINCT pid::text, ',')
		FROM rail_stream.subscription_status
		WHERE subscription = 'readings_avro' AND state = 'running'});
}

# 1. Avro lands as JSON does, through three versions of the schema
my $v1 = send_both(1, 400, 1);
same_rows(400, 'version 1');
my $pid = worker_pid();
like($pid, qr/^\d+$/, 'the Avro worker runs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.readings_avro
	WHERE station = 'Ben Rhydding ’s' AND tags = '["t1"]' AND extra ? 'k1' AND speed IS NOT NULL}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM public.readings_json
	WHERE station = 'Ben Rhydding ’s' AND tags = '["t1"]' AND extra ? 'k1' AND speed IS NOT NULL}),
	'strings, arrays and maps arrive whole');
my $v2 = send_both(401, 100, 2);
same_rows(500, 'version 2 (a field added, with a default)');
isnt($v2, $v1, 'version 2 has a schema id of its own');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.readings_avro WHERE platform IS NOT NULL}),
	'50', 'the new field lands in its column');
my $v3 = send_both(501, 100, 3);
same_rows(600, 'version 3 (a field removed)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.readings_avro WHERE id > 500 AND ok IS NULL}),
	'100', 'the removed field is NULL');
is(worker_pid(), $pid, 'no restart for new schemas');

# 2. What is not Avro, or not known to the registry, is a dead letter
my $unknown = pack('CN', 0, 999999) . "\x02\x04";
my $corrupt = pack('CN', 0, $v1) . "\x02";
produce_lines('readings_avro', [ "json\t{\"id\": 1}", "unknown\t$unknown", "corrupt\t$corrupt" ],
	'-K', "\t", '-p', '0');
send_both(601, 10, 3);
same_rows(610, 'after bad messages');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ': ' || sqlstate || ' ' || error_message, E'\n' ORDER BY id)
	FROM rail_stream.dead_letters}),
	"json: 22P03 Avro message starts with byte 0x7b, not the magic byte 0x00\n"
	  . "unknown: 42704 schema 999999 is not in schema registry \"apicurio\"\n"
	  . "corrupt: 22P03 invalid Avro value: value ends 1 bytes early",
	'each is a dead letter, with why');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.dead_letters
	WHERE value = '\x00000f423f0204'::bytea}), '1', 'the dead letter keeps the bytes');

# 3. A registry outage: the batch waits, the status says why, nothing is lost
$node->safe_psql('postgres', q{SELECT rail_stream.pause_subscription('readings_avro')});
wait_for($node, q{SELECT count(*) FROM rail_stream._worker_status() WHERE subscription_id =
	(SELECT id FROM rail_stream.subscriptions WHERE name = 'readings_avro')}, '0', 'paused');
my $v3b = send_both(611, 50, 3);
my @schemas = map {
	$json->decode(`curl -sf $registry/schemas/ids/$_`)->{schema}
} 1 .. 3;
stop_registry($registry_dir);
$node->safe_psql('postgres', q{SELECT rail_stream.resume_subscription('readings_avro')});
# a new worker has no schema cached: it must ask the registry
wait_for($node, q{SELECT bool_or(last_error ~ '^could not fetch schema \d+ from schema registry "apicurio"')
	FROM rail_stream.subscription_status WHERE subscription = 'readings_avro'}, 't',
	'the status says the registry cannot be reached');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.readings_avro WHERE id > 610}), '0',
	'nothing lands meanwhile');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.dead_letters}), '3',
	'and nothing is a dead letter');
# the registry is back, with its schemas under the same ids (it keeps them
# in memory: they are registered again in the same order), on a new port
$registry = start_registry($registry_dir);
for my $i (0 .. 2)
{
	my $body = $json->encode({ schema => $schemas[$i] });
	my $id = `curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '$body' $registry/subjects/readings_avro-value/versions`;
	is($json->decode($id)->{id}, $i + 1, 'schema ' . ($i + 1) . ' registered again');
}
$node->safe_psql('postgres', qq{SELECT rail_stream.alter_schema_registry('apicurio', '$registry')});
same_rows(660, 'after the outage');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.dead_letters}), '3',
	'no dead letter from the outage');

# 4. The TRUST feed reads the sample frames as Avro JMS messages
my @trust = map { slurp_file(repo_path("data/trust/$_")) =~ s/\n//gr }
  ('trust_frame_2024-07-28_matnich89_part1.json',
	'trust_frame_2017-11-03_deadcore_part1.json',
	'trust_examples_all_msg_types.json');
my $tables = join(' || ', map {
	"'$_=' || (SELECT count(*) || ':' || coalesce(md5(string_agg((to_jsonb(x) - 'ingested_at')::text, ',' ORDER BY (to_jsonb(x) - 'ingested_at')::text)), '')
		FROM rail.$_ x) || ' '"
} qw(activations cancellations movements reinstatements changes_of_origin
	changes_of_identity changes_of_location));
$node->safe_psql('postgres', "SELECT rail_stream.ingest_message('trust', \$f\$$_\$f\$)") for @trust;
my $from_json = $node->safe_psql('postgres', "SELECT $tables");
like($from_json, qr/movements=33:/, 'the frames written as JSON');
$node->safe_psql('postgres', join('; ', map { "TRUNCATE rail.$_" }
	qw(activations cancellations movements reinstatements changes_of_origin
	changes_of_identity changes_of_location)));
$node->safe_psql('postgres', q{SELECT rail_stream.create_subscription('trust_avro', 'trust_avro',
	'trust {"value_format": "avro", "schema_registry": "apicurio"}')});
produce_avro($registry, 'trust_avro', 'jms-envelope.avsc', \@trust, '--envelope');
wait_for($node, "SELECT $tables", $from_json, 'the Avro frames land as the JSON ones');

# 5. Credentials, and registries that answer no schema: errors, not dead
# letters
my $receiver = start_receiver();
$node->safe_psql('postgres', qq{SELECT rail_stream.create_schema_registry('guarded',
	'$receiver->{url}/apis/ccompat/v7', 'reader', 's3cret')});
my $dead_before = $node->safe_psql('postgres', 'SELECT count(*) FROM rail_stream.dead_letters');
my $guarded = q{SELECT rail_stream.ingest_message(
	'json:public.readings_avro {"value_format": "avro", "schema_registry": "guarded"}',
	'\x000000004202'::bytea)};
for my $case (['status:401', qr/schema registry "guarded" refused the request for schema 66\n.*HTTP 401/],
	['status:503', qr/could not fetch schema 66 from schema registry "guarded"\n.*HTTP 503/],
	['ok', qr/schema registry "guarded" answered schema 66 without a "schema" string/])
{
	receiver_mode($receiver, $case->[0]);
	my ($ret, $out, $err) = $node->psql('postgres', $guarded);
	like($err, $case->[1], "a registry answering $case->[0] is an error");
}
# the receiver logs a request once it has answered it: wait for the third
my @asked;
for (1 .. 100)
{
	@asked = @{ receiver_requests($receiver) };
	last if @asked >= 3;
	sleep 0.1;
}
is(scalar(@asked), 3, 'the registry was asked each time');
is($asked[0]{path}, '/apis/ccompat/v7/schemas/ids/66', 'for the schema of the id');
is($asked[0]{headers}{authorization}, 'Basic cmVhZGVyOnMzY3JldA==',
	'with the credentials, as basic authentication');
is($node->safe_psql('postgres', 'SELECT count(*) FROM rail_stream.dead_letters'), $dead_before,
	'and no dead letter');
stop_receiver($receiver);

$node->stop;
done_testing();
