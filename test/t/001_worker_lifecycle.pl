# The launcher and ingest workers: start, name, reload, restart, pause,
# DROP EXTENSION and shutdown.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;
use RailStream::Checks;

brokers();
create_topic('lifecycle', 2);
my $node = rail_node('lifecycle', "rail_stream.batch_ms = 1000\nrail_stream.batch_size = 1000");
$node->safe_psql('postgres', q{
	CREATE TABLE public.events (id int PRIMARY KEY, body text);
	SELECT rail_stream.create_subscription('lifecycle', 'lifecycle', 'json:public.events');
});

wait_for($node, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'rail_stream launcher'}, '1', 'launcher runs');
wait_for($node, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'rail_stream ingest'
	  AND application_name = 'rail_stream ingest lifecycle'}, '1',
	'the ingest worker shows in pg_stat_activity by name');

# 100 messages within batch_ms make one batch
produce_lines('lifecycle', [ map { qq({"id":$_,"body":"m$_"}) } 1 .. 100 ], '-p', '0');
wait_for($node, 'SELECT count(*) FROM public.events', '100', 'messages arrive');
wait_for($node, q{SELECT sum(batches) >= 1 FROM (SELECT DISTINCT ON (pid) batches
	FROM rail_stream.subscription_status WHERE pid IS NOT NULL) s}, 't', 'a batch is counted');
my $before = $node->safe_psql('postgres', q{SELECT max(batches) FROM rail_stream.subscription_status});
cmp_ok($before, '<=', 2, "100 messages took $before batch(es) of up to 1000");

# SIGHUP: a smaller batch_size takes effect without a restart
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'rail_stream ingest'});
$node->append_conf('postgresql.conf', 'rail_stream.batch_size = 10');
$node->reload;
sleep 2;
produce_lines('lifecycle', [ map { qq({"id":$_,"body":"m$_"}) } 101 .. 200 ], '-p', '0');
wait_for($node, 'SELECT count(*) FROM public.events', '200', 'more messages arrive');
my $after = $node->safe_psql('postgres', q{SELECT max(batches) FROM rail_stream.subscription_status});
cmp_ok($after - $before, '>=', 10, 'after the reload, batches hold 10 messages');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'rail_stream ingest'}), $pid, 'the reload did not restart the worker');

# A terminated worker is restarted by the launcher, and resumes where it was
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
wait_for($node, qq{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'rail_stream ingest' AND pid <> $pid}, '1',
	'a terminated worker is restarted');
produce_lines('lifecycle', [ map { qq({"id":$_,"body":"m$_"}) } 201 .. 210 ], '-p', '1');
wait_for($node, 'SELECT count(*) FROM public.events', '210', 'the restarted worker ingests');
is($node->safe_psql('postgres', q{SELECT string_agg(partition || ':' || committed_offset, ',' ORDER BY partition)
	FROM rail_stream.subscription_status}), '0:200,1:10', 'offsets are where the messages end');

# pause stops the worker; resume starts it from the stored offsets
$node->safe_psql('postgres', q{SELECT rail_stream.pause_subscription('lifecycle')});
wait_for($node, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'rail_stream ingest'},
	'0', 'pause stops the worker');
is($node->safe_psql('postgres', q{SELECT DISTINCT state FROM rail_stream.subscription_status}),
	'paused', 'the status says paused');

# While paused, messages reach the broker (its high watermark moves) and a
# live worker of another subscription of the same topic reads them, but the
# paused subscription's stored offsets stay where they were; on resume it
# consumes exactly those messages.
produce_lines('lifecycle', [ map { qq({"id":$_,"body":"m$_"}) } 211 .. 220 ], '-p', '1');
ok(wait_for_high_watermark('lifecycle', 1, 20), 'the broker has the messages sent while paused');
$node->safe_psql('postgres', q{
	CREATE TABLE public.witness (id int PRIMARY KEY, body text);
	SELECT rail_stream.create_subscription('witness', 'lifecycle', 'json:public.witness');
});
wait_for($node, stored_offsets('witness'), '0:200,1:20',
	'a running subscription of the same topic reads up to the high watermarks');
is($node->safe_psql('postgres', stored_offsets('lifecycle')), '0:200,1:10',
	'the paused subscription\'s stored offsets did not move');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.events'), '210',
	'nothing is consumed while paused');
$node->safe_psql('postgres', q{SELECT rail_stream.drop_subscription('witness')});
$node->safe_psql('postgres', q{SELECT rail_stream.resume_subscription('lifecycle')});
wait_for($node, 'SELECT count(*) FROM public.events', '220', 'resume catches up');
wait_for($node, stored_offsets('lifecycle'), '0:200,1:20', 'resume stores the offsets past them');
is($node->safe_psql('postgres', q{SELECT min(id) || '-' || max(id) || ' ' || count(*)
	FROM public.events WHERE id > 210}), '211-220 10', 'resume consumes exactly the held-back messages');

# DROP EXTENSION stops every worker; the launcher stays, idle
$node->safe_psql('postgres', 'DROP EXTENSION rail_stream CASCADE');
wait_for($node, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'rail_stream ingest'},
	'0', 'DROP EXTENSION stops the workers');
$node->safe_psql('postgres', 'CREATE EXTENSION rail_stream');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'rail_stream launcher'}), '1', 'the launcher is still there');

# a clean shutdown does not hang on the workers
$node->safe_psql('postgres', q{SELECT rail_stream.create_subscription('again', 'lifecycle', 'json:public.events')});
wait_for($node, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'rail_stream ingest'},
	'1', 'a new subscription starts a worker');
my $t0 = time;
$node->stop('fast');
cmp_ok(time - $t0, '<', 20, 'the server stops promptly');

# DROP DATABASE of the workers' database goes through: the workers and the
# launcher step aside (the launcher until the server restarts).
my $railway = rail_node('railway', "rail_stream.database = 'railway'\nlog_min_messages = debug1");
$railway->safe_psql('postgres', 'CREATE DATABASE railway');
$railway->safe_psql('railway', q{
	CREATE EXTENSION rail_stream;
	CREATE TABLE public.events (id int PRIMARY KEY, body text);
	SELECT rail_stream.create_subscription('railway', 'lifecycle', 'json:public.events');
});
wait_for($railway, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'rail_stream ingest' AND datname = 'railway'}, '1',
	'a worker runs in database railway');
my $log_offset = -s $railway->logfile;
my ($ret, $out, $err) = $railway->psql('postgres', 'DROP DATABASE railway');
is($ret, 0, 'DROP DATABASE of the workers\' database succeeds') or diag($err);
is($railway->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type IN ('rail_stream ingest', 'rail_stream launcher')}), '0',
	'its workers and launcher are gone');
# The postmaster forgets a worker it will never start again, and says so
# at DEBUG1: then, and only then, the launcher cannot come back.
ok(eval { $railway->wait_for_log(
	qr/unregistering background worker "rail_stream launcher"/, $log_offset) },
	'the postmaster unregisters the launcher: it is not restarted');
is($railway->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'rail_stream launcher'}), '0', 'and the launcher is not running');
$railway->stop('fast');

done_testing();
