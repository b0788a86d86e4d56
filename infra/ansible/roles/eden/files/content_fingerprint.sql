-- Eden Deploy: one md5 of the content of the connected database, for
-- telling whether anything was written to it since a clean: every table's
-- rows, every sequence's position, and the definitions of tables, views,
-- constraints, indexes and extensions, outside PostgreSQL's own schemas.
-- The rows of web2py's scheduler tables (scheduler_*) are not content:
-- the scheduler that runs beside Eden writes its heartbeat and its runs
-- there every few seconds, however idle the instance.
-- The postgresql role runs it with psql, the eden role through psycopg2
-- (as the instance's role, from an eden host): keep roles/postgresql and
-- roles/eden's copies identical (a Go test checks). Rows are hashed one by
-- one and their hashes sorted, so the result does not depend on where a
-- row sits in its table.
WITH rel AS (
  SELECT c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
), part(line) AS (
  SELECT format('column %s %s %s %s %s', r.name, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
    FROM rel r
    JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s %s %s', r.name, c.conname, pg_get_constraintdef(c.oid))
    FROM rel r JOIN pg_constraint c ON c.conrelid = r.oid
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM rel r JOIN pg_index i ON i.indrelid = r.oid
  UNION ALL
  SELECT format('view %s %s', r.name, pg_get_viewdef(r.oid))
    FROM rel r WHERE r.relkind IN ('v', 'm')
  UNION ALL
  SELECT format('rows %s %s', r.name, query_to_xml(format(
           'SELECT count(*), md5(string_agg(h, '','' ORDER BY h)) FROM (SELECT md5(t::text) AS h FROM %s t) s',
           r.name), false, true, ''))
    FROM rel r WHERE r.relkind = 'r' AND r.name !~ '^public\.scheduler_'
  UNION ALL
  SELECT format('sequence %s %s', r.name,
                query_to_xml(format('SELECT last_value, is_called FROM %s', r.name), false, true, ''))
    FROM rel r WHERE r.relkind = 'S' AND r.name !~ '^public\.scheduler_'
  UNION ALL
  SELECT format('extension %s %s', e.extname, e.extversion) FROM pg_extension e
)
SELECT md5(string_agg(line, E'\n' ORDER BY line)) FROM part;
