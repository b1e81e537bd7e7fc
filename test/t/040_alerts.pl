# Alerts reach a LISTENing session when the movement's transaction commits,
# and nobody when it rolls back; through Kafka as through ingest_message.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;

brokers();
my $node = rail_node('alerts');
$node->safe_psql('postgres', q{SELECT rail_stream.add_alert_rule('LEEDS', 45)});

my $late = '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"TRAIN%d","planned_event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"LATE","timetable_variation":"50","toc_id":"61"}}]';

my ($ret, $out, $err) = $node->psql('postgres', sprintf(q{
	LISTEN rail_stream_alerts;
	SELECT rail_stream.ingest_message('trust', '%s');
	SELECT 1;}, sprintf($late, 1)));
my ($payload) = ($out . $err) =~ /Asynchronous notification "rail_stream_alerts" with payload "(\{.*\})" received/;
ok(defined $payload, 'the committed alert is notified');
my $alert = JSON::PP->new->decode($payload // '{}');
is($alert->{msg_key}, 'TRAIN1/ARRIVAL/17132', 'with its movement');
is($alert->{text}, 'Train from an unknown origin arrived at Leeds 50 MINS LATE (alert threshold: 45 mins). Train id TRAIN1 is operated by London North Eastern Railway',
	'and the talk\'s message');

($ret, $out, $err) = $node->psql('postgres', sprintf(q{
	LISTEN rail_stream_alerts;
	BEGIN;
	SELECT rail_stream.ingest_message('trust', '%s');
	ROLLBACK;
	SELECT 1;}, sprintf($late, 2)));
unlike($out . $err, qr/Asynchronous notification/, 'a rolled-back movement notifies nobody');

# the same movement again: no second alert, no second notification
($ret, $out, $err) = $node->psql('postgres', sprintf(q{
	LISTEN rail_stream_alerts;
	SELECT rail_stream.ingest_message('trust', '%s');
	SELECT 1;}, sprintf($late, 1) =~ s/"50"/"52"/r));
unlike($out . $err, qr/Asynchronous notification/, 'a correction does not alert twice');

# through Kafka: the worker's transaction notifies at its commit
create_topic('alerts_mvt', 1);
$node->safe_psql('postgres',
	q{SELECT rail_stream.create_subscription('alerts', 'alerts_mvt', 'trust')});
produce_lines('alerts_mvt', [ sprintf($late, 3), sprintf($late, 4) ]);
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM rail_stream.alerts}, '3'),
	'messages from Kafka raise their alerts');
is($node->safe_psql('postgres', q{SELECT string_agg(msg_key, ',' ORDER BY msg_key)
	FROM rail_stream.alerts}),
	'TRAIN1/ARRIVAL/17132,TRAIN3/ARRIVAL/17132,TRAIN4/ARRIVAL/17132',
	'one alert per late movement at the station');

# The sample data through Kafka, with the talk's three rules and rules for
# the two stations where the samples have a late train.  A hand check of the
# data predicts the alerts:
#   jq -c '.[] | select(.header.msg_type=="0003") | .body
#          | select(.variation_status=="LATE")
#          | [.train_id, .loc_stanox, .timetable_variation]' data/trust/*.json
# lists ten late movements, none at Ben Rhydding (17054), Leeds (17132) or
# Kings Cross (54311); 882Z041D28 (toc 80, Southeastern; no activation, so
# no origin) is 5 minutes late at Chartham (89445) and at Canterbury West
# (89446, CRS CBW).  A threshold of 4 alerts at both, one of 5 at neither.
my $rx = start_receiver();
$node->safe_psql('postgres', qq{
	SELECT rail_stream.add_alert_rule('BEN RHYDDING', 5, '$rx->{url}/talk');
	SELECT rail_stream.add_alert_rule('LEEDS', 45, '$rx->{url}/talk');
	SELECT rail_stream.add_alert_rule('KINGS CROSS', 30, '$rx->{url}/talk');
	SELECT rail_stream.add_alert_rule('CHARTHAM', 4, '$rx->{url}/chartham');
	SELECT rail_stream.add_alert_rule('89446', 4, '$rx->{url}/canterbury');
	SELECT rail_stream.add_alert_rule('CBW', 5, '$rx->{url}/canterbury5');
	DELETE FROM rail_stream.alerts;
});
create_topic('samples_mvt', 1);
$node->safe_psql('postgres',
	q{SELECT rail_stream.create_subscription('samples', 'samples_mvt', 'trust')});
produce_lines('samples_mvt', [ map { slurp_file(repo_path("data/trust/$_")) =~ s/\n//gr }
	  ('trust_frame_2024-07-28_matnich89_part1.json',
		'trust_frame_2017-11-03_deadcore_part1.json',
		'trust_examples_all_msg_types.json') ]);
ok($node->poll_query_until('postgres',
	q{SELECT count(*) FROM rail_stream.subscription_status WHERE subscription = 'samples' AND lag = 0}, '1'),
	'the samples are ingested');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) FILTER (WHERE state = 'delivered') = count(*) AND count(*) > 0
	  FROM rail_stream.alerts}, 't'),
	'their alerts are delivered');
my %got = map { $_->{path} => JSON::PP->new->decode($_->{body})->{text} } @{ receiver_requests($rx) };
is_deeply(\%got, {
	'/chartham' => 'Train from an unknown origin arrived at Chartham 5 MINS LATE (alert threshold: 4 mins). Train id 882Z041D28 is operated by Southeastern',
	'/canterbury' => 'Train from an unknown origin arrived at Canterbury West 5 MINS LATE (alert threshold: 4 mins). Train id 882Z041D28 is operated by Southeastern',
	}, 'the receiver gets the alerts the hand check predicts, and no others');
is(scalar @{ receiver_requests($rx) }, 2, 'each once');
stop_receiver($rx);

$node->stop;
done_testing();
