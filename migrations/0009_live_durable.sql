-- Live-feed cursors refer only to durably committed rows. The runtime's bookkeeping commits
-- (delivery-log rows among them) and any producer's `synchronous_commit = off` commits become
-- visible before their WAL reaches disk; a PostgreSQL crash can undo them, and the transaction ids
-- and keys they used are then issued again. Before it hands out a position, the live feed makes
-- sure every commit it can see is flushed: when the WAL is not flushed as far as it has been
-- written, it sets this sequence in a synchronously committed statement. setval writes WAL and
-- takes a transaction id, so that commit flushes (and, with synchronous replication, waits for the
-- standbys) through every commit before it. A sequence, not a table: no row lock shared by
-- several feeds, no dead rows, nothing for logical decoding to publish.
CREATE SEQUENCE IF NOT EXISTS core.seq_live_durable;

COMMENT ON SEQUENCE core.seq_live_durable IS
  'Set by the live feed to flush the WAL before it hands out a cursor; its value means nothing.';
