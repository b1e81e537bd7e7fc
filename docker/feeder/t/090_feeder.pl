# The feeder (docker/feeder) against a real STOMP broker (Apache ActiveMQ
# Artemis, test/stomp/artemis.sh) and the test run's real Kafka broker:
#
#  - 20,000 distinct frames made of real TRUST messages, published through
#    STOMP while the feeder runs, across a restart of the STOMP broker and
#    a kill -9 of the feeder (frames published while it is dead wait in its
#    durable subscription): each frame is in Kafka exactly once, compared by
#    content, in publishing order within each partition, keyed by its
#    frame id, and the broker's subscription queue is left empty.  The
#    feeders log every frame (FEEDER_VERBOSE): a frame out of order is shown
#    with what their logs say about it and about the frame before it, and a
#    failed run keeps the logs and the topic's dump (kafka_frames.log, one
#    line per message: frame number, partition, offset, headers) in
#    tmp_check/log;
#  - the CIF download from a real HTTP server with basic authentication, a
#    redirect and a gzipped body lands line for line;
#  - bad credentials (STOMP and HTTP) and unreachable hosts end the feeder
#    with a clear error and exit status 1;
#  - CIF_DAILY_AT starts the fetch when its minute comes, while the feeder
#    runs live;
#  - without credentials the sample data is replayed, shifted to today; a
#    generated day (bench/gen_trust.py --array) is replayed on today's
#    clock: all at once at REPLAY_SPEED 0, moved by whole days; in real
#    time otherwise, each message when the UK clock reaches it, not before.
#
# No PostgreSQL server is needed.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use POSIX qw(WNOHANG strftime);
use Time::Local qw(timegm);
use Test::More;
use Time::HiRes qw(time sleep);
use RailStream::Test;

my $bootstrap = brokers();
my $tmp = tempdir('feeder_XXXX', DIR => $ENV{TESTDIR} // '/tmp', CLEANUP => 1);
my $artemis_sh = repo_path('test/stomp/artemis.sh');
my $art = "$tmp/artemis";
my $json = JSON::PP->new->utf8->canonical;
my $t_start = time;
my %children;

END
{
	# the feeders' and the broker's logs go where test/tap.sh keeps them
	# when a test fails
	if ($ENV{TESTLOGDIR} && $tmp)
	{
		system('mkdir', '-p', $ENV{TESTLOGDIR});
		system('cp', (grep { -e } glob("$tmp/*.log"), "$art/artemis.log"),
			$ENV{TESTLOGDIR});
	}
	kill 'KILL', $_ for keys %children;
	IPC::Run::run([ $artemis_sh, 'stop', $art ], '>', \my $o, '2>', \my $e)
	  if $art && -d $art;
}

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "could not open $path: $!";
	local $/;
	my $text = <$fh>;
	return $text;
}

# ------------------------------------------------------------ the feeder ----

my $build = "$tmp/build";
my $make_out = '';
IPC::Run::run([ 'make', '-s', '-C', repo_path('docker/feeder'), "O=$build" ],
	'>', \$make_out, '2>&1')
  or BAIL_OUT("could not build the feeder: $make_out");
my $feeder = "$build/rail_stream_feeder";

# Start the feeder with these settings, its standard error into $log
sub start_feeder
{
	my ($log, %env) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		delete $ENV{$_} for grep { /^(NR_|CIF_|REPLAY_)/ } keys %ENV;
		$ENV{KAFKA_BOOTSTRAP_SERVERS} = $bootstrap;
		$ENV{$_} = $env{$_} for keys %env;
		open STDOUT, '>>', $log or die;
		open STDERR, '>>', $log or die;
		exec $feeder or die "exec $feeder: $!";
	}
	$children{$pid} = 1;
	return $pid;
}

# Wait for a feeder to exit; its exit status, or undef after $timeout s
sub wait_exit
{
	my ($pid, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			delete $children{$pid};
			return $? >> 8;
		}
		sleep 0.05;
	}
	return undef;
}

# Run the feeder to its end: (exit status, standard error)
sub run_feeder
{
	my ($timeout, %env) = @_;
	my $log = "$tmp/run_" . int(rand(1e9)) . '.log';
	my $pid = start_feeder($log, %env);
	my $status = wait_exit($pid, $timeout);
	kill 'KILL', $pid unless defined $status;
	return ($status, -e $log ? slurp($log) : '');
}

sub wait_until
{
	my ($cond, $timeout, $what) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if $cond->();
		sleep 0.05;
	}
	die "timed out after $timeout s waiting for $what";
}

# The broker's queue of the durable subscription to a topic (artemis.sh
# queue-stat): (consumers, frames held, delivered and not ACKed included),
# or ('no queue', 'no queue')
sub subscription_queue
{
	my ($topic) = @_;
	my $stat = '';
	IPC::Run::run([ $artemis_sh, 'queue-stat', $art ], '>', \$stat, '2>', \my $stat_err);
	my ($row) = grep { my @f = map { s/^\s+|\s+$//gr } split /\|/; @f > 4 && $f[2] eq $topic }
	  split /\n/, $stat;
	my @cols = $row ? (map { s/^\s+|\s+$//gr } split /\|/, $row) : ();
	return @cols ? @cols[ 3, 4 ] : ('no queue', 'no queue');
}

sub frames_left { return (subscription_queue(@_))[1]; }

# Messages in a Kafka topic: the sum of its partitions' end offsets
sub kafka_count
{
	my ($topic, $partitions) = @_;
	my $out = '';
	IPC::Run::run([ 'kcat', '-Q', '-b', $bootstrap,
		map { ('-t', "$topic:$_:-1") } 0 .. $partitions - 1 ], '>', \$out, '2>', \my $err);
	my $n = 0;
	$n += $1 while $out =~ /\] offset (\d+)/g;
	return $n;
}

# Every message of a topic as kcat -f formats it, split into its fields
# (tab-separated; ASCII RS ends each message: replayed sample frames span
# lines)
sub kcat_records
{
	my ($topic, $format, $nfields) = @_;
	my $out = '';
	IPC::Run::run([ 'kcat', '-C', '-b', $bootstrap, '-t', $topic, '-e', '-q',
		'-f', "$format\x1e" ], '>', \$out, '2>', \my $kcat_err)
	  or die "kcat failed";
	return map { [ split /\t/, $_, $nfields ] } split /\x1e/, $out;
}

# Every message of a topic:
# [ [partition, key length, value, offset, headers, key], ... ]
sub consume
{
	my ($topic) = @_;
	return [ map { [ @$_[ 0, 1, 5, 2, 4, 3 ] ] }
		  kcat_records($topic, "%p\t%K\t%o\t%k\t%h\t%s", 6) ];
}

# Every message of a topic with its Kafka timestamp: [ [ms, value], ... ]
sub consume_with_times
{
	my ($topic) = @_;
	return [ kcat_records($topic, "%T\t%s", 2) ];
}

# UK time minus UTC, in ms, at the Unix time $ms (the host's tz database)
sub uk_offset_ms
{
	my ($ms) = @_;
	local $ENV{TZ} = 'Europe/London';
	POSIX::tzset();
	my $s = int($ms / 1000);
	my $off = (timegm(localtime($s)) - $s) * 1000;
	delete local $ENV{TZ};
	POSIX::tzset();
	return $off;
}

# The UK date now, YYYY-MM-DD
sub uk_today
{
	my $ms = int(time * 1000);
	return strftime('%Y-%m-%d', gmtime(($ms + uk_offset_ms($ms)) / 1000));
}

# ------------------------------------------------------------ the broker ----

my ($stomp_port, $art_err) = ('', '');
IPC::Run::run([ $artemis_sh, 'start', $art ], '>', \$stomp_port, '2>', \$art_err)
  or BAIL_OUT("could not start Artemis: $art_err");
chomp $stomp_port;
my $user = slurp("$art/user");
my $password = slurp("$art/password");
chomp($user, $password);
note sprintf('Artemis up on 127.0.0.1:%d after %.0f s', $stomp_port, time - $t_start);

# Read one STOMP frame (up to its NUL) from a socket
sub read_frame
{
	my ($sock) = @_;
	local $/ = "\0";
	my $frame = <$sock>;
	die "STOMP broker closed the connection" unless defined $frame;
	$frame =~ s/^\n+//;
	return $frame;
}

# Publish frames [$from .. $to] of @$frames to /topic/$topic, persistent;
# the broker's receipt for the last one means it stored them all.
sub publish
{
	my ($topic, $frames, $from, $to) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $stomp_port, Proto => 'tcp')
	  or die "could not connect to Artemis: $!";
	binmode $sock;
	print $sock "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:$user\npasscode:$password\n\n\0";
	my $reply = read_frame($sock);
	die "CONNECT refused: $reply" unless $reply =~ /^CONNECTED/;
	for my $i ($from .. $to)
	{
		my $body = $frames->[$i];
		my $receipt = $i == $to ? "receipt:published-$to\n" : '';
		print $sock "SEND\ndestination:/topic/$topic\npersistent:true\n$receipt"
		  . 'content-length:' . length($body) . "\n\n$body\0";
	}
	$reply = read_frame($sock);
	die "no receipt for the frames: $reply" unless $reply =~ /^RECEIPT/;
	print $sock "DISCONNECT\n\n\0";
	close $sock;
}

# ----------------------------------------------- 20,000 frames, exactly once

# Real TRUST messages from the repository's samples; frame $i holds one to
# three of them, its first message's msg_queue_timestamp made 1.7e12 + $i,
# so that every frame is distinct and tells its publishing position.
my @messages;
push @messages, @{ decode_json(slurp($_)) } for glob(repo_path('data/trust/*.json'));
my $n_frames = 20_000;
my $base_ts = 1_700_000_000_000;
my @frames;
for my $i (0 .. $n_frames - 1)
{
	my @frame;
	for my $k (0 .. $i % 3)
	{
		my $m = $messages[ ($i * 3 + $k) % @messages ];
		my %header = %{ $m->{header} };
		$header{msg_queue_timestamp} = sprintf('%d', $base_ts + $i) if $k == 0;
		push @frame, { header => \%header, body => $m->{body} };
	}
	push @frames, $json->encode(\@frame);
}
my %published;
$published{ $frames[$_] } = $_ for 0 .. $#frames;
is(scalar keys %published, $n_frames, "$n_frames distinct frames from " . scalar(@messages) . ' real TRUST messages');

my $stomp_topic = 'T090';
my $kafka_topic = "feeder_t090_$$";	# fresh topics on a broker reused across runs
create_topic($kafka_topic, 3);
my %live = (
	NR_USERNAME => $user,
	NR_PASSWORD => $password,
	NR_STOMP_HOST => '127.0.0.1',
	NR_STOMP_PORT => $stomp_port,
	NR_TOPICS => "$stomp_topic=$kafka_topic",
	NR_CLIENT_ID => 't090',
	NR_HEARTBEAT_MS => 2000,
	NR_BACKOFF_MAX_MS => 2000,
	FEEDER_VERBOSE => 1);

my $log1 = "$tmp/feeder1.log";
my $t0 = time;
my $pid = start_feeder($log1, %live);
wait_until(sub { -e $log1 && slurp($log1) =~ /subscribed to/ }, 60, 'the feeder to subscribe');

# first third; restart the broker while the feeder is busy with it
publish($stomp_topic, \@frames, 0, 7999);
wait_until(sub { kafka_count($kafka_topic, 3) >= 2000 }, 60, '2,000 frames in Kafka');
my $at_restart = kafka_count($kafka_topic, 3);
my ($restart_out, $restart_err) = ('', '');
IPC::Run::run([ $artemis_sh, 'restart', $art ], '>', \$restart_out, '2>', \$restart_err)
  or die "artemis.sh restart failed: $restart_err";
note "STOMP broker restarted with $at_restart of 8000 frames in Kafka";
wait_until(sub { my @s = slurp($log1) =~ /subscribed to/g; @s >= 2 }, 60,
	'the feeder to subscribe again');

# second third; kill -9 the feeder while it is busy with it
publish($stomp_topic, \@frames, 8000, 13_999);
wait_until(sub { kafka_count($kafka_topic, 3) >= 10_000 }, 60, '10,000 frames in Kafka');
kill 'KILL', $pid;
waitpid($pid, 0);
delete $children{$pid};
my $at_kill = kafka_count($kafka_topic, 3);
note "feeder killed with $at_kill of 14000 frames in Kafka";
ok($at_kill < 14_000, 'the feeder was killed with frames still to produce');

# last third while no feeder runs: the durable subscription keeps them
publish($stomp_topic, \@frames, 14_000, $n_frames - 1);
# The broker takes the killed feeder's unACKed frames back when it sees its
# connection close, and then redelivers them ahead of the newer frames.
# Had the next feeder subscribed before that, the broker would have given
# it newer frames first: wait until it has, so that the order the broker
# gives the frames is the publishing order (see the order check below).
wait_until(sub { (subscription_queue($stomp_topic))[0] eq '0' }, 60,
	'the broker to drop the killed feeder\'s subscription');
my $log2 = "$tmp/feeder2.log";
$pid = start_feeder($log2, %live);
wait_until(sub { kafka_count($kafka_topic, 3) >= $n_frames }, 120, "$n_frames frames in Kafka");
# Kafka holding every frame does not mean the feeder is done: redelivered
# copies may still be on their way to it, to be skipped and ACKed
my @queue;
eval {
	wait_until(sub { @queue = subscription_queue($stomp_topic); $queue[1] eq '0' },
		60, 'the feeder to ACK every frame');
	1;
} or do {
	diag "the broker's queue of the subscription last held $queue[1] frames, with $queue[0] consumers";
	diag 'the second feeder last said: ' . (grep { /info: frames:/ } split /\n/, slurp($log2))[-1];
	die $@;
};
kill 'TERM', $pid;
is(wait_exit($pid, 60), 0, 'feeder stops cleanly on SIGTERM');
my $elapsed = time - $t0;

my $log2_text = slurp($log2);
like($log2_text, qr/read back [1-9]\d* messages of Kafka topic "$kafka_topic"/,
	'restarted feeder read back the tail of the Kafka topic');
my ($skipped2) = $log2_text =~ /.*\b(\d+) redelivered and skipped/s;
note "redelivered frames skipped: first feeder (broker restart) "
  . (slurp($log1) =~ /.*\b(\d+) redelivered and skipped/s ? $1 : 'n/a')
  . ", restarted feeder (after kill -9) " . ($skipped2 // 'n/a');

# What a user must get: each frame once, and within each partition in the
# order the broker gave the frames.  Here that order is the publishing
# order: one publisher, one subscriber at a time, and the broker
# redelivers unACKed frames ahead of newer ones (after its restart, and
# after the kill once it has dropped the dead subscription, waited for
# above).  A frame's position is its only copy's (no duplicates, checked
# too).  The feeder keeps this order across the kill only because every
# delivery of a frame goes to the same partition (its key is the frame
# id): keyed by STOMP's message-id, which Artemis changes on redelivery, a
# frame lost with the killed feeder came back to another partition, behind
# newer frames the feeder had written there (docker/feeder/live.c, Order).
my $got = consume($kafka_topic);
my (%seen, $dups, $unknown, %last_in_partition, $out_of_order, @overtaken);
$dups = $unknown = $out_of_order = 0;
for my $m (@$got)
{
	my ($partition, $keylen, $value) = @$m;
	my $i = $published{$value};
	if (!defined $i) { $unknown++; next; }
	$dups++ if $seen{$i}++;
	if (defined $last_in_partition{$partition} && $i <= $last_in_partition{$partition}->[0])
	{
		$out_of_order++;
		push @overtaken, [ $m, $i, @{ $last_in_partition{$partition} } ];
	}
	$last_in_partition{$partition} = [ $i, $m ];
}
# how a frame came behind a later one: the two messages, and what each
# feeder's log says about them (FEEDER_VERBOSE logs every frame)
for my $o (@overtaken)
{
	my ($m, $i, $j, $prev) = @$o;
	diag sprintf('frame %d at partition %d offset %d comes after frame %d at offset %d',
		$i, $m->[0], $m->[3], $j, $prev->[3]);
	for my $x ([ $i, $m ], [ $j, $prev ])
	{
		my ($id) = $x->[1][4] =~ /feeder-frame-id=([0-9a-f]+)/;
		diag "  frame $x->[0]: $x->[1][4]";
		for my $log ($log1, $log2)
		{
			diag "    $_" for grep { /\Q$id\E/ } split /\n/, slurp($log);
		}
	}
}
my $missing = grep { !$seen{$_} } 0 .. $n_frames - 1;
# the topic as the test read it, kept with the logs of a failed run
open my $dump, '>', "$tmp/kafka_frames.log" or die;
print $dump join("\t", $published{ $_->[2] } // 'unknown', @$_[ 0, 3, 4 ]), "\n" for @$got;
close $dump;
is(scalar @$got, $n_frames, "Kafka holds $n_frames messages");
is($dups, 0, 'no frame twice');
is($missing, 0, 'no frame missing');
is($unknown, 0, 'every message is a published frame, unchanged');
is($out_of_order, 0, 'each partition holds its frames in publishing order');
is(scalar(grep { $_->[4] !~ /feeder-frame-id=\Q$_->[5]\E(,|$)/ } @$got), 0,
	'every message is keyed by its frame id');
note sprintf('%d frames through STOMP, a broker restart and a kill -9 in %.1f s; %d partitions used',
	$n_frames, $elapsed, scalar keys %last_in_partition);

# the broker has nothing left for the subscription
is(frames_left($stomp_topic), '0', 'the durable subscription has no frame left on the broker');

# ------------------------------------------------- bad credentials, no host

my ($status, $err) = run_feeder(60, %live, NR_PASSWORD => 'wrong');
is($status, 1, 'wrong STOMP password: exit status 1');
like($err, qr/error: STOMP server at 127\.0\.0\.1:$stomp_port refused the credentials of user "$user"\n/,
	'wrong STOMP password: clear error');
like($err, qr/hint: Check NR_USERNAME and NR_PASSWORD\./, 'wrong STOMP password: hint');

my $closed = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0');
my $closed_port = $closed->sockport;
close $closed;
($status, $err) = run_feeder(60, %live, NR_STOMP_PORT => $closed_port,
	NR_CONNECT_ATTEMPTS => 2);
is($status, 1, 'unreachable STOMP server: exit status 1');
like($err, qr/error: could not connect to STOMP server at 127\.0\.0\.1:$closed_port: Connection refused\n/,
	'unreachable STOMP server: clear error');

# ---------------------------------------------------------- the CIF fetch

my $cif_file = repo_path('data/cif/cif_toc_full_GX_2018-07-02_seq2210_trimmed.ndjson');
my $cif_path = '/ntrod/CifFileAuthenticate?type=CIF_ALL_FULL_DAILY&day=toc-full';

# A CIF server (test/stomp/cif_server.py) serving $cif_file to one user,
# logging its requests to $log: (its pid, its port)
sub start_cif_server
{
	my ($cif_user, $cif_password, $log) = @_;
	my $server = fork() // die "fork: $!";
	if ($server == 0)
	{
		exec 'python3', repo_path('test/stomp/cif_server.py'), '--user', $cif_user,
		  '--password', $cif_password, '--file', $cif_file, '--log', $log;
		die "exec: $!";
	}
	$children{$server} = 1;
	wait_until(sub { -s "$log.port" }, 30, "the CIF server logging to $log");
	return ($server, slurp("$log.port") =~ s/\s+//gr);
}

my $cif_log = "$tmp/cif_server.log";
my (undef, $http_port) = start_cif_server('nr_user', 'nr-secret', $cif_log);
my $cif_url = "http://127.0.0.1:$http_port$cif_path";
create_topic("cif_t090_$$", 1);

my %cif = (
	NR_USERNAME => 'nr_user',
	NR_PASSWORD => 'nr-secret',
	CIF_URL => $cif_url,
	CIF_TOPIC => "cif_t090_$$");
my $t_cif = time;
my $cif_out = '';
IPC::Run::run([ 'env', (map { "$_=$cif{$_}" } keys %cif),
	"KAFKA_BOOTSTRAP_SERVERS=$bootstrap", $feeder, '--fetch-cif' ],
	'>', \$cif_out, '2>&1', IPC::Run::timeout(120));
is($?, 0, 'CIF fetch: exit status 0');
my @want = grep { length } split /\r?\n/, slurp($cif_file);
like($cif_out, qr/fetched CIF extract: ${\ scalar @want} lines into Kafka topic "cif_t090_$$"/,
	'CIF fetch: reports its lines');
my $cif_got = consume("cif_t090_$$");
is(scalar @$cif_got, scalar @want, 'CIF fetch: one message per line (' . scalar(@want) . ')');
my $first_diff = (grep { !defined $cif_got->[$_] || $cif_got->[$_][2] ne $want[$_] } 0 .. $#want)[0];
is($first_diff, undef, 'CIF fetch: the lines arrive unchanged and in order');
is(scalar(grep { $_->[1] != -1 } @$cif_got), 0, 'CIF fetch: messages have no key');
my @requests = map { decode_json($_) } split /\n/, slurp($cif_log);
is_deeply([ map { "$_->{status} " . ($_->{authorization} ? 'auth' : 'none') } @requests ],
	[ '302 auth', '200 auth' ], 'CIF fetch: basic auth, then the redirect followed');
note sprintf('CIF fetch of %d lines took %.1f s', scalar @want, time - $t_cif);

IPC::Run::run([ 'env', (map { "$_=$cif{$_}" } keys %cif), 'NR_PASSWORD=wrong',
	"KAFKA_BOOTSTRAP_SERVERS=$bootstrap", $feeder, '--fetch-cif' ],
	'>', \$cif_out, '2>&1', IPC::Run::timeout(60));
is($? >> 8, 1, 'CIF fetch with a wrong password: exit status 1');
like($cif_out, qr{error: could not fetch CIF extract from "http://127\.0\.0\.1:$http_port/ntrod/CifFileAuthenticate": server answered 401 Unauthorized\n},
	'CIF fetch with a wrong password: clear error');
is(kafka_count("cif_t090_$$", 1), scalar @want, 'CIF fetch with a wrong password: nothing produced');

IPC::Run::run([ 'env', (map { "$_=$cif{$_}" } keys %cif),
	"CIF_URL=http://127.0.0.1:$closed_port/ntrod/CifFileAuthenticate",
	"KAFKA_BOOTSTRAP_SERVERS=$bootstrap", $feeder, '--fetch-cif' ],
	'>', \$cif_out, '2>&1', IPC::Run::timeout(60));
is($? >> 8, 1, 'CIF fetch from an unreachable host: exit status 1');
like($cif_out, qr{error: could not fetch CIF extract from "http://127\.0\.0\.1:$closed_port/ntrod/CifFileAuthenticate": Failed to connect},
	'CIF fetch from an unreachable host: clear error');

# ------------------------------------------------------ the daily CIF fetch
# A feeder running live with CIF_DAILY_AT set to the coming minute (UTC)
# fetches the extract once that minute has come, from a server that takes
# the same credentials as the STOMP broker (Network Rail's do).
my $daily_log = "$tmp/cif_daily_server.log";
my ($daily_server, $daily_port) = start_cif_server($user, $password, $daily_log);
my $next_minute = (int(time / 60) + 1) * 60;
$next_minute += 60 if $next_minute - time < 5;
my @at = gmtime($next_minute);
create_topic("cif_daily_t090_$$", 1);
my $daily_feeder_log = "$tmp/feeder_daily.log";
my $daily_pid = start_feeder($daily_feeder_log, %live,
	NR_CLIENT_ID => 't090_daily',
	FEEDER_VERBOSE => 0,
	CIF_URL => "http://127.0.0.1:$daily_port$cif_path",
	CIF_TOPIC => "cif_daily_t090_$$",
	CIF_DAILY_AT => sprintf('%02d:%02d', $at[2], $at[1]));
wait_until(sub { kafka_count("cif_daily_t090_$$", 1) >= @want }, 150,
	'the daily CIF fetch');
my @daily_requests = map { decode_json($_) } split /\n/, slurp($daily_log);
cmp_ok($daily_requests[0]{time}, '>=', $next_minute,
	sprintf('CIF_DAILY_AT %02d:%02d: the fetch starts once that minute has come', $at[2], $at[1]));
my $daily_got = consume("cif_daily_t090_$$");
is_deeply([ map { $_->[2] } @$daily_got ], \@want,
	'CIF_DAILY_AT: the extract lands once, line for line');
my $daily_text = slurp($daily_feeder_log);
is(scalar(() = $daily_text =~ /info: daily CIF fetch started/g), 1,
	'CIF_DAILY_AT: one fetch started') or diag $daily_text;
like($daily_text, qr/subscribed to/, 'CIF_DAILY_AT: the feeder runs live meanwhile');
kill 'TERM', $daily_pid;
is(wait_exit($daily_pid, 60), 0, 'CIF_DAILY_AT: the feeder stops cleanly on SIGTERM');
kill 'TERM', $daily_server;
waitpid($daily_server, 0);
delete $children{$daily_server};

# ----------------------------------------------- replay without credentials

my $t_replay = time;
($status, $err) = run_feeder(120,
	REPLAY_DIR => repo_path('data'),
	REPLAY_SPEED => 0,
	NR_TOPICS => "TRAIN_MVT_ALL_TOC=replay_t090_$$",
	CIF_TOPIC => "replay_cif_t090_$$");
is($status, 0, 'replay: exit status 0');
like($err, qr/info: NR_USERNAME is not set: replaying the data in "[^"]*\/data"/, 'replay: says so');
my $replayed = consume("replay_t090_$$");
my @replayed_msgs = map { @{ decode_json($_->[2]) } } @$replayed;
is(scalar @replayed_msgs, scalar @messages, 'replay: every sample TRUST message, once');
my @stale = grep {
	my $ts = $_->{header}{msg_queue_timestamp} / 1000;
	$ts < $t_replay - 60 || $ts > time + 60
} @replayed_msgs;
is(scalar @stale, 0, 'replay: timestamps shifted to now');
is_deeply([ sort map { $_->{body}{train_id} // '' } @replayed_msgs ],
	[ sort map { $_->{body}{train_id} // '' } @messages ], 'replay: the messages are the samples');
is(kafka_count("replay_cif_t090_$$", 1), scalar @want, 'replay: the CIF sample, one message per line');

# ------------------------------------------ a generated day on today's clock
# All at once (REPLAY_SPEED 0): every message once, in order, each of its
# times moved by the same whole number of days, to today's UK date.
my $day_dir = "$tmp/replay_day";
mkdir $_ or die "mkdir $_: $!" for $day_dir, "$day_dir/day";
symlink(repo_path('data/trust'), "$day_dir/trust") or die "symlink: $!";
my $gen_err = '';
IPC::Run::run([ 'python3', repo_path('bench/gen_trust.py'), 2000, '--array',
	'--out', "$day_dir/day/trust_day.json" ], '2>', \$gen_err)
  or die "gen_trust.py: $gen_err";
my @day = @{ decode_json(slurp("$day_dir/day/trust_day.json")) };
create_topic("day_t090_$$", 1);
my $today_before = uk_today();
($status, $err) = run_feeder(120,
	REPLAY_DIR => $day_dir,
	REPLAY_SPEED => 0,
	NR_TOPICS => "TRAIN_MVT_ALL_TOC=day_t090_$$");
my $today_after = uk_today();
is($status, 0, 'generated day: exit status 0');
like($err, qr/info: replaying the generated day ".*trust_day\.json" \(2000 messages\) on today's clock/,
	'generated day: says so');
my @day_got = map { @{ decode_json($_->[2]) } } @{ consume("day_t090_$$") };
is(scalar @day_got, scalar @day, 'generated day: every message, once');
# (on copies: numeric use would make JSON::PP write the originals as numbers)
my $shift = (my $got_ts = $day_got[0]{header}{msg_queue_timestamp})
  - (my $want_ts = $day[0]{header}{msg_queue_timestamp});
is($shift % 86_400_000, 0, 'generated day: moved by whole days');
my $unshift = sub {
	my ($m) = @_;
	return $json->encode($json->decode(
		$json->encode($m) =~ s/"(\d{13})"/sprintf('"%013d"', $1 - $shift)/ger));
};
my @moved = grep { $unshift->($day_got[$_]) ne $json->encode($day[$_]) } 0 .. $#day;
is(scalar @moved, 0, 'generated day: the messages in order, every time moved alike')
  or diag 'first different: ' . $json->encode($day_got[ $moved[0] ]);
my $first_ms = $got_ts;
my $first_uk = strftime('%Y-%m-%d', gmtime(($first_ms + uk_offset_ms($first_ms - $shift)) / 1000));
ok($first_uk eq $today_before || $first_uk eq $today_after,
	"generated day: on today's date ($first_uk)");

# In real time (REPLAY_SPEED > 0): a day of 24 real messages (the 16 of a
# sample frame, and 8 of them again), 16 due a
# minute ago (UK time of day) and 8 due 6 to 13 s from now.  The first 16
# go at once; each of the others when its time comes, not before.
my $uk_tod = sub {
	my $ms = int(time * 1000);
	return ($ms + uk_offset_ms($ms)) % 86_400_000;
};
sleep 1 while $uk_tod->() < 120_000 || $uk_tod->() > 86_400_000 - 60_000;
my @sample = @{ decode_json(slurp(repo_path('data/trust/trust_frame_2024-07-28_matnich89_part1.json'))) };
my $old_day = timegm(0, 0, 0, 28, 6, 2024) * 1000;	# a BST day: UK = UTC + 1 h
my $tod = $uk_tod->();
my (@rt, @rt_due);
for my $i (0 .. 23)
{
	my $s = $sample[ $i % @sample ];
	my %m = (header => { %{ $s->{header} } }, body => $s->{body});
	my $due = $i < 16 ? $tod - 60_000 : $tod + 6_000 + 1_000 * ($i - 16);
	$m{header}{msg_queue_timestamp} = sprintf('%d', $old_day + $due - 3_600_000);
	push @rt, \%m;
	push @rt_due, $due;
}
my $rt_dir = "$tmp/replay_rt";
mkdir $_ or die "mkdir $_: $!" for $rt_dir, "$rt_dir/day";
symlink(repo_path('data/trust'), "$rt_dir/trust") or die "symlink: $!";
open my $rt_fh, '>', "$rt_dir/day/rt.json" or die;
print $rt_fh '[', join(",\n", map { $json->encode($_) } @rt), "]\n";
close $rt_fh;
create_topic("rt_t090_$$", 1);
my $rt_pid = start_feeder("$tmp/feeder_rt.log",
	REPLAY_DIR => $rt_dir,
	REPLAY_SPEED => 1,
	NR_TOPICS => "TRAIN_MVT_ALL_TOC=rt_t090_$$");
my $rt_got;
wait_until(sub {
	$rt_got = consume_with_times("rt_t090_$$");
	(map { @{ decode_json($_->[1]) } } @$rt_got) >= 24;
}, 40, 'the real-time day');
kill 'TERM', $rt_pid;
is(wait_exit($rt_pid, 60), 0, 'real-time day: the feeder stops cleanly on SIGTERM');
# one partition: the messages in the order sent, with their frame's time
my @sent = map {
	my $t = $_->[0];
	map { [ $t, $_ ] } @{ decode_json($_->[1]) }
} @$rt_got;
my $what = sub { join '/', @{ $_[0]{body} }{qw(train_id loc_stanox planned_event_type event_type)} };
is_deeply([ map { $what->($_->[1]) } @sent ], [ map { $what->($_) } @rt ],
	'real-time day: every message sent once, in order');
my ($early, $late) = (0, 0);
my $start_ms = $sent[0][0];
for my $i (16 .. 23)
{
	# the UTC instant at which the UK clock read the message's time today
	my $due_utc = int(time * 1000) - ($uk_tod->() - $rt_due[$i]);
	$early++ if $sent[$i][0] < $due_utc - 100;
	$late++ if $sent[$i][0] > $due_utc + 2_000;
}
is($early, 0, 'real-time day: no message of the next seconds is sent early');
is($late, 0, 'real-time day: each is sent within 2 s of its time');
cmp_ok($start_ms, '<', int(time * 1000) - ($uk_tod->() - $rt_due[16]),
	'real-time day: the messages already due go at once');

note sprintf('090_feeder took %.0f s', time - $t_start);
done_testing();
