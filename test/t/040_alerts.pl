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

$node->stop;
done_testing();
