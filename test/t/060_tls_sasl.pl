# TLS and SASL against the real test broker: subscriptions that reach Kafka
# over its SSL listener (the CA given as PEM text, since rail_stream refuses
# *.location files) and over its SASL_SSL listener with SCRAM-SHA-512, each
# made by a superuser and by a member of rail_stream_admin; a subscription
# with a wrong password, whose status says why it gets nothing and that
# keeps trying; and the password nowhere to be read: not in the status, not
# in the server log, not in an error.
#
# The sample TRUST data goes in over PLAINTEXT with kcat.  The expected rows
# are what the same data gives through ingest_message in another database.
# Each case starts from empty trust tables, so the rows it waits for can
# only come from its own subscription.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use RailStream::Test;

our $TODO;

brokers();
my $sec = kafka_security();
my $superuser = getpwuid($<);    # the node's bootstrap superuser
my $password = $sec->{sasl_password};
# a wrong password that cannot turn up by chance
my $wrong = 'Wr0ng-Pa55-rail-7c41e9d2b8';

# log_statement = none: PostgreSQL::Test::Cluster sets "all", which writes
# every statement, the passwords in create_subscription() included, to the
# log.  That is the administrator's choice to make, not rail_stream's.
my $node = rail_node('tls', 'log_statement = none');
$node->safe_psql('postgres', 'CREATE DATABASE direct');
$node->safe_psql('direct', 'CREATE EXTENSION rail_stream');
$node->safe_psql('direct', "\\copy rail.locations_csv FROM '"
	  . repo_path('data/reference/ukrail_locations.csv') . "' WITH (FORMAT csv, HEADER)");

my @trust_tables = map { "rail.$_" } qw(activations cancellations movements
  reinstatements changes_of_origin changes_of_identity changes_of_location);
my $rows_query = 'SELECT ' . join(" || ' ' || ",
	map { "'$_=' || (SELECT count(*) FROM $_)" } @trust_tables);

# The sample TRUST frames, as 010_end_to_end.pl sends them: through Kafka
# (PLAINTEXT), and through ingest_message for the expected rows.
my @trust = map { slurp_file(repo_path("data/trust/$_")) =~ s/\n//gr }
  ('trust_frame_2024-07-28_matnich89_part1.json',
	'trust_frame_2017-11-03_deadcore_part1.json',
	'trust_examples_all_msg_types.json');
$trust[0] = JSON::PP->new->encode({ messageType => 'text', text => $trust[0] });
produce_lines('trust_tls', \@trust);
$node->safe_psql('direct', 'SELECT rail_stream.ingest_message($$trust$$, ' . quote($_) . ')')
  for @trust;
my $expected = $node->safe_psql('direct', $rows_query);
my $movements = $node->safe_psql('direct', 'SELECT count(*) FROM rail.movements');
cmp_ok($movements, '>', 0, "the sample gives $movements movements ($expected)");

# A login role that manages subscriptions through rail_stream_admin, with
# the privileges that feed "trust" needs on its tables.
$node->safe_psql('postgres', qq{
	CREATE ROLE rail_stream_admin NOLOGIN;
	GRANT SELECT, INSERT, UPDATE ON @{[ join ', ', @trust_tables ]} TO rail_stream_admin;
	CREATE ROLE rail_ops LOGIN;
	GRANT rail_stream_admin TO rail_ops;
});

# Can librdkafka on this machine authenticate to this broker at all?  kcat
# (the same librdkafka) with the right password says.  librdkafka before
# 2.6.1 (Debian 12 has 2.0.2) sends a SCRAM nonce that Kafka 4.x refuses
# (librdkafka #4895): then rail_stream cannot either, whatever it does.
my ($kcat_out, $kcat_err) = ('', '');
IPC::Run::run([ 'kcat', '-F', $sec->{kcat_sasl_ssl}, '-L', '-m', '10' ],
	'>', \$kcat_out, '2>', \$kcat_err);
my $scram_todo = $kcat_out =~ /broker 1 at/ ? undef
  : 'librdkafka here cannot authenticate with SCRAM to this broker, not even kcat (librdkafka < 2.6.1 against Kafka 4.x, librdkafka #4895)';
diag("kcat over SASL_SSL with the right password: $kcat_err") if $scram_todo;

my %ssl = ('security.protocol' => 'ssl', 'ssl.ca.pem' => $sec->{ca_pem});
my %sasl = (%ssl, 'security.protocol' => 'sasl_ssl', 'sasl.mechanism' => 'SCRAM-SHA-512',
	'sasl.username' => $sec->{sasl_username});
my @errors;    # every error text a client got

# wait_for, reporting this file's line and seeing this file's $TODO
sub wait_until
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return wait_for(@_);
}

# create_subscription() as the given role; returns whether it succeeded.
sub create_subscription
{
	my ($name, $role, $brokers, $kafka) = @_;
	my $options = JSON::PP->new->canonical->encode({ kafka => $kafka });
	my ($stdout, $stderr);
	my $ret = $node->psql('postgres',
		"SELECT rail_stream.create_subscription('$name', 'trust_tls', 'trust', '$brokers', "
		  . quote($options) . '::jsonb)',
		stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', $role ]);
	push @errors, $stderr;
	is($ret, 0, "$name: $role creates the subscription") or diag($stderr);
	return $ret == 0;
}

for my $case (
	[ 'ssl_super', $superuser, 'SSL', $sec->{ssl_bootstrap}, \%ssl ],
	[ 'ssl_admin', 'rail_ops', 'SSL', $sec->{ssl_bootstrap}, \%ssl ],
	[ 'sasl_super', $superuser, 'SASL_SSL', $sec->{sasl_ssl_bootstrap},
		{ %sasl, 'sasl.password' => $password } ],
	[ 'sasl_admin', 'rail_ops', 'SASL_SSL', $sec->{sasl_ssl_bootstrap},
		{ %sasl, 'sasl.password' => $password } ])
{
	my ($name, $role, $listener, $bootstrap, $kafka) = @$case;
	$node->safe_psql('postgres', 'TRUNCATE ' . join(', ', @trust_tables));
	my $created = create_subscription($name, $role, $bootstrap, $kafka);
	# only what needs librdkafka to log in is to do
	local $TODO = $listener eq 'SASL_SSL' ? $scram_todo : undef;
	if ($created)
	{
		# a known failure need not wait the full three minutes
		wait_until($node, $rows_query, $expected,
			"$name: the rows arrive over $listener", $TODO ? 30 : undef);
		is($node->safe_psql('postgres', "SELECT string_agg(state || ' ' || coalesce(lag, -1) || ' '"
				  . " || coalesce(last_error, 'no error'), ', ')"
				  . " FROM rail_stream.subscription_status WHERE subscription = '$name'"),
			'running 0 no error', "$name: the status shows it running, no lag, no error");
	}
	else
	{
		fail("$name: the rows arrive over $listener");
	}
}

# A wrong password: the status says that authentication failed, and the
# worker keeps trying (the error comes again, later).
my $status = "FROM rail_stream.subscription_status WHERE subscription = 'sasl_wrong'";
create_subscription('sasl_wrong', $superuser, $sec->{sasl_ssl_bootstrap},
	{ %sasl, 'sasl.password' => $wrong });
wait_until($node, "SELECT last_error IS NOT NULL $status", 't',
	'wrong password: the status shows an error', 60);
like($node->safe_psql('postgres', "SELECT last_error $status"),
	qr/authentication.*(invalid credentials|failed)/i,
	'wrong password: last_error says that authentication failed');
my $first = $node->safe_psql('postgres', "SELECT last_error_at $status");
wait_until($node, "SELECT last_error_at > '$first' AND state NOT IN ('failed', 'stopped') $status",
	't', 'wrong password: the worker keeps trying, and failing', 60);
like($node->safe_psql('postgres', "SELECT state || ': ' || last_error $status"),
	qr/^(starting|running|backing off): .*authentication/i,
	'wrong password: ... still for the authentication failure');
push @errors, $node->safe_psql('postgres', "SELECT string_agg(last_error, ' ') $status");

# The passwords nowhere.
my $everything = $node->safe_psql('postgres',
	'SELECT string_agg(to_jsonb(s)::text, E\'\n\') FROM rail_stream.subscription_status s');
my $log = slurp_file($node->logfile);
for my $secret ([ 'the password', $password ], [ 'the wrong password', $wrong ])
{
	my ($what, $text) = @$secret;
	ok(index($everything, $text) < 0, "$what is not in subscription_status");
	ok(index($log, $text) < 0, "$what is not in the server log");
	ok(index(join("\n", @errors), $text) < 0, "$what is not in an error text");
}

$node->stop;
done_testing();

sub quote { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }
