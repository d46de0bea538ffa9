# kill -9 mid-batch on upstream pgque (PGQUE_UPSTREAM_SQL; skipped without it):
# the batch is redone, nothing lost or doubled (t/lib/WholeBatchTests.pm).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use WholeBatchTests;
use Test::More;

plan_engine('upstream');
kill_mid_batch('upstream');
done_testing();
