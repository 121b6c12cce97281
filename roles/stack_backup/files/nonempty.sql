-- What makes the gateway's database "not empty" (one line per reason; no line: empty).
-- psql variable user_tables: comma-separated names of LiteLLM tables that hold what people create.
-- 1. A table (or view) LiteLLM's own schema does not create: anything but _prisma_migrations and
--    LiteLLM_* in schema public, or anything at all in another schema.
SELECT 'table ' || c.relname || CASE WHEN n.nspname <> 'public' THEN ' (schema ' || n.nspname || ')' ELSE '' END
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'
  AND NOT (n.nspname = 'public' AND (c.relname = '_prisma_migrations' OR c.relname LIKE 'LiteLLM\_%'))
UNION ALL
-- 2. A row in one of LiteLLM's tables that hold what people create (virtual keys, users, teams, ...).
SELECT c.relname || ' holds ' || r.n || ' rows'
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace,
LATERAL (
  SELECT (xpath('/row/n/text()',
                query_to_xml(format('SELECT count(*) AS n FROM public.%I', c.relname), false, true, '')))[1]::text::bigint AS n
) AS r
WHERE n.nspname = 'public'
  AND c.relkind IN ('r', 'p')
  AND c.relname = ANY (string_to_array(:'user_tables', ','))
  AND r.n > 0
ORDER BY 1;
