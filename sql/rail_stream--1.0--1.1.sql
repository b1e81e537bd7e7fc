-- rail_stream 1.0 -> 1.1
--
-- Every change made to the install script's parts (sql/*.sql) since 1.0,
-- in the order of the parts.  A fresh 1.1 install and an updated 1.0 must
-- end with the same objects: test/t/080_upgrade.pl compares them.

\echo Use "ALTER EXTENSION rail_stream UPDATE TO '1.1'" to load this file. \quit
