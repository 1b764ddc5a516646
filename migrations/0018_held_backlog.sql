-- A backlog held for an open circuit costs each probe a bounded amount of work (issue 20,
-- docs/delivery.md): only a few held deliveries per destination stay due at the next probe, the
-- others are parked until the circuit closes (which wakes them all) or a long re-check. Putting a
-- delivery back counts the held ones due before the probe; this index answers that from the
-- destination and due time alone (it also serves the wake-up's lookup by destination).
CREATE INDEX IF NOT EXISTS tb_observer_delivery_held_due_idx
  ON core.tb_observer_delivery (held_destination, next_attempt_at)
  WHERE held_destination IS NOT NULL;
DROP INDEX IF EXISTS core.tb_observer_delivery_held_idx;
