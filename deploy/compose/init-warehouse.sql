-- The warehouse beside the Dagster instance's database (POSTGRES_DB) on the same server.
CREATE DATABASE warehouse OWNER harvey;
