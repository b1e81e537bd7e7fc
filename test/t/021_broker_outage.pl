# A broker outage mid-ingest: the broker is stopped for 20 s and started
# again.  Ingest resumes by itself, every produced movement is inserted
# exactly once (a trigger logs every insert), and the status shows the
# outage as an error, then the worker running and caught up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use RailStream::Test;
use RailStream::Checks;

brokers();
create_topic('trust_outage', 2);
my $frames = trust_frames(60000, 2117);
my $half = int(@$frames / 2);
my $node = rail_node('outage', "rail_stream.batch_size = 100\nrail_stream.queue_kbytes = 1024");
log_movement_writes($node);
$node->safe_psql('postgres',
	q{SELECT rail_stream.create_subscription('outage', 'trust_outage', 'trust')});

produce_lines('trust_outage', [ @$frames[ 0 .. $half - 1 ] ]);
ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM rail.movements'),
	'ingest is under way');

my $stopped_at = time;
kafka_stop();
my $during = $node->safe_psql('postgres', 'SELECT count(*) FROM rail.movements');
note("broker stopped with $during movements written");
sleep 20;
my $error = $node->safe_psql('postgres', q{SELECT DISTINCT state || ': ' || coalesce(last_error, '')
	FROM rail_stream.subscription_status});
like($error, qr/^running: .+/, "during the outage the worker runs and shows the error ($error)");
ok($node->safe_psql('postgres', q{SELECT max(last_error_at) FROM rail_stream.subscription_status})
	  ne '', 'the error has a time');
kafka_start();

produce_lines('trust_outage', [ @$frames[ $half .. $#$frames ] ]);
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM rail.movements', '60000'),
	'after the outage every movement arrives');
is(load_produced_movements($node, $frames), '60000',
	'PostgreSQL reads 60000 movements in the produced frames');
is(key_difference($node, 'SELECT msg_key FROM public.movement_writes',
		'SELECT msg_key FROM public.produced_movements'),
	'0 0', 'each produced movement was inserted exactly once (none twice, none missing)');
is(key_difference($node, 'SELECT msg_key FROM rail.movements',
		'SELECT msg_key FROM public.produced_movements'),
	'0 0', 'the table holds exactly the produced movements');
is(count_difference($node), '0 0',
	'the daily counts per TOC and variation status are those of the produced movements');
ok($node->poll_query_until('postgres', q{SELECT bool_and(state = 'running' AND lag = 0)
	FROM rail_stream.subscription_status}), 'the status shows it running and caught up');
my $hw = high_watermarks('trust_outage');
is($node->safe_psql('postgres', q{SELECT string_agg(partition || ':' || committed_offset, ',' ORDER BY partition)
	FROM rail_stream.subscription_status}),
	join(',', map { "$_:$hw->{$_}" } sort { $a <=> $b } keys %$hw),
	'committed offsets equal the high watermarks');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.subscription_status
	WHERE pid IS NULL}), '0', 'the worker was never restarted for the outage');

$node->stop;
done_testing();
