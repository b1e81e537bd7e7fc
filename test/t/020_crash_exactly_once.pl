# Exactly once under crashes: 200,000 TRUST movements consumed while the
# postmaster is killed with SIGKILL three times at random points.  Every
# produced movement is inserted exactly once (a trigger logs every insert,
# compared with the movements PostgreSQL reads in the produced frames), the
# daily counts per TOC and status are those of the produced movements, the
# stored offsets equal the high watermarks, and an append-only log of the
# Kafka messages has no duplicate.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);
use RailStream::Test;
use RailStream::Checks;

my $messages = $ENV{RAIL_STREAM_CRASH_MESSAGES} // 200000;
brokers();
create_topic('trust_crash', 4);
my $frames = trust_frames($messages, 20261125);
my $node = rail_node('crash', "rail_stream.batch_size = 200");
log_movement_writes($node);
$node->safe_psql('postgres', q{
	CREATE TABLE public.frame_log (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		text text NOT NULL);
	SELECT rail_stream.create_subscription('crash', 'trust_crash', 'trust');
	SELECT rail_stream.create_subscription('crash_log', 'trust_crash', 'json:public.frame_log');
});
# key each frame, so kcat spreads them over the partitions
my $i = 0;
produce_lines('trust_crash', [ map { $i++ . "\t$_" } @$frames ], '-K', "\t");
note(scalar(@$frames) . " Kafka messages holding $messages movements produced");

srand(7);
for my $crash (1 .. 3)
{
	# wait until ingest is under way, then a random moment more
	my $target = int($messages * $crash / 5);
	$node->poll_query_until('postgres',
		"SELECT count(*) >= $target FROM rail.movements") or die 'ingest stalled';
	sleep(rand(1.5));
	my $seen = $node->safe_psql('postgres', 'SELECT count(*) FROM rail.movements');
	crash_postmaster($node);
	note("crash $crash: killed the postmaster with $seen movements written");
	$node->start;
}

ok($node->poll_query_until('postgres', "SELECT count(*) FROM rail.movements", $messages),
	"all $messages movements are there after three crashes");
ok($node->poll_query_until('postgres', "SELECT count(*) FROM public.frame_log", scalar(@$frames)),
	'the append-only log has every Kafka message');

is(load_produced_movements($node, $frames), $messages,
	"PostgreSQL reads $messages movements in the produced frames");
is(key_difference($node, 'SELECT msg_key FROM public.movement_writes',
		'SELECT msg_key FROM public.produced_movements'),
	'0 0', 'each produced movement was inserted exactly once (none twice, none missing)');
is(key_difference($node, 'SELECT msg_key FROM rail.movements',
		'SELECT msg_key FROM public.produced_movements'),
	'0 0', 'the table holds exactly the produced movements');
is($node->safe_psql('postgres', q{SELECT count(*) - count(DISTINCT text) FROM public.frame_log}),
	'0', 'no Kafka message was written twice to the append-only log');
is($node->safe_psql('postgres', 'SELECT sum(movements) FROM rail.daily_movement_counts'),
	$messages, 'the daily counts count each movement once');
is(count_difference($node), '0 0',
	'the daily counts per TOC and variation status are those of the produced movements');

my $hw = high_watermarks('trust_crash');
for my $sub ('crash', 'crash_log')
{
	my $stored = $node->safe_psql('postgres', qq{
		SELECT string_agg(o.partition || ':' || o.next_offset, ',' ORDER BY o.partition)
		FROM rail_stream.subscription_offsets o
		JOIN rail_stream.subscriptions s ON s.id = o.subscription_id
		WHERE s.name = '$sub'});
	is($stored, join(',', map { "$_:$hw->{$_}" } sort { $a <=> $b } keys %$hw),
		"the stored offsets of $sub equal the high watermarks");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM rail_stream.dead_letters'), '0',
	'no dead letters');

# the offsets also reach the Kafka consumer group, for its lag tools
my $expected = join(',', map { "$_:$hw->{$_}" } sort { $a <=> $b } keys %$hw);
my $group;
for (1 .. 30)
{
	my $g = group_offsets('rail_stream.crash');
	$group = join(',', map { "$_:$g->{$_}" } sort { $a <=> $b } keys %$g);
	last if $group eq $expected;
	sleep 1;
}
is($group, $expected, 'kafka-consumer-groups shows the group at the high watermarks');

$node->stop;
done_testing();
