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
