# Bad messages interleaved with good ones: each bad one is in the dead
# letters with its partition, offset and key; all good ones land.  Then
# tombstones, pause, resume and reset_offsets.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;
use RailStream::Checks;

brokers();
create_topic('mixed', 2);
my $node = rail_node('bad');
$node->safe_psql('postgres',
	q{SELECT rail_stream.create_subscription('mixed', 'mixed', 'trust', NULL, '{"batch_size": 50}')});

# every fifth message is bad, in one of five ways
my $good = trust_frames(400, 5);
my @bad = ('[{"header":{"msg_type":"0003"},"body":',    # truncated
	'{"not":"a frame"}',
	'[{"header":{"msg_type":"0004"},"body":{"train_id":"X"}}]',
	'[{"header":{"msg_type":"0003"},"body":{"train_id":"Y","loc_stanox":"1"}}]',
	'[{"header":{"msg_type":"0003"},"body":{"train_id":"Z","planned_event_type":"ARRIVAL","loc_stanox":"17132","timetable_variation":"late"}}]');
my (@lines, %bad_keys);
my $b = 0;
for my $i (0 .. $#$good)
{
	push @lines, "good$i\t$good->[$i]";
	if ($i % 2 == 1)
	{
		my $key = "bad" . $b;
		push @lines, "$key\t" . $bad[ $b % @bad ];
		$bad_keys{$key} = 1;
		$b++;
	}
}
produce_lines('mixed', \@lines, '-K', "\t");
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM rail.movements', '400'),
	'all good movements land');
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM rail_stream.dead_letters', $b),
	"all $b bad messages are dead letters");

# where kcat says each bad message is
my ($out, $err);
IPC::Run::run([ 'kcat', '-C', '-b', brokers(), '-t', 'mixed', '-e', '-q', '-f', '%k %p %o\n' ],
	'>', \$out, '2>', \$err) or die $err;
my @expected = sort grep { /^bad/ } split /\n/, $out;
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || partition || ' ' || "offset", E'\n' ORDER BY key || ' ')
	FROM rail_stream.dead_letters}), join("\n", @expected),
	'each dead letter has its key, partition and offset');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.dead_letters
	WHERE subscription = 'mixed' AND topic = 'mixed' AND kafka_timestamp IS NOT NULL
	  AND error_message <> '' AND sqlstate <> '' AND value IS NOT NULL}), $b,
	'and its subscription, topic, time, raw value and error');
is($node->safe_psql('postgres', q{SELECT sum(dead_letters) FROM rail_stream.subscription_status}),
	$b, 'the status counts them');

# replay after a fix: the unknown message type stays bad, a fixed table helps
my $replayed = $node->safe_psql('postgres', q{SELECT replayed || ' ' || failed
	FROM rail_stream.replay_dead_letters('mixed')});
is($replayed, "$b $b", 'replayed dead letters that are still bad are kept');

# Tombstones delete rows of a keyed table (kcat -Z sends an empty value as null)
create_topic('alert_config', 1);
$node->safe_psql('postgres', q{
	CREATE TABLE public.alert_config (station text PRIMARY KEY, alert_over_mins int);
	SELECT rail_stream.create_subscription('alerts', 'alert_config', 'json:public.alert_config');
});
produce_lines('alert_config', [ 'BEN RHYDDING:{"STATION":"BEN RHYDDING","ALERT_OVER_MINS":"5"}',
	'LEEDS:{"STATION":"LEEDS","ALERT_OVER_MINS":"45"}',
	'KINGS CROSS:{"STATION":"KINGS CROSS","ALERT_OVER_MINS":"30"}' ], '-K:');
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM public.alert_config', '3'),
	'the talk\'s alert_config topic loads');
produce_lines('alert_config', [ 'LEEDS:' ], '-K:', '-Z');
ok($node->poll_query_until('postgres', q{SELECT string_agg(station, ',' ORDER BY station)
	FROM public.alert_config}, 'BEN RHYDDING,KINGS CROSS'), 'a tombstone deletes its row');

# Pause holds messages back; resume takes them; reset_offsets re-reads.
$node->safe_psql('postgres', q{SELECT rail_stream.pause_subscription('alerts')});
ok($node->poll_query_until('postgres', q{SELECT state FROM rail_stream.subscription_status
	WHERE subscription = 'alerts'}, 'paused'), 'paused');
# While paused, the message reaches the broker (its high watermark moves)
# and a live worker of another subscription of the same topic reads it, but
# the paused subscription's stored offset stays where it was.
my $paused_at = $node->safe_psql('postgres', stored_offsets('alerts'));
is($paused_at, '0:4', 'the paused subscription stored the offset past the tombstone');
produce_lines('alert_config', [ 'YORK:{"STATION":"YORK","ALERT_OVER_MINS":"10"}' ], '-K:');
ok(wait_for_high_watermark('alert_config', 0, 5), 'the broker has the message sent while paused');
$node->safe_psql('postgres', q{
	CREATE TABLE public.alert_witness (station text PRIMARY KEY, alert_over_mins int);
	SELECT rail_stream.create_subscription('witness', 'alert_config', 'json:public.alert_witness');
});
ok($node->poll_query_until('postgres', stored_offsets('witness'), '0:5'),
	'a running subscription of the same topic reads up to the high watermark');
is($node->safe_psql('postgres', stored_offsets('alerts')), $paused_at,
	'the paused subscription\'s stored offset did not move');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.alert_config WHERE station = 'YORK'}),
	'0', 'nothing is consumed while paused');
$node->safe_psql('postgres', q{SELECT rail_stream.drop_subscription('witness')});
$node->safe_psql('postgres', q{SELECT rail_stream.resume_subscription('alerts')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM public.alert_config WHERE station = 'YORK'}, '1'),
	'resume consumes it');
ok($node->poll_query_until('postgres', stored_offsets('alerts'), '0:5'),
	'and stores the offset past it');

$node->safe_psql('postgres', q{DELETE FROM public.alert_config;
	SELECT rail_stream.reset_offsets('alerts', '{"0": 1}')});
ok($node->poll_query_until('postgres', q{SELECT string_agg(station, ',' ORDER BY station)
	FROM public.alert_config}, 'KINGS CROSS,YORK'),
	'reset to offset 1 replays from there (LEEDS is re-added and deleted by its tombstone)');
$node->safe_psql('postgres', q{DELETE FROM public.alert_config;
	SELECT rail_stream.reset_offsets('alerts', 'earliest')});
ok($node->poll_query_until('postgres', q{SELECT string_agg(station, ',' ORDER BY station)
	FROM public.alert_config}, 'BEN RHYDDING,KINGS CROSS,YORK'), 'reset to earliest replays all');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM rail_stream.subscription_status
	WHERE subscription = 'alerts'});
$node->safe_psql('postgres', q{DELETE FROM public.alert_config;
	SELECT rail_stream.reset_offsets('alerts', 'latest')});
ok($node->poll_query_until('postgres', qq{SELECT count(*) FROM rail_stream.subscription_status
	WHERE subscription = 'alerts' AND state = 'running' AND pid <> $pid}, '1'),
	'reset restarts the worker');
# The restarted worker stores where "latest" is before it reads; a message
# sent after that is read, and it alone: the old ones come before it.
ok($node->poll_query_until('postgres', stored_offsets('alerts'), '0:5'),
	'the restarted worker stores the high watermark as its offset');
produce_lines('alert_config', [ 'SELBY:{"STATION":"SELBY","ALERT_OVER_MINS":"2"}' ], '-K:');
ok($node->poll_query_until('postgres', stored_offsets('alerts'), '0:6'),
	'the message sent after the reset is consumed');
is($node->safe_psql('postgres', q{SELECT string_agg(station, ',' ORDER BY station) FROM public.alert_config}),
	'SELBY', 'reset to latest reads nothing old');
$node->safe_psql('postgres', q{DELETE FROM public.alert_config;
	SELECT rail_stream.reset_offsets('alerts', now()::text)});
produce_lines('alert_config', [ 'HULL:{"STATION":"HULL","ALERT_OVER_MINS":"1"}' ], '-K:');
ok($node->poll_query_until('postgres', q{SELECT string_agg(station, ',') FROM public.alert_config}, 'HULL'),
	'reset to a time reads what came after it');

# The topic deleted and created again holds no message at the stored
# offset: the partition stops there, the status says why and what to do,
# and reset_offsets starts it over.
my $stored = $node->safe_psql('postgres', stored_offsets('alerts'));
delete_topic('alert_config');
my $created;
for (1 .. 30)
{
	$created = eval { create_topic('alert_config', 1); 1 };
	last if $created;
	sleep 1;    # until the broker has finished deleting it
}
ok($created, 'the topic is created again');
produce_lines('alert_config', [ 'DERBY:{"STATION":"DERBY","ALERT_OVER_MINS":"3"}' ], '-K:');
(my $offset = $stored) =~ s/^0://;
ok($node->poll_query_until('postgres', qq{SELECT last_error LIKE
	'partition 0 of topic "alert_config" does not hold the stored offset $offset %rail_stream.reset_offsets()%'
	FROM rail_stream.subscription_status WHERE subscription = 'alerts'}),
	'the status says that the topic does not hold the stored offset, and how to go on');
is($node->safe_psql('postgres', stored_offsets('alerts')), $stored, 'the stored offset stays');
$node->safe_psql('postgres', q{DELETE FROM public.alert_config;
	SELECT rail_stream.reset_offsets('alerts', 'earliest')});
ok($node->poll_query_until('postgres', q{SELECT string_agg(station, ',') FROM public.alert_config},
	'DERBY'), 'after reset_offsets the new topic is read from its start');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.subscription_status
	WHERE subscription = 'alerts' AND last_error IS NULL}), '1', 'and the error is gone');
$node->safe_psql('postgres', q{DELETE FROM public.alert_config});

# A subscription cannot write to a table its owner cannot.
$node->safe_psql('postgres', q{
	CREATE ROLE rail_stream_admin;
	CREATE ROLE feeder LOGIN IN ROLE rail_stream_admin;
	CREATE TABLE public.owned (id int PRIMARY KEY, v text);
	GRANT SELECT, INSERT, UPDATE, DELETE ON public.owned TO feeder;
	SET ROLE feeder;
	SELECT rail_stream.create_subscription('owned', 'owned', 'json:public.owned');
	RESET ROLE;
	REVOKE INSERT ON public.owned FROM feeder;
});
produce_lines('owned', [ '{"id":1,"v":"x"}' ]);
ok($node->poll_query_until('postgres', q{SELECT last_error FROM rail_stream.subscription_status
	WHERE subscription = 'owned' AND last_error IS NOT NULL}, 'permission denied for table owned'),
	'without the grant the worker stops with the error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.owned'), '0', 'and writes nothing');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail_stream.dead_letters WHERE subscription = 'owned'}),
	'0', 'the message is not dead-lettered: it waits for the grant');
$node->safe_psql('postgres', 'GRANT INSERT ON public.owned TO feeder');
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM public.owned', '1'),
	'after the grant the restarted worker writes it');

$node->stop;
done_testing();
