# End to end: the sample data produced to Kafka with kcat, as the talk does
# it, gives exactly the same tables as the same data through ingest_message.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;

brokers();
my $node = rail_node('e2e', "rail_stream.database = 'kafka'");
$node->safe_psql('postgres', 'CREATE DATABASE kafka');
$node->safe_psql('postgres', 'CREATE DATABASE direct');
for my $db ('kafka', 'direct')
{
	$node->safe_psql($db, 'CREATE EXTENSION rail_stream');
	$node->safe_psql($db, "\\copy rail.locations_csv FROM '"
		  . repo_path('data/reference/ukrail_locations.csv') . "' WITH (FORMAT csv, HEADER)");
}

my @cif = (repo_path('data/cif/cif_toc_full_GX_2018-07-02_seq2210_trimmed.ndjson'),
	repo_path('data/cif/demo-scene_CifFile_sample.json'),
	repo_path('data/cif/demo-scene_schedule_sample_2019-05-21.json'));
my $canx = repo_path('data/reference/canx_reason_code.dat');
my @trust = map { slurp_file(repo_path("data/trust/$_")) =~ s/\n//gr }
  ('trust_frame_2024-07-28_matnich89_part1.json',
	'trust_frame_2017-11-03_deadcore_part1.json',
	'trust_examples_all_msg_types.json');
# the first frame as the ActiveMQ connector delivers it, the others bare
$trust[0] = JSON::PP->new->encode({ messageType => 'text', text => $trust[0] });

# Through Kafka, in the talk's order: reference data, schedule, movements.
$node->safe_psql('kafka', q{
	SELECT rail_stream.create_subscription('canx', 'canx_reason_code', 'reference:cancellation_reasons');
	SELECT rail_stream.create_subscription('cif', 'CIF_FULL_DAILY', 'cif');
	SELECT rail_stream.create_subscription('trust', 'networkrail_TRAIN_MVT', 'trust');
});
# the extension ships the reasons: load them from the topic instead
$node->safe_psql('kafka', 'TRUNCATE rail.cancellation_reasons');
produce('canx_reason_code', $canx, '-K:');
ok($node->poll_query_until('kafka', 'SELECT count(*) FROM rail.cancellation_reasons', '260'),
	'the reasons arrive');
produce('CIF_FULL_DAILY', $_) for @cif;
ok($node->poll_query_until('kafka', 'SELECT count(*) FROM rail.tiplocs', '11118'),
	'the TIPLOCs arrive');
ok($node->poll_query_until('kafka', 'SELECT count(*) FROM rail.schedules', '506'),
	'the schedules arrive');
# the TRUST topic does not exist yet: its subscription's status says so
ok($node->poll_query_until('kafka', q{SELECT bool_and(last_error LIKE '%topic "networkrail_TRAIN_MVT" is not available%')
	FROM rail_stream.subscription_status WHERE subscription = 'trust'}),
	'before its topic exists, the status says why the worker waits');
produce_lines('networkrail_TRAIN_MVT', \@trust);

# The same through ingest_message.
$node->safe_psql('direct', 'TRUNCATE rail.cancellation_reasons');
for my $line (split /\n/, slurp_file($canx))
{
	my ($key, $value) = split /:/, $line, 2;
	$node->safe_psql('direct', 'SELECT rail_stream.ingest_message($$reference:cancellation_reasons$$, '
		  . quote($value) . ', ' . quote($key) . ')');
}
for my $file (@cif)
{
	my $sql = join ";\n", map { 'SELECT rail_stream.ingest_message($$cif$$, ' . quote($_) . ')' }
	  split /\n/, slurp_file($file);
	$node->safe_psql('direct', $sql);
}
$node->safe_psql('direct', 'SELECT rail_stream.ingest_message($$trust$$, ' . quote($_) . ')') for @trust;

my $trust_rows = $node->safe_psql('direct', 'SELECT count(*) FROM rail.movements');
ok($node->poll_query_until('kafka', 'SELECT count(*) FROM rail.movements', $trust_rows),
	"all $trust_rows movements arrive through Kafka");

# Every table, row for row (ingested_at aside), and the daily counts.
for my $table (qw(activations cancellations movements reinstatements changes_of_origin
	changes_of_identity changes_of_location cif_headers tiplocs associations schedules
	schedule_locations cancellation_reasons daily_movement_counts))
{
	my $digest = "SELECT count(*) || ' ' || md5(coalesce(string_agg((to_jsonb(t) - 'ingested_at')::text, ',' ORDER BY (to_jsonb(t) - 'ingested_at')::text), '')) FROM rail.$table t";
	my $direct = $node->safe_psql('direct', $digest);
	is($node->safe_psql('kafka', $digest), $direct, "rail.$table is the same ($direct)");
}
is($node->safe_psql('kafka', 'SELECT count(*) FROM rail_stream.dead_letters'), '0',
	'no dead letters');
is($node->safe_psql('kafka', q{SELECT string_agg(subscription || ' ' || coalesce(lag, 0), ', ' ORDER BY subscription)
	FROM (SELECT subscription, sum(lag) AS lag FROM rail_stream.subscription_status GROUP BY 1) s}),
	'canx 0, cif 0, trust 0', 'the status shows no lag');
is($node->safe_psql('kafka', q{SELECT count(*) FROM rail_stream.subscription_status
	WHERE last_error IS NOT NULL OR last_error_at IS NOT NULL}),
	'0', 'and no error: the missing topic is not reported once it is there');

done_testing();

sub quote { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }
