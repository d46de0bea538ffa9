# kill -9 mid-batch on pgque_pgq: the batch is redone, nothing lost or doubled
# (t/lib/WholeBatchTests.pm).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use WholeBatchTests;
use Test::More;

kill_mid_batch('pgque_pgq');
done_testing();
