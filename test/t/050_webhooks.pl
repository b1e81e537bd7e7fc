# The alert sender against a real HTTP receiver on 127.0.0.1: healthy,
# failing with 500, slow past the timeout, refusing connections, answering
# 429 with Retry-After, refusing an alert for good (400); a 30 s outage while
# the ingest worker is busy; kill -9 of the postmaster with alerts in flight.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use RailStream::Test;

brokers();
my $node = rail_node('webhooks', join("\n",
	"rail_stream.webhook_timeout = '4s'",
	"rail_stream.webhook_connect_timeout = '1s'",
	"rail_stream.webhook_backoff_max = '2s'",
	"rail_stream.webhook_max_attempts = 100",
	"rail_stream.telegram_chat_id = '-364377679'"));
my $rx = start_receiver();
my $url = "$rx->{url}/bot123:SECRET/sendMessage";
my $rule = $node->safe_psql('postgres',
	"SELECT rail_stream.add_alert_rule('LEEDS', 45, '$url')");

sub alerts_in
{
	my ($keys) = @_;
	return "SELECT a.id FROM rail_stream.alerts a WHERE a.msg_key IN ("
	  . join(',', map { "'$_'" } @$keys) . ')';
}

# { msg_key => { key, body, state, attempts, last_status, last_error } }
sub alert_rows
{
	my ($keys) = @_;
	my %rows;
	for (split /\n/, $node->safe_psql('postgres',
		"SELECT json_build_object('msg_key', msg_key, 'key', idempotency_key,
		    'body', body, 'state', state, 'attempts', attempts,
		    'last_status', last_status, 'last_error', last_error)
		 FROM rail_stream.alerts WHERE id IN (" . alerts_in($keys) . ')'))
	{
		my $row = JSON::PP->new->decode($_);
		$rows{ $row->{msg_key} } = $row;
	}
	return \%rows;
}

# the receiver's requests, by idempotency key
sub requests_by_key
{
	my %by;
	push @{ $by{ $_->{headers}{'idempotency-key'} // '' } }, $_ for @{ receiver_requests($rx) };
	return \%by;
}

sub wait_states
{
	my ($keys, $condition, $what, $timeout) = @_;
	wait_for($node, "SELECT bool_and($condition) FROM rail_stream.alerts WHERE id IN ("
		  . alerts_in($keys) . ')', 't', $what, $timeout);
}

# -- healthy: every alert once, with the right body and headers
my $healthy = late_at_leeds($node, 'WH', 20);
wait_states($healthy, "state = 'delivered'", 'a healthy receiver gets every alert');
my $rows = alert_rows($healthy);
my $by_key = requests_by_key();
my @once = grep { @{ $by_key->{ $rows->{$_}{key} } // [] } == 1 } @$healthy;
is(scalar @once, 20, 'each alert arrives exactly once');
my $req = $by_key->{ $rows->{ $healthy->[0] }{key} }[0];
is($req->{path}, '/bot123:SECRET/sendMessage', 'POSTed to the rule\'s URL');
is($req->{headers}{'content-type'}, 'application/json', 'as JSON');
is($req->{body}, $rows->{ $healthy->[0] }{body}, 'the body is the alert\'s, byte for byte');
is_deeply(JSON::PP->new->decode($req->{body}), {
	chat_id => '-364377679',
	text => 'Train from an unknown origin arrived at Leeds 50 MINS LATE (alert threshold: 45 mins). Train id WH00000001 is operated by London North Eastern Railway' },
	'in Telegram\'s sendMessage shape with the talk\'s text');
is($node->safe_psql('postgres', 'SELECT count(*) FROM rail_stream.alerts WHERE id IN ('
	  . alerts_in($healthy) . ') AND attempts = 1 AND last_status = 200 AND delivered_at IS NOT NULL'),
	'20', 'each recorded with one attempt, status 200 and delivered_at');

# -- 500, then healthy again: retried with the same key and body
receiver_mode($rx, 'status:500');
my $failing = late_at_leeds($node, 'WH', 5);
wait_states($failing, "attempts >= 1 AND state IN ('pending', 'sending') AND last_status = 500",
	'a failing receiver\'s alerts wait to be retried');
ok($node->wait_for_log(qr/rail_stream alert endpoint \Q$rx->{url}\E does not answer/),
	'its endpoint is taken for down, and its alerts held');
my $error = alert_rows($failing)->{ $failing->[0] }{last_error};
like($error, qr/^HTTP 500: \{"ok": false.* for \.\.\./, 'last_error keeps the start of the response');
unlike($error, qr/SECRET/, 'without the token the receiver echoed');
receiver_mode($rx, 'ok');
wait_states($failing, "state = 'delivered'", 'and delivered once it recovers');
$rows = alert_rows($failing);
$by_key = requests_by_key();
my @same = grep {
	my $alert = $rows->{$_};
	my $r = $by_key->{ $alert->{key} };
	@$r >= 2 && !grep { $_->{body} ne $alert->{body} } @$r
} @$failing;
is(scalar @same, 5, 'every attempt of an alert had the same idempotency key and body');

# -- slow past the timeout
receiver_mode($rx, 'slow:8');
my $slow = late_at_leeds($node, 'WH', 2);
wait_states($slow, "last_error LIKE '%timed out%' AND state <> 'delivered'",
	'a slow receiver times out');
receiver_mode($rx, 'ok');
wait_states($slow, "state = 'delivered'", 'and is retried');

# -- refusing connections
stop_receiver($rx);
my $refused = late_at_leeds($node, 'WH', 2);
wait_states($refused, "last_error LIKE '%onnect%' AND state = 'pending'",
	'a refusing receiver is retried');
$rx = start_receiver($rx->{port});
wait_states($refused, "state = 'delivered'", 'until it listens again');

# -- 429 with Retry-After
receiver_mode($rx, 'retry-after:3');
my $limited = late_at_leeds($node, 'WH', 1);
wait_states($limited, "last_status = 429", 'a 429 is recorded');
ok($node->safe_psql('postgres', 'SELECT next_attempt_at - last_attempt_at >= interval \'2.9 s\'
	FROM rail_stream.alerts WHERE id IN (' . alerts_in($limited) . ')') eq 't',
	'the next attempt waits for Retry-After');
receiver_mode($rx, 'ok');
wait_states($limited, "state = 'delivered'", 'and then delivered');
my $tries = requests_by_key()->{ alert_rows($limited)->{ $limited->[0] }{key} };
cmp_ok($tries->[-1]{t} - $tries->[0]{t}, '>=', 2.9, 'no sooner than Retry-After said');

# -- 400: a permanent failure, not retried
receiver_mode($rx, 'status:400');
my $refused_for_good = late_at_leeds($node, 'WH', 1);
wait_states($refused_for_good, "state = 'failed'", 'a 400 fails the alert');
sleep 3;
$rows = alert_rows($refused_for_good)->{ $refused_for_good->[0] };
is($rows->{attempts} . '/' . $rows->{last_status}, '1/400', 'after one attempt, with its status');

# -- the last attempt fails the alert
$node->append_conf('postgresql.conf', 'rail_stream.webhook_max_attempts = 3');
$node->reload;
receiver_mode($rx, 'status:503');
my $exhausted = late_at_leeds($node, 'WH', 1);
wait_states($exhausted, "state = 'failed'", 'an alert fails after its last attempt');
is(alert_rows($exhausted)->{ $exhausted->[0] }{attempts}, 3, 'which is webhook_max_attempts');
receiver_mode($rx, 'ok');
is($node->safe_psql('postgres', "SELECT rail_stream.retry_failed_alerts($rule)"), '2',
	'failed alerts can be sent again');
wait_states([ @$refused_for_good, @$exhausted ], "state = 'delivered'", 'and are delivered');

# -- hosts not allowed are not contacted
my ($ret, $out, $err) = $node->psql('postgres',
	"ALTER SYSTEM SET rail_stream.webhook_allowed_hosts = 'https://api.telegram.org/'");
like($err, qr/invalid value for parameter "rail_stream.webhook_allowed_hosts"/,
	'webhook_allowed_hosts takes host names only');
$node->append_conf('postgresql.conf', "rail_stream.webhook_allowed_hosts = 'api.telegram.org'");
$node->reload;
my $count_before = scalar @{ receiver_requests($rx) };
my $not_allowed = late_at_leeds($node, 'WH', 1);
wait_states($not_allowed, "state = 'failed' AND last_error LIKE '%not in rail_stream.webhook_allowed_hosts'",
	'a host outside webhook_allowed_hosts fails the alert');
is(scalar @{ receiver_requests($rx) }, $count_before, 'without contacting it');
# an entry without a port allows the scheme's default port only
$node->append_conf('postgresql.conf', "rail_stream.webhook_allowed_hosts = '127.0.0.1'");
$node->reload;
my $wrong_port = late_at_leeds($node, 'WH', 1);
wait_states($wrong_port,
	"state = 'failed' AND last_error LIKE '%port $rx->{port} is not in rail_stream.webhook_allowed_hosts'",
	'an allowed host on another port than its entry names fails the alert');
is(scalar @{ receiver_requests($rx) }, $count_before, 'without contacting it either');
$node->append_conf('postgresql.conf', join("\n",
	"rail_stream.webhook_allowed_hosts = '127.0.0.1:$rx->{port}'",
	'rail_stream.webhook_max_attempts = 100'));
$node->reload;

is($node->safe_psql('postgres', "SELECT endpoint || ' ' || delivered || ' ' || failed
	FROM rail_stream.webhook_health"), "$rx->{url} 32 2",
	'webhook_health counts per endpoint, without the token');

# -- a 30 s outage while the ingest worker is busy through Kafka.  Ingest
# throughput is measured on the same amount of data with the receiver up and
# down (bench/alerts measures it more closely).
create_topic('webhook_mvt', 4);
$node->safe_psql('postgres',
	q{SELECT rail_stream.create_subscription('mvt', 'webhook_mvt', 'trust')});
my $n = 12800;
sub ingest_seconds
{
	my ($first) = @_;
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM rail.movements');
	my $start = time;
	produce_lines('webhook_mvt', trust_frames($n, $first, first => $first,
		late_at => '17132', every => 20));
	wait_for($node, "SELECT count(*) >= $before + $n FROM rail.movements", 't',
		"$n movements from offset $first are ingested");
	return time - $start;
}
ingest_seconds(1_000_000);    # warm-up
my $up = ingest_seconds(2_000_000);
wait_for($node, q{SELECT count(*) FROM rail_stream.alerts WHERE state <> 'delivered' AND msg_key NOT LIKE 'WH%'}, '0',
	'the alerts raised meanwhile are delivered');
stop_receiver($rx);
my $outage_start = time;
my $down = ingest_seconds(3_000_000);
my $ratio = $up / $down;
diag(sprintf('ingest of %d movements: %.2f s with the receiver up, %.2f s down (%.2fx)',
	$n, $up, $down, $ratio));
cmp_ok($ratio, '>=', 0.75, 'ingest keeps its pace while the endpoint is down');
my $outage_alerts = $node->safe_psql('postgres',
	q{SELECT count(*) FROM rail_stream.alerts WHERE msg_key NOT LIKE 'WH%' AND state <> 'delivered'});
is($outage_alerts, $n / 20, 'the outage\'s alerts wait in the outbox');
sleep 0.5 while time < $outage_start + 30;
$rx = start_receiver($rx->{port});
wait_for($node, q{SELECT count(*) FROM rail_stream.alerts WHERE state <> 'delivered' AND msg_key NOT LIKE 'WH%'}, '0',
	'after a 30 s outage every alert arrives');
my $outage_keys = q{FROM rail_stream.alerts WHERE msg_key ~ '^\d\d3\d{6}28/'};
my @keys = split /\n/, $node->safe_psql('postgres', "SELECT idempotency_key $outage_keys");
$by_key = requests_by_key();
my @delivered_once = grep { (grep { $_->{status} == 200 } @{ $by_key->{$_} }) == 1 } @keys;
is(scalar @delivered_once, $n / 20, 'each answered 200 once, under the key it had on every attempt');
# without the circuit breaker each would have been tried about 15 times
cmp_ok($node->safe_psql('postgres', "SELECT sum(attempts) $outage_keys"), '<', $n / 20 * 2,
	'the dead endpoint was probed, not hammered');

# -- kill -9 of the postmaster with alerts in flight and queued
$node->append_conf('postgresql.conf', "rail_stream.webhook_timeout = '30s'");
$node->reload;
receiver_mode($rx, 'slow:20');
my $crashed = late_at_leeds($node, 'WH', 10);
wait_states($crashed, "state = 'sending'", 'alerts in flight');
crash_postmaster($node);
receiver_mode($rx, 'ok');
my $restart = time;
$node->start;
wait_states($crashed, "state = 'delivered'", 'after kill -9 every alert is still delivered');
$rows = alert_rows($crashed);
$by_key = requests_by_key();
is(scalar(grep {
	my $r = $by_key->{ $rows->{$_}{key} };
	(grep { $_->{t} < $restart } @$r) && (grep { $_->{t} >= $restart && $_->{status} == 200 } @$r)
} @$crashed), 10, 'sent again after the restart with the key of its first attempt');

stop_receiver($rx);
$node->stop;
done_testing();
