# The worker writes a batch set by set (src/sink.c): one statement per
# table for many messages.  The tables must end as if each message had been
# written on its own: the same rows, daily counts, alerts and dead letters,
# with keys repeated inside the batch (corrections), activations arriving
# between the movements of their train, and bad messages in the middle.
# And two workers on one topic, with every trigger on, never deadlock.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RailStream::Test;

brokers();
my $node = rail_node('batch', "rail_stream.batch_ms = 2000");

# 3,000 generated TRUST movements (bench/gen_trust.py: real STANOX codes and
# TOCs, 10 % corrections of an earlier key), in frames of up to 32
my $gen = repo_path('bench/gen_trust.py');
my @frames = grep { length } split /\n/, `python3 $gen 3000 --seed 11 2>/dev/null`;
die "bench/gen_trust.py failed" unless @frames > 50;
my $json = JSON::PP->new->canonical;

# Activations for five of the trains: one before all of its movements, the
# others in the middle of them, so that some movements are written before
# their activation and some after it.
my (%first_frame, %stanox_late);
for my $i (0 .. $#frames)
{
	for my $m (@{ $json->decode($json->decode($frames[$i])->{text}) })
	{
		my $b = $m->{body};
		$first_frame{ $b->{train_id} } //= $i;
		$stanox_late{ $b->{loc_stanox} }++ if ($b->{variation_status} // '') eq 'LATE';
	}
}
my @trains = (sort { $first_frame{$a} <=> $first_frame{$b} } keys %first_frame)[ 0 .. 4 ];
my @stream = @frames;
for my $n (reverse 0 .. $#trains)
{
	my $t = $trains[$n];
	my $activation = [ {
		header => { msg_type => '0001', msg_queue_timestamp => '1722150000000' },
		body => { train_id => $t, train_uid => sprintf('C%05d', $n),
			schedule_start_date => '2024-07-28', schedule_type => 'P',
			toc_id => '61', sched_origin_stanox => '17132' } } ];
	my $at = $n == 0 ? $first_frame{$t} : $first_frame{$t} + 5;
	splice @stream, $at, 0, $json->encode({ text => $json->encode($activation) });
}

# A frame that is not JSON, and a frame with one bad train message among
# good ones, in the middle of the stream.
my $bad_frame = $json->decode($json->decode($frames[40])->{text});
$bad_frame->[1]{body}{timetable_variation} = 'soon';
splice @stream, 60, 0, '{"text": "[{not json"}',
  $json->encode({ text => $json->encode($bad_frame) });

# Alerts at the three stations with most late movements, from 0 minutes:
# a correction from LATE to ON TIME leaves its first version's alert.
my @stations = (sort { $stanox_late{$b} <=> $stanox_late{$a} || $a cmp $b } keys %stanox_late)[ 0 .. 2 ];
$node->safe_psql('postgres', join('', map { qq{SELECT rail_stream.add_alert_rule('$_', 0);} } @stations));

# A user's statement-level trigger counts the statements that write movements.
$node->safe_psql('postgres', q{
	CREATE TABLE statements (n bigint);
	INSERT INTO statements VALUES (0);
	CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN UPDATE statements SET n = n + 1; RETURN NULL; END$$;
	CREATE TRIGGER count_statement AFTER INSERT ON rail.movements
	  FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
});

# What a user compares: every table the stream writes, as one line each.
my $state_sql = q{
	SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS cols
	FROM pg_attribute WHERE attrelid = 'rail.movements'::regclass AND attnum > 0
	  AND NOT attisdropped AND attname <> 'ingested_at' \gset
	SELECT 'movements', count(*), md5(string_agg(ROW(:cols)::text, E'\n' ORDER BY msg_key))
	  FROM rail.movements
	UNION ALL
	SELECT 'activations', count(*), md5(string_agg(concat_ws('|', train_id, schedule_key, toc_name),
	  ',' ORDER BY train_id)) FROM rail.activations
	UNION ALL
	SELECT 'counts', sum(movements), md5(string_agg(concat_ws('|', day, toc_id, variation_status, movements),
	  ',' ORDER BY day, toc_id, variation_status)) FROM rail.daily_movement_counts
	UNION ALL
	SELECT 'alerts', count(*), md5(string_agg(concat_ws('|', rule_id, msg_key, message),
	  ',' ORDER BY rule_id, msg_key)) FROM rail_stream.alerts
	UNION ALL
	SELECT 'dead letters', count(*), md5(string_agg(concat_ws('|', encode(value, 'escape'),
	  message_index, message_count, error_message, sqlstate), ',' ORDER BY value, message_index))
	  FROM rail_stream.dead_letters;
};
sub state { return $node->safe_psql('postgres', $state_sql); }

# 1. Each message on its own, in order, through ingest_message().
my ($fh, $file) = File::Temp::tempfile(UNLINK => 1);
print $fh join("\n", @stream), "\n";
close $fh;
chmod 0644, $file;
$node->safe_psql('postgres', qq{
	CREATE TEMP TABLE stream (n bigserial, frame text);
	COPY stream (frame) FROM '$file' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02');
	DO \$\$DECLARE f text; BEGIN
	  FOR f IN SELECT frame FROM stream ORDER BY n LOOP
	    PERFORM rail_stream.ingest_message('trust', f);
	  END LOOP; END\$\$;
	UPDATE statements SET n = 0;
});
my $one_by_one = state();
like($one_by_one, qr/^alerts\|[1-9]\d*\|/m, 'one by one, the stream raises alerts');
like($one_by_one, qr/^dead letters\|2\|/m, 'and leaves its two bad messages as dead letters');
my ($movements) = $one_by_one =~ /^movements\|(\d+)\|/m;

$node->safe_psql('postgres', q{
	TRUNCATE rail.movements, rail.activations, rail.daily_movement_counts,
	  rail_stream.alerts, rail_stream.dead_letters;
});

# 2. The same stream from Kafka, in batches of 1,000 messages.
create_topic('batch_mvt', 1);
produce('batch_mvt', $file);
$node->safe_psql('postgres', q{SELECT rail_stream.create_subscription('batch', 'batch_mvt',
	'trust', NULL, '{"batch_size": 1000}')});
wait_for($node, q{SELECT committed_offset FROM rail_stream.subscription_status
	WHERE subscription = 'batch'}, scalar(@stream), 'the worker writes the whole stream');
is(state(), $one_by_one,
	'in batches, rows, counts, alerts and dead letters are those of one-by-one ingestion');
my $statements = $node->safe_psql('postgres', 'SELECT n FROM statements');
# one by one, each train message is a statement (about 3,000); a batch with
# a bad message is written again in halves around it
cmp_ok($statements, '<', scalar(@stream),
	"the batches wrote movements with $statements statements for "
	  . scalar(@stream) . " Kafka messages");

# 3. Two workers on four partitions, with every trigger on: the stream split
# by train, as a keyed producer does; no deadlock, no retried batch.
$node->safe_psql('postgres', q{SELECT rail_stream.drop_subscription('batch');
	TRUNCATE rail.movements, rail.activations, rail.daily_movement_counts,
	  rail_stream.alerts, rail_stream.dead_letters;});
create_topic('batch_par', 4);
my @parts = ([], [], [], []);
for my $frame (@frames)
{
	for my $m (@{ $json->decode($json->decode($frame)->{text}) })
	{
		my $p = unpack('%32C*', $m->{body}{train_id}) % 4;
		push @{ $parts[$p] }, $json->encode({ text => $json->encode([$m]) });
	}
}
produce_lines('batch_par', $parts[$_], '-p', $_) for 0 .. 3;
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{SELECT rail_stream.create_subscription('par', 'batch_par',
	'trust', NULL, '{"batch_size": 100, "parallelism": 2}')});
my $total = 0;
$total += scalar(@$_) for @parts;
wait_for($node, q{SELECT sum(committed_offset) FROM rail_stream.subscription_status
	WHERE subscription = 'par'}, $total, 'two workers write the four partitions');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/deadlock detected/, 'without a deadlock');
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM rail.movements)
	= (SELECT sum(movements) FROM rail.daily_movement_counts)}), 't',
	'and every movement is counted once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rail.movements}), $movements,
	'with the rows of one-by-one ingestion');

done_testing();
