# What the TAP tests check about what landed: every write logged (so that
# a message written twice shows, which the keyed tables cannot), the
# produced movements read by PostgreSQL's own JSON parser, differences of
# two sets of keys, and stored offsets against the broker's.
package RailStream::Checks;

use strict;
use warnings;
use Exporter 'import';
use Time::HiRes qw(sleep time);
use PostgreSQL::Test::Utils;
use RailStream::Test;

our @EXPORT = qw(log_movement_writes load_produced_movements key_difference
  count_difference stored_offsets wait_for_high_watermark);

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

# The stored offsets of a subscription, as "partition:next_offset,...".
sub stored_offsets
{
	my ($name) = @_;
	return qq{SELECT string_agg(o.partition || ':' || o.next_offset, ',' ORDER BY o.partition)
		FROM rail_stream.subscription_offsets o
		JOIN rail_stream.subscriptions s ON s.id = o.subscription_id
		WHERE s.name = '$name'};
}

# Wait until the broker's high watermark of a partition reaches an offset.
sub wait_for_high_watermark
{
	my ($topic, $partition, $offset) = @_;
	my $deadline = time + 180;
	while (time < $deadline)
	{
		return 1 if (high_watermarks($topic)->{$partition} // -1) >= $offset;
		sleep 1;
	}
	return 0;
}

1;
