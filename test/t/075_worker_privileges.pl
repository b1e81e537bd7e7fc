# The privilege model where only a running worker shows it:
#   - a row that a row-level security policy refuses is a dead letter, its
#     neighbours land, and the partition goes on (not a stopped worker);
#   - a librdkafka property written past the API by a superuser (as a
#     restored dump or a careless UPDATE could) never reaches librdkafka:
#     the worker refuses it and says so in the status;
#   - DROP ROLE of an owner is refused, from any database, its subscription
#     running or paused; one dropped anyway (while rail_stream was not
#     loaded) is explained in the status.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;

brokers();
create_topic('guarded', 1);
my $node = rail_node('privileges');
$node->safe_psql('postgres', q{
	CREATE ROLE rail_stream_admin;
	CREATE ROLE feeder LOGIN IN ROLE rail_stream_admin;
	CREATE TABLE public.readings (id int PRIMARY KEY, site text);
	GRANT SELECT, INSERT, UPDATE, DELETE ON public.readings TO feeder;
	ALTER TABLE public.readings ENABLE ROW LEVEL SECURITY;
	CREATE POLICY only_leeds ON public.readings USING (true) WITH CHECK (site = 'LEEDS');
	SET ROLE feeder;
	SELECT rail_stream.create_subscription('guarded', 'guarded', 'json:public.readings', NULL,
	                                       '{"batch_size": 10}');
});

# 9. every third reading is for a site the policy refuses
my @lines = map { my $site = $_ % 3 == 0 ? 'YORK' : 'LEEDS'; qq(r$_\t{"id": $_, "site": "$site"}) } 1 .. 30;
produce_lines('guarded', \@lines, '-K', "\t");
wait_for($node, 'SELECT count(*) FROM public.readings', '20', 'the readings the policy allows land');
wait_for($node,
	q{SELECT count(*) FROM rail_stream.dead_letters WHERE sqlstate = '42501' AND written_as = 'feeder'::regrole},
	'10', 'each refused reading is a dead letter, written as the owner');
wait_for($node,
	q{SELECT committed_offset FROM rail_stream.subscription_status WHERE subscription = 'guarded'},
	'30', 'the partition goes on past them');
is($node->safe_psql('postgres',
	q{SELECT string_agg(key, ',' ORDER BY "offset") FROM rail_stream.dead_letters}),
	join(',', map { "r$_" } grep { $_ % 3 == 0 } 1 .. 30), 'the dead letters are exactly the refused ones');

# the workers' status (its errors name brokers and topics) is shown to
# those who may see the subscription, also by the function under the view
$node->safe_psql('postgres', 'CREATE ROLE nosy');
is($node->safe_psql('postgres', q{SET ROLE nosy; SELECT count(*) FROM rail_stream._worker_status()}),
	'0', 'a role without rights sees no worker');
cmp_ok($node->safe_psql('postgres', q{SET ROLE feeder; SELECT count(*) FROM rail_stream._worker_status()}),
	'>', 0, 'the owner sees its worker');

# 1. a forbidden property written directly by a superuser: the trigger
# refuses it even then; with the trigger disabled (as a restore might),
# the worker refuses it before librdkafka sees it
my ($ret, $out, $err) = $node->psql('postgres', q{UPDATE rail_stream.subscriptions
	SET kafka_properties = '{"sasl.kerberos.kinit.cmd": "touch /tmp/rail_stream_pwned"}'});
like($err, qr/Kafka property "sasl.kerberos.kinit.cmd" cannot be set/, 'the trigger refuses it for a superuser too');
$node->safe_psql('postgres', q{
	ALTER TABLE rail_stream.subscriptions DISABLE TRIGGER check_subscription;
	UPDATE rail_stream.subscriptions
	SET kafka_properties = '{"sasl.kerberos.kinit.cmd": "touch /tmp/rail_stream_pwned"}',
	    config_version = config_version + 1;
	ALTER TABLE rail_stream.subscriptions ENABLE TRIGGER check_subscription;
});
wait_for($node,
	q{SELECT last_error LIKE '%Kafka property "sasl.kerberos.kinit.cmd" cannot be set%'
	  FROM rail_stream.subscription_status WHERE subscription = 'guarded'},
	't', 'the worker refuses the property and says so');
ok(!-e '/tmp/rail_stream_pwned', 'no command ran');

# 10. DROP ROLE of a subscription's owner is refused, with what to do
$node->safe_psql('postgres', q{
	UPDATE rail_stream.subscriptions SET kafka_properties = '{}', config_version = config_version + 1;
	REVOKE ALL ON public.readings FROM feeder;
	DROP POLICY only_leeds ON public.readings;
});
($ret, $out, $err) = $node->psql('postgres', 'DROP ROLE feeder');
like($err, qr/role "feeder" cannot be dropped because it owns a rail_stream subscription/,
	'DROP ROLE of an owner is refused');
like($err, qr/HINT:  Drop the subscription, or, as a superuser, give it another owner/,
	'and says what to do');
($ret, $out, $err) = $node->psql('template1', 'DROP ROLE feeder');
like($err, qr/cannot be dropped because it owns a rail_stream subscription/,
	'also from another database, while its worker runs');

# paused, the subscription has no worker, and its owner is still known
$node->safe_psql('postgres', q{SELECT rail_stream.pause_subscription('guarded')});
wait_for($node, q{SELECT count(*) FROM rail_stream._worker_status()}, '0', 'the paused worker is gone');
($ret, $out, $err) = $node->psql('template1', 'DROP ROLE feeder');
like($err, qr/role "feeder" cannot be dropped because it owns a rail_stream subscription.*\n.*Subscription \d+ in database "postgres"/,
	'also from another database, while its subscription is paused');

# an owner dropped where nothing could see it (rail_stream not loaded):
# the status says why nothing runs
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
$node->safe_psql('template1', 'DROP ROLE feeder');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'rail_stream'");
$node->restart;
$node->safe_psql('postgres', q{SELECT rail_stream.resume_subscription('guarded')});
wait_for($node,
	q{SELECT state || ': ' || last_error FROM rail_stream.subscription_status WHERE subscription = 'guarded'},
	'failed: the owner of subscription "guarded" (role OID '
	  . $node->safe_psql('postgres', q{SELECT owner::oid FROM rail_stream.subscriptions}) . ') no longer exists; a superuser must give it another owner',
	'the status says the owner is gone');

$node->stop;
done_testing();
