# Whole batches on pgque_pgq: 500 and 50,000 events in one transaction, default
# max_messages, all dispatched exactly once, in bounded memory; a batch where
# half the messages fail, nacked without reading the batch again
# (t/lib/WholeBatchTests.pm).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use WholeBatchTests;
use Test::More;

whole_batches('pgque_pgq');
failing_batch('pgque_pgq');
done_testing();
