# Broker faults, injected with librdkafka's mock cluster (test/mock): the
# ingest worker reads from it over TCP as from a real broker while partition
# leaders move and a broker fails, while Fetch and OffsetCommit requests
# fail, and while the topic is missing from Metadata.  Each fault gets a mock
# cluster of its own, so that its injected errors reach only its worker.
#
# Every fault checks what a user would: every produced movement is written
# exactly once (the rows, and an append-only log of the messages fed by a
# second subscription on the same topic, in which a message delivered twice
# would show twice), the stored offsets and the offsets committed to the
# Kafka group equal the topic's high watermarks, and
# rail_stream.subscription_status explains the fault while it lasts.
#
# The 2.0.2 mock can neither add partitions to a topic nor delete one; the
# test shows that it refuses, and runs those two cases against the real
# broker of test/tap.sh instead, through the same program (-a).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use RailStream::Test;
use RailStream::Mock;

brokers();
my $node = rail_node('faults');
$node->safe_psql('postgres', 'CREATE SCHEMA faults');

# short fetch waits: the mock answers an empty fetch only after the full wait
my $fetch_wait = '{"fetch.wait.max.ms": "100"}';
my $frames_per_phase = 20;    # of up to 32 movements each
my $scenario = 0;

# A mock cluster of 3 brokers with topic $name of 4 partitions, the leaders
# given ($leader->(p) => broker).
sub start_mock_topic
{
	my ($name, $leader) = @_;
	my $mock = start_mock(brokers => 3, topics => { $name => 4 });
	mock_cmd($mock, "leader $name $_ " . $leader->($_)) for 0 .. 3;
	return $mock;
}

# Two subscriptions on topic $name of the cluster $mock drives: $name into
# rail.movements and ${name}_log appending each message to
# faults.${name}_log; $kafka: their librdkafka properties.
sub start_scenario
{
	my ($name, $mock, $kafka) = @_;
	$kafka //= $fetch_wait;
	$node->safe_psql('postgres', qq{
		CREATE TABLE faults.${name}_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, text text);
		SELECT rail_stream.create_subscription('$name', '$name', 'trust', '$mock->{bootstrap}',
			'{"kafka": $kafka}');
		SELECT rail_stream.create_subscription('${name}_log', '$name', 'json:faults.${name}_log',
			'$mock->{bootstrap}', '{"kafka": $kafka}');
	});
	$scenario++;
	return { name => $name, mock => $mock, first => 100000 * $scenario,
		produced => 0, frames => 0 };
}

# Produce the next $frames_per_phase frames of the scenario's movements.
sub produce_phase
{
	my ($s) = @_;
	my $frames = trust_frames(32 * $frames_per_phase, $scenario + $s->{frames},
		first => $s->{first} + $s->{produced});
	is(mock_produce($s->{mock}, $s->{name}, $frames), scalar(@$frames),
		"$s->{name}: $frames_per_phase frames produced");
	$s->{frames} += @$frames;
	$s->{produced} += 32 * $frames_per_phase;
}

# The scenario's movements written so far (their train ids carry the number).
sub movements_sql
{
	my ($s, $what) = @_;
	return "SELECT $what FROM rail.movements WHERE substr(train_id, 3, 6)::int"
	  . " BETWEEN $s->{first} AND " . ($s->{first} + $s->{produced} - 1);
}

sub status
{
	my ($s, $what) = @_;
	return $node->safe_psql('postgres', "SELECT $what FROM rail_stream.subscription_status"
		  . " WHERE subscription IN ('$s->{name}', '$s->{name}_log')");
}

# Poll until a subscription's last_error matches $re (a SQL regular
# expression); true if it did within $timeout seconds.
sub error_shows
{
	my ($s, $re, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
	while (time < $deadline)
	{
		return 1 if status($s, "bool_or(last_error ~ '$re')") eq 't';
		sleep 0.2;
	}
	diag 'last errors: ' . status($s, q{string_agg(DISTINCT coalesce(last_error, ''), ' | ')});
	return 0;
}

sub pids { my ($s) = @_; return status($s, q{string_agg(DISTINCT pid::text, ',')}); }

# Everything produced is written once; offsets stored and committed to the
# group equal the high watermarks.
sub check_exactly_once
{
	my ($s) = @_;
	my $name = $s->{name};
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced},
		"$name: all $s->{produced} movements arrive", 60);
	wait_for($node, "SELECT count(*) FROM faults.${name}_log", $s->{frames},
		"$name: all $s->{frames} messages reach the append-only log", 60);
	is($node->safe_psql('postgres', "SELECT count(DISTINCT text) FROM faults.${name}_log"),
		$s->{frames}, "$name: no message appended twice");
	is($node->safe_psql('postgres', "SELECT count(*) FROM rail_stream.dead_letters"
			  . " WHERE subscription IN ('$name', '${name}_log')"), '0',
		"$name: no dead letters");

	my $hw = mock_watermarks($s->{mock}, $name);
	my $expected = join(',', map { "$_:$hw->{$_}" } sort { $a <=> $b } keys %$hw);
	for my $sub ($name, "${name}_log")
	{
		is($node->safe_psql('postgres', qq{SELECT string_agg(o.partition || ':' || o.next_offset, ','
				ORDER BY o.partition) FROM rail_stream.subscription_offsets o
				JOIN rail_stream.subscriptions s ON s.id = o.subscription_id
				WHERE s.name = '$sub'}),
			$expected, "$sub: stored offsets equal the high watermarks ($expected)");
		# group commits are resent every few seconds after a failure
		my ($committed, $deadline) = ('', time + 30);
		while (time < $deadline)
		{
			my $c = mock_committed($s->{mock}, "rail_stream.$sub", $name);
			$committed = join(',', map { "$_:$c->{$_}" } sort { $a <=> $b } keys %$c);
			last if $committed eq $expected;
			sleep 0.5;
		}
		is($committed, $expected, "$sub: the group's committed offsets equal them too");
	}
	ok($node->poll_query_until('postgres', qq{SELECT bool_and(state = 'running' AND lag = 0)
		FROM rail_stream.subscription_status WHERE subscription IN ('$name', '${name}_log')}),
		"$name: the status shows both subscriptions running and caught up");
}

sub end_scenario
{
	my ($s) = @_;
	$node->safe_psql('postgres', "SELECT rail_stream.drop_subscription('$_')")
	  for ($s->{name}, "$s->{name}_log");
	stop_mock($s->{mock});
}

subtest 'leaders move off a broker, which then fails, mid-stream' => sub {
	my $s = start_scenario('leaders', start_mock_topic('leaders', sub { $_[0] % 3 + 1 }));
	produce_phase($s);
	ok($node->poll_query_until('postgres', movements_sql($s, 'count(*) > 0')),
		'ingest is under way');
	my $pids = pids($s);

	# every partition gets a new leader, while the next messages arrive
	mock_cmd($s->{mock}, "leader leaders $_ " . (($_ + 1) % 3 + 1)) for 0 .. 3;
	produce_phase($s);
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced},
		'the movements produced to the new leaders arrive');

	# broker 1 leads nothing now, and fails: the workers lose a connection
	mock_cmd($s->{mock}, "leader leaders $_ " . ($_ % 2 + 2)) for 0 .. 3;
	mock_cmd($s->{mock}, 'down 1');
	produce_phase($s);
	ok(error_shows($s, 'Connection refused'),
		'while broker 1 is down the status shows that it refuses connections');
	mock_cmd($s->{mock}, 'up 1');
	check_exactly_once($s);
	is(pids($s), $pids, 'no worker restarted');
	end_scenario($s);
};

subtest 'Fetch requests fail' => sub {
	# one leader for all, so that its error stack is the fetches'
	my $s = start_scenario('fetch', start_mock_topic('fetch', sub { 1 }));
	produce_phase($s);
	ok($node->poll_query_until('postgres', movements_sql($s, 'count(*) > 0')),
		'ingest is under way');
	my $pids = pids($s);

	# the first ones are retried by librdkafka silently, the others show
	mock_cmd($s->{mock}, 'errors Fetch 6 NOT_LEADER_FOR_PARTITION 1 300');
	mock_cmd($s->{mock}, 'errors Fetch 6 REQUEST_TIMED_OUT 1 300');
	mock_cmd($s->{mock}, 'errors Fetch 6 UNKNOWN 1 300');
	produce_phase($s);
	# librdkafka 2.0 says "Fetch from broker 1 failed: Broker: Request timed
	# out"; 2.8 retries that one too, then says "Fetch from broker 1 failed at
	# offset 5 (leader epoch 1): Unknown broker error"
	ok(error_shows($s, '^Fetch from broker 1 failed.*: (Broker: Request timed out|Unknown broker error)'),
		'the status shows the failed fetches');
	cmp_ok(mock_cmd($s->{mock}, 'pending Fetch 1'), '>', 0, '... while they still fail');
	check_exactly_once($s);
	is(pids($s), $pids, 'no worker restarted');
	end_scenario($s);
};

subtest 'OffsetCommit requests fail' => sub {
	my $s = start_scenario('commit', start_mock_topic('commit', sub { $_[0] % 3 + 1 }));
	mock_cmd($s->{mock}, "coordinator rail_stream.$_ 1") for ('commit', 'commit_log');
	produce_phase($s);
	ok($node->poll_query_until('postgres', movements_sql($s, 'count(*) > 0')),
		'ingest is under way');
	my $pids = pids($s);

	# librdkafka retries the coordinator errors; the timeouts reach the worker
	mock_cmd($s->{mock}, 'errors OffsetCommit 8 REQUEST_TIMED_OUT 1 500');
	mock_cmd($s->{mock}, 'errors OffsetCommit 6 COORDINATOR_NOT_AVAILABLE 1 500');
	mock_cmd($s->{mock}, 'errors OffsetCommit 6 NOT_COORDINATOR 1 500');
	produce_phase($s);
	ok(error_shows($s, '^could not commit offsets to the consumer group: Broker: Request timed out'),
		'the status shows the failed group commits');
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced},
		'ingest goes on meanwhile');
	cmp_ok(mock_cmd($s->{mock}, 'pending OffsetCommit 1'), '>', 0,
		'... while the group commits still fail');
	check_exactly_once($s);
	is(pids($s), $pids, 'no worker restarted');
	end_scenario($s);
};

subtest 'the topic is missing from Metadata for a while' => sub {
	# librdkafka notices only when it refreshes the topic's metadata, every
	# 5 minutes by default (and the worker's own check, every 10 s)
	my $s = start_scenario('hidden', start_mock_topic('hidden', sub { $_[0] % 3 + 1 }),
		'{"fetch.wait.max.ms": "100", "topic.metadata.refresh.interval.ms": "1000"}');
	produce_phase($s);
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced}, 'first movements arrive');
	my $pids = pids($s);
	mock_cmd($s->{mock}, 'topic-error hidden UNKNOWN_TOPIC_OR_PART');
	# librdkafka up to 2.8 reports it as an error event ("... topic does not
	# exist"); 2.14 does not, and the worker's own metadata check says it
	ok(error_shows($s, 'topic does not exist|Unknown topic or partition'),
		'the status says that the topic does not exist');
	mock_cmd($s->{mock}, 'topic-error hidden NO_ERROR');
	produce_phase($s);
	check_exactly_once($s);
	is(pids($s), $pids, 'no worker restarted');
	end_scenario($s);
};

# The mock cannot do the two last faults: the broker of tap.sh does them.
subtest 'the mock can neither add partitions nor delete a topic' => sub {
	my $mock = start_mock(brokers => 1, topics => { grow => 2 });
	like(mock_try($mock, 'add-partitions grow 4'), qr/^error /,
		'the mock cluster of librdkafka 2.0.2 cannot add partitions');
	like(mock_try($mock, 'topic grow 2'), qr/^error TOPIC_ALREADY_EXISTS/,
		'nor create a topic again');
	stop_mock($mock);
};

subtest 'partitions added while running (real broker)' => sub {
	my $real = start_mock(real => brokers());
	mock_cmd($real, 'create-topic grown 2');
	my $s = start_scenario('grown', $real);
	produce_phase($s);
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced}, 'first movements arrive');

	mock_cmd($real, 'create-partitions grown 4');
	produce_phase($s);
	# the worker looks at the partition count every 10 s
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced},
		'the movements of the added partitions arrive', 100);
	is(status($s, q{string_agg(DISTINCT partition::text, ',' ORDER BY partition::text)}),
		'0,1,2,3', 'the status lists the added partitions');
	check_exactly_once($s);
	end_scenario($s);
};

subtest 'topic deleted and created again (real broker)' => sub {
	my $real = start_mock(real => brokers());
	mock_cmd($real, 'create-topic reborn 2');
	my $s = start_scenario('reborn', $real,
		'{"fetch.wait.max.ms": "100", "topic.metadata.refresh.interval.ms": "1000"}');
	produce_phase($s);
	wait_for($node, movements_sql($s, 'count(*)'), $s->{produced}, 'first movements arrive');

	mock_cmd($real, 'delete-topic reborn');
	ok(error_shows($s, 'reborn'), 'the status says that the topic is gone');
	# deletion completes in the background: create again until it works
	my ($created, $deadline) = ('', time + 30);
	while (time < $deadline)
	{
		$created = mock_try($real, 'create-topic reborn 2');
		last if $created eq 'ok';
		sleep 0.5;
	}
	is($created, 'ok', 'the topic is created again');
	produce_phase($s);
	# The new topic's offsets start at 0 again, and this one ends where the
	# old one did: the worker resumes at the old topic's stored offsets and
	# finds nothing to read (see the report of this test's commit).
  TODO:
	{
		local $TODO = 'the worker resumes a recreated topic at the old topic\'s offsets';
		local $PostgreSQL::Test::Utils::timeout_default = 10;
		ok($node->poll_query_until('postgres', movements_sql($s, 'count(*)'), $s->{produced}),
			'the movements of the new topic arrive');
		my $status = status($s, q{string_agg(DISTINCT state || ' lag ' || coalesce(lag::text, '?')
			|| ': ' || coalesce(last_error, ''), ' | ')});
		unlike($status, qr/^running lag 0: [^|]*$/,
			"the status does not show it caught up ($status)");
	}
	end_scenario($s);
};

$node->stop;
done_testing();
