-- Every object of the extension, with its definition and privileges (a
-- default ACL written out and sorted: NULL and its explicit form mean the same), one
-- line each and sorted, so that two installs can be compared with diff:
-- a fresh install of the current version against an updated older one.
\pset format unaligned
\pset tuples_only on
WITH members AS (
    SELECT d.classid, d.objid
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'rail_stream'
      AND d.deptype = 'e'
)
SELECT line FROM (
    -- functions: definition, privileges, comment
    SELECT format('function %s: %s acl=%s comment=%s', p.oid::regprocedure,
                  pg_get_functiondef(p.oid), (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a),
                  obj_description(p.oid, 'pg_proc')) AS line
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    -- tables, views, sequences: kind, options, privileges, comment
    SELECT format('relation %s kind=%s rls=%s acl=%s comment=%s view=%s', c.oid::regclass,
                  c.relkind, c.relrowsecurity, (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(coalesce(c.relacl, acldefault('r', c.relowner))) a), obj_description(c.oid, 'pg_class'),
                  CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    -- columns in order, with types, defaults, privileges and comments
    SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s acl=%s comment=%s',
                  a.attrelid::regclass, a.attname, a.attnum,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attacl,
                  col_description(a.attrelid, a.attnum))
    FROM members m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s on %s: %s', co.conname, co.conrelid::regclass,
                  pg_get_constraintdef(co.oid))
    FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
    FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s on %s.%s: %s %s roles=%s using=%s check=%s', po.policyname,
                  po.schemaname, po.tablename, po.permissive, po.cmd, po.roles, po.qual, po.with_check)
    FROM pg_policies po WHERE po.schemaname IN ('rail', 'rail_stream')
    UNION ALL
    SELECT format('schema %s acl=%s', n.nspname, (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a))
    FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
    UNION ALL
    SELECT format('member %s', pg_describe_object(m.classid, m.objid, 0))
    FROM members m
    UNION ALL
    SELECT format('config dump %s', c::regclass)
    FROM pg_extension e, unnest(e.extconfig) AS c WHERE e.extname = 'rail_stream'
) x
ORDER BY line;
