-- Schema registries: where Avro feeds get the schema of a value's id.
--
-- A feed reads Avro values when its options say so, as in
--   json:public.readings {"value_format": "avro", "schema_registry": "local"}
-- (src/schema_registry.c).  A registry is a row here: its URL (the
-- Confluent-compatible API) and credentials, which only its owner's members
-- (and superusers) read or change, as for subscriptions; a feed may name it
-- only if the role that writes the feed is a member of its owner.

CREATE TABLE rail_stream.schema_registries (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
    url         text NOT NULL CHECK (url ~ '^https?://[^/?#@]+([/?#]|$)'),
    username    text,
    password    text,
    owner       regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (password IS NULL OR username IS NOT NULL)
);
COMMENT ON TABLE rail_stream.schema_registries IS
    'Schema registries of Avro feeds (password is a credential)';
ALTER TABLE rail_stream.schema_registries ENABLE ROW LEVEL SECURITY;
-- as for subscriptions: administrators see and change the registries of
-- roles they are members of; superusers all
CREATE POLICY managers_only ON rail_stream.schema_registries
    USING (rail_stream._may_manage(owner))
    WITH CHECK (rail_stream._is_admin() AND rail_stream._may_manage(owner));
REVOKE ALL ON rail_stream.schema_registries FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.schema_registries TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.schema_registries', '');

CREATE FUNCTION rail_stream.create_schema_registry(name text, url text,
    username text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    INSERT INTO rail_stream.schema_registries (name, url, username, password)
    VALUES (name, rtrim(url, '/'), username, password);
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'schema registry "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid schema registry "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A name has 1 to 100 letters, digits, dots, dashes and underscores; the URL starts with http:// or https:// and has no credentials in it; a password needs a username.';
END;
$$;
COMMENT ON FUNCTION rail_stream.create_schema_registry(text, text, text, text) IS
    'Name a schema registry (its Confluent-compatible API) for Avro feeds';

CREATE FUNCTION rail_stream.alter_schema_registry(name text, url text DEFAULT NULL,
    username text DEFAULT NULL, password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    UPDATE rail_stream.schema_registries r SET
        url = coalesce(rtrim(alter_schema_registry.url, '/'), r.url),
        username = coalesce(alter_schema_registry.username, r.username),
        password = coalesce(alter_schema_registry.password, r.password)
    WHERE r.name = alter_schema_registry.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema registry "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid schema registry "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The URL starts with http:// or https:// and has no credentials in it; a password needs a username.';
END;
$$;
COMMENT ON FUNCTION rail_stream.alter_schema_registry(text, text, text, text) IS
    'Change a schema registry''s URL or credentials; workers ask it for new schemas only';

CREATE FUNCTION rail_stream.drop_schema_registry(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    DELETE FROM rail_stream.schema_registries r WHERE r.name = drop_schema_registry.name;
    IF NOT FOUND AND NOT if_exists THEN
        RAISE EXCEPTION 'schema registry "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.drop_schema_registry(text, boolean) IS
    'Forget a schema registry; feeds that name it stop reading Avro values';

-- An Avro binary value (without the wire format's 5-byte header) as JSON,
-- as an Avro feed reads it: for looking into dead letters, as in
--   SELECT rail_stream.decode_avro(substr(value, 6), '<schema>') FROM ...
CREATE FUNCTION rail_stream.decode_avro(value bytea, schema text)
RETURNS jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rs_decode_avro';
COMMENT ON FUNCTION rail_stream.decode_avro(bytea, text) IS
    'An Avro binary value, written with the given schema, as the JSON an Avro feed reads';
