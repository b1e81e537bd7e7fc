# Alerts to Kafka topics of the real broker, read back with kcat: each alert
# once, keyed by its rule and movement, with its idempotency key in a header
# and its JSON as the value; a broker outage, with a kill -9 of the alert
# sender while its records wait for the broker; a kill -9 of the sender
# while records are being acknowledged; a rule of a non-superuser
# administrator for the broker's TLS listener; a forbidden property written
# past the API.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use RailStream::Test;

my $brokers = brokers();
# a killed sender makes the postmaster restart every process, as in production
my $node = rail_node('alerts_kafka', join("\n",
	'restart_after_crash = on',
	"rail_stream.webhook_timeout = '5s'",
	"rail_stream.webhook_backoff_max = '2s'",
	"rail_stream.webhook_max_attempts = 100"));
create_topic('rail_alerts', 3);
create_topic('rail_alerts_tg', 1);
my $plain = $node->safe_psql('postgres',
	q{SELECT rail_stream.add_alert_rule('LEEDS', 45, kafka_topic => 'rail_alerts')});
my $tg = $node->safe_psql('postgres',
	q{SELECT rail_stream.add_alert_rule('17132', 30, template => '{"MESSAGE": "{{text}}"}',
	      kafka_topic => 'rail_alerts_tg', kafka_brokers => '} . $brokers . q{')});
my $json = JSON::PP->new->canonical;

sub in_movements
{
	my ($keys) = @_;
	return 'msg_key IN (' . join(',', map { "'$_'" } @$keys) . ')';
}

sub wait_states
{
	my ($keys, $condition, $what, $timeout) = @_;
	wait_for($node, "SELECT bool_and($condition) FROM rail_stream.alerts WHERE "
		  . in_movements($keys), 't', $what, $timeout);
}

# The alerts of these movements: { idempotency key => row }
sub alerts_of
{
	my ($keys) = @_;
	my %alerts;
	for (split /\n/, $node->safe_psql('postgres',
		"SELECT json_build_object('key', rule_id || '/' || msg_key, 'rule', rule_id,
		    'ikey', idempotency_key, 'body', body, 'payload', payload, 'state', state,
		    'attempts', attempts, 'last_status', last_status, 'last_error', last_error,
		    'delivered', delivered_at IS NOT NULL)
		 FROM rail_stream.alerts WHERE " . in_movements($keys)))
	{
		my $row = $json->decode($_);
		$alerts{ $row->{ikey} } = $row;
	}
	return \%alerts;
}

# Every record of a topic, read with kcat from the beginning to the end:
# [ { key, payload, partition, headers => { name => value } } ]
sub read_topic
{
	my ($topic) = @_;
	my ($out, $err);
	IPC::Run::run([ 'kcat', '-C', '-b', $brokers, '-t', $topic, '-o', 'beginning',
			'-e', '-q', '-J' ], '>', \$out, '2>', \$err)
	  or die "kcat could not read topic $topic: $err";
	my @records;
	for (grep { /\S/ } split /\n/, $out)
	{
		my $r = $json->decode($_);
		$r->{headers} = { @{ $r->{headers} // [] } };
		push @records, $r;
	}
	return \@records;
}

# Each alert's records in the topic, by idempotency key (the others' too)
sub records_by_ikey
{
	my ($topic) = @_;
	my %by;
	push @{ $by{ $_->{headers}{'Idempotency-Key'} // '' } }, $_ for @{ read_topic($topic) };
	return \%by;
}

# Of the alerts: those with exactly one record, and those with more, whose
# records are all the same (key, value, partition).  Any other is wrong:
# missing, or sent with something else than what its outbox row holds.
sub copies
{
	my ($alerts, $by) = @_;
	my ($once, $same_again, $wrong) = (0, 0, 0);
	for my $ikey (keys %$alerts)
	{
		my $records = $by->{$ikey} // [];
		my $alert = $alerts->{$ikey};
		my $good = grep {
			$_->{key} eq $alert->{key} && $_->{payload} eq $alert->{body}
			  && $_->{partition} == $records->[0]{partition}
		} @$records;
		if (@$records == 1 && $good == 1) { $once++ }
		elsif (@$records > 1 && $good == @$records) { $same_again++ }
		else { $wrong++ }
	}
	return ($once, $same_again, $wrong);
}

sub kill_sender
{
	my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
		WHERE application_name = 'rail_stream alert sender'});
	die 'no alert sender' unless $pid =~ /^\d+$/;
	kill 'KILL', $pid;
	# the postmaster restarts every process after a crash; wait for a new sender
	wait_for($node, qq{SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'rail_stream alert sender' AND pid <> $pid}, '1',
		'the postmaster starts a new alert sender after the kill -9');
}

# -- healthy: each alert is one record, keyed by rule and movement, with its
# idempotency key in a header and its JSON (the payload, or the rule's
# template filled) as the value
my $healthy = late_at_leeds($node, 'KA', 20);
wait_states($healthy, "state = 'delivered'", 'every alert is delivered to its topic');
my $alerts = alerts_of($healthy);
my $plain_records = records_by_ikey('rail_alerts');
my $tg_records = records_by_ikey('rail_alerts_tg');
my %by = (%$plain_records, %$tg_records);
is(scalar(keys %$alerts), 40, 'the 20 late movements raise 40 alerts, one per rule');
my ($once, $again, $wrong) = copies($alerts, \%by);
is("$once/$again/$wrong", '40/0/0',
	'each is one record, with its rule and movement as key and its body as value');
is(scalar(@{ read_topic('rail_alerts') }) + scalar(@{ read_topic('rail_alerts_tg') }), 40,
	'and the topics hold nothing else');
my ($first) = grep { $_->{rule} == $plain } values %$alerts;
my $record = $by{ $first->{ikey} }[0];
is_deeply($json->decode($record->{payload}), $first->{payload},
	'a rule without template sends the alert\'s payload');
like($record->{key}, qr{^$plain/KA\d{8}/ARRIVAL/17132$}, 'keyed "<rule id>/<msg_key>"');
my ($templated) = grep { $_->{rule} == $tg } values %$alerts;
is_deeply($json->decode($by{ $templated->{ikey} }[0]{payload}),
	{ MESSAGE => $templated->{payload}{text} },
	'a rule with a template sends it filled, in the talk\'s {"MESSAGE": ...} shape');
is(scalar(grep { $_->{attempts} == 1 && $_->{delivered} && !defined $_->{last_status} }
		values %$alerts), 40, 'each recorded delivered after one attempt');
is($node->safe_psql('postgres', q{SELECT string_agg(endpoint || ' ' || delivered, ', ' ORDER BY endpoint)
	FROM rail_stream.webhook_health}),
	"kafka://$brokers/rail_alerts 20, kafka://$brokers/rail_alerts_tg 20",
	'webhook_health counts the deliveries per topic and brokers');

# -- the broker goes down: records wait for it; the sender is killed (-9)
# while they do; its successor sends them again, they time out, are
# retried, the topic is taken for down; the broker comes back: each alert
# is in Kafka once
kafka_stop();
my $outage = late_at_leeds($node, 'KA', 10);
wait_states($outage, "state = 'sending'", 'with the broker down, the records wait for it');
kill_sender();
# (not "all pending": the probe of a topic taken for down is sent meanwhile)
wait_states($outage, "last_error LIKE 'Local: Message timed out%'",
	'the new sender sends them again, and no broker acknowledges them', 120);
like($node->safe_psql('postgres', "SELECT last_error FROM rail_stream.alerts WHERE "
	  . in_movements([ $outage->[0] ]) . " AND rule_id = $plain"),
	qr/^Local: Message timed out \(.*Connection refused/, 'last_error says why');
ok($node->wait_for_log(qr/rail_stream alert endpoint kafka:\/\/\Q$brokers\E\/rail_alerts does not answer/),
	'the topic is taken for down, and its alerts held');
my $outage_ended = time;
kafka_start();
wait_states($outage, "state = 'delivered'", 'after the outage every alert is delivered', 180);
note(sprintf('delivered %.1f s after the broker was started', time - $outage_ended));
$alerts = alerts_of($outage);
%by = (%{ records_by_ikey('rail_alerts') }, %{ records_by_ikey('rail_alerts_tg') });
($once, $again, $wrong) = copies($alerts, \%by);
is("$once/$again/$wrong", '20/0/0',
	'each is in Kafka once, across the kill -9 and the retries (nothing reached the broker before)');
ok($node->wait_for_log(qr/rail_stream alert endpoint kafka:\/\/\Q$brokers\E\/rail_alerts answers again/),
	'the server log says when the topic answers again');

# -- kill -9 while records are being acknowledged: alerts left 'sending'
# are sent again, so some may be in Kafka twice, only ever with the same
# idempotency key, key and value
my $busy = late_at_leeds($node, 'KA', 1000);
wait_for($node, 'SELECT count(*) FILTER (WHERE state = \'delivered\') > 0 FROM rail_stream.alerts WHERE '
	  . in_movements($busy), 't', 'the sender is delivering 2000 alerts');
my $delivered_at_kill = $node->safe_psql('postgres',
	q{SELECT count(*) FROM rail_stream.alerts WHERE state = 'delivered' AND } . in_movements($busy));
kill_sender();
wait_states($busy, "state = 'delivered'", 'after the kill -9 every alert is delivered', 180);
$alerts = alerts_of($busy);
%by = (%{ records_by_ikey('rail_alerts') }, %{ records_by_ikey('rail_alerts_tg') });
($once, $again, $wrong) = copies($alerts, \%by);
note("killed with $delivered_at_kill of the 2000 alerts recorded delivered: $once alerts in Kafka once, $again more than once");
is($once + $again, 2000, 'every alert is in Kafka');
is($wrong, 0, 'the copies of an alert carry its idempotency key, its key and its value');
my %ikeys_per_key;
$ikeys_per_key{ $_->{key} }{ $_->{headers}{'Idempotency-Key'} } = 1
  for map { @$_ } values %by;
is(scalar(grep { keys %$_ > 1 } values %ikeys_per_key), 0,
	'no rule and movement was ever sent with two idempotency keys');

# -- a rule that an administrator (not a superuser) makes for a topic on
# the broker's TLS listener, the CA given as PEM text: its alerts arrive
my $sec = kafka_security();
$node->safe_psql('postgres', q{CREATE ROLE rail_stream_admin NOLOGIN;
	CREATE ROLE rail_ops LOGIN IN ROLE rail_stream_admin;});
create_topic('rail_alerts_tls', 1);
my $tls = $node->safe_psql('postgres', sprintf(q{SELECT rail_stream.add_alert_rule('LEEDS', 40,
	kafka_topic => 'rail_alerts_tls', kafka_brokers => '%s', kafka_properties => $pem$%s$pem$)},
	$sec->{ssl_bootstrap}, $json->encode({ 'security.protocol' => 'ssl', 'ssl.ca.pem' => $sec->{ca_pem} })),
	extra_params => [ '-U', 'rail_ops' ]);
my $over_tls = late_at_leeds($node, 'KA', 5);
wait_states($over_tls, "state = 'delivered'", 'alerts to a topic over TLS are delivered');
$alerts = { map { $_->{ikey} => $_ } grep { $_->{rule} == $tls } values %{ alerts_of($over_tls) } };
($once, $again, $wrong) = copies($alerts, records_by_ikey('rail_alerts_tls'));
is("$once/$again/$wrong", '5/0/0', 'each is once in the topic');

# -- a forbidden property written past the API (a superuser disabling the
# rules' check) is refused by the sender before librdkafka sees it
create_topic('rail_alerts_evil', 1);
my $evil = $node->safe_psql('postgres', q{SELECT rail_stream.add_alert_rule('LEEDS', 55,
	kafka_topic => 'rail_alerts_evil')});
$node->safe_psql('postgres', qq{BEGIN;
	SET LOCAL session_replication_role = replica;
	UPDATE rail_stream.alert_rules SET kafka_properties = '{"plugin.library.paths": "/nonexistent/evil.so"}'
	WHERE id = $evil;
	COMMIT;});
my $late60 = late_at_leeds($node, 'KA', 1, 60);
wait_for($node, qq{SELECT state || ' ' || attempts || ' ' || last_error FROM rail_stream.alerts
	WHERE rule_id = $evil}, 'failed 1 Kafka property "plugin.library.paths" cannot be set for an alert rule',
	'a rule with a forbidden property fails its alert, naming the property');
wait_states($late60, "state = 'delivered' OR rule_id = $evil", 'the other rules\' alerts are delivered');
is(scalar @{ read_topic('rail_alerts_evil') }, 0, 'nothing reached its topic');

$node->stop;
done_testing();
