# A librdkafka mock cluster (test/mock/mock_cluster.c) for TAP tests that
# inject broker faults: leader changes, request errors, a topic missing from
# Metadata.  The program is built on first use into the test's tmp_check
# directory, runs as a child of the test, and answers one line per command
# (see its header comment); these subs wrap the commands.
#
#   my $mock = start_mock(brokers => 3, topics => { t => 4 });
#   my $real = start_mock(real => brokers());   # no mock: a real cluster
#   mock_cmd($mock, 'leader t 0 2');
#   stop_mock($mock);
package RailStream::Mock;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use IPC::Run;
use PostgreSQL::Test::Utils;
use RailStream::Test qw(repo_path);

our @EXPORT = qw(start_mock stop_mock mock_cmd mock_try mock_produce
  mock_watermarks mock_committed);

my $timeout = 90;

# Build the program once per test run, next to the test's other files.
sub mock_program
{
	my $bin = "$PostgreSQL::Test::Utils::tmp_check/mock_cluster";
	return $bin if -x $bin;
	my ($out, $err);
	IPC::Run::run([ 'cc', '-O2', '-Wall', '-o', $bin,
			repo_path('test/mock/mock_cluster.c'), '-lrdkafka' ],
		'>', \$out, '2>', \$err)
	  or die "could not build the mock cluster: $err";
	return $bin;
}

# A running mock cluster: { bootstrap, handle, ... }.
sub start_mock
{
	my (%opt) = @_;
	my @args = ('-b', $opt{brokers} // 3);
	# the same commands, but for a real cluster: produce, offsets, admin
	@args = ('-a', $opt{real}) if $opt{real};
	my $topics = $opt{topics} // {};
	push @args, map { ('-t', "$_:$topics->{$_}") } sort keys %$topics;
	my $mock = { in => '', out => '' };
	$mock->{stderr} = "$PostgreSQL::Test::Utils::tmp_check/mock_cluster.stderr";
	$mock->{timer} = IPC::Run::timer($timeout);
	$mock->{handle} = IPC::Run::start([ mock_program(), @args ],
		'<', \$mock->{in}, '>', \$mock->{out}, '2>>', $mock->{stderr},
		$mock->{timer});
	my $line = read_line($mock);
	die "mock cluster did not start: $line" unless $line =~ /^bootstrap (\S+)$/;
	$mock->{bootstrap} = $1;
	return $mock;
}

sub read_line
{
	my ($mock) = @_;
	$mock->{timer}->start($timeout);
	$mock->{handle}->pump until $mock->{out} =~ s/^([^\n]*)\n//;
	$mock->{timer}->reset;
	return $1;
}

# Send a command; its answer, "ok ..." or "error ...".
sub mock_try
{
	my ($mock, $command) = @_;
	$mock->{in} .= "$command\n";
	return read_line($mock);
}

# Send a command that must succeed; what follows "ok".
sub mock_cmd
{
	my ($mock, $command) = @_;
	my $answer = mock_try($mock, $command);
	die "mock cluster: \"$command\" failed: $answer" unless $answer =~ /^ok ?(.*)$/;
	return $1;
}

# Produce lines (each one message), the topic's partitions in turn; returns
# the number of messages, all acknowledged.
sub mock_produce
{
	my ($mock, $topic, $lines) = @_;
	my ($fh, $file) = tempfile(DIR => $PostgreSQL::Test::Utils::tmp_check,
		UNLINK => 1);
	binmode $fh;
	print $fh join("\n", @$lines), "\n";
	close $fh;
	return mock_cmd($mock, "produce $topic $file");
}

# { partition => high watermark }; dies unless every low watermark is 0,
# since the mock silently drops old batches past 5 MiB per partition.
sub mock_watermarks
{
	my ($mock, $topic) = @_;
	my %hw;
	for (split ' ', mock_cmd($mock, "watermarks $topic"))
	{
		my ($p, $lo, $hi) = split /:/;
		die "partition $p of $topic lost messages (low watermark $lo)" if $lo != 0;
		$hw{$p} = $hi;
	}
	return \%hw;
}

# { partition => offset committed by the group } (-1001: none)
sub mock_committed
{
	my ($mock, $group, $topic) = @_;
	return { map { split /:/ } split ' ', mock_cmd($mock, "committed $group $topic") };
}

sub stop_mock
{
	my ($mock) = @_;
	$mock->{handle}->kill_kill(grace => 5);
}

1;
