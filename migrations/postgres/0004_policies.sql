-- The policy rule that refused or throttled a call.
ALTER TABLE calls ADD COLUMN policy_rule TEXT;
