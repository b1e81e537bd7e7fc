# Helpers for rail_stream's TAP tests: a PostgreSQL node with the library
# preloaded, the shared test broker, kcat, and a generator of TRUST data.
#
# The broker is started by test/run.sh; these tests find it through
# RAIL_STREAM_TEST_BROKERS (bootstrap address) and RAIL_STREAM_TEST_KAFKA_DIR
# (its directory, for stopping and starting it).
package RailStream::Test;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(sleep time);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(brokers kafka_dir rail_node create_topic delete_topic produce produce_lines
  wait_for high_watermarks kafka_stop kafka_start trust_frames repo_path
  crash_postmaster group_offsets start_receiver stop_receiver receiver_mode
  receiver_requests late_at_leeds);
use JSON::PP ();

my $repo = $ENV{RAIL_STREAM_REPO} // '.';

sub repo_path { return "$repo/$_[0]"; }

sub brokers
{
	plan skip_all => 'no Kafka broker: run through "make test"'
	  unless $ENV{RAIL_STREAM_TEST_BROKERS};
	return $ENV{RAIL_STREAM_TEST_BROKERS};
}

sub kafka_dir { return $ENV{RAIL_STREAM_TEST_KAFKA_DIR}; }

# A started node with rail_stream preloaded, the extension created in
# database "postgres" and the location master loaded.
sub rail_node
{
	my ($name, $extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', join("\n",
		"shared_preload_libraries = 'rail_stream'",
		"rail_stream.brokers = '" . brokers() . "'",
		"rail_stream.batch_ms = 50",
		"rail_stream.restart_backoff_max = 2",
		"max_worker_processes = 16",
		$extra_conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION rail_stream');
	$node->safe_psql('postgres',
		"\\copy rail.locations_csv FROM '"
		  . repo_path('data/reference/ukrail_locations.csv')
		  . "' WITH (FORMAT csv, HEADER)");
	return $node;
}

sub kafka_sh { return repo_path('test/kafka/kafka.sh'); }

# kill -9 of the postmaster, then wait until it and its children are gone,
# so that the node can start again.  Where nobody reaps orphans at once (a
# container's init), the dead postmaster lingers as a zombie: its lock files
# are then stale and are removed, as their hint says to do.
sub crash_postmaster
{
	my ($node) = @_;
	my $pid = $node->{_pid};
	my @children = split ' ', `ps --ppid $pid -o pid=`;
	$node->kill9;
	for my $p ($pid, @children)
	{
		my $deadline = time + 60;
		sleep 0.1 while process_alive($p) && time < $deadline;
		die "process $p outlived its postmaster" if process_alive($p);
	}
	unlink $node->data_dir . '/postmaster.pid';
	unlink $node->host . '/.s.PGSQL.' . $node->port . '.lock';
}

sub process_alive
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $stat = <$fh>;
	return $stat !~ /^\d+ \(.*\) Z/;
}

sub create_topic
{
	my ($topic, $partitions) = @_;
	my ($out, $err);
	IPC::Run::run([ kafka_sh(), 'create-topic', brokers(), $topic, $partitions ],
		'>', \$out, '2>', \$err)
	  or die "could not create topic $topic: $err";
}

sub delete_topic
{
	my ($topic) = @_;
	my ($out, $err);
	IPC::Run::run([ kafka_sh(), 'delete-topic', brokers(), $topic ],
		'>', \$out, '2>', \$err)
	  or die "could not delete topic $topic: $err";
}

# kcat -P with the given extra arguments, reading the file.
sub produce
{
	my ($topic, $file, @args) = @_;
	my $err;
	IPC::Run::run([ 'kcat', '-P', '-b', brokers(), '-t', $topic, @args, '-l', $file ],
		'2>', \$err)
	  or die "kcat failed: $err";
}

# Produce lines (each one message) from a list.
sub produce_lines
{
	my ($topic, $lines, @args) = @_;
	my ($fh, $file) = tempfile(UNLINK => 1);
	binmode $fh;
	print $fh join("\n", @$lines), "\n";
	close $fh;
	produce($topic, $file, @args);
}

# Poll until the query returns the expected value; fail the test if not.
sub wait_for
{
	my ($node, $query, $expected, $what, $timeout) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $timeout // 180;
	ok($node->poll_query_until('postgres', $query, $expected), $what);
}

# { partition => latest offset } as Kafka's own tool reports it.
sub high_watermarks
{
	my ($topic) = @_;
	my ($out, $err);
	IPC::Run::run([ kafka_sh(), 'offsets', brokers(), $topic ], '>', \$out, '2>', \$err)
	  or die "could not read offsets of $topic: $err";
	my %hw;
	for (split /\n/, $out)
	{
		$hw{$2} = $3 if /^(.*):(\d+):(\d+)$/;
	}
	return \%hw;
}

# { partition => committed offset } of a consumer group, from Kafka's own
# kafka-consumer-groups.
sub group_offsets
{
	my ($group) = @_;
	my ($out, $err);
	IPC::Run::run([ kafka_sh(), 'group', brokers(), $group ], '>', \$out, '2>', \$err)
	  or die "could not describe group $group: $err";
	my %committed;
	for (split /\n/, $out)
	{
		my @f = split ' ';
		$committed{ $f[2] } = $f[3] if @f >= 4 && $f[0] eq $group && $f[2] =~ /^\d+$/;
	}
	return \%committed;
}

sub kafka_stop { kafka_sh_run('stop'); }

sub kafka_start { kafka_sh_run('start'); }

sub kafka_sh_run
{
	my ($cmd) = @_;
	my ($out, $err);
	IPC::Run::run([ kafka_sh(), $cmd, kafka_dir() ], '>', \$out, '2>', \$err)
	  or die "kafka.sh $cmd failed: $err";
}

# Realistic TRUST movement frames: $n messages in frames of up to 32, each
# in the ActiveMQ connector's envelope, built from real STANOX and TOC codes.
# Every message has its own key (train_id/planned_event_type/loc_stanox).
# Options: first => the first message's number (for other train ids);
# late_at => a STANOX where every => k-th message is 50 minutes late.
sub trust_frames
{
	my ($n, $seed, %opt) = @_;
	my $first = $opt{first} // 0;
	srand($seed // 42);
	my @stanox = stanox_codes();
	my @tocs = toc_ids();
	my @status = ('ON TIME', 'LATE', 'EARLY');
	my $json = JSON::PP->new->canonical;
	my (@frames, @frame);
	my $t0 = 1722162000000;    # 2024-07-28 10:20 UK time, as TRUST writes it
	for my $i ($first .. $first + $n - 1)
	{
		my $toc = $tocs[ int(rand(@tocs)) ];
		my $st = $status[ int(rand(@status)) ];
		my $var = $st eq 'ON TIME' ? 0 : 1 + int(rand(20));
		my $actual = $t0 + 60000 * int($i / 50);
		my $stanox = $stanox[ int(rand(@stanox)) ];
		if ($opt{late_at} && $i % $opt{every} == 0)
		{
			($stanox, $st, $var) = ($opt{late_at}, 'LATE', 50);
		}
		push @frame, {
			header => {
				msg_type => '0003',
				msg_queue_timestamp => sprintf('%d', $actual - 3600000 + 5000),
				source_system_id => 'TRUST',
				original_data_source => 'SMART',
			},
			body => {
				train_id => sprintf('%02d%s%02d', $i % 90 + 10, sprintf('%06d', $i), 28),
				actual_timestamp => "$actual",
				planned_timestamp => sprintf('%d', $actual - ($st eq 'LATE' ? $var : -$var) * 60000),
				loc_stanox => $stanox,
				planned_event_type => (rand() < 0.5 ? 'ARRIVAL' : 'DEPARTURE'),
				event_type => (rand() < 0.5 ? 'ARRIVAL' : 'DEPARTURE'),
				event_source => 'AUTOMATIC',
				correction_ind => 'false',
				offroute_ind => 'false',
				train_terminated => 'false',
				toc_id => $toc,
				division_code => $toc,
				timetable_variation => "$var",
				variation_status => $st,
				train_service_code => sprintf('%08d', 21000000 + $i % 9999),
				delay_monitoring_point => 'true',
				reporting_stanox => '00000',
			},
		};
		if (@frame == 32 || $i == $first + $n - 1)
		{
			push @frames, $json->encode({ text => $json->encode([@frame]) });
			@frame = ();
		}
	}
	return \@frames;
}

# $n movements of new trains, "<prefix>00000001" on, LATE by $minutes (50)
# at Leeds (STANOX 17132), written by one ingest_message() call, so in one
# transaction.  Returns their msg_keys.
my %next_train;
sub late_at_leeds
{
	my ($node, $prefix, $n, $minutes) = @_;
	my $first = $next_train{$prefix} //= 1;
	my @frame = map {
		sprintf('{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"%s%08d","planned_event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"LATE","timetable_variation":"%d","toc_id":"61"}}',
			$prefix, $_, $minutes // 50)
	} $first .. $first + $n - 1;
	$next_train{$prefix} += $n;
	$node->safe_psql('postgres',
		"SELECT rail_stream.ingest_message('trust', '[" . join(',', @frame) . "]')");
	return [ map { sprintf('%s%08d/ARRIVAL/17132', $prefix, $_) } $first .. $first + $n - 1 ];
}

# A webhook receiver (test/webhook_receiver.py) on loopback, on the given
# port or a free one.  Returns { port, url, log, mode, handle }.
sub start_receiver
{
	my ($port) = @_;
	$port //= PostgreSQL::Test::Cluster::get_free_port();
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/receiver_$port";
	mkdir $dir;
	my $r = {
		port => $port,
		url => "http://127.0.0.1:$port",
		log => "$dir/requests.jsonl",
		mode => "$dir/mode",
	};
	$r->{handle} = IPC::Run::start(
		[ 'python3', repo_path('test/webhook_receiver.py'),
			'--port', $port, '--log', $r->{log}, '--mode-file', $r->{mode} ],
		'>', "$dir/stdout", '2>>', "$dir/stderr");
	my $deadline = time + 30;
	until (IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port"))
	{
		die "webhook receiver did not start: " . slurp_file("$dir/stderr")
		  if time > $deadline;
		sleep 0.1;
	}
	return $r;
}

# Stop the receiver: its port then refuses connections.
sub stop_receiver
{
	my ($r) = @_;
	$r->{handle}->kill_kill;
	$r->{handle}->finish;
}

# ok, status:CODE, slow:SECONDS or retry-after:SECONDS (see the receiver)
sub receiver_mode
{
	my ($r, $mode) = @_;
	# whole or not at all: a request never reads a half-written mode
	open my $fh, '>', "$r->{mode}.new" or die $!;
	print $fh "$mode\n";
	close $fh;
	rename "$r->{mode}.new", $r->{mode} or die $!;
}

# Every request the receiver has logged, in arrival order.
sub receiver_requests
{
	my ($r) = @_;
	return [] unless -e $r->{log};
	open my $fh, '<', $r->{log} or die $!;
	# a line still being written has no newline yet
	my @requests = map { JSON::PP->new->decode($_) } grep { /\S/ && /\n$/ } <$fh>;
	return \@requests;
}

sub stanox_codes
{
	my @codes;
	open my $fh, '<', repo_path('data/reference/ukrail_locations.csv') or die $!;
	while (<$fh>)
	{
		my @f = split /,/;
		push @codes, $f[6] if $f[6] =~ /^\d{5}$/ && $f[4] =~ /^[A-Z]{3}$/;
	}
	return @codes;
}

sub toc_ids
{
	my @ids;
	open my $fh, '<', repo_path('data/reference/toc_codes.tsv') or die $!;
	<$fh>;
	while (<$fh>)
	{
		chomp;
		my @f = split /\t/;
		push @ids, $f[2] if defined $f[2] && $f[2] =~ /^\d\d$/ && ($f[4] // '') eq 'Y';
	}
	return @ids;
}

# The secured listeners of the test broker, from the files kafka.sh writes
# in its directory: { ssl_bootstrap, sasl_ssl_bootstrap, ca_pem (the CA
# certificate, PEM text), sasl_username, sasl_password, kcat_sasl_ssl (a
# kcat -F file for the SASL_SSL listener) }.
sub kafka_security
{
	my $dir = kafka_dir();
	my %sec = (ca_pem => slurp_file("$dir/ca.pem"), kcat_sasl_ssl => "$dir/kcat-sasl_ssl.conf");
	for my $f (qw(ssl_bootstrap sasl_ssl_bootstrap sasl_username sasl_password))
	{
		($sec{$f} = slurp_file("$dir/$f")) =~ s/\s+\z//;
	}
	return \%sec;
}

push @EXPORT, qw(kafka_security);

# A real schema registry (Apicurio, test/registry/registry.sh) on 127.0.0.1;
# returns its Confluent-compatible API's URL.  Stopped by stop_registry.
sub start_registry
{
	my ($dir) = @_;
	my ($out, $err);
	IPC::Run::run([ repo_path('test/registry/registry.sh'), 'start', $dir ],
		'>', \$out, '2>', \$err)
	  or die "could not start the schema registry: $err";
	chomp $out;
	return "http://127.0.0.1:$out/apis/ccompat/v7";
}

sub stop_registry
{
	my ($dir) = @_;
	my ($out, $err);
	IPC::Run::run([ repo_path('test/registry/registry.sh'), 'stop', $dir ],
		'>', \$out, '2>', \$err)
	  or die "could not stop the schema registry: $err";
}

# Produce JSON lines as Avro values through the registry, with
# confluent-kafka's AvroSerializer (test/registry/produce_avro.py); returns
# the schema id.
sub produce_avro
{
	my ($registry, $topic, $schema, $lines, @args) = @_;
	my ($out, $err);
	my $python = $ENV{RAIL_STREAM_AVRO_PYTHON}
	  or die 'RAIL_STREAM_AVRO_PYTHON is not set: run through "make test"';
	IPC::Run::run([ $python, repo_path('test/registry/produce_avro.py'),
			brokers(), $registry, $topic, repo_path("test/registry/$schema"), @args ],
		'<', \join('', map { "$_\n" } @$lines), '>', \$out, '2>', \$err)
	  or die "produce_avro.py failed: $err";
	my ($id) = split ' ', $out;
	return $id;
}
push @EXPORT, qw(start_registry stop_registry produce_avro);

1;
