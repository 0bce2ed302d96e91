-- Privileges of the role Mekong ID runs as, when it is not the role that owns the schema.
--
-- Run as the owner (the role that runs `mekong-id migrate`), after every migrate; it is idempotent:
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -v app_role=mekong_app -f deploy/postgresql-roles.sql
--
-- The runtime role reads and writes the data, and nothing more: it cannot change the schema, and on
-- the audit log it may only append and read. Owning audit_events would let it drop or disable the
-- append-only triggers and rewrite the log (the hash chain would show a rewrite, but only if someone
-- compares the head against a copy kept elsewhere); this way the database itself refuses.

grant usage on schema public to :"app_role";
grant select, insert, update, delete on all tables in schema public to :"app_role";
grant usage, select on all sequences in schema public to :"app_role";
revoke update, delete, truncate on audit_events from :"app_role";

-- Tables and sequences that later migrations create (as the owner) get the same data privileges;
-- rerunning this script after a migration applies the audit log's exception again.
alter default privileges in schema public grant select, insert, update, delete on tables to :"app_role";
alter default privileges in schema public grant usage, select on sequences to :"app_role";
