# Whole batches on upstream pgque (PGQUE_UPSTREAM_SQL; skipped without it):
# 500 and 50,000 events in one transaction, default max_messages, all
# dispatched exactly once, in bounded memory; a batch where half the messages
# fail, each nacked once (t/lib/WholeBatchTests.pm).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use WholeBatchTests;
use Test::More;

plan_engine('upstream');
whole_batches('upstream');
failing_batch('upstream');
done_testing();
