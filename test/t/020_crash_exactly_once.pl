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

# Every insert into rail.movements, logged by a BEFORE INSERT trigger in the
# writing transaction.  A BEFORE INSERT trigger fires for each row an
# INSERT ... ON CONFLICT proposes, even one the upsert then leaves alone, so
# a message written again after a crash shows here twice, while the table
# itself (keyed by the movement) cannot show it.
sub log_movement_writes
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
		CREATE TABLE public.movement_writes (msg_key text NOT NULL);
		CREATE FUNCTION public.log_movement_write() RETURNS trigger
		LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.movement_writes
			VALUES (NEW.train_id || '/' || NEW.planned_event_type || '/' || NEW.loc_stanox);
			RETURN NEW;
		END;
		$$;
		CREATE TRIGGER log_write BEFORE INSERT ON rail.movements
			FOR EACH ROW EXECUTE FUNCTION public.log_movement_write();
	});
}

# The movements produced, read from the produced frames by PostgreSQL's JSON
# parser (not rail_stream's) into public.produced_movements: key, TOC and
# variation status of each.  Returns how many there are.
sub load_produced_movements
{
	my ($node, $frames) = @_;
	my $file = "$PostgreSQL::Test::Utils::tmp_check/produced_frames";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh "$_\n" for @$frames;
	close $fh;
	# one line per row, read raw (delimiter and quote JSON never contains)
	$node->safe_psql('postgres', qq{
		CREATE TEMP TABLE produced_frames (frame text);
		\\copy produced_frames FROM '$file' WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')
		CREATE TABLE public.produced_movements AS
		SELECT (m->'body'->>'train_id') || '/' || (m->'body'->>'planned_event_type') || '/'
		         || (m->'body'->>'loc_stanox') AS msg_key,
		       m->'body'->>'toc_id' AS toc_id,
		       m->'body'->>'variation_status' AS variation_status
		FROM produced_frames f,
		     jsonb_array_elements((f.frame::jsonb->>'text')::jsonb) m;
	});
	unlink $file;
	return $node->safe_psql('postgres', 'SELECT count(*) FROM public.produced_movements');
}

# "A B": keys in the first query's rows and not the second's, and the
# other way round, counting duplicates (EXCEPT ALL): "0 0" when the two
# hold the same keys, each as often.
sub key_difference
{
	my ($node, $q1, $q2) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM ($q1 EXCEPT ALL $q2) d)
		       || ' ' || (SELECT count(*) FROM ($q2 EXCEPT ALL $q1) d)});
}

# The produced movements per TOC and variation status that the daily counts
# do not count as often, and the other way round: "0 0" when they agree.
sub count_difference
{
	my ($node) = @_;
	return key_difference($node,
		q{SELECT toc_id, variation_status, sum(movements)::bigint
		  FROM rail.daily_movement_counts GROUP BY 1, 2},
		q{SELECT toc_id, variation_status, count(*)
		  FROM public.produced_movements GROUP BY 1, 2});
}

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
