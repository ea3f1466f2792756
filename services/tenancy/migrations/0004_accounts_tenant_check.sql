-- accounts.tenant_id -> tenants, checked once per statement instead of once per row (issue 16).
--
-- The foreign key ran its check query for every inserted account: 50,000 calls, 140-240 ms of a
-- 50,000-account import's upsert (EXPLAIN ANALYZE, "Trigger for constraint
-- accounts_tenant_id_fkey"). The same rule is kept by three triggers, measured at ~20 ms for the
-- same import (one statement-level check over the inserted rows):
--   * an INSERT on accounts locks (FOR KEY SHARE, as the foreign key does) the distinct tenants
--     of its new rows and fails unless each exists: a concurrent DELETE of such a tenant waits for
--     this transaction, or has committed and the tenant is not found;
--   * an account's tenant_id never changes (nothing in tenancy changes it; refused at the row);
--   * a tenant with accounts is neither deleted nor re-keyed (tenants are never deleted, this
--     keeps it so: the check runs after the DELETE has locked the row, with a fresh snapshot).
-- Each failure is SQLSTATE 23503 (foreign_key_violation), as before.
-- The other tables' foreign keys to tenants stay (residences, lots: a few hundred rows per import).

ALTER TABLE accounts DROP CONSTRAINT accounts_tenant_id_fkey;

CREATE FUNCTION accounts_tenant_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted integer;
    found  integer;
BEGIN
    SELECT count(DISTINCT tenant_id) INTO wanted FROM new_accounts;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO found FROM (
        SELECT 1 FROM tenants t WHERE t.id IN (SELECT tenant_id FROM new_accounts) FOR KEY SHARE OF t) AS locked;
    IF found <> wanted THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'accounts',
            MESSAGE = 'insert on table "accounts" violates its tenant check: tenant_id not in tenants';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_tenant_exists AFTER INSERT ON accounts REFERENCING NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_tenant_exists();

CREATE FUNCTION accounts_tenant_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'accounts',
            MESSAGE = 'an account''s tenant_id does not change';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER accounts_tenant_fixed BEFORE UPDATE OF tenant_id ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_tenant_fixed();

CREATE FUNCTION tenants_keep_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id)
       AND EXISTS (SELECT 1 FROM accounts a WHERE a.tenant_id = OLD.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'tenants',
            MESSAGE = 'tenant ' || OLD.id || ' still has accounts';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER tenants_keep_accounts BEFORE DELETE OR UPDATE OF id ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_keep_accounts();
